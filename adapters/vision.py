"""timm image encoders: ``timm:<model name>`` for any timm model (``timm:resnet18``, ``timm:vit_tiny_patch16_224``).

The latent is the pooled pre-logits feature (the model is created with ``num_classes=0``). Preprocessing
is timm's own evaluation transform for that model (``timm.data.resolve_data_config`` +
``create_transform``: resize the shorter side to ``size / crop_pct``, centre-crop to ``size``, normalise
with the model's mean/std), applied to float tensors so PIL images and arrays of the same picture give the
same latent; grey images are repeated to the model's three channels first.

Weights: ``pretrained=True`` reads ``<models root>/<model>.safetensors`` when the models root
(``--models DIR`` / ``$STITCH_MODELS``) holds it, else downloads from the Hugging Face hub (when online);
``checkpoint=PATH`` loads a local safetensors file (a timm ``model.safetensors`` or a
:func:`stitch.experiment.training.train_encoder` output);
otherwise the weights are a random initialisation under ``seed``, and the spec says so.

Quick-to-train configurations for 8x8 inputs such as ``digits`` (:func:`stitch.experiment.training.train_encoder`,
``num_threads=1``, measured on a busy 2-core CPU; test accuracy after early stopping on ``val``):

* ``timm:resnet10t`` with ``image_size=16, channels=(16, 32, 64, 128)``, ``lr=3e-3``, 20 epochs: 0.99 in ~20 s;
* ``timm:vit_tiny_patch16_224`` with ``img_size=8, patch_size=2, depth=2, embed_dim=64, num_heads=4,
  crop_pct=1.0``, ``lr=1e-3``, 20 epochs: 0.90 in ~27 s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from stitch.adapters._torch import TorchEncoder
from stitch.encoder import EncoderSpec
from stitch.encoder.refs import hub_cached, local_model, refuse_hub_fallback
from stitch.utils.roots import models_root
from stitch.errors import UnknownNameError

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["TimmEncoder", "images_to_tensor"]

hookimpl = pluggy.HookimplMarker("stitch")

PREFIX = "timm:"


def images_to_tensor(inputs: Any, name: str = "inputs") -> torch.Tensor:
    """Stack images into one ``(n, c, h, w)`` tensor: float in ``[0, 1]`` or uint8 as given.

    Accepts a PIL image, a list of PIL images or arrays, or one array/tensor shaped ``(n, h, w)``
    (grayscale), ``(n, h, w, c)`` or ``(n, c, h, w)`` with ``c`` in 1, 3, 4. Integer images are
    taken on the 0..255 scale, float images on 0..1.

    Shapes:
        inputs: ``(n, h, w)`` / ``(n, h, w, c)`` / ``(n, c, h, w)``  ->  ``(n, c, h, w)``

    Example:
        >>> import numpy as np
        >>> images_to_tensor(np.zeros((5, 8, 8), dtype=np.uint8)).shape
        torch.Size([5, 1, 8, 8])
    """
    import numpy as np
    import torch

    if _is_pil(inputs):
        inputs = [inputs]
    if isinstance(inputs, (str, bytes)) or (isinstance(inputs, Sequence) and inputs and isinstance(inputs[0], str)):
        raise TypeError(
            f"{name}: an image encoder takes images (PIL images or arrays), got text ({type(inputs).__name__}); "
            "use a text encoder such as 'minilm' for strings"
        )
    if isinstance(inputs, (list, tuple)):
        if len(inputs) == 0:
            raise ValueError(f"{name} is empty; expected at least one image")
        arrays = [_one_image(x, f"{name}[{i}]") for i, x in enumerate(inputs)]
        first = arrays[0].shape
        for i, a in enumerate(arrays):
            if a.shape != first:
                raise ValueError(
                    f"{name}: images have inconsistent sizes: item 0 is {_fmt(first)} but item {i} is {_fmt(a.shape)}; "
                    "resize them to one size first (e.g. PIL.Image.resize)"
                )
        batch = np.stack(arrays)  # (n, h, w, c)
        return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)
    if isinstance(inputs, np.ndarray):
        if inputs.dtype == object:
            return images_to_tensor(list(inputs), name)
        x = torch.from_numpy(np.ascontiguousarray(inputs))
    elif isinstance(inputs, torch.Tensor):
        x = inputs.detach().cpu()
    else:
        raise TypeError(
            f"{name}: expected PIL images or an array/tensor of images shaped (n, h, w), (n, h, w, c) or "
            f"(n, c, h, w), got {type(inputs).__name__}"
        )
    _check_dtype(x, name)
    if x.ndim in (3, 4) and x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); expected at least one image")
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4:
        if x.shape[1] in (1, 3, 4):
            pass
        elif x.shape[-1] in (1, 3, 4):
            x = x.permute(0, 3, 1, 2)
        else:
            raise ValueError(
                f"{name}: cannot tell the channel axis of shape {tuple(x.shape)}; expected (n, h, w, c) or "
                "(n, c, h, w) with c = 1 (grayscale), 3 (RGB) or 4 (RGBA)"
            )
    else:
        raise ValueError(
            f"{name}: expected a batch of images shaped (n, h, w), (n, h, w, c) or (n, c, h, w), got shape "
            f"{tuple(x.shape)}; for one image add a batch axis (x[None])"
        )
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"{name}: images have no pixels (shape {tuple(x.shape)})")
    return x


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape[:2])) + (f"x{shape[2]}" if len(shape) > 2 else "")


def _is_pil(x: Any) -> bool:
    mod = type(x).__module__
    return mod.startswith("PIL.") and hasattr(x, "convert")


#: how far float pixels may stray outside 0..1 (resampling overshoot, float rounding) before the scale is wrong
_SCALE_SLACK = 0.01


def _check_dtype(x: torch.Tensor, name: str) -> None:
    import torch

    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name}: images must be uint8 (0..255) or float (0..1), got dtype {x.dtype}")
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: images contain NaN or Inf")
    if x.is_floating_point() and x.numel():
        low, high = float(x.min()), float(x.max())
        if low < -_SCALE_SLACK or high > 1 + _SCALE_SLACK:  # read as 0..1, an image on 0..255 would be all white
            raise ValueError(f"{name}: float images must be on the 0..1 scale, got values in [{low:g}, {high:g}]; "
                             "pass uint8 images (0..255) or divide by 255")


def _one_image(x: Any, name: str) -> np.ndarray:
    """One image as an ``(h, w, c)`` numpy array (uint8 or float)."""
    import numpy as np

    if _is_pil(x):
        mode = "L" if x.mode in ("L", "1", "I", "I;16", "F") else "RGB"
        x = np.asarray(x.convert(mode))
    elif hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name}: expected an image, got {type(x).__name__} ({x!r})")
    x = np.asarray(x)
    if x.dtype == object or x.dtype == bool:
        raise TypeError(f"{name}: images must be uint8 (0..255) or float (0..1), got dtype {x.dtype}")
    if x.ndim == 2:
        return x[:, :, None]
    if x.ndim == 3:
        if x.shape[-1] in (1, 3, 4):
            return x
        if x.shape[0] in (1, 3, 4):
            return np.moveaxis(x, 0, -1)
    raise ValueError(f"{name}: expected one image shaped (h, w), (h, w, c) or (c, h, w), got shape {x.shape}")


class _PreparedImages(Sequence):
    """Images validated up front, resized and normalised one batch at a time (memory stays bounded)."""

    def __init__(self, raw: torch.Tensor, encoder: TimmEncoder) -> None:
        self.raw = raw
        self.encoder = encoder

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    def __getitem__(self, idx: Any) -> torch.Tensor:  # slice or index array -> (b, c, h, w)
        import torch

        if isinstance(idx, int):
            return self.encoder._transform(self.raw[idx : idx + 1])[0]
        if not isinstance(idx, slice):
            idx = torch.as_tensor(idx, dtype=torch.long)
        return self.encoder._transform(self.raw[idx])


class TimmEncoder(TorchEncoder):
    """Any timm model as an image encoder (pooled pre-logits features).

    Args:
        model_name: a timm model name (``timm.list_models()``), optionally with a pretrained tag.
        pretrained: download hub weights (needs network the first time; cached by huggingface_hub after).
        checkpoint: local safetensors weights for this architecture.
        seed: seed of the random initialisation when neither ``pretrained`` nor ``checkpoint`` is given.
        image_size: input size (int or ``(h, w)``); default the model's ``img_size`` or its data config.
        crop_pct: centre-crop fraction of the evaluation transform; default the model's data config.
        batch_size, device: see :class:`~stitch.adapters._torch.TorchEncoder`.
        **model_kwargs: passed to ``timm.create_model`` (``in_chans``, ``img_size``, ``patch_size``, ``depth``...).

    Shapes:
        encode: images ``(n, h, w)`` / ``(n, h, w, c)`` / ``(n, c, h, w)`` / ``n`` PIL images -> ``(n, num_features)``

    Example:
        >>> import numpy as np
        >>> enc = TimmEncoder("resnet10t", image_size=16)
        >>> enc.encode(np.random.default_rng(0).random((2, 8, 8))).shape
        torch.Size([2, 512])
    """

    _init_libraries = ("torch", "timm")

    def __init__(self, model_name: str, *, pretrained: bool = False, checkpoint: str | os.PathLike[str] | None = None,
                 seed: int = 0, image_size: int | tuple[int, int] | None = None, crop_pct: float | None = None,
                 batch_size: int = 64, device: str = "auto", **model_kwargs: Any) -> None:
        if pretrained and checkpoint is not None:
            raise ValueError("pass either pretrained=True (hub weights) or checkpoint=PATH (local weights), not both")
        if crop_pct is not None and not 0 < float(crop_pct) <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct!r}")
        self.model_name = model_name
        self.pretrained = bool(pretrained)
        self.image_size = _pair(image_size, "image_size") if image_size is not None else None
        self.crop_pct = crop_pct
        self.model_kwargs = dict(model_kwargs)
        # pretrained weights come from the models root when it holds them (looked up once, here)
        self._local_weights = local_model(model_name, file_suffix=".safetensors") if pretrained else None
        self._models_root = models_root()  # where they were looked for: a missing file is named, not downloaded
        if checkpoint is not None:
            weights = f"local file: {os.fspath(checkpoint)}"
        elif pretrained and self._local_weights is not None:
            weights = f"pretrained: {self._local_weights} (models root)"
        elif pretrained:
            weights = f"pretrained: timm hub weights of {model_name}"
        else:
            weights = f"random init (seed={seed})"
        options = {"pretrained": self.pretrained, "checkpoint": os.fspath(checkpoint) if checkpoint else None,
                   "seed": seed, "image_size": image_size, "crop_pct": crop_pct, **model_kwargs}
        spec = EncoderSpec(f"{PREFIX}{model_name}", "image", f"timm {model_name} pooled pre-logits features",
                           extra="vision", weights=weights, license="see the model card", options=options)
        super().__init__(spec, checkpoint=checkpoint, seed=seed, batch_size=batch_size, device=device)
        self._data_config: dict[str, Any] | None = None

    # -- model ----------------------------------------------------------------------------------------
    def _build_module(self) -> torch.nn.Module:
        from stitch.utils.extras import require

        timm = require("timm", what=f"encoder {self.name!r}")

        try:
            # pretrained weights are loaded by _load_pretrained from the hub file, hashed as they are read
            model = timm.create_model(self.model_name, pretrained=False, num_classes=0, **self.model_kwargs)
        except TypeError as exc:
            raise TypeError(f"timm model {self.model_name!r} rejected the options {self.model_kwargs}: {exc}") from None
        self._data_config = self._resolve_data_config(model)
        return model

    def _load_pretrained(self, module: torch.nn.Module) -> str | None:
        if not self.pretrained:
            return None
        from stitch.adapters._torch import load_state_into

        if self._local_weights is None:
            name = self.model_name
            refuse_hub_fallback(name, [f"{name}.safetensors", f"{name}/model.safetensors"], self._models_root)
        path = self._local_weights if self._local_weights is not None else _hub_weights_file(self.model_name)
        return load_state_into(module, path, ignore=self._checkpoint_ignore(module))

    def remote_weights(self) -> str | None:
        """Where this encoder will download its pretrained weights from when it first loads: ``None`` without
        pretrained weights, with a checkpoint, or when a models root or the hub cache holds them. Raises
        ``FileNotFoundError`` where it may not download (a models root is set, or ``HF_HUB_OFFLINE``) and
        ``OSError`` when timm has no hub weights for the model, as loading would. ``stitch run --check`` asks this.

        Example:
            >>> TimmEncoder("resnet10t").remote_weights() is None  # random init: nothing to fetch
            True
        """
        if not self.pretrained or self.checkpoint is not None or self._local_weights is not None:
            return None
        name = self.model_name
        refuse_hub_fallback(name, [f"{name}.safetensors", f"{name}/model.safetensors"], self._models_root)
        hub_id, filename = _hub_file(name)
        return None if hub_cached(hub_id, filename) else f"the Hugging Face hub ({hub_id})"

    def _checkpoint_ignore(self, module: torch.nn.Module) -> tuple[str, ...]:
        # hub checkpoints carry the ImageNet classifier that a num_classes=0 feature extractor does not have
        classifier = module.pretrained_cfg.get("classifier")
        names = classifier if isinstance(classifier, (list, tuple)) else [classifier] if classifier else []
        return tuple(f"{c}." for c in names)

    def _module_dim(self, module: torch.nn.Module) -> int:
        # models with a pre-logits head (MobileNetV3's conv_head) output head_hidden_size, not num_features
        return int(getattr(module, "head_hidden_size", None) or module.num_features)

    def _resolve_data_config(self, model: torch.nn.Module) -> dict[str, Any]:
        import timm.data

        in_chans = int(self.model_kwargs.get("in_chans", 3))
        size = self.image_size or (_pair(self.model_kwargs["img_size"], "img_size") if "img_size" in self.model_kwargs
                                   else None)
        overrides: dict[str, Any] = {}
        if size is not None:
            overrides["input_size"] = (in_chans, *size)
        if self.crop_pct is not None:
            overrides["crop_pct"] = float(self.crop_pct)
        cfg = dict(timm.data.resolve_data_config(overrides, model=model))
        if in_chans != len(cfg["mean"]):
            # timm adapts pretrained stems to other channel counts by averaging; normalisation follows suit
            cfg["mean"] = (sum(cfg["mean"]) / len(cfg["mean"]),) * in_chans
            cfg["std"] = (sum(cfg["std"]) / len(cfg["std"]),) * in_chans
        cfg["input_size"] = (in_chans, *cfg["input_size"][1:])
        self._timm_transform = timm.data.create_transform(**cfg)
        return cfg

    @property
    def data_config(self) -> dict[str, Any]:
        """timm's data config of the model as used (``input_size``, ``mean``, ``std``, ``crop_pct``, ...).

        It is ``timm.data.resolve_data_config`` for the model with this encoder's ``image_size`` /
        ``crop_pct`` overrides; :meth:`encode` applies ``timm.data.create_transform(**data_config)``.
        """
        self._ensure_loaded()
        return dict(self._data_config or {})

    # -- inputs ---------------------------------------------------------------------------------------
    def sample_inputs(self, n: int = 6) -> np.ndarray:
        """``n`` seeded random RGB images ``(n, 24, 24, 3)`` uint8 (for the contract kit)."""
        import numpy as np

        return np.random.default_rng(0).integers(0, 256, size=(n, 24, 24, 3), dtype=np.uint8)

    def _prepare(self, inputs: Any) -> _PreparedImages:
        return _PreparedImages(images_to_tensor(inputs), self)

    def _transform(self, raw: torch.Tensor) -> torch.Tensor:
        """A ``(b, c, h, w)`` batch as the model expects it: channels matched, then timm's own eval transform.

        Grey images become the model's channel count (repeated), RGBA loses alpha and RGB becomes grey for a
        one-channel model; the resize, centre crop and normalisation are timm's ``create_transform`` for this
        model (torchvision transforms, applied to the float batch in ``[0, 1]`` exactly as to a PIL image's
        ``ToTensor`` output).
        """
        import torch

        want = self.data_config["input_size"][0]
        x = raw.float() / 255.0 if not raw.is_floating_point() else raw.float()
        c = x.shape[1]
        if c == 4:  # RGBA: drop alpha
            x, c = x[:, :3], 3
        if c != want:
            if c == 1:
                x = x.expand(-1, want, -1, -1)
            elif c == 3 and want == 1:
                x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            else:
                raise ValueError(f"images have {c} channels but {self.name} takes {want} (in_chans={want})")
        return self._timm_transform(x).contiguous()

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Pooled pre-logits features of a preprocessed batch.

        Shapes:
            batch: ``(b, in_chans, h, w)``  ->  ``(b, num_features)``
        """
        return self.module(batch.to(self._device))

    # -- identity -------------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """The torch encoder's identity plus the preprocessing: timm's resolved data config, so latents cached
        under another transform (another timm, another crop) are never served for this one.

        Example:
            >>> TimmEncoder("resnet10t", image_size=16).fingerprint()["preprocessing"]["input_size"]
            (3, 16, 16)
        """
        import timm

        return {**super().fingerprint(),
                "preprocessing": {"transform": f"timm {timm.__version__} create_transform", **self.data_config}}

    def _weights_identity(self) -> dict[str, Any]:
        if self.pretrained:
            self._ensure_loaded()  # the hash comes from the bytes the weights were loaded from
            return {"pretrained": self.model_name, "weights_sha256": self._weights_sha256}
        return super()._weights_identity()


def _hub_file(model_name: str) -> tuple[str, str]:
    """The hub repository and file of ``model_name``'s pretrained safetensors, as timm names them."""
    from stitch.utils.extras import require

    timm = require("timm", what=f"encoder 'timm:{model_name}'")
    cfg = timm.models.get_pretrained_cfg(model_name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        raise OSError(f"timm has no Hugging Face hub weights for {model_name!r}; pass checkpoint=<local .safetensors> "
                      "instead of pretrained=True")
    return hub_id, getattr(cfg, "hf_hub_filename", None) or "model.safetensors"


def _hub_weights_file(model_name: str) -> str:
    """The local path of ``model_name``'s pretrained safetensors from the Hugging Face hub (downloaded once)."""
    hub_id, filename = _hub_file(model_name)
    try:
        from huggingface_hub import hf_hub_download

        return hf_hub_download(hub_id, filename)
    except Exception as exc:  # offline, unknown repository, no safetensors file: one clear message
        raise OSError(
            f"could not get the pretrained weights of {model_name!r} ({hub_id}) from the Hugging Face hub "
            f"({type(exc).__name__}: {exc}); connect once so huggingface_hub caches them, put "
            f"{model_name}.safetensors in a models root (--models DIR or $STITCH_MODELS), or pass "
            "checkpoint=<local .safetensors>"
        ) from None


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} must be a positive int or a (height, width) pair, got {value!r}")


