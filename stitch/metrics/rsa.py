"""Representational similarity analysis (Kriegeskorte et al., 2008).

Each space becomes a representational dissimilarity matrix (RDM): the ``n (n - 1) / 2`` pairwise
distances between samples (upper triangle). RSA is the Pearson or Spearman (average ranks for ties)
correlation of the two RDMs. The RDM has O(n^2) entries: use a few thousand samples.
"""

from __future__ import annotations

from typing import Any

import torch

from stitch.utils.checks import check_choice
from stitch.utils.numerics import rows_per_chunk
from stitch.metrics._base import prepare_pair
from stitch.metrics._shared import per_model

__all__ = ["rdm", "rsa", "rsa_pearson", "rsa_spearman", "rsm_norm_difference", "distance_correlation"]

RDM_METRICS = ("euclidean", "correlation", "cosine")


@per_model("rdm")
def rdm(x: Any, metric: str = "euclidean") -> torch.Tensor:
    """Upper-triangle pairwise dissimilarities (row-major, ``i < j``), in float64.

    ``euclidean``: distance; ``correlation``: 1 - Pearson correlation between samples; ``cosine``:
    1 - cosine similarity.

    Shapes:
        x: ``(n, d)``  ->  ``(n * (n - 1) / 2,)``

    Example:
        >>> rdm([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]).tolist()
        [5.0, 1.0, 4.242640687119285]
    """
    from stitch.utils.checks import as_matrix

    check_choice(metric, RDM_METRICS, "RDM metric")
    z = as_matrix(x, "x").to(torch.float64)
    if metric != "euclidean":
        if metric == "correlation":
            z = z - z.mean(1, keepdim=True)
        norms = z.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            row = int((norms.flatten() == 0).nonzero()[0])
            after = " after centring" if metric == "correlation" else ""
            raise ValueError(f"{metric} RDM undefined: row {row} has zero norm{after}")
        z = z / norms
    n = len(z)
    out = torch.empty(n * (n - 1) // 2, dtype=torch.float64, device=z.device)
    # Row blocks against the rows after them: the n x n matrix and its triu indices never exist.
    block = rows_per_chunk(n, bytes_per_row=3 * 8 * max(n, 1))  # distances, the mask and the kept values
    pos = 0
    for s in range(0, n - 1, block):
        q, rest = z[s : s + block], z[s:]
        d = torch.cdist(q, rest) if metric == "euclidean" else 1.0 - q @ rest.T
        keep = torch.arange(len(rest), device=z.device)[None, :] > torch.arange(len(q), device=z.device)[:, None]
        vals = d[keep]
        out[pos : pos + len(vals)] = vals
        pos += len(vals)
    return out


def _average_ranks(v: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(v, stable=True)
    _, inverse, counts = torch.unique_consecutive(v[order], return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    mean_rank = ends - (counts.to(torch.float64) - 1) / 2  # 1-based average rank of each tie group
    ranks = torch.empty_like(v, dtype=torch.float64)
    ranks[order] = mean_rank[inverse]
    return ranks


@per_model("rdm_ranks")
def _rdm_ranks(x: torch.Tensor, metric: str) -> torch.Tensor:
    return _average_ranks(rdm(x, metric))


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = torch.sqrt((a * a).sum() * (b * b).sum())
    if denom == 0:
        raise ValueError("RSA undefined: one RDM is constant (all pairwise distances equal)")
    return float(((a * b).sum() / denom).clamp(-1.0, 1.0))


def rsa(x: Any, y: Any, *, method: str = "spearman", rdm_metric: str = "euclidean") -> float:
    """Correlation between the two RDMs (``method`` ``"spearman"`` or ``"pearson"``).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n >= 3``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
        >>> round(rsa(x, 5 * x + 2), 6)
        1.0
    """
    check_choice(method, ("spearman", "pearson"), "RSA correlation")
    x, y = prepare_pair(x, y, min_samples=3, metric="rsa")
    if method == "spearman":
        return _pearson(_rdm_ranks(x, rdm_metric), _rdm_ranks(y, rdm_metric))
    return _pearson(rdm(x, rdm_metric), rdm(y, rdm_metric))


def rsa_spearman(x: Any, y: Any, *, rdm_metric: str = "euclidean") -> float:
    """Spearman correlation of Euclidean RDMs (see :func:`rsa`).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
        >>> round(rsa_spearman(x, x ** 3), 2) > 0.5
        True
    """
    return rsa(x, y, method="spearman", rdm_metric=rdm_metric)


def rsa_pearson(x: Any, y: Any, *, rdm_metric: str = "euclidean") -> float:
    """Pearson correlation of Euclidean RDMs (see :func:`rsa`).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
        >>> round(rsa_pearson(x, -x), 6)
        1.0
    """
    return rsa(x, y, method="pearson", rdm_metric=rdm_metric)


def rsm_norm_difference(x: Any, y: Any) -> float:
    """Frobenius norm of the difference of the two Euclidean distance matrices (Shahbazi et al., 2021).

    Computed on the ``n (n - 1) / 2`` distinct pairs (times ``sqrt(2)`` for the full symmetric matrix). ReSi
    reports the spectral norm of the same difference instead; both are metrics on RDMs.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float ``>= 0``

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
        >>> q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
        >>> rsm_norm_difference(x, x @ q + 4) < 1e-4  # float32 rounding of the rotation
        True
    """
    x, y = prepare_pair(x, y, min_samples=2, metric="rsm_norm_difference")
    return float((rdm(x) - rdm(y)).norm()) * 2**0.5


@per_model("distance_stats")
def _double_centred_stats(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The centred float64 latents, the row means of their distance matrix and its grand mean, one blocked
    pass (the matrix is never held)."""
    # centred first: the distances are the same, and cdist's GEMM form cancels less
    z = z.to(torch.float64)
    z = z - z.mean(0)
    n = len(z)
    step = rows_per_chunk(n, bytes_per_row=8 * n)
    row_mean = torch.empty(n, dtype=torch.float64, device=z.device)
    for s in range(0, n, step):
        row_mean[s : s + step] = torch.cdist(z[s : s + step], z).mean(1)
    return z, row_mean, float(row_mean.mean())


def distance_correlation(x: Any, y: Any) -> float:
    """Distance correlation (Szekely, Rizzo & Bakirov, 2007): 0 iff independent (in the population), 1 for similar shapes.

    ``dCor^2 = dCov^2(x, y) / sqrt(dVar^2(x) dVar^2(y))`` from the double-centred Euclidean distance
    matrices (V-statistics), streamed in row blocks: two passes over the pairs, no ``n x n`` matrix held.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        >>> round(distance_correlation(x, -2 * x + 1), 6)
        1.0
    """
    x, y = prepare_pair(x, y, min_samples=2, metric="distance_correlation")
    (x, rx, gx), (y, ry, gy) = _double_centred_stats(x), _double_centred_stats(y)
    n = len(x)
    step = rows_per_chunk(n, bytes_per_row=4 * 8 * n)
    xy = xx = yy = 0.0
    for s in range(0, n, step):
        a = torch.cdist(x[s : s + step], x) - rx[s : s + step, None] - rx[None, :] + gx
        b = torch.cdist(y[s : s + step], y) - ry[s : s + step, None] - ry[None, :] + gy
        xy += float((a * b).sum())
        xx += float((a * a).sum())
        yy += float((b * b).sum())
    if xx <= 0 or yy <= 0:
        raise ValueError("distance_correlation: one side has zero distance variance (all samples coincide)")
    return float(max(0.0, xy) / (xx * yy) ** 0.5) ** 0.5
