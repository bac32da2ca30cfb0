"""Contract kit for plugin authors: check that an encoder honours the :class:`stitch.Encoder` contract.

Use it in your plugin's test suite::

    from stitch.testing import check_encoder, check_lightweight_registration, encoder_params

    @pytest.mark.parametrize("name", encoder_params("myplugin:*"))
    def test_contract(name):
        check_registered_encoder(name)

    def test_registration_is_cheap():
        check_lightweight_registration(plugins=["myplugin"])

:func:`check_encoder` runs every check and raises one :class:`ContractError` naming each failed check
and why; it returns a :class:`ContractReport` when all pass. The checks: the spec is complete; ``name``,
``modality`` and ``dim`` match it; ``encode`` returns a ``torch.Tensor`` of shape ``(n, dim)``, float32,
on the CPU, without grad, finite; the output is deterministic, independent of ``batch_size``, and
follows input order (permuting inputs permutes rows); distinct inputs do not all map to one row; empty
input gives ``(0, dim)`` or a clear ``ValueError``/``TypeError``; input of the wrong type raises
``TypeError``.

Sample inputs: pass them to :func:`check_encoder`, or let the encoder provide them with an optional
``sample_inputs(n)`` method (the built-in adapters do); text encoders get a default set of sentences.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stitch.encoder import MODALITIES, EncoderSpec

if TYPE_CHECKING:
    import torch

    from stitch.encoder import Encoder

__all__ = [
    "ContractError",
    "ContractReport",
    "HEAVY_MODULES",
    "ENCODER_CHECKS",
    "EncoderProbe",
    "probe_encoder",
    "run_check",
    "check_spec",
    "check_encoder",
    "check_registered_encoder",
    "check_lightweight_registration",
    "sample_inputs",
    "encoder_params",
]

#: Top-level modules that registering or listing encoders must not import (weights and model code load
#: on the first ``encode``). torch is allowed: registering a similarity function needs it.
HEAVY_MODULES = (
    "timm",
    "transformers",
    "tokenizers",
    "huggingface_hub",
    "torch_geometric",
    "torchvision",
    "open_clip",
    "sentence_transformers",
    "tensorflow",
    "jax",
    "datasets",
    "sklearn",
    "matplotlib",
    "ot",
)

_UNSET = ("", "unspecified", None)

_SENTENCES = (
    "The cat sat on the mat.",
    "Stock markets fell sharply on Monday.",
    "How many moons does Jupiter have?",
    "A recipe for tomato soup with basil.",
    "The quantum computer solved the problem.",
    "Who wrote the novel War and Peace?",
    "Heavy rain is expected over the weekend.",
    "She plays the violin in an orchestra.",
)


class ContractError(AssertionError):
    """An encoder broke its contract; ``failures`` maps each failed check to why.

    Subclasses ``AssertionError`` so pytest reports it as a test failure, not an error.

    Example:
        >>> err = ContractError("encoder 'toy'", {"dtype": "dtype is torch.float64, expected torch.float32"})
        >>> print(err)
        encoder 'toy' failed 1 contract check:
          - dtype: dtype is torch.float64, expected torch.float32
    """

    def __init__(self, subject: str, failures: dict[str, str]) -> None:
        self.subject = subject
        self.failures = dict(failures)
        lines = "\n".join(f"  - {check}: {why}" for check, why in self.failures.items())
        n = len(self.failures)
        super().__init__(f"{subject} failed {n} contract check{'s' if n > 1 else ''}:\n{lines}")


@dataclass
class ContractReport:
    """What :func:`check_encoder` verified: checks that passed and checks skipped (with the reason).

    Example:
        >>> report = ContractReport("toy", passed=["spec", "shape"], skipped={"order": "needs 2 inputs"})
        >>> report.passed, report.skipped["order"]
        (['spec', 'shape'], 'needs 2 inputs')
    """

    encoder: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def check_spec(spec: Any) -> dict[str, str]:
    """Problems with an :class:`~stitch.encoder.EncoderSpec`, as ``{field: why}`` (empty when complete).

    Example:
        >>> check_spec(EncoderSpec("toy", "tabular", "Toy encoder", dim=4, weights="none", license="MIT"))
        {}
        >>> sorted(check_spec(EncoderSpec("toy", "tabular", "")))
        ['description', 'license', 'weights']
    """
    if not isinstance(spec, EncoderSpec):
        return {"spec": f"expected a stitch.EncoderSpec, got {type(spec).__name__}"}
    problems: dict[str, str] = {}
    if not isinstance(spec.name, str) or not spec.name.strip():
        problems["name"] = f"must be a non-empty string, got {spec.name!r}"
    if not isinstance(spec.modality, str) or not spec.modality.strip():
        problems["modality"] = f"must be a non-empty string such as {', '.join(MODALITIES)}; got {spec.modality!r}"
    if not isinstance(spec.description, str) or not spec.description.strip():
        problems["description"] = "is empty; give one line for `stitch encoders list`"
    elif "\n" in spec.description.strip():
        problems["description"] = "must be one line"
    if spec.dim is not None and (isinstance(spec.dim, bool) or not isinstance(spec.dim, int) or spec.dim < 1):
        problems["dim"] = f"must be a positive int or None (unknown before loading), got {spec.dim!r}"
    bad_aliases = [a for a in spec.aliases if not isinstance(a, str) or not a or ":" in a]
    if not isinstance(spec.aliases, tuple) or bad_aliases:
        problems["aliases"] = f"must be a tuple of non-empty names without ':', got {spec.aliases!r}"
    if spec.extra is not None and (not isinstance(spec.extra, str) or not spec.extra.strip()):
        problems["extra"] = f"must be None or the name of a latent-stitch extra (e.g. 'vision'), got {spec.extra!r}"
    for attr, example in (("weights", "'random init', 'hf:sentence-transformers/all-MiniLM-L6-v2'"),
                          ("license", "'Apache-2.0', 'MIT', 'unknown'")):
        if getattr(spec, attr) in _UNSET:
            problems[attr] = f"is unspecified; say it, e.g. {example}"
    return problems


def _is_itemwise(inputs: Any) -> bool:
    # Sequences of samples can be sliced and permuted; one object (a graph) cannot.
    if isinstance(inputs, (str, bytes)):
        return False
    if isinstance(inputs, (list, tuple)):
        return True
    return hasattr(inputs, "shape") and hasattr(inputs, "__getitem__") and len(getattr(inputs, "shape", ())) >= 1


def _take(inputs: Any, idx: Sequence[int]) -> Any:
    if isinstance(inputs, tuple):
        return tuple(inputs[i] for i in idx)
    if isinstance(inputs, list):
        return [inputs[i] for i in idx]
    import numpy as np

    if isinstance(inputs, np.ndarray):
        return inputs[np.asarray(idx, dtype=np.int64)]
    import torch

    return inputs[torch.as_tensor(list(idx), dtype=torch.long)]


def _max_rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max ``|a - b|`` relative to ``b``'s scale; NaN where both are NaN counts as equal (``finite`` reports it)."""
    import torch

    if not a.numel():
        return 0.0
    a, b = a.detach().double(), b.detach().double()
    diff = (a - b).abs().masked_fill(torch.isnan(a) & torch.isnan(b), 0.0).nan_to_num(nan=float("inf"))
    scale = max(1.0, float(b.nan_to_num(nan=0.0, posinf=0.0, neginf=0.0).abs().max()))
    return float(diff.max()) / scale