#: Small models listed by ``stitch encoders list`` (model -> pooled feature dim); any other timm model resolves.
RECOMMENDED = {"resnet10t": 512, "resnet18": 512, "vit_tiny_patch16_224": 192}


def _entry(model_name: str, dim: int | None = None) -> tuple[EncoderSpec, Any]:
    spec = EncoderSpec(f"{PREFIX}{model_name}", "image", f"timm {model_name} pooled pre-logits features", dim=dim,
                       extra="vision", weights="random init unless pretrained=True or checkpoint=PATH",
                       license="see the model card")

    def factory(**options: Any) -> TimmEncoder:
        return TimmEncoder(model_name, **options)

    return spec, factory


@hookimpl
def stitch_register_encoders(register: Any) -> None:
    """Register the recommended small models (``timm:resnet10t``, ...) so they are listed."""
    for model_name, dim in RECOMMENDED.items():
        register(*_entry(model_name, dim))


@hookimpl
def stitch_register_encoder_families(register: Any) -> None:
    """Declare ``timm:<model>``."""
    register("timm", "any timm model (timm.list_models), random init unless pretrained=True or checkpoint=PATH",
             placeholder="<model>", modality="image", extra="vision")


def resolve(name: str) -> tuple[EncoderSpec, Any] | None:
    """``timm:<model>`` -> (spec, factory); the model name is checked against ``timm.list_models``."""
    if not name.startswith(PREFIX):
        return None
    model_name = name[len(PREFIX):]
    import difflib

    from stitch.utils.extras import require

    timm = require("timm", what=f"encoder {name!r}")

    if not timm.is_model(model_name):
        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(repr(PREFIX + c) for c in close)}?" if close else "."
        raise UnknownNameError(
            f"unknown timm model {model_name!r}{hint} List them with timm.list_models('<pattern>'), e.g. 'resnet*'."
        )
    return _entry(model_name)


@hookimpl
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Any] | None:
    """Resolve ``timm:<model name>``."""
    return resolve(name)
