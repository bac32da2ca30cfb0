"""Statistics of an audit cell: permutation-test p-values and bootstrap confidence intervals.

Every cell draws from its own generator, seeded by ``(seed, metric index, row, column)``: a cell's p-value and
interval do not depend on which other cells were computed, in which order, or on which machine, so an audit
split across workers gives the same numbers as one run in a single process.

Example:
    >>> import torch
    >>> from stitch.metrics import get_metric
    >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    >>> p = permutation_p(get_metric("linear_cka"), x, 2 * x, {}, observed=1.0, draws=19, rng=cell_rng(0, 0, 0, 1))
    >>> p
    0.05
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["cell_rng", "permutation_p", "bootstrap_ci"]


def cell_rng(seed: int, metric_index: int, row: int, col: int) -> np.random.Generator:
    """The generator of one audit cell (independent of every other cell).

    Example:
        >>> bool(cell_rng(0, 1, 2, 3).integers(100) == cell_rng(0, 1, 2, 3).integers(100))
        True
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(metric_index), int(row), int(col)]))


def _subset_kw(kw: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    if "labels" in kw:
        return {**kw, "labels": np.asarray(kw["labels"])[idx]}
    return kw


def permutation_p(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], observed: float,
                  draws: int, rng: np.random.Generator) -> float:
    """One-sided permutation p-value: ``(1 + #null at least as similar as observed) / (1 + draws)``.

    Shuffling ``y``'s rows breaks the pairing and keeps both marginal geometries: the null of "unrelated".
    """
    hits = 0
    for _ in range(draws):
        perm = torch.from_numpy(rng.permutation(len(y)))
        null = metric(x, y[perm], **kw)
        hits += null >= observed if metric.kind == "score" else null <= observed
    return (1 + hits) / (1 + draws)


def bootstrap_ci(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], draws: int,
                 confidence: float, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval at ``confidence`` over ``draws`` resamples of the paired rows."""
    stats = []
    for _ in range(draws):
        idx = rng.integers(0, len(x), len(x))
        try:
            stats.append(metric(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)], **_subset_kw(kw, idx)))
        except ValueError:
            continue  # a degenerate resample (e.g. rank-deficient after duplicates) says nothing about the CI
    if not stats:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))
