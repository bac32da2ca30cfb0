"""The least-squares solvers every linear map in the core is fitted with (translators and the invariance probe).

All take float64 tensors (callers convert) and return float64.

* :func:`orthogonal_procrustes` — ``argmin_Q |x Q - y|_F`` over (semi-)orthogonal ``Q``, from the SVD of ``x^T y``;
* :func:`min_norm_lstsq` — the minimum-norm least-squares solution ``pinv(x) y`` through the smaller Gram
  matrix (``x^T x`` or ``x x^T``): eigenvalues below :data:`~stitch.utils.numerics.TINY` of the largest (singular
  values below ``1e-6`` of the largest) count as zero, which float64 absorbs;
* :func:`ridge_solve` — ``argmin_W |x W - y|^2 + alpha |W|^2`` in primal or dual form, whichever is smaller.
"""

from __future__ import annotations

import torch

from stitch.utils.numerics import TINY

__all__ = ["orthogonal_procrustes", "min_norm_lstsq", "ridge_solve"]


def orthogonal_procrustes(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Q, s)``: the (semi-)orthogonal ``Q`` minimising ``|x Q - y|_F`` and the singular values of ``x^T y``.

    With widths ``d1 != d2``, ``Q`` has orthonormal rows or columns (an isometry onto a subspace). Directions
    the rows leave undetermined (``x^T y`` has rank ``r`` below the widths: fewer rows than dimensions, or
    centred rows) map to zero: ``Q = U_r V_r^T``, the thin solution. The full SVD would rotate them arbitrarily,
    so a space fitted onto itself from 32 of 64 dimensions' worth of rows sent held-out rows 1.07 of their norm
    away; the thin map keeps the determined part exactly (error 0.72, the undetermined share of the norm).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` -> Q ``(d1, d2)``, s ``(min(d1, d2),)``

    Example:
        >>> x = torch.randn(20, 3, dtype=torch.float64)
        >>> q0, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
        >>> q, _ = orthogonal_procrustes(x, x @ q0)
        >>> torch.allclose(q, q0)
        True
    """
    u, s, vh = torch.linalg.svd(x.T @ y, full_matrices=False)
    tol = float(s.max()) * max(x.shape[1], y.shape[1]) * torch.finfo(s.dtype).eps if s.numel() else 0.0
    rank = int((s > tol).sum())
    return u[:, :rank] @ vh[:rank], s


def similarity_procrustes(x: torch.Tensor, y: torch.Tensor, *, center: bool = True,
                          scale: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """``(coef, intercept, Q, s)`` of ``y ≈ s (x - μx) Q + μy = x coef + intercept`` in least squares.

    ``Q`` comes from :func:`orthogonal_procrustes` on the centred rows (``center=False``: raw rows), ``s`` is
    the least-squares global scale (``scale=False``: 1).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` -> coef ``(d1, d2)``, intercept ``(d2,)``, Q ``(d1, d2)``

    Example:
        >>> x = torch.randn(30, 3, dtype=torch.float64)
        >>> q0, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
        >>> coef, intercept, _, s = similarity_procrustes(x, 2 * x @ q0 + 1)
        >>> torch.allclose(x @ coef + intercept, 2 * x @ q0 + 1), round(s, 6)
        (True, 2.0)
    """
    mean_in = x.mean(0) if center else torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    mean_out = y.mean(0) if center else torch.zeros(y.shape[1], dtype=y.dtype, device=y.device)
    xc, yc = x - mean_in, y - mean_out
    rotation, singular = orthogonal_procrustes(xc, yc)
    norm = float((xc**2).sum())
    s = float(singular.sum()) / norm if scale and norm > 0 else 1.0
    coef = s * rotation
    return coef, mean_out - mean_in @ coef, rotation, s


def _pinv_psd(gram: torch.Tensor) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(gram)
    cutoff = float(evals.max()) * TINY if evals.numel() else 0.0
    inv = torch.where(evals > cutoff, 1.0 / evals.clamp(min=torch.finfo(gram.dtype).tiny), torch.zeros_like(evals))
    return (evecs * inv) @ evecs.T


def min_norm_lstsq(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares ``W = pinv(x) y`` (exact when ``y = x W`` has a solution).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` -> ``(d1, d2)``

    Example:
        >>> x, w = torch.randn(30, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        >>> torch.allclose(min_norm_lstsq(x, x @ w), w)
        True
    """
    n, d = x.shape
    if d <= n:
        return _pinv_psd(x.T @ x) @ (x.T @ y)
    return x.T @ (_pinv_psd(x @ x.T) @ y)


def ridge_solve(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """``argmin_W |x W - y|^2 + alpha |W|^2`` (``alpha > 0``), primal ``(d, d)`` or dual ``(n, n)`` system.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` -> ``(d1, d2)``

    Example:
        >>> x = torch.randn(20, 3, dtype=torch.float64)
        >>> bool(ridge_solve(x, x, 1e8).abs().max() < 1e-5)
        True
    """
    if alpha <= 0:
        return min_norm_lstsq(x, y)
    n, d = x.shape
    if d <= n:
        gram = x.T @ x + alpha * torch.eye(d, dtype=x.dtype, device=x.device)
        return torch.linalg.solve(gram, x.T @ y)
    gram = x @ x.T + alpha * torch.eye(n, dtype=x.dtype, device=x.device)
    return x.T @ torch.linalg.solve(gram, y)