@dataclass
class EncoderProbe:
    """What the contract checks share about one encoder under test: its inputs and its first output.

    Built by :func:`probe_encoder`; each check of :data:`ENCODER_CHECKS` reads it (and may encode again).
    """

    encoder: Any
    sample_inputs: Any
    spec: Any = None
    n_rows: int | None = None
    wrong_inputs: Sequence[Any] | None = None
    tol: float = 1e-4
    seed: int = 0
    output: Any = None

    @property
    def itemwise(self) -> bool:
        """Whether the sample inputs are a sequence of samples (sliceable and permutable), not one object."""
        return _is_itemwise(self.sample_inputs)

    @property
    def n(self) -> int | None:
        """Expected output rows: the number of inputs, or ``n_rows`` for one object (a graph)."""
        return len(self.sample_inputs) if self.itemwise else self.n_rows

    def encode(self, inputs: Any, **kw: Any) -> torch.Tensor:
        """``encoder.encode`` with autograd on: the encoder itself must make sure its output carries no graph."""
        import torch

        with torch.enable_grad():
            return self.encoder.encode(inputs, progress=False, **kw)


def _check_spec(p: EncoderProbe) -> None:
    spec = p.spec
    if spec is None:
        spec = getattr(p.encoder, "spec", None)
    if spec is None:
        from stitch.plugins import get_encoder_spec

        try:
            spec = get_encoder_spec(p.encoder.name)
        except LookupError as exc:
            _fail(f"the encoder has no .spec and its name is not registered ({exc})")
    p.spec = spec
    problems = check_spec(spec)
    if problems:
        _fail("; ".join(f"{k} {v}" for k, v in problems.items()))


