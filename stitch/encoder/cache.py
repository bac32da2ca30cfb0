"""A verified on-disk cache of latents: encoding is the expensive step, so it happens once.

An entry is keyed by *what was encoded and how*: the encoder's ``fingerprint()`` (name, options and the
identity of its weights, hashed from the bytes that were loaded) and the dataset's name, split and
:meth:`~stitch.data.Dataset.content_hash`. Each entry is **one** safetensors file,
``<root>/latents/<key>.safetensors``: the ``(n, dim)`` float32 latents plus, in its header, the key, the
provenance (encoder fingerprint, dataset, split, sample-id hash, library versions, date) and the sha256 of
the latents.

The file is written atomically (temporary file, then rename), so a crash or a concurrent writer leaves
either no entry or one complete entry. Every read is one pass that parses the file and checks, before
anything is served: the format and key, the latents' sha256, the sample ids, the number of rows against the
dataset split, the width against the encoder and the dtype. A truncated, corrupted, edited or mismatched
entry is reported once (a :class:`UserWarning`), deleted and recomputed, never served.

The cache root is ``root`` when given, else ``$STITCH_CACHE``, else ``~/.cache/latent-stitch``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from stitch.encoder.base import check_finite_latents
from stitch.utils.files import load_tensors, save_tensors, tensors_sha256
from stitch.utils.provenance import library_versions, utc_now
from stitch.utils.roots import cache_root

if TYPE_CHECKING:
    import torch

    from stitch.data import Dataset
    from stitch.encoder.base import Encoder

__all__ = ["LatentCache", "CacheEntry", "EncodedSplit", "encode", "encoder_fingerprint", "LATENTS_FORMAT"]

#: ``metadata["format"]`` of a cache entry.
LATENTS_FORMAT = "latent-stitch-latents/2"


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


@dataclass(frozen=True)
class CacheEntry:
    """One cached latent matrix, as listed by :meth:`LatentCache.list`.

    Example:
        >>> import tempfile, numpy as np
        >>> from stitch.adapters.precomputed import PrecomputedEncoder, save_precomputed
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``stitch cache list --json``)."""
        return {"key": self.key, "encoder": self.encoder, "dataset": self.dataset, "split": self.split,
                "shape": list(self.shape), "size_bytes": self.size_bytes, "created": self.created,
                "path": str(self.path)}


class LatentCache:
    """Cache of ``encode`` results keyed by encoder identity and dataset content.

    Args:
        root: cache directory; default ``$STITCH_CACHE`` or ``~/.cache/latent-stitch``.

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
        >>> len(cache.list()), (cache.hits, cache.misses)
        (1, (0, 1))
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = cache_root(root)
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
            "format": LATENTS_FORMAT,
            "encoder": encoder_fingerprint(encoder),
            "dataset": dataset.name,
            "content": dataset.content_hash(),
            # transductive encoders see the whole graph: one entry serves every split.
            "split": None if dataset.transductive else split,
        }

    def path(self, key: str) -> Path:
        """The file of entry ``key``."""
        return self.directory / f"{key}.safetensors"

    # -- public API -----------------------------------------------------------------------------------
    def encode(
        self,
        encoder: Encoder,
        dataset: Dataset,
        split: str | None = None,
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
        run: Callable[..., torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Latents of ``dataset[split]`` from the cache, encoding (and storing) them on a miss.

        ``run(encoder, inputs, batch_size=..., progress=...)`` replaces ``encoder.encode`` for the miss (an
        engine encoding elsewhere, :mod:`stitch.engine`); the entry is keyed, checked and written the same way.

        Shapes:
            returns ``(n_split, dim)`` float32, one row per ``dataset.split_ids(split)``, in that order.

        Example:
            >>> # see the class example
        """
        import torch

        rows = dataset.indices(split)  # unknown split: clear error before any work
        encoded_split = None if dataset.transductive else split
        fields = self._key_fields(encoder, dataset, split)
        key = hashlib.sha256(_canonical(fields).encode()).hexdigest()[:40]
        z = self.read(key, dataset, encoded_split, encoder)
        if z is None:
            self.misses += 1
            z = self._compute(encoder, dataset, encoded_split, batch_size=batch_size, progress=progress, run=run)
            self.write(key, z, fields, dataset, encoded_split)
        else:
            self.hits += 1
        if dataset.transductive:
            z = z[torch.as_tensor(rows, dtype=torch.long)]
        return z

    def contains(self, encoder: Any, dataset: Dataset, split: str | None = None) -> bool:
        """Whether a (not yet verified) entry exists for ``encoder`` on ``dataset[split]``."""
        return self.path(self.key(encoder, dataset, split)).is_file()

    def list(self, pattern: str = "*") -> list[CacheEntry]:
        """Entries whose encoder or dataset name (or key) matches the shell-style ``pattern``, newest first.

        Only file headers are read; a damaged entry is skipped here and reported when it is read.
        """
        out = []
        if not self.directory.is_dir():
            return out
        for path in self.directory.glob("*.safetensors"):
            try:
                meta, shape = _read_header(path)
                prov = json.loads(meta["provenance"])
                entry = CacheEntry(key=path.stem, encoder=str(prov["encoder"]["name"]), dataset=str(prov["dataset"]),
                                   split=prov.get("split"), shape=(int(shape[0]), int(shape[1])),
                                   size_bytes=path.stat().st_size, created=str(prov.get("created", "")), path=path)
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                continue
            if any(fnmatch.fnmatchcase(s, pattern) for s in (entry.encoder, entry.dataset, entry.key)):
                out.append(entry)
        return sorted(out, key=lambda e: e.created, reverse=True)

    def clear(self, pattern: str = "*") -> int:
        """Delete entries whose encoder or dataset name (or key) matches ``pattern``; return how many.

        ``"*"`` also removes damaged entries (counted) and leftovers of interrupted writes (not counted; files
        only: a folder or link found in the cache directory is left alone, and a link is never followed).
        """
        if not self.directory.is_dir():
            return 0
        removed = 0
        for entry in self.list(pattern):
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
                removed += 1
        if pattern == "*":
            for stray in self.directory.iterdir():
                if stray.is_file() and not stray.is_symlink():
                    with contextlib.suppress(FileNotFoundError):
                        stray.unlink()
                        removed += stray.suffix == ".safetensors"  # a damaged entry, not a write's leftover
        return removed

    # -- entries --------------------------------------------------------------------------------------
    @staticmethod
    def inputs(encoder: Any, dataset: Dataset, split: str | None) -> Any:
        """What ``encoder.encode`` receives for the entry of ``dataset[split]`` (an engine encoding elsewhere
        sends exactly this): the split's inputs, its ids for an id-keyed encoder, the whole dataset when it is
        transductive.

        Example:
            >>> import numpy as np
            >>> from stitch.data import Dataset
            >>> ds = Dataset("toy", "tabular", np.eye(3), np.array([0, 1, 0]), ("a", "b"), ("x", "y", "z"),
            ...              {"test": np.array([2, 0])})
            >>> LatentCache.inputs(object(), ds, "test").tolist()
            [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
        """
        if getattr(encoder, "inputs_are_ids", False):
            # Transductive entries cover the whole graph, so an id-keyed encoder must serve every node too.
            return list(dataset.ids) if dataset.transductive else dataset.split_ids(split)
        return dataset.inputs if dataset.transductive else dataset.split_inputs(split)

    def _compute(self, encoder: Any, dataset: Dataset, split: str | None, *, batch_size: int | None,
                 progress: bool | None, run: Callable[..., torch.Tensor] | None = None) -> torch.Tensor:
        inputs = self.inputs(encoder, dataset, split)
        kwargs: dict[str, Any] = {"progress": progress}
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
        z = encoder.encode(inputs, **kwargs) if run is None else run(encoder, inputs, **kwargs)
        n = _expected_rows(dataset, split)
        if z.ndim != 2 or z.shape[0] != n:
            raise RuntimeError(
                f"encoder {getattr(encoder, 'name', encoder)!r} returned shape {tuple(z.shape)} for {n} samples "
                f"of dataset {dataset.name!r}; expected ({n}, dim)"
            )
        check_finite_latents(z, encoder)  # an encoder outside BaseEncoder, or one run elsewhere: never cache NaN
        return z.detach().to("cpu").float().contiguous()

    def write(self, key: str, z: torch.Tensor, fields: dict[str, Any], dataset: Dataset, split: str | None) -> None:
        """Store latents ``z`` as entry ``key`` (atomically); a failed write warns and loses nothing else."""
        provenance = {**fields, "ids_sha256": _ids_hash(dataset, split), "versions": library_versions(),
                      "created": utc_now()}
        meta = {"format": LATENTS_FORMAT, "key": key, "provenance": _canonical(provenance),
                "tensors_sha256": tensors_sha256({"latents": z})}
        try:
            save_tensors(self.path(key), {"latents": z}, meta)
        except OSError as exc:
            warnings.warn(f"latent cache: could not write entry {key} under {self.directory} ({exc}); "
                          "results are correct but will be recomputed next time", stacklevel=3)

    def read(self, key: str, dataset: Dataset, split: str | None, encoder: Any = None) -> torch.Tensor | None:
        """The verified latents of entry ``key``, or ``None`` (a miss, or an unusable entry: reported, deleted)."""
        import torch

        path = self.path(key)
        if not path.is_file():
            return None
        problem = None
        try:
            tensors, meta, _ = load_tensors(path, what="cache entry")
            z = tensors.get("latents")
            prov = json.loads(meta.get("provenance", "{}"))
            n = _expected_rows(dataset, split)
            dim = _known_dim(encoder)
            if meta.get("format") != LATENTS_FORMAT or meta.get("key") != key or z is None:
                problem = "it describes a different entry"
            elif tensors_sha256({"latents": z}) != meta.get("tensors_sha256"):
                problem = "its latents do not match their recorded sha256 (truncated or modified)"
            elif prov.get("ids_sha256") != _ids_hash(dataset, split):
                problem = "it was computed for different sample ids"
            elif z.dtype != torch.float32 or z.ndim != 2:
                problem = f"it holds {z.ndim}-D {z.dtype} latents, expected 2-D float32"
            elif z.shape[0] != n or (dim is not None and z.shape[1] != dim):
                problem = (f"it holds {tuple(z.shape)} latents, expected ({n}, {dim if dim is not None else 'dim'}) "
                           f"for {n} samples of split {split!r}")
            else:
                return z
        except (ValueError, OSError, TypeError, KeyError) as exc:
            problem = f"it cannot be read ({exc})"
        warnings.warn(f"latent cache: entry {key} for dataset {dataset.name!r} is unusable: {problem}; "
                      "discarding it and recomputing", stacklevel=3)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None


def _expected_rows(dataset: Dataset, split: str | None) -> int:
    return len(dataset) if dataset.transductive else len(dataset.indices(split))


def _known_dim(encoder: Any) -> int | None:
    # The width the encoder declares without loading anything (a hit must not build the model to check it).
    dim = getattr(getattr(encoder, "spec", None), "dim", None)
    return dim if isinstance(dim, int) and not isinstance(dim, bool) else None


def _read_header(path: Path) -> tuple[dict[str, str], list[int]]:
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < 2**24:
            raise ValueError(f"{path}: not a safetensors header")
        header = json.loads(f.read(size))
    return dict(header.get("__metadata__") or {}), list(header["latents"]["shape"])


def _ids_hash(dataset: Dataset, split: str | None) -> str:
    return hashlib.sha256("\x1f".join(dataset.split_ids(split)).encode()).hexdigest()


class EncodedSplit(NamedTuple):
    """What :func:`encode` returns: the latents of a split with their labels and sample ids, row by row.

    Unpacks as ``latents, labels, ids``.
    """

    latents: torch.Tensor
    labels: Any
    ids: list[str]


def encode(
    encoder: Any,
    dataset: Any,
    split: str | None = None,
    *,
    cache: LatentCache | str | os.PathLike[str] | bool | None = None,
    data_root: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> EncodedSplit:
    """Encode ``dataset[split]`` with ``encoder`` through the latent cache: latents, labels and ids together.

    Args:
        encoder: an :class:`~stitch.Encoder` or a registered name (``"minilm"``, ``"timm:resnet18"``).
        dataset: a :class:`~stitch.Dataset` or a registered name (loaded from ``data_root``).
        split: ``"train"``, ``"test"``, ... (``None``: every sample).
        cache: a :class:`LatentCache`, its root directory, ``None`` (the default cache) or ``False`` (no caching).

    Shapes:
        latents: ``(n_split, dim)`` float32; labels: ``(n_split,)``; ids: ``n_split`` strings.

    Example:
        >>> import stitch
        >>> train = stitch.encode("text-bag", "trec", "train", data_root="../shared/data", cache=False)  # doctest: +SKIP
        >>> train.latents.shape, train.labels.shape  # doctest: +SKIP
        (torch.Size([4907, 128]), (4907,))
    """
    if isinstance(encoder, str):
        from stitch.plugins import create_encoder

        encoder = create_encoder(encoder)
    if isinstance(dataset, str):
        from stitch.plugins import load_dataset

        dataset = load_dataset(dataset, data_root=data_root)
    if cache is False:
        rows = dataset.indices(split)
        z = LatentCache(None)._compute(encoder, dataset, None if dataset.transductive else split,
                                       batch_size=batch_size, progress=progress)
        if dataset.transductive:
            import torch

            z = z[torch.as_tensor(rows, dtype=torch.long)]
    else:
        store = cache if isinstance(cache, LatentCache) else LatentCache(None if cache in (None, True) else cache)
        z = store.encode(encoder, dataset, split, batch_size=batch_size, progress=progress)
    return EncodedSplit(z, dataset.split_labels(split), dataset.split_ids(split))
