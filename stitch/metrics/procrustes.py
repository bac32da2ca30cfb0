"""Alignment-based measures: what is left after the best rotation, whitening or matching of units.

All of them start from the centred cross-product ``Xc^T Yc`` (:func:`~stitch.metrics._base.centred_products`);
different widths are handled without padding (the nuclear norm and the rotation of the ``d1 x d2``
cross-product equal those of the zero-padded problem).

* ``procrustes``: the angular shape metric of Williams et al. (NeurIPS 2021): centre each side, scale it
  to unit Frobenius norm, then ``arccos(||X^T Y||_*)`` — the angle left after the best rotation. A proper
  metric on shapes, in ``[0, pi/2]``.
* ``procrustes_euclidean``: the same alignment as a Euclidean distance, ``min_Q ||X - Y Q||_F =
  sqrt(2 - 2 ||X^T Y||_*)`` on centred, unit-norm sides (Ding et al., 2021), in ``[0, sqrt 2]``.
* ``bures_similarity``: normalised Bures similarity, ``tr((Kx^1/2 Ky Kx^1/2)^1/2) / sqrt(tr Kx tr Ky)`` of
  the centred linear Gram matrices (Tang et al., 2020), which equals ``||Xc^T Yc||_* / (||Xc|| ||Yc||)``: the
  cosine of the Procrustes angle.
* ``shape_metric``: Williams et al.'s partial-whitening family: each side is mapped to
  ``Xc (alpha I + (1 - alpha) Cx^-1/2)`` before the angular Procrustes distance; ``alpha = 1`` is
  ``procrustes``, ``alpha = 0`` compares whitened spaces (as CCA does).
* ``aligned_cosine``: rotate ``x`` onto ``y`` by orthogonal Procrustes, then the mean cosine of each sample's
  two representations (Hamilton et al., 2016, as centred in ReSi).
* ``permutation_match``: Pearson correlation between every unit of ``x`` and every unit of ``y``, the
  one-to-one matching maximising total correlation (Hungarian algorithm, scipy), and the mean matched
  correlation (Li et al., ICLR 2016, "Convergent learning"; ReSi's *hard correlation match*).
* ``soft_correlation_match``: each unit's best correlation on the other side, many-to-one, averaged over
  both directions (Li et al., 2016; ReSi's *soft correlation match*).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from stitch.metrics._base import centred_products, prepare_pair
from stitch.utils.numerics import TINY

__all__ = ["procrustes", "procrustes_euclidean", "bures_similarity", "shape_metric", "aligned_cosine",
           "permutation_match", "soft_correlation_match"]

def _nuclear_cosine(x: torch.Tensor, y: torch.Tensor) -> float:
    # ||Xc^T Yc||_* / (||Xc||_F ||Yc||_F), the cosine of the angle left after the best rotation.
    p = centred_products(x, y, col_norms=True)
    value = float(torch.linalg.svdvals(p.xy).sum()) / math.sqrt(float(p.cx.sum()) * float(p.cy.sum()))
    return max(0.0, min(1.0, value))


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
    return math.acos(_nuclear_cosine(x, y))


def procrustes_euclidean(x: Any, y: Any) -> float:
    """Euclidean orthogonal Procrustes distance on centred, unit-Frobenius-norm sides: ``sqrt(2 - 2 ||X^T Y||_*)``.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, sqrt(2)]``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
        >>> procrustes_euclidean(x, -3 * x + 2) < 1e-6
        True
    """
    x, y = prepare_pair(x, y, metric="procrustes_euclidean")
    return math.sqrt(max(0.0, 2.0 - 2.0 * _nuclear_cosine(x, y)))


def bures_similarity(x: Any, y: Any) -> float:
    """Normalised Bures similarity of the centred linear Gram matrices (1 = same shape up to rotation and scale).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
        >>> round(bures_similarity(x, 2 * x + 1), 6)
        1.0
    """
    x, y = prepare_pair(x, y, metric="bures_similarity")
    return _nuclear_cosine(x, y)


def _partial_whiten(z: torch.Tensor, alpha: float, name: str) -> torch.Tensor:
    zc = z.to(torch.float64) - z.to(torch.float64).mean(0)
    if alpha == 1.0:
        return zc
    n, d = zc.shape
    evals, evecs = torch.linalg.eigh(zc.T @ zc / n)
    tol = float(evals.max()) * max(n, d) * torch.finfo(z.dtype if z.is_floating_point() else torch.float64).eps
    if float(evals.min()) <= tol:
        raise ValueError(
            f"shape_metric: {name}'s covariance is singular ({int((evals <= tol).sum())} of {d} directions have no "
            f"variance{f'; it has only {n} samples for {d} features' if n <= d else ''}), so it cannot be whitened; "
            "use alpha=1 (no whitening) or reduce dimensions with PCA first"
        )
    inv_sqrt = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    return zc @ (alpha * torch.eye(d, dtype=torch.float64) + (1 - alpha) * inv_sqrt)


def shape_metric(x: Any, y: Any, *, alpha: float = 0.5) -> float:
    """Williams et al.'s partially whitened angular shape metric: ``alpha = 1`` is :func:`procrustes`, 0 is CCA-like.

    Args:
        alpha: in ``[0, 1]``; below 1 each side is (partly) whitened by its covariance, which must be
            invertible (more samples than features, none redundant).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, pi/2]``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
        >>> q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
        >>> shape_metric(x, x @ q + 5, alpha=0.5) < 1e-6
        True
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"shape_metric alpha must be a number in [0, 1] (1 = no whitening), got {alpha!r}")
    x, y = prepare_pair(x, y, metric="shape_metric")
    return math.acos(_nuclear_cosine(_partial_whiten(x, float(alpha), "x"), _partial_whiten(y, float(alpha), "y")))