def _check_interface(p: EncoderProbe) -> None:
    name, modality, dim = p.encoder.name, p.encoder.modality, p.encoder.dim
    if not (isinstance(name, str) and name):
        _fail(f"name must be a non-empty string, got {name!r}")
    if not (isinstance(modality, str) and modality):
        _fail(f"modality must be a non-empty string, got {modality!r}")
    if not (isinstance(dim, int) and not isinstance(dim, bool) and dim > 0):
        _fail(f"dim must be a positive int, got {dim!r}")
    s = p.spec if isinstance(p.spec, EncoderSpec) else None
    if s is not None:
        if name != s.name:
            _fail(f"name {name!r} differs from the spec's {s.name!r}")
        if modality != s.modality:
            _fail(f"modality {modality!r} differs from the spec's {s.modality!r}")
        if s.dim is not None and dim != s.dim:
            _fail(f"dim {dim} differs from the spec's declared dim {s.dim}")


def _check_encode(p: EncoderProbe) -> None:
    import torch

    z = p.encode(p.sample_inputs)
    if not isinstance(z, torch.Tensor):
        _fail(f"encode returned {type(z).__name__}, expected a torch.Tensor")
    p.output = z


def _check_shape(p: EncoderProbe) -> None:
    z, dim, n = p.output, p.encoder.dim, p.n
    if not (z.ndim == 2 and (n is None or z.shape[0] == n) and z.shape[1] == dim):
        _fail(f"encode returned shape {tuple(z.shape)}, expected ({'n' if n is None else n}, {dim}) (one row per "
              "input, dim columns)")
    if z.shape[0] == 0:
        _fail("encode returned no rows for non-empty inputs")


def _check_dtype(p: EncoderProbe) -> None:
    import torch

    if p.output.dtype != torch.float32:
        _fail(f"dtype is {p.output.dtype}, expected torch.float32")


def _check_device(p: EncoderProbe) -> None:
    if p.output.device.type != "cpu":
        _fail(f"output is on {p.output.device}, expected the CPU")


def _check_no_grad(p: EncoderProbe) -> None:
    if p.output.requires_grad or p.output.grad_fn is not None:
        _fail("output requires grad / has a grad_fn; return z.detach() (BaseEncoder does) or encode under "
              "torch.no_grad()")


def _check_finite(p: EncoderProbe) -> None:
    import torch

    if not bool(torch.isfinite(p.output).all()):
        _fail(f"output has {int((~torch.isfinite(p.output)).sum())} NaN/inf entries")


def _check_deterministic(p: EncoderProbe) -> None:
    err = _max_rel_err(p.encode(p.sample_inputs), p.output)
    if not err <= p.tol / 100:
        _fail(f"two calls on the same inputs differ (max relative error {err:.2e}); is dropout on?")


_NOT_SEQUENCE = "sample inputs are one object, not a sequence of samples"


def _check_batch_size(p: EncoderProbe) -> str | None:
    if not p.itemwise:
        return _NOT_SEQUENCE
    for bs in (1, 2):
        err = _max_rel_err(p.encode(p.sample_inputs, batch_size=bs), p.output)
        if not err <= p.tol:
            _fail(f"batch_size={bs} changes the output (max relative error {err:.2e} > {p.tol:.0e})")
    return None


def _check_order(p: EncoderProbe) -> str | None:
    import numpy as np
    import torch

    if not p.itemwise:
        return _NOT_SEQUENCE
    n = p.n
    if n is None or n < 2:
        return "needs at least 2 sample inputs"
    perm = np.random.default_rng(p.seed).permutation(n)
    if (perm == np.arange(n)).all():
        perm = np.roll(perm, 1)
    err = _max_rel_err(p.encode(_take(p.sample_inputs, perm.tolist())), p.output[torch.as_tensor(perm)])
    if not err <= p.tol:
        _fail(f"permuting the inputs by {perm.tolist()} does not permute the rows the same way (max relative "
              f"error {err:.2e}); rows must follow input order")
    return None


