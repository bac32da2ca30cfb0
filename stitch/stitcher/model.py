"""A stitched model you keep: an encoder, a :class:`~stitch.stitcher.Stitcher` and a decoder trained on another
encoder, run from raw inputs, saved as safetensors + JSON and loaded back verified.

A saved directory holds ``stitcher.safetensors``, ``decoder.safetensors`` and ``manifest.json``: the encoder's
registry name, options and fingerprint, the method and its report, the forecast when one was made, every
file's sha256 and the library versions. :func:`load_stitched` rebuilds the encoder from its registry name
(a models root may be given), refuses one whose fingerprint differs from the saved one, and verifies every
file in the read that loads it; the loaded model predicts exactly what the saved one did.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from stitch.stitcher.stitcher import Forecast, Stitcher

__all__ = ["StitchedModel", "load_stitched", "STITCHED_FORMAT"]

#: ``manifest["format"]`` of a saved stitched model
STITCHED_FORMAT = "latent-stitch/stitched-model-1"


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


class StitchedModel(torch.nn.Module):
    """Raw inputs -> ``encoder`` -> ``stitcher`` -> ``decoder`` (trained on another encoder's latents).

    Args:
        encoder: the encoder whose latents are stitched (an :class:`~stitch.Encoder`, built from the registry
            so that it can be saved by name).
        stitcher: a fitted :class:`~stitch.stitcher.Stitcher` from this encoder to the decoder's input space.
        decoder: a fitted decoder (:mod:`stitch.experiment.decoders`).
        forecast: the stitcher's :class:`~stitch.stitcher.Forecast` for this decoder, kept in the manifest.
        class_names: names of a classifier's classes, by index (kept in the manifest).

    Shapes:
        ``n`` inputs -> ``(n, d_enc)`` latents -> ``(n, d_dec)`` -> decoder outputs (``(n, classes)`` logits)

    Example:
        >>> import stitch  # doctest: +SKIP
        >>> model = StitchedModel(stitch.create_encoder("minilm"), stitcher, head)  # doctest: +SKIP
        >>> model.predict(["What is the capital of Peru?"])  # doctest: +SKIP
        tensor([5])
    """

    def __init__(self, encoder: Any, stitcher: Stitcher, decoder: Any, *, forecast: Forecast | None = None,
                 class_names: Sequence[str] | None = None) -> None:
        super().__init__()
        if not hasattr(stitcher, "transform_"):
            raise ValueError("the stitcher is not fitted; call stitcher.fit(encoder_anchors, decoder_anchors) first")
        if not hasattr(decoder, "net_"):
            raise ValueError("the decoder is not fitted; train it on the decoder-side latents first")
        self.encoder, self.stitcher, self.decoder, self.forecast = encoder, stitcher, decoder, forecast
        self.class_names = list(class_names) if class_names is not None else None

    def latents(self, inputs: Any, *, batch_size: int | None = None) -> torch.Tensor:
        """The stitched latents: what the decoder reads for ``inputs``."""
        return self.stitcher.transform(self.encoder.encode(inputs, batch_size=batch_size, progress=False))

    def forward(self, inputs: Any) -> torch.Tensor:  # type: ignore[override]
        """Decoder outputs for raw ``inputs`` (logits for classifiers)."""
        z = self.latents(inputs)
        return self.decoder.predict_logits(z) if hasattr(self.decoder, "predict_logits") else self.decoder.predict(z)

    def predict(self, inputs: Any, *, batch_size: int | None = None, reliability: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The decoder's predictions for raw ``inputs`` (labels for classifiers); with ``reliability=True`` also
        each prediction's reliability (:meth:`~stitch.stitcher.Stitcher.reliability`: low flags a likely
        stitching error), from the same encoding.

        Shapes:
            ``n`` inputs -> ``(n,)`` (and ``(n,)``)
        """
        latents = self.encoder.encode(inputs, batch_size=batch_size, progress=False)
        predictions = self.decoder.predict(self.stitcher.transform(latents))
        return (predictions, self.stitcher.reliability(latents, self.decoder)) if reliability else predictions

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model to ``directory`` (safetensors + JSON only, the manifest last); returns the directory.

        The encoder is recorded by its registry name and options, not its weights: loading rebuilds it and
        checks its fingerprint.
        """
        from stitch.utils.files import sha256_file, write_json
        from stitch.utils.provenance import library_versions, utc_now

        from stitch.plugins import encoder_reference
        from stitch.utils.roots import models_root

        reference = encoder_reference(self.encoder)
        if reference is None:
            raise ValueError(f"encoder {getattr(self.encoder, 'name', self.encoder)!r} was not built by "
                             "stitch.create_encoder, so a loaded model could not rebuild it by name; build it with "
                             "stitch.create_encoder(name, **options)")
        directory = Path(directory).expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        self.stitcher.save(directory / "stitcher.safetensors")
        self.decoder.save(directory / "decoder.safetensors")
        from stitch.experiment.decoders import DECODERS

        kind = next((e.name for e in DECODERS.entries() if e.obj is type(self.decoder)), None)
        if kind is None:
            raise ValueError(f"decoder class {type(self.decoder).__name__} is not registered; register it with "
                             "stitch.register_decoder so the model can be loaded")
        manifest = {
            "format": STITCHED_FORMAT,
            "encoder": {"name": reference[0], "options": _jsonable(reference[1]),
                        "fingerprint": _jsonable(self.encoder.fingerprint()),
                        # where local weights were found when it was saved: the default root when loading
                        "models_root": str(models_root().resolve()) if models_root() is not None else None},
            "stitcher": {"file": "stitcher.safetensors", "sha256": sha256_file(directory / "stitcher.safetensors"),
                         "method": self.stitcher.method_, "options": self.stitcher.options_,
                         "choice": self.stitcher.report_["choice"], "n_anchors": self.stitcher.report_["n_anchors"]},
            "decoder": {"file": "decoder.safetensors", "sha256": sha256_file(directory / "decoder.safetensors"),
                        "kind": kind, "task": getattr(self.decoder, "task", None)},
            "forecast": self.forecast.to_dict() if self.forecast is not None else None,
            "class_names": self.class_names,
            "versions": library_versions(), "created": utc_now(),
        }
        write_json(directory / "manifest.json", manifest)
        return directory


def load_stitched(directory: str | os.PathLike[str], *, models_root: str | os.PathLike[str] | None = None
                  ) -> StitchedModel:
    """A model :meth:`StitchedModel.save` wrote: files verified, the encoder rebuilt and its fingerprint checked.

    ``models_root``: where the encoder's local weights are (default: the models root in effect when the model
    was saved, recorded in its manifest).

    Example:
        >>> load_stitched("/no/such/model")
        Traceback (most recent call last):
        ...
        FileNotFoundError: no stitched model at '/no/such/model' (manifest.json is missing); pass the directory StitchedModel.save wrote
    """
    from stitch.experiment.decoders import DECODERS
    from stitch.plugins import create_encoder
    from stitch.utils.files import read_json
    from stitch.utils.roots import using_models_root

    directory = Path(directory).expanduser()
    if not (directory / "manifest.json").is_file():
        raise FileNotFoundError(f"no stitched model at {str(directory)!r} (manifest.json is missing); pass the "
                                "directory StitchedModel.save wrote")
    manifest = read_json(directory / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != STITCHED_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{directory / 'manifest.json'} is not a stitched-model manifest (format {found!r}, "
                         f"expected {STITCHED_FORMAT!r})")
    try:
        parts = {k: manifest[k] for k in ("encoder", "stitcher", "decoder")}
        files = {k: (directory / str(parts[k]["file"]), str(parts[k]["sha256"])) for k in ("stitcher", "decoder")}
        kind, enc = str(parts["decoder"]["kind"]), (parts["encoder"]["name"], dict(parts["encoder"]["options"]),
                                                     parts["encoder"]["fingerprint"])
        saved_root = parts["encoder"].get("models_root")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{directory / 'manifest.json'} lacks {exc} or has it in the wrong form; it is damaged: save "
                         "the model again") from None
    stitcher = Stitcher.load(files["stitcher"][0], sha256=files["stitcher"][1])
    decoder = DECODERS.get(kind).load(files["decoder"][0], sha256=files["decoder"][1])
    name, options, fingerprint = enc
    with using_models_root(models_root if models_root is not None else saved_root):
        encoder = create_encoder(name, **options)
        found = _jsonable(encoder.fingerprint())
    if found != fingerprint:
        raise ValueError(f"encoder {name!r} built now differs from the one the model was stitched for "
                         f"(fingerprint {found} != saved {fingerprint}); pass the models root holding the "
                         "same weights (models_root=...)")
    try:
        saved = manifest.get("forecast")
        forecast = Forecast(agreement=float(saved["agreement"]), interval=tuple(map(float, saved["interval"])),
                            verdict=str(saved["verdict"]), folds=tuple(map(float, saved["folds"]))) if saved else None
        class_names = manifest.get("class_names")
        if class_names is not None and not (isinstance(class_names, list) and all(isinstance(c, str)
                                                                                  for c in class_names)):
            raise TypeError("class_names")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{directory / 'manifest.json'} has its forecast or class_names in the wrong form ({exc}); it "
                         "is damaged: save the model again") from None
    return StitchedModel(encoder, stitcher, decoder, forecast=forecast, class_names=class_names)
