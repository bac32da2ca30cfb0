"""The contract kit catches each way an encoder can break the contract, and says which check failed."""

from __future__ import annotations

import importlib
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import stitch.registry as registry
from stitch import hookimpl
from stitch.encoder import BaseEncoder, EncoderSpec
from stitch.testing import (
    ContractError,
    check_encoder,
    check_lightweight_registration,
    check_registered_encoder,
    check_spec,
    encoder_params,
    sample_inputs,
)

ALL_CHECKS = ["spec", "interface", "encode", "shape", "dtype", "device", "no_grad", "finite", "deterministic",
              "batch_size", "order", "distinct", "empty", "wrong_type"]
SAMPLES = [0.5, -1.0, 2.0, 3.5, -0.25]


def spec(**kw) -> EncoderSpec:
    return EncoderSpec(**{"name": "raw", "modality": "tabular", "description": "Raw test encoder", "dim": 3,
                          "weights": "none", "license": "MIT", **kw})


class Raw:
    """A protocol-only encoder (no BaseEncoder safety net) with one switchable defect."""

    def __init__(self, defect: str | None = None, **spec_kw) -> None:
        self.spec = spec(**spec_kw)
        self.name, self.modality, self.dim = self.spec.name, self.spec.modality, 3
        self.defect = defect

    def encode(self, inputs, *, batch_size: int = 64, progress=None) -> torch.Tensor:
        d = self.defect
        if d != "accepts_anything" and (not isinstance(inputs, list) or not all(isinstance(v, float) for v in inputs)):
            if d == "deep_error":
                return torch.tensor(inputs)  # a RuntimeError from inside torch
            raise TypeError(f"expected a list of floats, got {type(inputs).__name__}")
        if d == "empty_crash" and not inputs:
            raise IndexError("list index out of range")
        if d == "accepts_anything" and not isinstance(inputs, list):
            inputs = [1.0]
        values = sorted(inputs) if d == "sorts" else inputs
        x = torch.tensor([v if isinstance(v, float) else 0.0 for v in values]).reshape(-1, 1)
        z = x * torch.tensor([1.0, -2.0, 0.5]) + torch.tensor([0.0, 1.0, 2.0])
        if d == "batch_norm":  # statistics computed per batch leak across samples
            chunks = [z[i : i + batch_size] - z[i : i + batch_size].mean(0) for i in range(0, len(z), batch_size)]
            z = torch.cat(chunks) if chunks else z
        return {
            "wide": lambda: torch.cat([z, z[:, :1]], 1),
            "float64": lambda: z.double(),
            "grad": lambda: z.requires_grad_(),
            "nan": lambda: z.masked_fill(z > 3, float("nan")),
            "noisy": lambda: z + 1e-2 * torch.randn_like(z),
            "constant": lambda: torch.ones_like(z),
            "meta": lambda: torch.empty_like(z, device="meta"),
        }.get(d, lambda: z)()


def failures_of(encoder, inputs=SAMPLES, **kw) -> dict[str, str]:
    with pytest.raises(ContractError) as info:
        check_encoder(encoder, inputs, **kw)
    return info.value.failures


def test_a_correct_encoder_passes_every_check():
    report = check_encoder(Raw(), SAMPLES)
    assert report.passed == ALL_CHECKS and report.skipped == {}


@pytest.mark.parametrize(
    ("defect", "failed", "check", "match"),
    [
        ("wide", {"shape", "empty"}, "shape", r"encode returned shape \(5, 4\), expected \(5, 3\)"),
        ("float64", {"dtype", "empty"}, "dtype", r"dtype is torch.float64, expected torch.float32"),
        ("grad", {"no_grad"}, "no_grad", "output requires grad"),
        ("nan", {"finite"}, "finite", "output has 2 NaN/inf entries"),
        ("noisy", {"deterministic", "batch_size", "order"}, "deterministic", "two calls on the same inputs differ"),
        ("batch_norm", {"batch_size"}, "batch_size", r"batch_size=1 changes the output"),
        ("sorts", {"order"}, "order", r"permuting the inputs by \[.*\] does not permute the rows"),
        ("constant", {"distinct"}, "distinct", "every input maps to the same row"),
        ("empty_crash", {"empty"}, "empty", r"raised IndexError: list index out of range"),
        ("accepts_anything", {"wrong_type"}, "wrong_type",
         r"input <object object at .*> was accepted; expected a TypeError"),
        ("deep_error", {"wrong_type"}, "wrong_type",
         r"raised RuntimeError: Could not infer dtype of object; expected a TypeError"),
    ],
)
def test_each_defect_fails_exactly_its_check(defect, failed, check, match):
    failures = failures_of(Raw(defect))
    assert set(failures) == failed
    assert re.search(match, failures[check]), failures[check]