def _check_distinct(p: EncoderProbe) -> str | None:
    z = p.output
    if z.shape[0] < 2:
        return "needs at least 2 output rows"
    if not bool((z != z[:1]).any()):
        _fail("every input maps to the same row; the encoder ignores its input")
    return None


def _check_empty(p: EncoderProbe) -> str | None:
    import torch

    if not p.itemwise:
        return _NOT_SEQUENCE
    try:
        e = p.encode(_take(p.sample_inputs, []))
    except (ValueError, TypeError) as exc:
        if not str(exc).strip():
            _fail(f"empty input raised {type(exc).__name__} with an empty message")
        return None
    if not (isinstance(e, torch.Tensor) and tuple(e.shape) == (0, p.encoder.dim) and e.dtype == torch.float32):
        _fail(f"empty input returned {getattr(e, 'shape', type(e).__name__)}, expected a (0, {p.encoder.dim}) "
              "float32 tensor or a ValueError/TypeError saying the input is empty")
    return None


def _check_wrong_type(p: EncoderProbe) -> None:
    cases = list(p.wrong_inputs) if p.wrong_inputs is not None else [object(), [object(), object()]]
    for bad in cases:
        try:
            p.encode(bad)
        except TypeError as exc:
            if not str(exc).strip():
                _fail(f"input {bad!r} raised TypeError with an empty message")
            continue
        except Exception as exc:
            _fail(f"input {bad!r} raised {type(exc).__name__}: {exc}; expected a TypeError saying what was received "
                  "and what the encoder takes")
        _fail(f"input {bad!r} was accepted; expected a TypeError")


#: The contract checks, in the order they run: name -> check(probe) (a returned string means "skipped: why").
#: ``encode`` produces the output the checks after it read; ``device`` failing stops the value checks.
ENCODER_CHECKS: dict[str, Callable[[EncoderProbe], str | None]] = {
    "spec": _check_spec,
    "interface": _check_interface,
    "encode": _check_encode,
    "shape": _check_shape,
    "dtype": _check_dtype,
    "device": _check_device,
    "no_grad": _check_no_grad,
    "finite": _check_finite,
    "deterministic": _check_deterministic,
    "batch_size": _check_batch_size,
    "order": _check_order,
    "distinct": _check_distinct,
    "empty": _check_empty,
    "wrong_type": _check_wrong_type,
}
_NEEDS_OUTPUT = list(ENCODER_CHECKS)[3:]
_NEEDS_CPU = list(ENCODER_CHECKS)[7:]


def run_check(name: str, probe: EncoderProbe) -> str | None:
    """Run one contract check; ``None`` when it passed, the reason when it was skipped, ``AssertionError`` else.

    Use it to make each check its own test (scikit-learn's ``parametrize_with_checks`` style)::

        @pytest.mark.parametrize("check", list(ENCODER_CHECKS))
        def test_my_encoder(check):
            run_check(check, probe_encoder(MyEncoder(), my_inputs))

    Example:
        >>> run_check("nope", None)
        Traceback (most recent call last):
        ...
        KeyError: "unknown contract check 'nope'; the checks are spec, interface, encode, shape, dtype, device, no_grad, finite, deterministic, batch_size, order, distinct, empty, wrong_type"
    """
    if name not in ENCODER_CHECKS:
        raise KeyError(f"unknown contract check {name!r}; the checks are {', '.join(ENCODER_CHECKS)}")
    if name in _NEEDS_OUTPUT and probe.output is None:
        _check_encode(probe)
    try:
        return ENCODER_CHECKS[name](probe)
    except AssertionError:
        raise
    except Exception as exc:  # a check crashing is the encoder failing it
        raise AssertionError(f"raised {type(exc).__name__}: {exc}") from None


def probe_encoder(encoder: Any, sample_inputs: Any, *, spec: EncoderSpec | None = None, n_rows: int | None = None,
                  wrong_inputs: Sequence[Any] | None = None, tol: float = 1e-4, seed: int = 0) -> EncoderProbe:
    """The :class:`EncoderProbe` the checks of :data:`ENCODER_CHECKS` run on (arguments as :func:`check_encoder`).

    Example:
        >>> probe_encoder(object(), [1, 2]).n
        2
    """
    return EncoderProbe(encoder, sample_inputs, spec=spec, n_rows=n_rows, wrong_inputs=wrong_inputs, tol=tol,
                        seed=seed)


