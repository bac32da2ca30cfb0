"""What the trainable adapters (timm, PyG, from-scratch text) share: one lazily built ``torch.nn.Module``.

A :class:`TorchEncoder` builds its module on first use under a fixed seed (random init is reproducible),
optionally loads a local safetensors checkpoint, and exposes the differentiable :meth:`forward` that
:func:`stitch.experiment.training.train_encoder` trains; ``encode`` is ``forward`` under ``no_grad`` in eval mode.
Its :meth:`fingerprint` names the weights exactly (checkpoint sha256, or the seed plus library versions
for random init), so cached latents are never served for different weights.
"""

from __future__ import annotations

import abc
import importlib.metadata as md
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stitch.encoder import BaseEncoder, EncoderSpec
from stitch.encoder.base import resolve_device
from stitch.utils.files import not_found

if TYPE_CHECKING:
    import torch

__all__ = ["TorchEncoder", "load_state_into"]


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


def load_state_into(module: torch.nn.Module, path: str | os.PathLike[str], *, ignore: tuple[str, ...] = ()) -> str:
    """Load a safetensors ``state_dict`` into ``module``, strictly; returns the sha256 of the bytes loaded.

    The file is read once (:func:`stitch.encoder.checkpoint.read_checkpoint`): hashed as it is loaded, and
    a trained-encoder file is checked against its sidecar and contributes its ``encoder.`` weights. Keys
    starting with one of ``ignore`` (e.g. a classifier head absent from a feature extractor) are dropped.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from stitch.utils.files import save_tensors
        >>> lin = torch.nn.Linear(2, 2); p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> digest = save_tensors(p, lin.state_dict())
        >>> load_state_into(torch.nn.Linear(2, 2), p) == digest
        True
    """
    from stitch.encoder.checkpoint import read_checkpoint

    path = Path(path)
    tensors, _, digest = read_checkpoint(path)
    tensors = {k: v for k, v in tensors.items() if not any(k.startswith(p) for p in ignore)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(expected[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with other shapes (e.g. {k!r}: file {tuple(tensors[k].shape)}, "
                         f"model {tuple(expected[k].shape)})")
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit the model: {'; '.join(parts)} keys. Use the same "
            "architecture and options (in_chans, img_size, hidden_dim, ...) the checkpoint was saved with"
        )
    module.load_state_dict(tensors, strict=True)
    return digest


class TorchEncoder(BaseEncoder, abc.ABC):
    """Base of adapters backed by one ``torch.nn.Module``: lazy seeded build, checkpoints, ``forward``.

    Subclasses implement :meth:`_build_module` (return the module, random init) and :meth:`forward`;
    they may override :meth:`_load_pretrained` and :meth:`_weights_identity`.

    Args:
        spec: the encoder's spec (``spec.options`` are the options that define it).
        checkpoint: local safetensors file with the module's weights (or a ``train_encoder`` output).
        seed: seed of the random initialisation (recorded in the fingerprint).
        batch_size: default batch size of ``encode``.
        device: where the module runs: ``"auto"`` (the GPU when torch sees one, else the CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see :func:`~stitch.encoder.base.resolve_device`); outputs always
            come back on the CPU.

    Shapes:
        encode / forward: a batch of ``b`` prepared inputs  ->  ``(b, dim)``

    Example:
        >>> import torch
        >>> class Linear(TorchEncoder):
        ...     def _build_module(self): return torch.nn.Linear(2, 3)
        ...     def _module_dim(self, module): return module.out_features
        ...     def _prepare(self, x): return torch.as_tensor(x, dtype=torch.float32)
        ...     def forward(self, batch): return self.module(batch)
        >>> enc = Linear(EncoderSpec("linear", "tabular", "a random linear map"), seed=3)
        >>> enc.dim, enc.encode([[1.0, 2.0], [0.0, 0.0]]).shape
        (3, torch.Size([2, 3]))
        >>> torch.equal(enc.encode([[1.0, 2.0]]), Linear(enc.spec, seed=3).encode([[1.0, 2.0]]))
        True
    """

    #: libraries whose versions change random initialisation (part of the fingerprint of random weights)
    _init_libraries: tuple[str, ...] = ("torch",)

    def __init__(self, spec: EncoderSpec, *, checkpoint: str | os.PathLike[str] | None = None, seed: int = 0,
                 batch_size: int = 64, device: str = "auto") -> None:
        super().__init__(spec, batch_size=batch_size)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
        self.checkpoint = Path(checkpoint).expanduser() if checkpoint is not None else None
        if self.checkpoint is not None and not self.checkpoint.is_file():
            raise FileNotFoundError(f"checkpoint {not_found(self.checkpoint)}; pass the path of a local .safetensors "
                                    "file")
        self.seed = seed
        self.device = device
        self._device = resolve_device(device)
        self._module: torch.nn.Module | None = None
        self._weights_sha256: str | None = None  # of the checkpoint bytes loaded, set by _load

    # -- the module -----------------------------------------------------------------------------------
    @property
    def module(self) -> torch.nn.Module:
        """The ``torch.nn.Module`` (built, and weights loaded, on first access)."""
        self._ensure_loaded()
        return self._module  # type: ignore[return-value]  # set by _load

    def _load(self) -> None:
        import torch

        # fork_rng: building the model must neither depend on nor disturb the caller's global RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module = self._build_module()
        if self.checkpoint is not None:
            self._weights_sha256 = load_state_into(module, self.checkpoint, ignore=self._checkpoint_ignore(module))
        else:
            self._weights_sha256 = self._load_pretrained(module)
        self._module = module.to(self._device).eval()

    @abc.abstractmethod
    def _build_module(self) -> torch.nn.Module:
        """Build the randomly initialised module (the global RNG is already seeded)."""

    def _load_pretrained(self, module: torch.nn.Module) -> str | None:
        """Load hub weights when the options ask for them and return their sha256 (default: random init, None)."""
        return None

    def _checkpoint_ignore(self, module: torch.nn.Module) -> tuple[str, ...]:
        """Key prefixes of checkpoint entries the module does not have (e.g. a classifier head)."""
        return ()

    @abc.abstractmethod
    def forward(self, batch: Any) -> torch.Tensor:
        """Differentiable latents of one prepared batch (what ``train_encoder`` trains).

        Shapes:
            batch: a slice of what ``_prepare`` returned  ->  ``(b, dim)``.
        """

    def _encode_batch(self, batch: Any) -> torch.Tensor:
        module = self.module
        if module.training:
            module.eval()
        return self.forward(batch)

    def _loaded_dim(self) -> int:
        return int(self._module_dim(self.module))

    def _module_dim(self, module: torch.nn.Module) -> int:
        raise NotImplementedError(f"{type(self).__name__} must set spec.dim or implement _module_dim(module)")

    # -- identity -------------------------------------------------------------------------------------
    def _weights_identity(self) -> dict[str, Any]:
        if self.checkpoint is not None:
            self._ensure_loaded()  # the hash comes from the bytes the weights were loaded from
            return {"checkpoint_sha256": self._weights_sha256}
        return {"random_init_seed": self.seed, "versions": {p: _version(p) for p in self._init_libraries}}

    def fingerprint(self) -> dict[str, Any]:
        """Name, options and weights identity (checkpoint sha256 / seed + library versions / hub weights sha256).

        A checkpoint's sha256 is that of the bytes loaded, so asking for the fingerprint loads the weights.

        Example:
            >>> from stitch.adapters.vision import TimmEncoder
            >>> fp = TimmEncoder("resnet10t", seed=5).fingerprint()
            >>> fp["class"], fp["weights"]["random_init_seed"], sorted(fp["weights"]["versions"])
            ('TimmEncoder', 5, ['timm', 'torch'])
        """
        options = {k: v for k, v in self.spec.options.items() if k not in ("batch_size", "device", "checkpoint")}
        return {"name": self.name, "class": type(self).__name__, "options": options,
                "weights": self._weights_identity()}