def aligned_cosine(x: Any, y: Any) -> float:
    """Mean cosine similarity of each sample's two representations after rotating centred ``x`` onto centred ``y``.

    Samples whose centred representation is zero on either side have no direction and are left out.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
        >>> q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(1)))
        >>> round(aligned_cosine(x, 2 * x @ q - 1), 6)
        1.0
    """
    x, y = prepare_pair(x, y, metric="aligned_cosine")
    p = centred_products(x, y)
    u, _, vt = torch.linalg.svd(p.xy, full_matrices=False)
    rotation = u @ vt  # (d1, d2): the orthogonal map of x's centred space onto y's
    xc = x.to(torch.float64) - x.to(torch.float64).mean(0)
    yc = y.to(torch.float64) - y.to(torch.float64).mean(0)
    xr = xc @ rotation
    # |x_i|, not |x_i R|: as with zero-padding to a square rotation, which keeps every norm (and the measure
    # symmetric) when the widths differ.
    nx, ny = xc.norm(dim=1), yc.norm(dim=1)
    keep = (nx > TINY * float(nx.max())) & (ny > TINY * float(ny.max()))
    cos = (xr[keep] * yc[keep]).sum(1) / (nx[keep] * ny[keep])
    return float(cos.mean().clamp(-1.0, 1.0))


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
    corr = _unit_correlations(x, y, "permutation_match").cpu().numpy()
    rows, cols = linear_sum_assignment(corr, maximize=True)
    return float(corr[rows, cols].mean())


def _unit_correlations(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    p = centred_products(x, y, col_norms=True)
    sx, sy = _column_norms(p.cx, "x", metric), _column_norms(p.cy, "y", metric)
    return (p.xy / sx[:, None] / sy[None, :]).clamp(-1.0, 1.0)


def soft_correlation_match(x: Any, y: Any) -> float:
    """Each unit's best Pearson correlation with any unit of the other side, averaged, then over both directions.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
        >>> round(soft_correlation_match(x, torch.cat([x, x[:, :1]], 1) * 3), 6)
        1.0
    """
    x, y = prepare_pair(x, y, metric="soft_correlation_match")
    corr = _unit_correlations(x, y, "soft_correlation_match")
    return float((corr.max(1).values.mean() + corr.max(0).values.mean()) / 2)


def _column_norms(squares: torch.Tensor, name: str, metric: str = "permutation_match") -> torch.Tensor:
    norms = torch.sqrt(squares)
    dead = (norms <= TINY * max(1.0, float(norms.max()))).nonzero().flatten()
    if len(dead):
        raise ValueError(
            f"{metric}: {name} has {len(dead)} constant unit(s) (first: column {int(dead[0])}); "
            "their correlation is undefined — drop constant columns first"
        )
    return norms