def check_encoder(
    encoder: Encoder,
    sample_inputs: Any,
    *,
    spec: EncoderSpec | None = None,
    n_rows: int | None = None,
    wrong_inputs: Sequence[Any] | None = None,
    tol: float = 1e-4,
    seed: int = 0,
) -> ContractReport:
    """Run every contract check on ``encoder`` and raise :class:`ContractError` listing the failures.

    Args:
        encoder: the encoder under test (weights may load here, on the first ``encode``).
        sample_inputs: at least 3 distinct inputs of the encoder's modality: a list/tuple, array or
            tensor of samples, or one object (a graph) whose output has one row per node.
        spec: the spec to check; default ``encoder.spec``, else the registered spec of ``encoder.name``.
        n_rows: expected rows for a non-sequence input (a graph's node count); sequences give ``len``.
        wrong_inputs: inputs that must raise ``TypeError`` (default: ``object()`` and ``[object(), object()]``).
        tol: max error relative to the output's scale between batch sizes (determinism allows ``tol / 100``).
        seed: seeds the permutation of the order check.

    Shapes:
        ``encoder.encode(sample_inputs)`` must be ``(n, encoder.dim)`` float32.

    Example:
        >>> import torch
        >>> from stitch.encoder import BaseEncoder
        >>> class Sum(BaseEncoder):
        ...     def _load(self): pass
        ...     def _prepare(self, x):
        ...         if not isinstance(x, list) or not all(isinstance(r, list) for r in x):
        ...             raise TypeError(f"expected a list of lists of floats, got {type(x).__name__}")
        ...         return x
        ...     def _encode_batch(self, b): return torch.tensor(b).cumsum(1)
        >>> enc = Sum(EncoderSpec("cumsum", "tabular", "Cumulative sums", dim=2, weights="none", license="MIT"))
        >>> check_encoder(enc, [[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]]).passed[:3]
        ['spec', 'interface', 'encode']
    """
    probe = probe_encoder(encoder, sample_inputs, spec=spec, n_rows=n_rows, wrong_inputs=wrong_inputs, tol=tol,
                          seed=seed)
    subject = f"encoder {getattr(encoder, 'name', type(encoder).__name__)!r}"
    report = ContractReport(encoder=str(getattr(encoder, "name", type(encoder).__name__)))
    failures: dict[str, str] = {}
    for name, check in ENCODER_CHECKS.items():
        if name in _NEEDS_OUTPUT and probe.output is None:
            raise ContractError(subject, failures)  # encode failed: nothing else can be checked
        if name in _NEEDS_CPU and "device" in failures:
            raise ContractError(subject, failures)  # values off the CPU (or on "meta") cannot be compared
        try:
            skip = check(probe)
        except AssertionError as exc:
            failures[name] = str(exc)
            continue
        except Exception as exc:  # a check crashing is the encoder failing it
            failures[name] = f"raised {type(exc).__name__}: {exc}"
            continue
        if skip:
            report.skipped[name] = skip
        else:
            report.passed.append(name)
    if failures:
        raise ContractError(subject, failures)
    return report


def _fail(message: str) -> None:
    raise AssertionError(message)


def sample_inputs(encoder: Encoder, n: int = 6) -> Any:
    """Sample inputs for ``encoder``: its own ``sample_inputs(n)``, else a default for its modality.

    Example:
        >>> from stitch.encoder import BaseEncoder
        >>> class Txt(BaseEncoder):
        ...     _load = _prepare = _encode_batch = None
        >>> sample_inputs(Txt(EncoderSpec("t", "text", "Text")), n=2)
        ['The cat sat on the mat.', 'Stock markets fell sharply on Monday.']
    """
    own = getattr(encoder, "sample_inputs", None)
    if callable(own):
        return own(n)
    if encoder.modality == "text":
        return list(_SENTENCES[:n])
    raise LookupError(
        f"encoder {encoder.name!r} ({encoder.modality}) provides no sample inputs; define "
        "sample_inputs(self, n) on the encoder, or pass inputs to check_encoder() yourself"
    )


