"""The one interface every encoder implements, whatever its modality.

* :class:`EncoderSpec` — a cheap, frozen description of an encoder *before* it is built (listing and
  registration never load weights or import heavy libraries).
* :class:`Encoder` — the runtime protocol: ``name``, ``modality``, ``dim`` and ``encode``.
* :class:`BaseEncoder` — what adapters subclass: batching, input order, float32-on-CPU-detached outputs,
  progress bars and lazy weight loading, so each adapter only says how to load and encode one batch.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable


if TYPE_CHECKING:
    import torch

__all__ = ["EncoderSpec", "Encoder", "BaseEncoder", "MODALITIES", "resolve_device", "check_finite_latents"]

#: Modalities the built-in adapters use; plugins may declare their own.
MODALITIES = ("image", "text", "graph", "tabular")


def resolve_device(device: str) -> str:
    """The torch device an encoder runs on: ``"auto"`` is ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"mps"`` are checked against what this machine has, so a
    missing GPU is reported when the encoder is made, not at the first batch.

    Example:
        >>> resolve_device("cpu")
        'cpu'
        >>> resolve_device("auto") in ("cpu", "cuda")
        True
    """
    import torch

    if not isinstance(device, str):
        raise TypeError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        index = device[5:]
        if index and not index.isdigit():
            raise ValueError(f"device {device!r} is not a CUDA device name; use 'cuda' or 'cuda:N'")
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but torch sees no CUDA GPU here; use device='auto' "
                             "(the GPU when there is one, else the CPU) or 'cpu'")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
        return device
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but this machine has no Apple GPU; use 'auto' or 'cpu'")
        return device
    raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoder is, known without building it.

    Args:
        name: registry name, e.g. ``"minilm"`` or ``"timm:resnet18"``.
        modality: ``image``, ``text``, ``graph``, ``tabular`` or a plugin's own.
        description: one line for listings.
        dim: latent dimension when known before loading, else ``None``.
        aliases: other names that resolve to this encoder.
        extra: the ``latent-stitch`` extra that installs its dependencies (``"vision"``), if any.
        weights: where weights come from (``"random init"``, ``"local file: ..."``, a hub id, ...).
        license: licence of the weights/code, when known.
        plugin: the plugin that registered it (filled in by the registry).

    Example:
        >>> spec = EncoderSpec("toy", "tabular", "A toy encoder", dim=4, extra=None, weights="none")
        >>> spec.install_hint
        'pip install latent-stitch'
    """

    name: str
    modality: str
    description: str
    dim: int | None = None
    aliases: tuple[str, ...] = ()
    extra: str | None = None
    weights: str = "unspecified"
    license: str = "unspecified"
    plugin: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def install_hint(self) -> str:
        """The pip command that installs what this encoder needs."""
        from stitch.utils.extras import install_hint

        return install_hint(self.extra)

    @property
    def available(self) -> bool:
        """Whether the libraries of this encoder's extra are installed (checked without importing them)."""
        from stitch.utils.extras import extra_available

        return extra_available(self.extra)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by ``stitch encoders show``)."""
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        d["install"] = self.install_hint
        d["available"] = self.available
        return d


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns inputs into an ``(n, dim)`` latent matrix.

    ``encode`` returns float32, on the CPU, detached, one row per input in input order. Weights load on
    the first ``encode``, never at construction. Inputs of the wrong type raise ``TypeError``.

    Optional: ``sample_inputs(n)`` returning ``n`` distinct valid inputs lets :mod:`stitch.testing` run
    the contract checks on the encoder without being told what it takes.

    Example:
        >>> import torch
        >>> class Identity:
        ...     name, modality, dim = "identity", "tabular", 2
        ...     def encode(self, inputs, *, batch_size=64, progress=None):
        ...         return torch.as_tensor(inputs, dtype=torch.float32)
        >>> isinstance(Identity(), Encoder), Identity().encode([[1, 2]]).dtype
        (True, torch.float32)
    """

    name: str
    modality: str

    @property
    def dim(self) -> int: ...

    def encode(self, inputs: Any, *, batch_size: int = ..., progress: bool | None = ...) -> torch.Tensor:
        """Encode ``inputs`` in batches of ``batch_size``.

        Shapes:
            inputs: ``n`` items  ->  ``(n, dim)`` float32 on the CPU, detached, in input order.
        """
        ...


