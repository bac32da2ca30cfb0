"""Atomic, verifiable file output: nothing a user produced is lost to a crash mid-write.

Every writer goes to a temporary file in the destination's directory, flushes and fsyncs it, then
``os.replace``s it over the destination, so readers see either the old file or the complete new one.
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

__all__ = ["atomic_open", "write_json", "read_json", "save_tensors", "load_tensors", "sha256_file"]


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
    """Read a JSON file, naming the file in the error if it is not valid JSON.

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


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and paths show up in results; everything else is a bug worth surfacing.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON: {obj!r}")


def save_tensors(
    path: str | os.PathLike[str], tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None
) -> None:
    """Save named tensors as safetensors, atomically. ``metadata`` values must be strings.

    Example:
        >>> import tempfile, pathlib, torch
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.safetensors"
        >>> save_tensors(p, {"z": torch.ones(2, 3)}, {"note": "demo"})
        >>> load_tensors(p)[0]["z"].shape
        torch.Size([2, 3])
    """
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=dict(metadata or {}))
    with atomic_open(path, "wb") as f:
        f.write(data)


def load_tensors(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Load ``(tensors, metadata)`` from a safetensors file, with a clear error when it is unreadable.

    Example:
        >>> import tempfile, torch
        >>> p = tempfile.mkdtemp() + "/t.safetensors"
        >>> save_tensors(p, {"z": torch.eye(2)}, {"source": "demo"})
        >>> tensors, meta = load_tensors(p)
        >>> tensors["z"].tolist(), meta
        ([[1.0, 0.0], [0.0, 1.0]], {'source': 'demo'})
    """
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            return {k: f.get_tensor(k) for k in f.keys()}, metadata
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own SafetensorError for truncated headers
        raise ValueError(
            f"{path} is not a readable safetensors file ({exc}); it may be truncated or corrupted"
        ) from None


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so memory stays bounded.

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
