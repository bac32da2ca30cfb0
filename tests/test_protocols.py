"""Protocols as registered objects: the built-ins, a plugin's protocol checked and run through experiment files,
and the one "reuse or train by recipe hash" every protocol shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from stitch import hookimpl, registry
from stitch.encoder.checkpoint import sidecar_path, write_trained
from stitch.errors import ConfigError
from stitch.experiment import parse_experiment, run_experiment
from stitch.experiment.protocols import (PROTOCOLS, FrozenProtocol, Protocol, get_protocol, list_protocols,
                                         register_protocol, reuse_or_train)

RESNET = {"image_size": 8, "in_chans": 1, "crop_pct": 1.0}


def _config(**changes):
    cfg = {"name": "p", "spaces": ["absolute", "relative:cosine"], "anchors": {"n": 20},
           "dataset": {"name": "digits", "subset": {"train": 200, "test": 100}},
           "encoders": [{"name": "timm:test_resnet", "label": "a", "options": RESNET}],
           "decoder": {"kind": "linear", "epochs": 3}}
    cfg.update(changes)
    return cfg


def test_builtin_protocols() -> None:
    assert list_protocols() == ["end-to-end", "frozen"]
    assert (get_protocol("frozen").in_process, get_protocol("end-to-end").in_process) == (False, True)
    with pytest.raises(TypeError, match=r"protocol 'x' must be a subclass of stitch.experiment.protocols.Protocol"):
        register_protocol("x", dict)  # type: ignore[arg-type]


class OneEncoder(FrozenProtocol):
    """The frozen protocol on exactly one encoder, counting its runs."""

    name = "one-encoder"
    runs: list[str] = []

    def check(self, cfg):
        extra = [f"encoders: protocol 'one-encoder' takes one encoder, got {len(cfg.encoders)}"] \
            if len(cfg.encoders) != 1 else []
        return [*extra, *super().check(cfg)]

    def run(self, ctx):
        type(self).runs.append(ctx.cfg.name)
        return super().run(ctx)


class ProtocolPlugin:
    @hookimpl
    def stitch_register_protocols(self, register):
        register("one-encoder", OneEncoder, description="frozen, one encoder")


@pytest.fixture
def protocol_plugin():
    registry.reset_plugins()
    record = registry.register_plugin(ProtocolPlugin(), "oneplug")
    yield record
    registry.reset_plugins()


def test_a_plugin_protocol_is_checked_and_run(protocol_plugin, tmp_path: Path) -> None:
    assert protocol_plugin.registered == {"protocols": 1}
    assert PROTOCOLS.entry("one-encoder").source == "oneplug"
    two = _config(protocol="one-encoder", encoders=[{"name": "a"}, {"name": "b"}])
    with pytest.raises(ConfigError, match=r"invalid experiment config:\n  encoders: protocol 'one-encoder' takes one "
                                          r"encoder, got 2$"):
        parse_experiment(two)
    res = run_experiment(_config(protocol="oneplug:one-encoder"), out=tmp_path, progress=False, report=False)
    assert OneEncoder.runs == ["p"] and len(res.cells) == 2 and res.config["protocol"] == "oneplug:one-encoder"
    base = run_experiment(_config(), out=tmp_path / "frozen", progress=False, report=False)
    assert [c["accuracy"] for c in res.cells] == [c["accuracy"] for c in base.cells]  # the same run, under a new name


def test_reuse_or_train_reuses_only_a_matching_intact_file(tmp_path: Path) -> None:
    trained: list[dict] = []

    def train(path: Path, recipe: dict) -> str:
        trained.append(recipe)
        write_trained(path, {"encoder.w": __import__("torch").ones(2)}, {"base_encoder": "toy", "recipe": recipe})
        return "trained"

    def load(path: Path) -> str:
        from stitch.encoder.checkpoint import read_checkpoint

        read_checkpoint(path)  # verifies the weights against the sidecar
        return "loaded"

    first, path = reuse_or_train(tmp_path, "m:x", {"lr": 1}, load=load, train=train)
    again, same = reuse_or_train(tmp_path, "m:x", {"lr": 1}, load=load, train=train)
    assert (first, again, same, path.name[:4]) == ("trained", "loaded", path, "m_x-")
    assert trained == [{"key": trained[0]["key"], "lr": 1}] and path.name == f"m_x-{trained[0]['key'][:12]}.safetensors"
    _, other = reuse_or_train(tmp_path, "m:x", {"lr": 2}, load=load, train=train)
    assert other != path and len(trained) == 2  # a changed recipe is a new file, the old one is never reused for it
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")  # damaged weights: trained again
    assert reuse_or_train(tmp_path, "m:x", {"lr": 1}, load=load, train=train)[0] == "trained"
    sidecar_path(path).write_text("{not json")  # damaged sidecar: trained again
    assert reuse_or_train(tmp_path, "m:x", {"lr": 1}, load=load, train=train)[0] == "trained"
    assert len(trained) == 4


def test_the_protocol_base_refuses_other_engines_for_in_process_protocols() -> None:
    class Here(Protocol):
        name = "here"
        in_process = True

    cfg = parse_experiment(_config(engine={"kind": "ray"}))
    assert Here().check(cfg) == ["engine.kind: protocol 'here' runs in this process; remove the [engine] table"]
    assert FrozenProtocol().check(cfg) == []
