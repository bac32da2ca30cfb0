"""Predictive measures: how well one space predicts the other.

* ``linear_r2``: cross-validated ridge regression from ``x`` to ``y``; out-of-fold predictions give
  ``R^2 = 1 - sum ||y - y_hat||^2 / sum ||y - mean(y)||^2`` (sklearn's ``variance_weighted`` R^2).
  The ridge penalty is relative, ``alpha * trace(Xc^T Xc) / d1``, so rescaling ``x`` changes nothing.
  Asymmetric by nature.
* ``stitching_score``: zero-shot stitching accuracy (needs labels). Both spaces are re-described by
  their cosine relative representations to the same anchor samples (Moschella et al., ICLR 2023), each
  standardised with its own training-row statistics; a logistic regression fitted on ``x``'s relative
  representation of the training rows classifies ``y``'s relative representation of the held-out rows.
* ``gulp``: the GULP distance (Boix-Adsera et al., NeurIPS 2022) between the best ridge predictors of
  *every* linear target from either space: ``sqrt(tr(Pa^2) + tr(Pb^2) - 2 tr(Ra Cab Rb Cba))`` with
  ``Ra = (Ca + lam I)^-1`` and ``Pa = Ca Ra`` on centred sides scaled to ``||X||_F^2 = n`` (as in ReSi);
  ``lam = 0`` uses pseudo-inverses and is invariant to any invertible affine map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stitch.utils.checks import check_positive_int
from stitch.utils.numerics import TINY
from stitch.metrics._base import as_numpy_labels, centred_products, prepare_pair

__all__ = ["linear_r2", "stitching_score", "gulp"]


def _folds(n: int, n_folds: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(int(seed))
    return list(torch.randperm(n, generator=g).tensor_split(n_folds))


def linear_r2(x: Any, y: Any, *, alpha: float = 1e-6, n_folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R^2 of ridge regression predicting ``y`` from ``x`` (1 = perfect linear prediction).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``(-inf, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
        >>> linear_r2(x, x @ torch.randn(5, 3, generator=torch.Generator().manual_seed(1)) + 4) > 0.999
        True
    """
    n_folds = check_positive_int(n_folds, "n_folds")
    if n_folds < 2:
        raise ValueError(f"linear_r2 needs n_folds >= 2 for held-out predictions, got {n_folds}")
    if not alpha >= 0:
        raise ValueError(f"linear_r2 alpha must be >= 0, got {alpha!r}")
    x, y = prepare_pair(x, y, min_samples=2 * n_folds, metric="linear_r2")
    x, y = x.to(torch.float64), y.to(torch.float64)
    sse = 0.0
    for test in _folds(len(x), n_folds, seed):
        train = torch.ones(len(x), dtype=torch.bool)
        train[test] = False
        xt, yt = x[train], y[train]
        mx, my = xt.mean(0), yt.mean(0)
        xc = xt - mx
        gram = xc.T @ xc
        ridge = alpha * torch.trace(gram) / x.shape[1]
        gram.diagonal().add_(ridge if ridge > 0 else TINY * float(torch.trace(gram)))
        w = torch.linalg.solve(gram, xc.T @ (yt - my))
        resid = y[test] - ((x[test] - mx) @ w + my)
        sse += float((resid * resid).sum())
    sst = float(((y - y.mean(0)) ** 2).sum())
    return 1.0 - sse / sst


def stitching_score(
    x: Any, y: Any, *, labels: Any, n_anchors: int = 300, test_fraction: float = 0.5, seed: int = 0
) -> float:
    """Zero-shot stitching accuracy: a classifier trained on ``x``'s relative space, tested on ``y``'s.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, labels: ``(n,)``  ->  accuracy in ``[0, 1]``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> labels = torch.arange(200) % 2
        >>> x = torch.randn(200, 8, generator=g) + 3 * labels[:, None]
        >>> stitching_score(x, 2 * x, labels=labels, n_anchors=20) > 0.9
        True
    """
    from sklearn.linear_model import LogisticRegression

    from stitch.metrics.neighbors import relative_pair

    x, y = prepare_pair(x, y, min_samples=4, metric="stitching_score")
    lab = as_numpy_labels(labels, len(x))
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(x), generator=g).numpy()
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = perm[:n_test], perm[n_test:]
    if len(np.unique(lab[train])) < 2:
        raise ValueError("stitching_score needs at least two classes among the training rows; pass more samples")
    rx, ry = relative_pair(x, y, n_anchors=n_anchors, seed=seed)

    def standardise(r: torch.Tensor) -> np.ndarray:
        r = r.to(torch.float64).numpy()
        mean, std = r[train].mean(0), r[train].std(0)
        return (r - mean) / np.where(std > 0, std, 1.0)

    clf = LogisticRegression(max_iter=1000).fit(standardise(rx)[train], lab[train])
    return float((clf.predict(standardise(ry)[test]) == lab[test]).mean())


def _ridge_inverse(cov: torch.Tensor, lam: float, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``((C + lam I)^-1, eigenvalues of C (C + lam I)^-1)``; with ``lam = 0`` the pseudo-inverse (numpy's rank rule)."""
    evals, evecs = torch.linalg.eigh(cov)
    evals = evals.clamp_min(0.0)
    if lam > 0:
        inv = 1.0 / (evals + lam)
    else:
        tol = float(evals.max()) * len(evals) * eps
        inv = torch.where(evals > tol, 1.0 / evals.clamp_min(torch.finfo(evals.dtype).tiny), 0.0)
    return (evecs * inv) @ evecs.T, evals * inv


def gulp(x: Any, y: Any, *, lam: float = 0.0) -> float:
    """GULP distance between the spaces' linear predictors (0 = every linear target is predicted alike).

    Args:
        lam: ridge penalty (``>= 0``); 0 compares the column spaces (CCA-like), larger values weigh the
            high-variance directions more.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float ``>= 0``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(80, 4, generator=g, dtype=torch.float64)
        >>> gulp(x, x @ torch.randn(4, 4, generator=g, dtype=torch.float64) + 3) < 1e-6
        True
    """
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
        raise ValueError(f"gulp lam must be a number >= 0 (the ridge penalty), got {lam!r}")
    x, y = prepare_pair(x, y, metric="gulp")
    # the distance is the square root of a difference that cancels to 0 for equivalent spaces, so float32
    # products leave a floor of sqrt(eps32) ~ 1e-3: the products are taken in float64
    x, y = x.to(torch.float64), y.to(torch.float64)
    p = centred_products(x, y, grams=True, col_norms=True)
    fx, fy = float(p.cx.sum()), float(p.cy.sum())  # ||Xc||_F^2: scaling each side to ||X||_F^2 = n
    eps = torch.finfo(x.dtype).eps
    ra, pa = _ridge_inverse(p.xx / fx, float(lam), eps)
    rb, pb = _ridge_inverse(p.yy / fy, float(lam), eps)
    cab = p.xy / (fx * fy) ** 0.5
    cross = float(((ra @ cab) * (cab @ rb)).sum())  # tr(Ra Cab Rb Cba)
    return max(0.0, float(pa.square().sum() + pb.square().sum()) - 2.0 * cross) ** 0.5
