"""Canonical correlation analysis family: mean CCA, SVCCA (Raghu et al., 2017), PWCCA (Morcos et al., 2018).

Canonical correlations are the singular values of ``Ux^T Uy`` where ``Ux``, ``Uy`` are orthonormal bases
of the centred column spaces (computed in float64). Plain CCA needs full column rank (more samples than
features, no redundant features) and raises otherwise; SVCCA first keeps the top principal directions.
"""

from __future__ import annotations

from typing import Any

import torch

from stitch.metrics._base import centered, check_full_rank, prepare_pair

__all__ = ["mean_cca", "svcca", "pwcca", "canonical_correlations", "eigenspace_overlap"]


def canonical_correlations(x: Any, y: Any) -> torch.Tensor:
    """Canonical correlations, largest first.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` with ``n > max(d1, d2)``  ->  ``(min(d1, d2),)`` float64 in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
        >>> w = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
        >>> canonical_correlations(x, x @ w).round(decimals=6)
        tensor([1., 1., 1.], dtype=torch.float64)
    """
    x, y = prepare_pair(x, y, metric="CCA")
    return _rho(x, y, "CCA")[0]


def _rho(x: torch.Tensor, y: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ux = check_full_rank(centered(x), "x", metric, input_dtype=x.dtype)
    uy = check_full_rank(centered(y), "y", metric, input_dtype=y.dtype)
    a, rho, _ = torch.linalg.svd(ux.T @ uy, full_matrices=False)
    return rho.clamp(0.0, 1.0), ux, a


def mean_cca(x: Any, y: Any) -> float:
    """Mean canonical correlation over ``min(d1, d2)`` directions; invariant to any invertible affine map.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` with ``n > max(d1, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        >>> round(mean_cca(x, x + 1), 6)
        1.0
    """
    x, y = prepare_pair(x, y, min_samples=3, metric="mean_cca")
    return float(_rho(x, y, "mean_cca")[0].mean())


def _top_directions(xc: torch.Tensor, keep: float, input_dtype: torch.dtype) -> torch.Tensor:
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    var = s**2
    frac = torch.cumsum(var, 0) / var.sum()
    k = int(torch.searchsorted(frac, torch.tensor(keep, dtype=frac.dtype)).item()) + 1
    # never keep numerically null directions (keep=1.0 on rank-deficient data)
    k = min(k, int((s > s[0] * max(xc.shape) * torch.finfo(input_dtype).eps).sum()))
    return u[:, :k] * s[:k]


def svcca(x: Any, y: Any, *, keep: float = 0.99) -> float:
    """SVCCA: keep the principal directions explaining ``keep`` of the variance on each side, then mean CCA.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        >>> round(svcca(x, 2 * x), 6)
        1.0
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"svcca keep must be a variance fraction in (0, 1], got {keep!r}")
    x, y = prepare_pair(x, y, min_samples=3, metric="svcca")
    xr, yr = _top_directions(centered(x), keep, x.dtype), _top_directions(centered(y), keep, y.dtype)
    return float(_rho(xr, yr, "svcca")[0].mean())


def pwcca(x: Any, y: Any) -> float:
    """Projection-weighted CCA (Morcos et al., 2018): canonical correlations weighted by their share of ``x``.

    Each canonical direction is weighted by how much of ``x``'s units it accounts for; asymmetric, since
    the weights come from ``x``.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` with ``n > max(d1, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        >>> round(pwcca(x, x - 5), 6)
        1.0
    """
    x, y = prepare_pair(x, y, min_samples=3, metric="pwcca")
    rho, ux, a = _rho(x, y, "pwcca")
    h = ux @ a  # canonical variates of x, unit norm: (n, c)
    xc = centered(x)
    weights = (h.T @ xc).abs().sum(1)  # sum over neurons of |<h_i, x_j>|
    weights = weights / weights.sum()
    return float((weights * rho).sum())


def _column_space(z: torch.Tensor) -> torch.Tensor:
    # Orthonormal basis of the (uncentred) column space, rank by numpy's matrix_rank rule at the input precision.
    u, s, _ = torch.linalg.svd(z.to(torch.float64), full_matrices=False)
    tol = float(s[0]) * max(z.shape) * torch.finfo(z.dtype).eps
    return u[:, : int((s > tol).sum())]


def eigenspace_overlap(x: Any, y: Any) -> float:
    """Eigenspace overlap score (May et al., NeurIPS 2019): ``||Ux^T Uy||_F^2 / max(d1, d2)``.

    ``Ux``, ``Uy`` are orthonormal bases of the column spaces of the (uncentred) latents, as in ReSi: 1 when
    one space spans the other, whatever invertible map relates them.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
        >>> round(eigenspace_overlap(x, x @ torch.randn(4, 4, generator=torch.Generator().manual_seed(1))), 6)
        1.0
    """
    x, y = prepare_pair(x, y, metric="eigenspace_overlap")
    ux, uy = _column_space(x), _column_space(y)
    return float((ux.T @ uy).square().sum()) / max(x.shape[1], y.shape[1])
