"""Encoder weight files: reading any safetensors checkpoint verified in one pass, and the trained-encoder format.

:func:`stitch.train_encoder` writes a **trained-encoder file**:

* ``<path>`` — safetensors: the encoder's weights under ``encoder.``, the linear head under ``head.``, and
  metadata ``format`` (:data:`TRAINED_FORMAT`) and ``stitch`` (the provenance as JSON);
* ``<path>.json`` — the same provenance plus the sha256 of ``<path>``.

:func:`read_checkpoint` is the one way weights are read: the file's bytes are hashed in the read that loads
them; a trained-encoder file must match the sha256 of its sidecar (else :class:`~stitch.utils.files.ChecksumError`),
and the hash of any checkpoint becomes part of the encoder's fingerprint, so cached latents always belong
to the bytes that were loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stitch.utils.files import load_tensors, not_found, read_json, save_tensors, write_json

__all__ = ["TRAINED_FORMAT", "TRAINED_PREFIX", "sidecar_path", "write_trained", "read_provenance",
           "read_checkpoint"]

#: ``metadata["format"]`` of the files :func:`stitch.train_encoder` writes.
TRAINED_FORMAT = "latent-stitch-trained-encoder/1"
#: Key prefix of the encoder's weights in those files (the linear head is under ``head.``).
TRAINED_PREFIX = "encoder."


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<path>.json``: the provenance file next to a trained encoder.

    Example:
        >>> sidecar_path("runs/a.safetensors").name
        'a.safetensors.json'
    """
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_trained(path: str | os.PathLike[str], tensors: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Write a trained-encoder file and its sidecar (both atomically, weights first); returns the sha256.

    Example:
        >>> import tempfile, torch
        >>> p = tempfile.mkdtemp() + "/e.safetensors"
        >>> digest = write_trained(p, {"encoder.w": torch.ones(2)}, {"base_encoder": "toy"})
        >>> read_checkpoint(p)[2] == digest, read_provenance(p)["sha256"] == digest
        (True, True)
    """
    path = Path(path).expanduser()
    digest = save_tensors(path, tensors, {"format": TRAINED_FORMAT,
                                          "stitch": json.dumps(provenance, sort_keys=True, default=str)})
    write_json(sidecar_path(path), {**provenance, "format": TRAINED_FORMAT, "file": path.name, "sha256": digest})
    return digest


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance sidecar of a trained-encoder file (not verified against the weights: see :func:`read_checkpoint`).

    Raises ``FileNotFoundError`` for a missing file or sidecar and ``ValueError`` for a foreign sidecar.

    Example:
        >>> read_provenance("/no/such.safetensors")
        Traceback (most recent call last):
        ...
        FileNotFoundError: trained encoder file '/no/such.safetensors' does not exist; pass the path stitch.train_encoder wrote
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"trained encoder file {not_found(path)}; pass the path stitch.train_encoder wrote")
    side = sidecar_path(path)
    if not side.is_file():
        raise FileNotFoundError(
            f"trained encoder {str(path)!r} has no provenance file {side.name!r} next to it, so its integrity "
            "cannot be checked; copy the .json along with the weights"
        )
    meta = read_json(side)
    if not isinstance(meta, dict) or meta.get("format") != TRAINED_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{side} is not a latent-stitch trained-encoder sidecar (format {found!r}, "
                         f"expected {TRAINED_FORMAT!r})")
    digest = meta.get("sha256")
    if not (isinstance(digest, str) and len(digest) == 64):
        raise ValueError(f"{side} records no sha256 of {path.name}, so the weights cannot be verified; retrain "
                         "the encoder or restore the original sidecar")
    return meta


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, str], str]:
    """``(weights, metadata, sha256)`` of a safetensors checkpoint, hashed in the read that loads it.

    A trained-encoder file is verified against its sidecar's sha256 and only its ``encoder.`` weights are
    returned (prefix removed); any other safetensors file is returned whole.

    Raises:
        FileNotFoundError: no such file (or a trained-encoder file without its sidecar).
        stitch.utils.files.ChecksumError: a trained-encoder file differs from its recorded sha256.
        ValueError: not readable safetensors, or file and sidecar describe different encoders.

    Example:
        >>> import tempfile, torch
        >>> from stitch.utils.files import save_tensors
        >>> p = tempfile.mkdtemp() + "/w.safetensors"
        >>> _ = save_tensors(p, {"weight": torch.eye(2)})
        >>> sorted(read_checkpoint(p)[0])
        ['weight']
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {not_found(path)}; pass the path of a .safetensors file")
    side = sidecar_path(path)
    provenance = read_provenance(path) if side.is_file() else None
    expected = provenance.get("sha256") if provenance is not None else None
    tensors, meta, digest = load_tensors(path, expected_sha256=expected, what="trained encoder")
    if meta.get("format") != TRAINED_FORMAT:
        return tensors, meta, digest
    if provenance is None:
        raise FileNotFoundError(
            f"trained encoder {str(path)!r} has no provenance file {side.name!r} next to it, so its integrity "
            "cannot be checked; copy the .json along with the weights"
        )
    inside = json.loads(meta.get("stitch", "{}")).get("base_encoder")
    if inside != provenance.get("base_encoder"):
        raise ValueError(f"{path} and its sidecar {side.name} describe different encoders")
    weights = {k[len(TRAINED_PREFIX):]: v for k, v in tensors.items() if k.startswith(TRAINED_PREFIX)}
    return weights, meta, digest
