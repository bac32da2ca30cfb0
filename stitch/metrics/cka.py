"""Centered kernel alignment (Kornblith et al., ICML 2019) and its debiased and streaming variants.

* ``linear_cka``: biased HSIC with linear kernels. ``method="feature"`` computes
  ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` in O(n d^2) time and O(d^2) memory (rows are
  streamed in blocks: GEMMs in the input precision, accumulated in float64, see
  :func:`~stitch.metrics._base.centred_products`); ``method="gram"`` builds the centred ``n x n`` Gram
  matrices (O(n^2 d)); ``"auto"`` picks the cheaper one.
* ``rbf_cka``: Gaussian kernels, bandwidth ``sigma^2 = threshold^2 * median(squared pairwise distances)``
  taken over all ``n^2`` pairs including the zero diagonal, as in Kornblith et al.'s reference code.
* ``debiased_cka``: linear kernels with the unbiased HSIC estimator of Song et al. (JMLR 2012, eq. 5),
  as proposed for CKA by Nguyen et al. (ICLR 2021); needs ``n >= 4``; can be negative.
* :class:`StreamingCKA` / ``minibatch_cka``: the minibatch CKA of Nguyen et al. (2021): unbiased HSIC is
  accumulated over batches and CKA is the ratio of the batch averages. Over a single batch it equals
  ``debiased_cka``; it is independent of the order in which batches arrive.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from stitch.utils.checks import check_choice, check_positive_int
from stitch.metrics._base import CentredProducts, centered, centred_products, prepare_pair, row_blocks

__all__ = ["linear_cka", "rbf_cka", "debiased_cka", "minibatch_cka", "StreamingCKA"]

def _use_feature_form(n: int, d1: int, d2: int) -> bool:
    return d1 * d1 + d2 * d2 + d1 * d2 <= n * (d1 + d2)


def _centered_gram(x: torch.Tensor) -> torch.Tensor:
    xc = centered(x)
    return xc @ xc.T


def _cka_from_grams(k: torch.Tensor, l: torch.Tensor) -> float:
    # k and l must already be double-centred (H K H).
    hxy = (k * l).sum()
    denom = torch.sqrt((k * k).sum() * (l * l).sum())
    return float((hxy / denom).clamp(0.0, 1.0))


def linear_cka(x: Any, y: Any, *, method: str = "auto") -> float:
    """Linear CKA between paired latents (1 = identical up to rotation and scale, 0 = unrelated).

    Args:
        x, y: paired latents (torch or numpy), one row per sample.
        method: ``"feature"`` (O(n d^2)), ``"gram"`` (O(n^2 d)) or ``"auto"`` (the cheaper one).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
        >>> round(linear_cka(x, 3 * x + 1), 6)
        1.0
    """
    check_choice(method, ("auto", "feature", "gram"), "linear CKA method")
    x, y = prepare_pair(x, y, metric="linear_cka")
    n, d1, d2 = len(x), x.shape[1], y.shape[1]
    if method == "gram" or (method == "auto" and not _use_feature_form(n, d1, d2)):
        return _cka_from_grams(_centered_gram(x), _centered_gram(y))
    s = centred_products(x, y, grams=True)
    hxy = (s.xy**2).sum()
    denom = torch.sqrt((s.xx**2).sum() * (s.yy**2).sum())
    return float((hxy / denom).clamp(0.0, 1.0))


def rbf_cka(x: Any, y: Any, *, threshold: float = 1.0) -> float:
    """CKA with Gaussian (RBF) kernels; bandwidth ``sigma^2 = threshold^2 * median squared distance``.

    Builds two ``n x n`` kernel matrices: use it for a few thousand samples at most.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
        >>> round(rbf_cka(x, 2 * x), 6)
        1.0
    """
    if not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ValueError(f"rbf_cka threshold must be a positive number, got {threshold!r}")
    x, y = prepare_pair(x, y, metric="rbf_cka")

    def kernel(z: torch.Tensor) -> torch.Tensor:
        zc = centered(z)
        sq = (zc * zc).sum(1)
        d2 = (sq[:, None] + sq[None, :] - 2 * zc @ zc.T).clamp_min(0.0)
        med = _median(d2.flatten())
        if med <= 0:  # more than half the pairs coincide
            med = _median(d2[d2 > 0])
        k = torch.exp(-d2 / (2 * threshold**2 * med))
        k = k - k.mean(0, keepdim=True)
        return k - k.mean(1, keepdim=True)

    return _cka_from_grams(kernel(x), kernel(y))


def _median(v: torch.Tensor) -> torch.Tensor:
    # numpy's median (mean of the two middle values); torch.median returns the lower one.
    m = len(v)
    lo = torch.kthvalue(v, (m + 1) // 2).values
    return lo if m % 2 else (lo + torch.kthvalue(v, m // 2 + 1).values) / 2


def _unbiased_hsic_feature(s: CentredProducts, n: int) -> tuple[float, float, float]:
    # Song et al. (2012) eq. 5 with linear kernels on centred features (the estimator is
    # translation-invariant, so centring is free). With K~ = XX^T - diag(r): 1^T K~ 1 = -sum(r) and
    # K~ 1 = -r, so every term reduces to d x d products and the row norms r, s.
    def hsic(cross_sq: torch.Tensor, r: torch.Tensor, q: torch.Tensor) -> float:
        rq = r @ q
        val = cross_sq - rq + r.sum() * q.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * rq
        return float(val / (n * (n - 3)))

    return (
        hsic((s.xy**2).sum(), s.rx, s.ry),
        hsic((s.xx**2).sum(), s.rx, s.rx),
        hsic((s.yy**2).sum(), s.ry, s.ry),
    )


def _unbiased_hsic_gram(k: torch.Tensor, l: torch.Tensor) -> float:
    n = k.shape[0]
    k = k - torch.diag(torch.diagonal(k))
    l = l - torch.diag(torch.diagonal(l))
    val = (k * l).sum() + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k.sum(0) @ l.sum(0))
    return float(val / (n * (n - 3)))


def _ratio(hxy: float, hxx: float, hyy: float, what: str) -> float:
    if hxx <= 0 or hyy <= 0:
        raise ValueError(
            f"{what}: the unbiased HSIC of {'x' if hxx <= 0 else 'y'} with itself is {min(hxx, hyy):.3g} <= 0, "
            "so CKA is undefined; this happens with very few samples or near-constant latents — use more samples"
        )
    return max(-1.0, min(1.0, hxy / math.sqrt(hxx * hyy)))


def debiased_cka(x: Any, y: Any, *, method: str = "auto") -> float:
    """Debiased linear CKA: unbiased HSIC (Song et al., 2012) in place of the biased estimator.

    Removes the upward bias of linear CKA when ``d`` is large relative to ``n``; unrelated spaces score
    near 0 (and may score slightly below). Needs at least 4 samples.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n >= 4``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
        >>> round(debiased_cka(x, -x), 6)
        1.0
    """
    check_choice(method, ("auto", "feature", "gram"), "debiased CKA method")
    x, y = prepare_pair(x, y, min_samples=4, metric="debiased_cka")
    n, d1, d2 = len(x), x.shape[1], y.shape[1]
    if method == "gram" or (method == "auto" and not _use_feature_form(n, d1, d2)):
        k, l = centered(x) @ centered(x).T, centered(y) @ centered(y).T
        stats = (_unbiased_hsic_gram(k, l), _unbiased_hsic_gram(k, k), _unbiased_hsic_gram(l, l))
    else:
        stats = _unbiased_hsic_feature(centred_products(x, y, grams=True, row_norms=True), n)
    return _ratio(*stats, what="debiased_cka")


class StreamingCKA:
    """Minibatch CKA (Nguyen et al., 2021): unbiased HSIC averaged over batches, then the CKA ratio.

    Memory is O(d^2) per batch whatever the number of batches; batches may differ in size (>= 4 rows
    each). Over one batch the result equals :func:`debiased_cka`; it does not depend on batch order.

    Shapes:
        update(x, y): x ``(b, d1)``, y ``(b, d2)``;  compute()  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(64, 6, generator=g); y = x @ torch.randn(6, 3, generator=g)
        >>> cka = StreamingCKA()
        >>> for s in range(0, 64, 16):
        ...     _ = cka.update(x[s:s + 16], y[s:s + 16])
        >>> 0 < cka.compute() <= 1
        True
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        self.sums_ = [0.0, 0.0, 0.0]
        self.n_batches_ = 0

    def update(self, x: Any, y: Any) -> StreamingCKA:
        """Add one batch of paired rows."""
        x, y = prepare_pair(x, y, min_samples=4, metric="StreamingCKA batch")
        for i, v in enumerate(_unbiased_hsic_feature(centred_products(x, y, grams=True, row_norms=True), len(x))):
            self.sums_[i] += v
        self.n_batches_ += 1
        return self

    def compute(self) -> float:
        """CKA of the batch-averaged unbiased HSIC values."""
        if self.n_batches_ == 0:
            raise ValueError("StreamingCKA.compute() called before any update(x, y); feed at least one batch")
        return _ratio(*self.sums_, what="StreamingCKA")


def minibatch_cka(x: Any, y: Any, *, batch_size: int = 512) -> float:
    """Minibatch CKA over consecutive row batches of ``batch_size`` (a last batch under 4 rows joins the previous).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
        >>> round(minibatch_cka(x, 2 * x, batch_size=32), 6)
        1.0
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size < 4:
        raise ValueError(f"minibatch_cka batch_size must be >= 4 (unbiased HSIC needs 4 samples), got {batch_size}")
    x, y = prepare_pair(x, y, min_samples=4, metric="minibatch_cka")
    starts = list(row_blocks(len(x), batch_size))
    if len(starts) > 1 and len(x) - starts[-1] < 4:
        starts.pop()
    ends = [*starts[1:], len(x)]
    acc = StreamingCKA()
    for s, e in zip(starts, ends):
        acc.update(x[s:e], y[s:e])
    return acc.compute()