def check_registered_encoder(name: str, n: int = 6, **options: Any) -> ContractReport:
    """Check the registered spec of ``name``, build it (lazily) and run :func:`check_encoder` on its sample inputs.

    "Lazy" is checked on :class:`~stitch.encoder.BaseEncoder` subclasses: building one must not load weights.

    Example:
        >>> check_registered_encoder("no-such-encoder")
        Traceback (most recent call last):
        ...
        stitch.errors.UnknownNameError: unknown encoder 'no-such-encoder'...
    """
    from stitch.encoder import BaseEncoder
    from stitch.plugins import create_encoder, get_encoder_spec

    problems = check_spec(get_encoder_spec(name))
    if problems:
        raise ContractError(f"the registered spec of encoder {name!r}", problems)
    encoder = create_encoder(name, **options)
    if isinstance(encoder, BaseEncoder) and encoder._loaded:
        raise ContractError(f"encoder {name!r}", {"lazy": "the factory loaded weights; load them in _load()"})
    # The built encoder's own spec is checked against it (options such as dim may change the registered one).
    return check_encoder(encoder, sample_inputs(encoder, n))


def encoder_params(pattern: str = "*", modality: str | None = None, *, marks: Sequence[Any] = ()) -> list[Any]:
    """``pytest.param``s over the registered encoders matching ``pattern`` (ids are encoder names).

    Example:
        >>> encoder_params("no-such-*")
        []
    """
    import pytest

    from stitch.plugins import list_encoders

    return [pytest.param(name, id=name, marks=list(marks)) for name in list_encoders(pattern, modality=modality)]


_LIGHT_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, warnings
    attempts = []
    def _blocked(*args, **kwargs):
        attempts.append(repr(args[1:3] if args and isinstance(args[0], socket.socket) else args[:2]))
        raise OSError("network access blocked by stitch.testing.check_lightweight_registration")
    socket.socket.connect = _blocked
    socket.socket.connect_ex = _blocked
    socket.create_connection = _blocked
    socket.getaddrinfo = _blocked
    before = set(sys.modules)
    warnings.simplefilter("ignore")
    import stitch
    specs = stitch.list_encoders()
    datasets = stitch.list_datasets()
    records = [stitch.get_plugin(name) for name in stitch.list_plugins()]
    heavy = set(json.loads(sys.argv[1]))
    new = sorted({m.split(".")[0] for m in set(sys.modules) - before} & heavy)
    print(json.dumps({"heavy": new, "network": attempts, "encoders": specs, "datasets": datasets,
                      "plugins": [r.to_dict() for r in records]}))
    """
)


def check_lightweight_registration(
    *,
    plugins: Sequence[str] | None = None,
    forbidden: Sequence[str] = HEAVY_MODULES,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Check, in a fresh interpreter, that loading plugins and listing encoders and datasets import none of
    ``forbidden`` and open no network connection.

    Args:
        plugins: only load these plugins (``STITCH_PLUGINS``); default: every installed one.
        forbidden: top-level module names that must stay unimported.
        env: extra environment variables for the subprocess (e.g. ``PYTHONPATH``).

    Returns:
        What the subprocess saw: ``encoders``, ``datasets`` and ``plugins`` (records as dicts).

    Example:
        >>> sorted(check_lightweight_registration(plugins=["no-such-plugin"]))
        ['datasets', 'encoders', 'heavy', 'network', 'plugins']
    """
    full_env = {**os.environ, **(env or {})}
    full_env.pop("STITCH_STRICT_PLUGINS", None)
    if plugins:
        full_env["STITCH_PLUGINS"] = ",".join(plugins)
        full_env.pop("STITCH_DISABLE_PLUGINS", None)
    elif plugins is not None:  # an empty selection: load none
        full_env["STITCH_DISABLE_PLUGINS"] = "1"
        full_env.pop("STITCH_PLUGINS", None)
    proc = subprocess.run(
        [sys.executable, "-c", _LIGHT_SCRIPT, json.dumps(list(forbidden))],
        capture_output=True, text=True, env=full_env, timeout=timeout,
    )
    if proc.returncode != 0:
        why = f"listing failed in a fresh interpreter:\n{proc.stderr[-2000:]}"
        raise ContractError("plugin registration", {"load": why})
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    failures = {}
    if seen["heavy"]:
        failures["light"] = (f"registering/listing imported {', '.join(seen['heavy'])}; import heavy libraries "
                             "inside the encoder's _load() or factory call, not at module top")
    if seen["network"]:
        failures["offline"] = f"registering/listing tried to reach the network: {'; '.join(seen['network'][:3])}"
    if failures:
        raise ContractError("plugin registration", failures)
    return seen
