"""Alignment-based measures: the angular orthogonal Procrustes distance and Hungarian unit matching.

* ``procrustes``: the angular shape metric of Williams et al. (NeurIPS 2021): centre each side, scale it
  to unit Frobenius norm, then ``arccos(||X^T Y||_*)`` — the angle left after the best rotation. A proper
  metric on shapes, in ``[0, pi/2]``. Different widths are handled without padding (the nuclear norm of
  the ``d1 x d2`` cross-product equals that of the zero-padded problem).
* ``permutation_match``: Pearson correlation between every unit of ``x`` and every unit of ``y``, the
  one-to-one matching maximising total correlation (Hungarian algorithm, scipy), and the mean matched
  correlation (Li et al., ICLR 2016, "Convergent learning").
"""

from __future__ import annotations

import math
from typing import Any

import torch

from stitch.metrics._base import prepare_pair, row_blocks
from stitch.utils.numerics import TINY

__all__ = ["procrustes", "permutation_match"]

_BLOCK = 8192


def _centred_cross(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    # X^T Y and both squared Frobenius norms of the centred matrices, accumulated over row blocks.
    mx = x.sum(0, dtype=torch.float64) / len(x)
    my = y.sum(0, dtype=torch.float64) / len(y)
    cross = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64)
    nx = ny = 0.0
    for s in row_blocks(len(x), _BLOCK):
        xb = x[s : s + _BLOCK].to(torch.float64) - mx
        yb = y[s : s + _BLOCK].to(torch.float64) - my
        cross += xb.T @ yb
        nx += float((xb * xb).sum())
        ny += float((yb * yb).sum())
    return cross, nx, ny


def procrustes(x: Any, y: Any) -> float:
    """Angular orthogonal Procrustes distance: 0 for shapes equal up to rotation, translation and scale.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, pi/2]``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
        >>> q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1)))
        >>> procrustes(x, 2 * x @ q + 1) < 1e-6
        True
    """
    x, y = prepare_pair(x, y, metric="procrustes")
    cross, nx, ny = _centred_cross(x, y)
    nuclear = float(torch.linalg.svdvals(cross).sum()) / math.sqrt(nx * ny)
    return math.acos(max(-1.0, min(1.0, nuclear)))


def permutation_match(x: Any, y: Any) -> float:
    """Mean correlation of units matched one-to-one (Hungarian algorithm on the unit correlation matrix).

    Matches ``min(d1, d2)`` pairs. Invariant to reordering and per-unit rescaling of either side, not to
    rotations that mix units.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
        >>> round(permutation_match(x, x[:, [2, 0, 3, 1]] * torch.tensor([1.0, 2.0, 3.0, 4.0])), 6)
        1.0
    """
    from scipy.optimize import linear_sum_assignment

    x, y = prepare_pair(x, y, metric="permutation_match")
    cross, _, _ = _centred_cross(x, y)
    sx = _column_norms(x, "x")
    sy = _column_norms(y, "y")
    corr = (cross / sx[:, None] / sy[None, :]).clamp(-1.0, 1.0).numpy()
    rows, cols = linear_sum_assignment(corr, maximize=True)
    return float(corr[rows, cols].mean())


def _column_norms(z: torch.Tensor, name: str) -> torch.Tensor:
    zc = z.to(torch.float64) - z.sum(0, dtype=torch.float64) / len(z)
    norms = torch.sqrt((zc * zc).sum(0))
    dead = (norms <= TINY * max(1.0, float(norms.max()))).nonzero().flatten()
    if len(dead):
        raise ValueError(
            f"permutation_match: {name} has {len(dead)} constant unit(s) (first: column {int(dead[0])}); "
            "their correlation is undefined — drop constant columns first"
        )
    return norms