def test_output_on_another_device_fails_the_device_check():
    failures = failures_of(Raw("meta"))
    assert failures["device"] == "output is on meta, expected the CPU"


def test_spec_problems_and_interface_mismatches_are_named():
    failures = failures_of(Raw(license="unspecified", dim=4))
    assert set(failures) == {"spec", "interface"}
    assert failures["spec"].startswith("license is unspecified; say it")
    assert failures["interface"] == "dim 3 differs from the spec's declared dim 4"


def test_the_error_message_lists_every_failed_check():
    with pytest.raises(ContractError, match=r"^encoder 'raw' failed 2 contract checks:\n  - spec: .*\n  - interface: "):
        check_encoder(Raw(license="", dim=4), SAMPLES)


def test_encode_that_cannot_run_stops_with_one_clear_failure():
    class Broken(Raw):
        def encode(self, inputs, **kw):
            raise RuntimeError("CUDA out of memory")

    assert failures_of(Broken()) == {"encode": "raised RuntimeError: CUDA out of memory"}


def test_base_encoder_batching_passes_the_kit():
    class Cumsum(BaseEncoder):
        def _load(self):
            self.w = torch.tensor([[1.0, 2.0], [0.0, 1.0]])

        def _prepare(self, x):
            if not isinstance(x, list) or not all(isinstance(r, list) for r in x):
                raise TypeError(f"expected a list of pairs of floats, got {type(x).__name__}")
            return x

        def _encode_batch(self, b):
            return torch.tensor(b) @ self.w

    enc = Cumsum(spec(name="cumsum", dim=2), batch_size=2)
    report = check_encoder(enc, [[1.0, 2.0], [3.0, -1.0], [0.0, 5.0], [2.0, 2.0]])
    assert report.passed == ALL_CHECKS


def test_one_object_input_skips_the_per_sample_checks_with_a_reason():
    class Graph:
        num_nodes = 4

    class NodeEncoder(Raw):
        def encode(self, inputs, *, batch_size=64, progress=None):
            if not isinstance(inputs, Graph):
                raise TypeError(f"expected a Graph, got {type(inputs).__name__}")
            return torch.arange(12.0).reshape(4, 3)

    report = check_encoder(NodeEncoder(modality="graph"), Graph(), n_rows=4)
    assert set(report.skipped) == {"batch_size", "order", "empty"}
    assert report.skipped["order"] == "sample inputs are one object, not a sequence of samples"
    assert failures_of(NodeEncoder(modality="graph"), Graph(), n_rows=5)["shape"].startswith(
        "encode returned shape (4, 3), expected (5, 3)")


def test_check_spec_names_each_incomplete_field():
    bad = EncoderSpec("", "", "two\nlines", dim=0, aliases=("a:b",), extra="")
    assert set(check_spec(bad)) == {"name", "modality", "description", "dim", "aliases", "extra", "weights", "license"}
    assert check_spec("resnet") == {"spec": "expected a stitch.EncoderSpec, got str"}
    assert check_spec(spec()) == {}


def test_sample_inputs_come_from_the_encoder_or_the_modality_default():
    assert len(sample_inputs(Raw(modality="text"), n=3)) == 3
    with pytest.raises(LookupError, match=r"encoder 'raw' \(tabular\) provides no sample inputs"):
        sample_inputs(Raw())


