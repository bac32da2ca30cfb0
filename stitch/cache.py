"""A verified on-disk cache of latents: encoding is the expensive step, so it happens once.

An entry is keyed by *what was encoded and how*: the encoder's :meth:`fingerprint` (name, options and
the identity of its weights) and the dataset's name, split and :meth:`~stitch.data.Dataset.content_hash`.
Each entry is two files in ``<root>/latents/``:

* ``<key>.safetensors`` — the ``(n, dim)`` float32 latents;
* ``<key>.json`` — provenance: encoder fingerprint, dataset, split, sample-id hash, shape, library
  versions, date, and the sha256 of the safetensors file.

Both are written atomically (temporary file, then rename), latents first, so an interrupted write leaves
either no entry or an entry without a sidecar, which reads as a miss. On every read the file's sha256,
shape and key are checked against the sidecar; a truncated, corrupted or mismatched entry is reported once
(a :class:`UserWarning`), deleted and recomputed, never served.

The cache root is ``root`` when given, else ``$STITCH_CACHE``, else ``~/.cache/latent-stitch``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fnmatch
import hashlib
import json
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stitch._io import load_tensors, read_json, save_tensors, sha256_file, write_json

if TYPE_CHECKING:
    import torch

    from stitch.data import Dataset
    from stitch.encoder import Encoder

__all__ = [
    "LatentCache", "CacheEntry", "default_cache_root", "cached_sha256", "encoder_fingerprint", "library_versions",
]

_FORMAT = 1


def default_cache_root() -> Path:
    """``$STITCH_CACHE`` if set, else ``~/.cache/latent-stitch``.

    Example:
        >>> isinstance(default_cache_root(), Path)
        True
    """
    env = os.environ.get("STITCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "latent-stitch"


_hash_lock = threading.Lock()
_hash_memo: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a (large) file, remembered per ``(path, size, mtime)`` in memory and in the cache root.

    Weight files of hundreds of megabytes are hashed once per machine, not at every run; editing the
    file changes its size or mtime and forces a new hash.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.bin"; _ = p.write_bytes(b"abc")
        >>> cached_sha256(p)[:12]
        'ba7816bf8f01'
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_memo:
            return _hash_memo[key]
    store = default_cache_root() / "hashes.json"
    disk_key = f"{key[0]}|{key[1]}|{key[2]}"
    known: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = read_json(store)
        if isinstance(loaded, dict):
            known = loaded
    digest = known.get(disk_key)
    if not (isinstance(digest, str) and len(digest) == 64):
        digest = sha256_file(p)
        known[disk_key] = digest
        # A read-only or full cache directory must not stop encoding; the hash is just recomputed next time.
        with contextlib.suppress(OSError):
            write_json(store, known)
    with _hash_lock:
        _hash_memo[key] = digest
    return digest


def encoder_fingerprint(encoder: Any) -> dict[str, Any]:
    """The encoder's identity for cache keys: its ``fingerprint()``, or name + class for plain encoders.

    An encoder without ``fingerprint()`` cannot prove which weights it holds, so its entries are keyed by
    name, class and ``id()`` of the object: cached within one process, never across processes.

    Example:
        >>> from stitch.encoder import EncoderSpec, BaseEncoder
        >>> class E(BaseEncoder):
        ...     def _load(self): pass
        ...     def _prepare(self, x): return x
        ...     def _encode_batch(self, b): return b
        >>> encoder_fingerprint(E(EncoderSpec("e", "tabular", "toy", dim=2)))["name"]
        'e'
    """
    fp = getattr(encoder, "fingerprint", None)
    if callable(fp):
        return dict(fp())
    cls = type(encoder)
    return {"name": getattr(encoder, "name", cls.__name__), "class": f"{cls.__module__}.{cls.__qualname__}",
            "process_object": f"{os.getpid()}:{id(encoder)}"}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def library_versions() -> dict[str, str]:
    """Installed versions of latent-stitch and the libraries that shape latents (for provenance).

    Example:
        >>> "torch" in library_versions()
        True
    """
    import importlib.metadata as md

    out = {}
    for pkg in ("latent-stitch", "torch", "timm", "transformers", "torch-geometric"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


@dataclass(frozen=True)
class CacheEntry:
    """One cached latent matrix, as listed by :meth:`LatentCache.list`.

    Example:
        >>> import tempfile, numpy as np
        >>> from adapters.precomputed import PrecomputedEncoder, save_precomputed
        >>> from stitch.data import Dataset
        >>> d = tempfile.mkdtemp()
        >>> save_precomputed(d + "/z.safetensors", ["a", "b"], np.eye(2))
        >>> ds = Dataset("ab", "any", ["a", "b"], np.array([0, 1]), ("0", "1"), ("a", "b"), {})
        >>> cache = LatentCache(d + "/cache")
        >>> _ = cache.encode(PrecomputedEncoder(d + "/z.safetensors"), ds)
        >>> [(e.dataset, e.split, e.shape) for e in cache.list()]
        [('ab', None, (2, 2))]
    """

    key: str
    encoder: str
    dataset: str
    split: str | None
    shape: tuple[int, int]
    size_bytes: int
    created: str
    path: Path


class LatentCache:
    """Cache of ``encode`` results keyed by encoder identity and dataset content.

    Args:
        root: cache directory; default ``$STITCH_CACHE`` or ``~/.cache/latent-stitch``.
        verify: check the sha256 of each entry on read (cheap next to encoding; keep it on).

    Shapes:
        encode: ``(n_split, dim)`` float32, rows in the order of ``dataset.split_ids(split)``.

    Example:
        >>> import tempfile, numpy as np, torch
        >>> from stitch.data import Dataset
        >>> from stitch.encoder import BaseEncoder, EncoderSpec
        >>> class Doubler(BaseEncoder):
        ...     def _load(self): pass
        ...     def _prepare(self, x): return torch.as_tensor(np.asarray(x), dtype=torch.float32)
        ...     def _encode_batch(self, b): return 2 * b
        >>> ds = Dataset("toy", "tabular", np.eye(3, dtype=np.float32), np.array([0, 1, 0]), ("a", "b"),
        ...              ("x", "y", "z"), {"test": np.array([2, 0])})
        >>> cache = LatentCache(tempfile.mkdtemp())
        >>> enc = Doubler(EncoderSpec("doubler", "tabular", "x -> 2x", dim=3))
        >>> cache.encode(enc, ds, "test").tolist()
        [[0.0, 0.0, 2.0], [2.0, 0.0, 0.0]]
        >>> len(cache.list())
        1
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        self.verify = verify
        self.hits = 0
        self.misses = 0

    @property
    def directory(self) -> Path:
        """Where entries live (``<root>/latents``)."""
        return self.root / "latents"

    # -- keys -----------------------------------------------------------------------------------------
    def key(self, encoder: Any, dataset: Dataset, split: str | None) -> str:
        """The entry key of ``encoder`` on ``dataset[split]`` (transductive datasets: the whole graph)."""
        return hashlib.sha256(_canonical(self._key_fields(encoder, dataset, split)).encode()).hexdigest()[:40]

    @staticmethod
    def _key_fields(encoder: Any, dataset: Dataset, split: str | None) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "encoder": encoder_fingerprint(encoder),
            "dataset": dataset.name,
            "content": dataset.content_hash(),
            # transductive encoders see the whole graph: one entry serves every split.
            "split": None if dataset.transductive else split,
        }

    # -- public API -----------------------------------------------------------------------------------
    def encode(
        self,
        encoder: Encoder,
        dataset: Dataset,
        split: str | None = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> torch.Tensor:
        """Latents of ``dataset[split]`` from the cache, encoding (and storing) them on a miss.

        Shapes:
            returns ``(n_split, dim)`` float32, one row per ``dataset.split_ids(split)``, in that order.

        Example:
            >>> # see the class example
        """
        import torch

        rows = dataset.indices(split)  # unknown split: clear error before any work
        encoded_split = None if dataset.transductive else split
        key = self.key(encoder, dataset, split)
        z = self._read(key, dataset, encoded_split)
        if z is None:
            self.misses += 1
            z = self._compute(encoder, dataset, encoded_split, batch_size=batch_size, progress=progress)
            # Encoding may have made the weights' identity more precise (hub weights now cached locally and
            # hashed), so the entry is stored under the key the next run will compute.
            self._write(self.key(encoder, dataset, split), z, encoder, dataset, encoded_split)
        else:
            self.hits += 1
        if dataset.transductive:
            z = z[torch.as_tensor(rows, dtype=torch.long)]
        return z

    def list(self, pattern: str = "*") -> list[CacheEntry]:
        """Entries whose encoder or dataset name matches the shell-style ``pattern``, newest first."""
        out = []
        if not self.directory.is_dir():
            return out
        for side in self.directory.glob("*.json"):
            try:
                meta = read_json(side)
                data = side.with_suffix(".safetensors")
                entry = CacheEntry(
                    key=side.stem,
                    encoder=str(meta["encoder"]["name"]),
                    dataset=str(meta["dataset"]),
                    split=meta.get("split"),
                    shape=(int(meta["shape"][0]), int(meta["shape"][1])),
                    size_bytes=data.stat().st_size if data.exists() else 0,
                    created=str(meta.get("created", "")),
                    path=data,
                )
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                continue  # listing never fails on a damaged entry; reading it reports and repairs it
            if _matches(entry, pattern):
                out.append(entry)
        return sorted(out, key=lambda e: e.created, reverse=True)

    def clear(self, pattern: str = "*") -> int:
        """Delete entries whose encoder or dataset name (or key) matches ``pattern``; return how many.

        ``"*"`` also removes damaged entries and leftovers of interrupted writes.
        """
        if not self.directory.is_dir():
            return 0
        removed = 0
        for entry in self.list(pattern):
            self._remove(entry.key)
            removed += 1
        if pattern == "*":
            for stray in self.directory.iterdir():
                stray.unlink()
        return removed

    # -- internals ------------------------------------------------------------------------------------
    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.safetensors", self.directory / f"{key}.json"

    def _remove(self, key: str) -> None:
        for p in self._paths(key):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def _compute(self, encoder: Any, dataset: Dataset, split: str | None, *, batch_size: int | None,
                 progress: bool | None) -> torch.Tensor:
        if getattr(encoder, "inputs_are_ids", False):
            # Transductive entries cover the whole graph, so an id-keyed encoder must serve every node too.
            inputs: Any = list(dataset.ids) if dataset.transductive else dataset.split_ids(split)
        else:
            inputs = dataset.inputs if dataset.transductive else dataset.split_inputs(split)
        kwargs: dict[str, Any] = {"progress": progress}
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
        z = encoder.encode(inputs, **kwargs)
        n = len(dataset) if dataset.transductive else len(dataset.indices(split))
        if z.ndim != 2 or z.shape[0] != n:
            raise RuntimeError(
                f"encoder {getattr(encoder, 'name', encoder)!r} returned shape {tuple(z.shape)} for {n} samples "
                f"of dataset {dataset.name!r}; expected ({n}, dim)"
            )
        return z.detach().to("cpu").float().contiguous()

    def _write(self, key: str, z: torch.Tensor, encoder: Any, dataset: Dataset, split: str | None) -> None:
        data, side = self._paths(key)
        try:
            save_tensors(data, {"latents": z}, {"key": key, "format": str(_FORMAT)})
            write_json(side, {
                **self._key_fields(encoder, dataset, split),
                "key": key,
                "ids_sha256": _ids_hash(dataset, split),
                "shape": list(z.shape),
                "sha256": sha256_file(data),
                "versions": library_versions(),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            })
        except OSError as exc:
            warnings.warn(f"latent cache: could not write entry {key} under {self.directory} ({exc}); "
                          "results are correct but will be recomputed next time", stacklevel=3)

    def _read(self, key: str, dataset: Dataset, split: str | None) -> torch.Tensor | None:
        data, side = self._paths(key)
        if not side.exists():
            return None  # plain miss (or a write interrupted before its sidecar: the data file is replaced)
        problem = None
        try:
            meta = read_json(side)
            if not data.exists():
                problem = "its latents file is missing"
            elif meta.get("key") != key or meta.get("format") != _FORMAT:
                problem = "its sidecar describes a different entry"
            elif self.verify and sha256_file(data) != meta.get("sha256"):
                problem = "its latents file does not match the recorded sha256 (truncated or modified)"
            elif meta.get("ids_sha256") != _ids_hash(dataset, split):
                problem = "it was computed for different sample ids"
            else:
                tensors, _ = load_tensors(data)
                z = tensors.get("latents")
                if z is None or list(z.shape) != list(meta.get("shape", [])):
                    problem = "its latents have an unexpected shape"
                else:
                    return z
        except (ValueError, OSError, AttributeError, TypeError) as exc:
            problem = f"it cannot be read ({exc})"
        warnings.warn(f"latent cache: entry {key} for dataset {dataset.name!r} is unusable: {problem}; "
                      "discarding it and recomputing", stacklevel=3)
        self._remove(key)
        return None


def _ids_hash(dataset: Dataset, split: str | None) -> str:
    return hashlib.sha256("\x1f".join(dataset.split_ids(split)).encode()).hexdigest()


def _matches(entry: CacheEntry, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(s, pattern) for s in (entry.encoder, entry.dataset, entry.key))
