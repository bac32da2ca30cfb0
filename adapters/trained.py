"""``trained:<path>``: an encoder trained by :func:`stitch.experiment.training.train_encoder`, loaded back by its file.

The file's sha256 is checked against its provenance sidecar (``<path>.json``) before anything is used;
the base encoder named in the provenance is rebuilt with the recorded options and the file as checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pluggy

from stitch.encoder import EncoderSpec

hookimpl = pluggy.HookimplMarker("stitch")

__all__ = ["load_trained"]

PREFIX = "trained:"


def load_trained(path: str | Path, **overrides: Any) -> Any:
    """Build the trained encoder stored at ``path`` (weights load on first ``encode``).

    ``overrides`` may set runtime options such as ``batch_size`` or ``device``.

    Example:
        >>> # stitch.get_encoder("trained:runs/resnet10t-seed0.safetensors")
    """
    from stitch.encoder.checkpoint import read_provenance
    from stitch.plugins import create_encoder

    meta = read_provenance(path)  # the weights are verified against it when they load (first encode)
    options = {**meta.get("options", {}), **overrides, "checkpoint": str(Path(path).expanduser())}
    enc = create_encoder(meta["base_encoder"], **options)
    enc.spec = dataclasses.replace(
        enc.spec, name=f"{PREFIX}{path}",
        description=f"{meta['base_encoder']} trained on {meta['dataset']['name']} (seed={meta['seed']})",
        weights=f"trained: {path} (sha256 {str(meta['sha256'])[:12]}...)")
    return enc


def resolve(name: str) -> tuple[EncoderSpec, Any] | None:
    """``trained:<path>`` -> (spec, factory)."""
    if not name.startswith(PREFIX):
        return None
    from stitch.encoder.checkpoint import read_provenance

    path = name[len(PREFIX):]
    meta = read_provenance(path)  # cheap: the weights are hashed when they load
    spec = EncoderSpec(name, str(meta.get("modality", "unknown")),
                       f"{meta['base_encoder']} trained on {meta['dataset']['name']} (seed={meta['seed']})",
                       weights=f"trained: {path}")

    def factory(**options: Any) -> Any:
        return load_trained(path, **options)

    return spec, factory


@hookimpl
def stitch_register_encoder_families(register: Any) -> None:
    """Declare ``trained:<path>``."""
    register("trained", "an encoder saved by stitch.experiment.training.train_encoder (sha256-checked against <path>.json)",
             placeholder="<path.safetensors>")


@hookimpl
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Any] | None:
    """Resolve ``trained:<path>``."""
    return resolve(name)
