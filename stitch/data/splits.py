"""Seeded, stratified splits of a labelled sample set (what every built-in loader and ``Dataset.subsample`` use)."""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_FRACTIONS", "stratified_splits"]

#: train / val / test fractions of a stratified split when a dataset ships no splits
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def stratified_splits(labels: np.ndarray, fractions: dict[str, float] | None = None, *, seed: int = 0
                      ) -> dict[str, np.ndarray]:
    """Seeded stratified split of ``range(len(labels))`` into named parts (sorted indices in each part).

    Every class is shuffled with ``numpy.random.default_rng(seed)`` and cut by ``fractions``, so each part
    keeps the class proportions; the result depends only on the labels and the seed.

    Shapes:
        labels: ``(n,)``  ->  ``{split: (n_split,) int64}``, disjoint, covering ``0..n-1``.

    Example:
        >>> parts = stratified_splits(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), {"train": 0.6, "test": 0.4})
        >>> [len(parts["train"]), len(parts["test"])]
        [6, 4]
    """
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    total = sum(fractions.values())
    if not fractions or any(f < 0 for f in fractions.values()) or total <= 0:
        raise ValueError(f"split fractions must be non-negative and sum to a positive number, got {fractions}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    names = list(fractions)
    cuts = np.cumsum([fractions[n] / total for n in names])
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        bounds = np.concatenate([[0], np.round(cuts * len(idx)).astype(int)])
        for i, n in enumerate(names):
            parts[n].append(idx[bounds[i] : bounds[i + 1]])
    return {n: np.sort(np.concatenate(p)).astype(np.int64) for n, p in parts.items()}
