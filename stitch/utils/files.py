"""Atomic, verifiable files: nothing a user produced is lost to a crash mid-write, nothing is read unchecked.

* Every writer goes to a temporary file in the destination's directory, flushes and fsyncs it, then
  ``os.replace``\\ s it over the destination, so readers see either the old file or the complete new one.
* Every reader that needs a checksum computes it **in the same read** that loads the data
  (:func:`read_verified`, :func:`load_tensors`): the bytes that are hashed are the bytes that are used, so a
  file changed behind a stored hash (same size, restored mtime) is caught, and nothing is read twice.
* Only safetensors and JSON are written or read; nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "write_json",
    "read_json",
    "save_tensors",
    "load_tensors",
    "read_verified",
    "sha256_bytes",
    "sha256_file",
    "sha256_array",
    "tensors_sha256",
    "slug",
    "not_found",
    "outside",
    "ChecksumError",
]


class ChecksumError(ValueError):
    """A file's content does not match the sha256 it is expected to have."""


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` only on success.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_open(p, "w") as f:
        ...     _ = f.write("hello")
        >>> p.read_text()
        'hello'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files; mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> write_json(p, {"b": 1, "a": [1, 2]})
        >>> read_json(p)
        {'a': [1, 2], 'b': 1}
    """
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
        f.write("\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, naming the file in the error if it is not valid JSON or not UTF-8.

    Example:
        >>> import tempfile
        >>> p = tempfile.mkdtemp() + "/r.json"
        >>> write_json(p, {"seed": 0, "dims": [3, 4]})
        >>> read_json(p)
        {'dims': [3, 4], 'seed': 0}
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it may be truncated or corrupted") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); it is not a JSON file "
                         "written by latent-stitch") from None


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and paths show up in results; everything else is a bug worth surfacing.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON: {obj!r}")


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Example:
        >>> sha256_bytes(b"abc")[:12]
        'ba7816bf8f01'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_array(a: Any) -> str:
    """sha256 of a numpy array's dtype, shape and bytes (C order): equal arrays, equal digests.

    Example:
        >>> import numpy as np
        >>> a, b = np.zeros(3), np.zeros(4)
        >>> sha256_array(a) == sha256_array(a.copy()), sha256_array(a) == sha256_array(b)
        (True, False)
    """
    import numpy as np

    h = hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so memory stays bounded (for files that are not loaded here).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def read_verified(path: str | os.PathLike[str], expected_sha256: str | None = None, *, what: str = "file"
                  ) -> tuple[bytes, str]:
    """``(content, sha256)`` of a file from one read; with ``expected_sha256``, a mismatch raises.

    Raises:
        ChecksumError: the content's sha256 differs from ``expected_sha256``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.bin"; _ = p.write_bytes(b"abc")
        >>> read_verified(p)[1][:12]
        'ba7816bf8f01'
        >>> read_verified(p, "0" * 64, what="weights")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        stitch.utils.files.ChecksumError: weights .../w.bin has sha256 ba7816bf8f01..., expected 000000000000...
    """
    data = Path(path).read_bytes()
    digest = sha256_bytes(data)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ChecksumError(
            f"{what} {path} has sha256 {digest[:12]}..., expected {str(expected_sha256)[:12]}...; it was "
            "modified, truncated or replaced"
        )
    return data, digest


def save_tensors(
    path: str | os.PathLike[str], tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None
) -> str:
    """Save named tensors as safetensors, atomically; returns the sha256 of the bytes written.

    Example:
        >>> import tempfile, pathlib, torch
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.safetensors"
        >>> digest = save_tensors(p, {"z": torch.ones(2, 3)}, {"note": "demo"})
        >>> load_tensors(p, expected_sha256=digest)[0]["z"].shape
        torch.Size([2, 3])
    """
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=dict(metadata or {}))
    with atomic_open(path, "wb") as f:
        f.write(data)
    return sha256_bytes(data)


def load_tensors(
    path: str | os.PathLike[str], *, expected_sha256: str | None = None, what: str = "file"
) -> tuple[dict[str, Any], dict[str, str], str]:
    """``(tensors, metadata, sha256)`` of a safetensors file, hashed in the read that loads it.

    Raises:
        ChecksumError: ``expected_sha256`` is given and the file's bytes differ.
        ValueError: the file is not readable safetensors (truncated, corrupted, another format).

    Example:
        >>> import tempfile, torch
        >>> p = tempfile.mkdtemp() + "/t.safetensors"
        >>> _ = save_tensors(p, {"z": torch.eye(2)}, {"source": "demo"})
        >>> tensors, meta, digest = load_tensors(p)
        >>> tensors["z"].tolist(), meta, len(digest)
        ([[1.0, 0.0], [0.0, 1.0]], {'source': 'demo'}, 64)
    """
    from safetensors.torch import load

    data, digest = read_verified(path, expected_sha256, what=what)
    try:
        tensors = load(data)
        metadata = _header_metadata(data)
    except Exception as exc:  # safetensors raises its own SafetensorError for truncated headers
        raise ValueError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated or corrupted"
        ) from None
    return tensors, metadata, digest


def tensors_sha256(tensors: Mapping[str, Any]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of named tensors (independent of the file layout).

    Example:
        >>> import torch
        >>> tensors_sha256({"a": torch.zeros(2)}) == tensors_sha256({"a": torch.zeros(2)})
        True
        >>> tensors_sha256({"a": torch.zeros(2)}) == tensors_sha256({"a": torch.zeros(2, dtype=torch.float64)})
        False
    """
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}\x1f{t.dtype}\x1f{tuple(tensors[name].shape)}\x1e".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _header_metadata(data: bytes) -> dict[str, str]:
    # safetensors layout: 8-byte little-endian header length, then a JSON header whose "__metadata__" holds
    # the string metadata (safetensors.torch.load returns tensors only).
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def not_found(path: str | os.PathLike[str], want: str = "file") -> str:
    """Why ``path`` is not the ``want`` (``"file"`` or ``"directory"``) expected there, for error messages: it
    does not exist, or it is the other kind; a relative path also says where it was resolved to.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> not_found(d).endswith("is a directory, not a file")
        True
        >>> not_found("no/such.txt").startswith("'no/such.txt' does not exist (resolved against the working directory")
        True
    """
    p = Path(path).expanduser()
    where = "" if p.is_absolute() else f" (resolved against the working directory to {p.resolve()})"
    if not p.exists():
        return f"{str(p)!r} does not exist{where}"
    other = "directory" if p.is_dir() else "file" if p.is_file() else "special file"
    return f"{str(p)!r}{where} is a {other}, not a {want}"


def outside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> str | None:
    """Why ``path`` may not be read as one of ``folder``'s files (links followed): ``"outside the folder"`` or
    ``"not a regular file"`` (a directory, a device such as ``/dev/zero``); ``None`` when it may.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> outside(f"{d}/../../etc/hostname", d), outside(d, d)
        ('outside the folder', 'not a regular file')
    """
    real, root = Path(path).resolve(), Path(folder).resolve()
    if not real.is_relative_to(root):
        return "outside the folder"
    return None if real.is_file() else "not a regular file"


def slug(text: str) -> str:
    """``text`` as a file-name part: letters, digits, ``-``, ``_`` and ``.`` kept, anything else ``_``.

    Example:
        >>> slug("relative:cosine[center=mean]"), slug("resnet-s0.v2")
        ('relative_cosine_center_mean_', 'resnet-s0.v2')
    """
    out = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
    return "_" + out if out.startswith(".") else out or "_"