# -- registered encoders ------------------------------------------------------------------------------
class Eager(BaseEncoder):
    def __init__(self, s):
        super().__init__(s)
        self._ensure_loaded()  # the defect: weights load at construction

    def _load(self):
        pass

    def _prepare(self, x):
        return x

    def _encode_batch(self, b):
        return torch.zeros(len(b), 3)


class KitPlugin:
    @hookimpl
    def stitch_register_encoders(self, register):
        register(spec(name="raw"), Raw)
        register(spec(name="eager"), lambda: Eager(spec(name="eager")))
        register(spec(name="vague", license="unspecified"), Raw)


@pytest.fixture
def kit_plugin(monkeypatch):
    monkeypatch.setenv("STITCH_DISABLE_PLUGINS", "1")
    registry.reset_plugins()
    registry.register_plugin(KitPlugin(), "kit")
    yield
    registry.reset_plugins()


def test_encoder_params_and_registered_checks(kit_plugin):
    params = encoder_params("kit:*", marks=[pytest.mark.slow])
    assert [p.id for p in params] == ["eager", "raw", "vague"] and params[0].marks[0].name == "slow"
    with pytest.raises(LookupError, match="provides no sample inputs"):
        check_registered_encoder("raw")
    with pytest.raises(ContractError, match=r"encoder 'eager' failed 1 contract check:\n  - lazy: the factory loaded"):
        check_registered_encoder("eager")
    with pytest.raises(ContractError, match=r"(?s)registered spec of encoder 'vague' failed .*license: is unspecified"):
        check_registered_encoder("vague")


# -- registration must stay light and offline ---------------------------------------------------------
def _dist(site: Path, plugin_source: str) -> None:
    info = site / "stitch_kitfake-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stitch-kitfake\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[stitch]\nkitfake = kitfake_plugin\n")
    (site / "kitfake_plugin.py").write_text(textwrap.dedent(plugin_source))
    (site / "kitfake_heavy.py").write_text("")
    importlib.invalidate_caches()


LIGHT = """
from stitch import hookimpl
from stitch.encoder import EncoderSpec
@hookimpl
def stitch_register_encoders(register):
    register(EncoderSpec("kf", "tabular", "x", dim=1), lambda: None)
"""


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("", None),
        ("import kitfake_heavy\n", r"light: registering/listing imported kitfake_heavy"),
        ("import socket\ntry:\n    socket.create_connection(('example.org', 80), timeout=1)\n"
         "except OSError:\n    pass\n",
         r"offline: registering/listing tried to reach the network: \(\('example.org', 80\)"),
    ],
    ids=["light", "heavy-import", "network"],
)
def test_lightweight_registration_check(tmp_path, extra, match):
    _dist(tmp_path, extra + LIGHT)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    kw = {"plugins": ["kitfake"], "forbidden": ("kitfake_heavy",), "env": env}
    if match is None:
        assert check_lightweight_registration(**kw)["encoders"] == ["kf"]
    else:
        with pytest.raises(ContractError, match=match):
            check_lightweight_registration(**kw)


class Bare(Raw):
    """Raw without a ``.spec`` and with overridable interface attributes."""

    def __init__(self, **attrs) -> None:
        super().__init__()
        del self.spec
        for key, value in attrs.items():
            setattr(self, key, value)


@pytest.mark.parametrize(
    ("encoder", "check", "message"),
    [
        (Bare(name="no-such-kit-encoder"), "spec",
         r"^the encoder has no .spec and its name is not registered \(unknown encoder 'no-such-kit-encoder'"),
        (Bare(name=""), "interface", r"^name must be a non-empty string, got ''$"),
        (Bare(modality=None), "interface", r"^modality must be a non-empty string, got None$"),
        (Bare(dim=True), "interface", r"^dim must be a positive int, got True$"),
        (Bare(spec=spec(modality="image")), "interface", r"^modality 'tabular' differs from the spec's 'image'$"),
    ],
    ids=["unregistered", "empty-name", "no-modality", "bool-dim", "modality-mismatch"],
)
def test_spec_and_interface_failures_say_what_is_wrong(encoder, check, message):
    failures = failures_of(encoder)
    assert re.search(message, failures[check]), failures[check]
