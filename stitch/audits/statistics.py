"""Statistics of an audit cell: permutation-test p-values and bootstrap confidence intervals.

Every draw has its own generator, seeded by ``(seed, metric index, row, column, stream, draw)``: a cell's
p-value and interval depend neither on which other cells were computed, in which order or where, nor on how
its draws were split into chunks — an engine may compute draws ``0..49`` in one task and ``50..99`` in
another (:func:`null_values`, :func:`bootstrap_values`) and get the numbers of one process.

Example:
    >>> import torch
    >>> from stitch.metrics import get_metric
    >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    >>> p = permutation_p(get_metric("linear_cka"), x, 2 * x, {}, observed=1.0, draws=19, key=(0, 0, 0, 1))
    >>> p
    0.05
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["draw_rng", "null_values", "bootstrap_values", "p_value", "percentile_interval", "permutation_p",
           "bootstrap_ci", "subsample_rows", "PERMUTATION", "BOOTSTRAP"]

#: Streams of :func:`draw_rng`: the permutation test's draws and the bootstrap's.
PERMUTATION, BOOTSTRAP = 0, 1

#: A cell's key: ``(seed, metric index, row, column)``.
CellKey = tuple[int, int, int, int]


def draw_rng(key: CellKey, stream: int, draw: int) -> np.random.Generator:
    """The generator of draw ``draw`` of one cell's ``stream`` (independent of every other draw and cell).

    Example:
        >>> bool(draw_rng((0, 1, 2, 3), PERMUTATION, 7).integers(100) == draw_rng((0, 1, 2, 3), 0, 7).integers(100))
        True
    """
    return np.random.default_rng(np.random.SeedSequence([*map(int, key), int(stream), int(draw)]))


def _subset_kw(kw: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    if "labels" in kw:
        return {**kw, "labels": np.asarray(kw["labels"])[idx]}
    return kw


def null_values(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], key: CellKey,
                draws: range) -> list[float]:
    """The metric between ``x`` and ``y`` with its rows shuffled, for each draw in ``draws``.

    Shuffling ``y``'s rows breaks the pairing and keeps both marginal geometries: the null of "unrelated".
    """
    return [metric(x, y[torch.from_numpy(draw_rng(key, PERMUTATION, d).permutation(len(y)))], **kw) for d in draws]


def bootstrap_values(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], key: CellKey,
                     draws: range) -> list[float | None]:
    """The metric on a resample (with replacement) of the paired rows, for each draw; ``None`` where undefined."""
    out: list[float | None] = []
    for d in draws:
        idx = draw_rng(key, BOOTSTRAP, d).integers(0, len(x), len(x))
        try:
            out.append(metric(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)], **_subset_kw(kw, idx)))
        except ValueError:
            out.append(None)  # a degenerate resample (e.g. rank-deficient after duplicates) says nothing about the CI
    return out


def p_value(kind: str, observed: float, nulls: Sequence[float]) -> float:
    """One-sided permutation p-value ``(1 + #null at least as similar as observed) / (1 + draws)``.

    Example:
        >>> p_value("score", 0.9, [0.1, 0.95, 0.2])
        0.5
    """
    hits = sum(null >= observed if kind == "score" else null <= observed for null in nulls)
    return (1 + hits) / (1 + len(nulls))


def percentile_interval(values: Sequence[float | None], confidence: float) -> tuple[float, float]:
    """Percentile interval at ``confidence`` of the defined ``values`` (NaN, NaN when none is).

    Example:
        >>> percentile_interval([1.0, None, 3.0], 0.5)
        (1.5, 2.5)
    """
    stats = [v for v in values if v is not None]
    if not stats:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def permutation_p(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], observed: float,
                  draws: int, key: CellKey) -> float:
    """:func:`p_value` over ``draws`` shuffles of ``y``'s rows (all of them, in this process)."""
    return p_value(metric.kind, observed, null_values(metric, x, y, kw, key, range(draws)))


def bootstrap_ci(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], draws: int,
                 confidence: float, key: CellKey) -> tuple[float, float]:
    """:func:`percentile_interval` over ``draws`` resamples of the paired rows (all of them, in this process)."""
    return percentile_interval(bootstrap_values(metric, x, y, kw, key, range(draws)), confidence)


def subsample_rows(n_total: int, n: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded random subset of ``n`` of ``n_total`` rows (``None``: keep them all). Asking for
    more rows than there are keeps them all, with a warning saying so (the result records both numbers).

    Example:
        >>> subsample_rows(10, 3, seed=0).tolist(), subsample_rows(10, None, seed=0), subsample_rows(10, 10, seed=0)
        ([5, 6, 9], None, None)
    """
    if n is not None and n > n_total:
        warnings.warn(f"n={n} samples were asked for, but only {n_total} are available: all {n_total} are used",
                      stacklevel=3)
    if n is None or n >= n_total:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=int(n), replace=False))
