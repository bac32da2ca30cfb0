"""Gromov-Wasserstein discrepancy between the two spaces' distance structures (POT).

Each space becomes its Euclidean distance matrix divided by its mean off-diagonal entry (so the value is
scale-free); ``ot.gromov.gromov_wasserstein2`` with the square loss and uniform weights is solved from the
known pairing (the diagonal coupling) as initial guess, so identical geometries score 0. GW does not need
the pairing: it compares geometries, and the pairing only seeds the non-convex solver. Distance matrices
are ``n x n`` and each solver step is O(n^3): at most ``max_samples`` rows (a seeded random subset,
recorded by the audit) are used.
"""

from __future__ import annotations

from typing import Any

import torch

from stitch.utils.checks import check_positive_int
from stitch.metrics._base import prepare_pair

__all__ = ["gromov_wasserstein"]


def _normalised_distances(z: torch.Tensor) -> torch.Tensor:
    z = z.to(torch.float64)
    d = torch.cdist(z, z)
    n = len(d)
    return d / (d.sum() / (n * (n - 1)))


def gromov_wasserstein(x: Any, y: Any, *, max_samples: int = 500, seed: int = 0) -> float:
    """Gromov-Wasserstein discrepancy (square loss) between mean-normalised distance matrices; 0 = isometric.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float ``>= 0``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
        >>> gromov_wasserstein(x, 4 * x + 1) < 1e-12
        True
    """
    import ot

    max_samples = check_positive_int(max_samples, "max_samples")
    x, y = prepare_pair(x, y, metric="gromov_wasserstein")
    if len(x) > max_samples:
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))[:max_samples]
        x, y = x[idx], y[idx]
    cx, cy = _normalised_distances(x).numpy(), _normalised_distances(y).numpy()
    n = len(cx)
    p = ot.unif(n)
    g0 = torch.eye(n, dtype=torch.float64).numpy() / n
    value = ot.gromov.gromov_wasserstein2(cx, cy, p, p, loss_fun="square_loss", G0=g0)
    return max(0.0, float(value))
