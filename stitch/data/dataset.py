"""The dataset type every experiment and audit reads: inputs, labels, class names, stable ids, fixed splits.

Datasets are built by loaders registered through the ``datasets`` hook (see :func:`stitch.load_dataset`);
this module only defines the container, so it imports no heavy library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled dataset with fixed splits.

    Args:
        name: registry name plus options that change content, e.g. ``"trec-fine"``.
        modality: ``image``, ``text``, ``graph``, ``tabular``, ...
        inputs: what an encoder of that modality takes: a sequence indexable by an int array
            (list of str, array of images) or, when ``transductive``, one object (a graph).
        labels: ``(n,)`` int64 class index per sample.
        class_names: ``class_names[label]`` is the label's readable name.
        ids: ``(n,)`` unique, stable string ids (identical across runs and machines).
        splits: split name -> int64 row indices into ``ids``.
        transductive: ``True`` when encoders see the whole of ``inputs`` at once and splits select rows
            of the output (node classification on one graph); ``False`` when splits select inputs.
        metadata: provenance (source files, version, licence, ...), JSON-serialisable.

    Example:
        >>> import numpy as np
        >>> ds = Dataset("toy", "tabular", np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1]),
        ...              ("a", "b"), tuple("abcd"), {"train": np.array([0, 1]), "test": np.array([2, 3])})
        >>> ds.split_labels("test").tolist()
        [0, 1]
        >>> ds
        Dataset('toy', modality='tabular', samples=4, splits={'train': 2, 'test': 2}, classes=2)
    """

    name: str
    modality: str
    inputs: Any
    labels: np.ndarray
    class_names: tuple[str, ...]
    ids: tuple[str, ...]
    splits: Mapping[str, np.ndarray]
    transductive: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.labels) != n:
            raise ValueError(f"dataset {self.name!r}: {len(self.labels)} labels for {n} ids; expected one label per id")
        if len(set(self.ids)) != n:
            raise ValueError(f"dataset {self.name!r}: sample ids are not unique")
        for split, idx in self.splits.items():
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"dataset {self.name!r}: split {split!r} indexes outside 0..{n - 1}")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        # A summary, like Hugging Face datasets: the dataclass repr would print every input and index.
        splits = {name: len(idx) for name, idx in self.splits.items()}
        graph = ", transductive=True" if self.transductive else ""
        return (f"Dataset({self.name!r}, modality={self.modality!r}, samples={len(self)}, splits={splits}, "
                f"classes={self.num_classes}{graph})")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def indices(self, split: str | None) -> np.ndarray:
        """Row indices of ``split`` (``None`` means every sample), with a clear error for unknown splits."""
        if split is None:
            return np.arange(len(self), dtype=np.int64)
        if split not in self.splits:
            raise ValueError(
                f"dataset {self.name!r} has no split {split!r}; available: {', '.join(map(repr, self.splits))}"
            )
        return np.asarray(self.splits[split], dtype=np.int64)

    def split_inputs(self, split: str | None) -> Any:
        """The inputs an encoder must see for ``split`` (all of them when ``transductive``)."""
        if self.transductive:
            return self.inputs
        idx = self.indices(split)
        if isinstance(self.inputs, Sequence) and not isinstance(self.inputs, (str, bytes)):
            return [self.inputs[i] for i in idx]
        return self.inputs[idx]

    def split_labels(self, split: str | None) -> np.ndarray:
        """``(n_split,)`` labels of ``split``."""
        return np.asarray(self.labels)[self.indices(split)]

    def split_ids(self, split: str | None) -> list[str]:
        """Sample ids of ``split``, in row order."""
        return [self.ids[i] for i in self.indices(split)]

    def subsample(self, sizes: Mapping[str, int], *, seed: int = 0) -> Dataset:
        """The dataset with some splits cut to a seeded, stratified subset (inputs and ids unchanged).

        Each named split keeps ``sizes[split]`` of its samples, drawn per class in proportion to the
        class counts (largest remainders fill the rounding gap), with ``numpy.random.default_rng(seed)``;
        kept indices stay in row order. A size at least the split's length keeps the whole split. The
        sizes and the seed are recorded in ``metadata["subset"]`` (and so change :meth:`content_hash`).

        Shapes:
            ``splits[split]``: ``(n_split,)``  ->  ``(min(n_split, sizes[split]),)``

        Example:
            >>> ds = Dataset("toy", "tabular", np.zeros((8, 1)), np.array([0, 1] * 4), ("a", "b"), tuple("abcdefgh"),
            ...              {"train": np.arange(6), "test": np.array([6, 7])})
            >>> sub = ds.subsample({"train": 4}, seed=0)
            >>> len(sub.splits["train"]), np.bincount(sub.split_labels("train")).tolist(), len(sub.splits["test"])
            (4, [2, 2], 2)
        """
        import dataclasses

        unknown = sorted(set(sizes) - set(self.splits))
        if unknown:
            raise ValueError(f"dataset {self.name!r} has no split(s) {', '.join(map(repr, unknown))} to subsample; "
                             f"available: {', '.join(map(repr, self.splits))}")
        rng = np.random.default_rng(seed)
        splits = dict(self.splits)
        for split in sorted(sizes):
            n = sizes[split]
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"subset size of split {split!r} must be a positive int, got {n!r}")
            idx = np.asarray(self.splits[split], dtype=np.int64)
            if n >= len(idx):
                continue
            labels = np.asarray(self.labels)[idx]
            classes, counts = np.unique(labels, return_counts=True)
            quota = counts * n / len(idx)
            take = np.floor(quota).astype(int)
            order = np.argsort(-(quota - take), kind="stable")
            take[order[: n - int(take.sum())]] += 1
            kept = [rng.choice(idx[labels == c], size=k, replace=False) for c, k in zip(classes, take)]
            splits[split] = np.sort(np.concatenate(kept)).astype(np.int64)
        metadata = {**self.metadata, "subset": {"sizes": dict(sizes), "seed": int(seed)}}
        return dataclasses.replace(self, splits=splits, metadata=metadata)

    def content_hash(self) -> str:
        """sha256 over ids, labels and splits: changes whenever the samples or their order change.

        Loaders put a hash of the raw inputs in ``metadata["input_sha256"]``; it is folded in here.
        """
        h = hashlib.sha256()
        h.update("\x1f".join(self.ids).encode())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        for split in sorted(self.splits):
            h.update(split.encode())
            h.update(np.ascontiguousarray(self.splits[split], dtype=np.int64).tobytes())
        h.update(str(self.metadata.get("input_sha256", "")).encode())
        return h.hexdigest()
