"""``trained:<path>``: an encoder trained by :func:`stitch.training.train_encoder`, loaded back by its file.

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

__all__ = ["read_provenance", "load_trained"]

PREFIX = "trained:"


def read_provenance(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Provenance of a trained-encoder file, after checking its sha256 against ``<path>.json``.

    Raises ``FileNotFoundError`` for a missing file or sidecar and ``ValueError`` when the file does not
    match its recorded sha256 (modified, truncated or swapped). ``verify=False`` skips the hash check.

    Example:
        >>> read_provenance("/no/such.safetensors")
        Traceback (most recent call last):
        ...
        FileNotFoundError: trained encoder file '/no/such.safetensors' does not exist...
    """
    from stitch._io import load_tensors, read_json
    from stitch.cache import cached_sha256
    from stitch.training import TRAINED_FORMAT, sidecar_path

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"trained encoder file {str(path)!r} does not exist; pass the path stitch.training.train_encoder wrote"
        )
    side = sidecar_path(path)
    if not side.is_file():
        raise FileNotFoundError(
            f"trained encoder {str(path)!r} has no provenance file {side.name!r} next to it, so its integrity "
            "cannot be checked; copy the .json along with the weights"
        )
    meta = read_json(side)
    if meta.get("format") != TRAINED_FORMAT:
        raise ValueError(f"{side} is not a latent-stitch trained-encoder sidecar (format {meta.get('format')!r}, "
                         f"expected {TRAINED_FORMAT!r})")
    if verify:
        actual = cached_sha256(path)
        if actual != meta.get("sha256"):
            raise ValueError(
                f"trained encoder {str(path)!r} does not match the sha256 recorded in {side.name} "
                f"(file {actual[:12]}..., recorded {str(meta.get('sha256'))[:12]}...); it was modified or "
                "truncated — retrain it or restore the original file"
            )
    _, file_meta = load_tensors(path)  # also proves the file is readable safetensors
    if file_meta.get("format") != TRAINED_FORMAT or json.loads(file_meta.get("stitch", "{}")).get(
            "base_encoder") != meta.get("base_encoder"):
        raise ValueError(f"{path} and its sidecar {side.name} describe different encoders")
    return meta


def load_trained(path: str | Path, **overrides: Any) -> Any:
    """Build the trained encoder stored at ``path`` (weights load on first ``encode``).

    ``overrides`` may set runtime options such as ``batch_size`` or ``device``.

    Example:
        >>> # stitch.get_encoder("trained:runs/resnet10t-seed0.safetensors")
    """
    from stitch.plugins import get_encoder

    verify = overrides.pop("verify", True)
    meta = read_provenance(path, verify=verify)
    options = {**meta.get("options", {}), **overrides, "checkpoint": str(Path(path).expanduser())}
    enc = get_encoder(meta["base_encoder"], **options)
    enc.spec = dataclasses.replace(
        enc.spec, name=f"{PREFIX}{path}",
        description=f"{meta['base_encoder']} trained on {meta['dataset']['name']} (seed={meta['seed']})",
        weights=f"trained: {path} (sha256 {str(meta['sha256'])[:12]}...)")
    return enc


def resolve(name: str) -> tuple[EncoderSpec, Any] | None:
    """``trained:<path>`` -> (spec, factory)."""
    if not name.startswith(PREFIX):
        return None
    path = name[len(PREFIX):]
    meta = read_provenance(path, verify=False)  # cheap: the factory verifies the hash
    spec = EncoderSpec(name, str(meta.get("modality", "unknown")),
                       f"{meta['base_encoder']} trained on {meta['dataset']['name']} (seed={meta['seed']})",
                       weights=f"trained: {path}")

    def factory(**options: Any) -> Any:
        return load_trained(path, **options)

    return spec, factory


@hookimpl
def stitch_register_encoder_families(register: Any) -> None:
    """Declare ``trained:<path>``."""
    register("trained", "an encoder saved by stitch.training.train_encoder (sha256-checked against <path>.json)",
             placeholder="<path.safetensors>")


@hookimpl
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Any] | None:
    """Resolve ``trained:<path>``."""
    return resolve(name)