def check_finite_latents(z: torch.Tensor, encoder: Any) -> None:
    """Raise ``ValueError`` when latents hold NaN or Inf, naming the encoder, its weights and the first bad row:
    a non-finite latent is never stored in a cache or handed to a decoder.

    Shapes:
        z: ``(n, dim)``

    Example:
        >>> import torch
        >>> check_finite_latents(torch.tensor([[0.0, float("nan")]]), "toy")
        Traceback (most recent call last):
        ...
        ValueError: encoder 'toy' produced non-finite latents (NaN or Inf) for 1 of 1 inputs (the first: row 0); its weights or inputs hold NaN or Inf: check them
    """
    import torch

    bad = ~torch.isfinite(z).all(dim=1) if z.ndim == 2 else ~torch.isfinite(z).reshape(len(z), -1).all(dim=1)
    if bool(bad.any()):
        name = getattr(encoder, "name", encoder)
        weights = getattr(getattr(encoder, "spec", None), "weights", None)
        where = f" (weights {weights})" if weights else ""
        raise ValueError(f"encoder {name!r}{where} produced non-finite latents (NaN or Inf) for {int(bad.sum())} of "
                         f"{len(z)} inputs (the first: row {int(bad.nonzero()[0])}); its weights or inputs hold NaN "
                         "or Inf: check them")


class BaseEncoder(abc.ABC):
    """Base class for adapters: subclasses implement :meth:`_load`, :meth:`_prepare`, :meth:`_encode_batch`.

    Add a ``sample_inputs(n)`` method so the contract kit (:func:`stitch.testing.check_registered_encoder`)
    can check the encoder on its own. The class may also be registered directly (``register(MyEncoder)``)
    when it has a ``spec`` class attribute or ``name`` / ``modality`` ones.

    Args:
        spec: the encoder's :class:`EncoderSpec`.
        batch_size: default batch size of :meth:`encode`.

    Example:
        >>> import torch
        >>> class Doubler(BaseEncoder):
        ...     def _load(self): self.scale = 2.0
        ...     def _prepare(self, inputs): return torch.as_tensor(inputs, dtype=torch.float32)
        ...     def _encode_batch(self, batch): return batch * self.scale
        >>> enc = Doubler(EncoderSpec("doubler", "tabular", "x -> 2x", dim=3))
        >>> enc.encode([[1.0, 2.0, 3.0]])
        tensor([[2., 4., 6.]])
    """

    def __init__(self, spec: EncoderSpec, *, batch_size: int = 64) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self._loaded = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def modality(self) -> str:
        return self.spec.modality

    @property
    def dim(self) -> int:
        """Latent dimension (from the spec when known, else from the loaded model)."""
        if self.spec.dim is not None:
            return self.spec.dim
        self._ensure_loaded()
        return self._loaded_dim()

    def _loaded_dim(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must set spec.dim or implement _loaded_dim()")

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._load()
            self._loaded = True

    def fingerprint(self) -> dict[str, Any]:
        """Identity of this encoder's weights and options, for cache keys (override to add a weights hash)."""
        return {"name": self.name, "weights": self.spec.weights, "options": dict(self.spec.options)}

    def encode(self, inputs: Any, *, batch_size: int | None = None, progress: bool | None = None) -> torch.Tensor:
        """Encode ``inputs`` in batches.

        Shapes:
            inputs: ``n`` items  ->  ``(n, dim)`` float32 on the CPU, detached, in input order.
        """
        import torch

        items = self._prepare(inputs)
        n = len(items)
        if n == 0:
            return torch.empty(0, self.dim, dtype=torch.float32)
        bs = self.batch_size if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._ensure_loaded()
        parts: list[torch.Tensor] = []
        from stitch.utils.progress import progress_bar

        # no_grad rather than inference_mode: inference tensors cannot be used to train decoders later.
        with torch.no_grad(), progress_bar(n, f"encode {self.name}", enabled=progress) as bar:
            for start in range(0, n, bs):
                out = self._encode_batch(items[start : start + bs])
                parts.append(out.detach().to(device="cpu", dtype=torch.float32))
                bar.update(len(parts[-1]))
        z = torch.cat(parts)
        if z.shape != (n, self.dim):
            raise RuntimeError(
                f"encoder {self.name!r} produced shape {tuple(z.shape)} for {n} inputs, expected ({n}, {self.dim})"
            )
        check_finite_latents(z, self)
        return z

    @abc.abstractmethod
    def _load(self) -> None:
        """Load weights / build the model (called once, on the first ``encode``)."""

    @abc.abstractmethod
    def _prepare(self, inputs: Any) -> Sequence[Any]:
        """Validate ``inputs`` (``TypeError``/``ValueError`` with a clear message) and return a sliceable sequence."""

    @abc.abstractmethod
    def _encode_batch(self, batch: Any) -> torch.Tensor:
        """Encode one slice of what :meth:`_prepare` returned; return ``(len(batch), dim)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, modality={self.modality!r}, dim={self.spec.dim!r})"
