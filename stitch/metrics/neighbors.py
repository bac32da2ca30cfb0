"""Neighbourhood measures, computed in row blocks so that no ``n x n`` matrix is ever held in memory.

Peak memory is O(n * block): each block of ``block`` query rows is scored against all ``n`` rows, reduced
to its top-``k`` (or to ranks) and dropped. ``block=None`` picks the block so a score block stays near
64 MiB. Ties between exactly equal distances are broken by ``torch.topk``.

* ``mutual_knn``: mean Jaccard index of each sample's k-NN sets in the two spaces (self excluded), with
  the chance level of unrelated spaces (:func:`knn_jaccard_chance`) reported beside it.
* ``cycle_knn``: fraction of samples ``i`` that some ``y``-neighbour ``j`` of ``i`` has among its own
  ``x``-neighbours (Huh et al., ICML 2024); asymmetric.
* ``retrieval_mrr``: each sample's relative representation (cosine to shared anchors; Moschella et al.,
  ICLR 2023) in ``x`` queries all relative representations in ``y``; mean reciprocal rank of its own match.
* ``relrep_cosine``: mean cosine between a sample's relative representations in the two spaces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from stitch.utils.checks import check_choice, check_positive_int, compute_dtype
from stitch.metrics._base import prepare_pair, row_blocks

__all__ = [
    "knn_indices",
    "mutual_knn",
    "knn_jaccard_chance",
    "cycle_knn",
    "cycle_knn_chance",
    "retrieval_mrr",
    "mrr_chance",
    "relrep_cosine",
    "relative_pair",
]

_BLOCK_BYTES = 64 * 2**20


def _block_rows(n: int, block: int | None) -> int:
    if block is None:
        return max(1, min(n, _BLOCK_BYTES // (8 * max(n, 1))))
    return check_positive_int(block, "block")


def knn_indices(x: Any, k: int, *, metric: str = "euclidean", block: int | None = None) -> torch.Tensor:
    """Indices of each row's ``k`` nearest other rows (self excluded), nearest first, in row blocks.

    Shapes:
        x: ``(n, d)``  ->  ``(n, k)`` int64

    Example:
        >>> knn_indices([[0.0], [1.0], [3.0], [7.0]], 1).flatten().tolist()
        [1, 0, 1, 2]
    """
    from stitch.utils.checks import as_matrix

    check_choice(metric, ("euclidean", "cosine"), "k-NN metric")
    z = as_matrix(x, "x")
    z = z.to(compute_dtype(z))
    n = len(z)
    k = _check_k(k, n)
    if metric == "cosine":
        norms = z.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError(f"cosine k-NN undefined: row {int((norms.flatten() == 0).nonzero()[0])} is all zeros")
        z = z / norms
        bias = torch.zeros(n, dtype=z.dtype)
    else:
        z = z - z.mean(0, keepdim=True)  # smaller norms, less cancellation in ||a||^2 - 2ab + ||b||^2
        bias = -(z * z).sum(1)
    b = _block_rows(n, block)
    out = torch.empty(n, k, dtype=torch.int64)
    for s in row_blocks(n, b):
        q = z[s : s + b]
        # -||q - z||^2 up to a per-row constant: 2 q.z - ||z||^2 (euclidean) or q.z (cosine).
        scores = torch.addmm(bias, q, z.T, alpha=2.0 if metric == "euclidean" else 1.0)
        rows = torch.arange(len(q))
        scores[rows, rows + s] = -math.inf
        out[s : s + b] = scores.topk(k, dim=1).indices
    return out


def _check_k(k: int, n: int) -> int:
    k = check_positive_int(k, "k")
    if k >= n:
        raise ValueError(f"k={k} neighbours need at least k + 1 = {k + 1} samples, got {n}; lower k")
    return k


def mutual_knn(x: Any, y: Any, *, k: int = 10, metric: str = "euclidean", block: int | None = None) -> float:
    """Mean Jaccard@k of k-NN sets: ``m / (2k - m)`` per sample, ``m`` the overlap of its two neighbour sets.

    Compare with :func:`knn_jaccard_chance` (what unrelated spaces score).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n > k``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
        >>> mutual_knn(x, 3 * x, k=5)
        1.0
    """
    x, y = prepare_pair(x, y, metric="mutual_knn")
    k = _check_k(k, len(x))
    nx = knn_indices(x, k, metric=metric, block=block)
    ny = knn_indices(y, k, metric=metric, block=block)
    total = 0.0
    step = max(1, 2**24 // (k * k))  # bounds the (rows, k, k) comparison tensor
    for s in row_blocks(len(x), step):
        m = (nx[s : s + step, :, None] == ny[s : s + step, None, :]).any(-1).sum(-1).to(torch.float64)
        total += float((m / (2 * k - m)).sum())
    return total / len(x)


def knn_jaccard_chance(n: int, k: int) -> float:
    """Expected Jaccard@k of two independent random k-subsets of the ``n - 1`` other samples.

    The overlap ``m`` is hypergeometric (population ``n - 1``, ``k`` successes, ``k`` draws); the result is
    ``E[m / (2k - m)]`` computed exactly.

    Example:
        >>> round(knn_jaccard_chance(1001, 10), 5)
        0.00529
    """
    from scipy.stats import hypergeom

    k = _check_k(k, n)
    m = torch.arange(0, k + 1, dtype=torch.float64).numpy()
    pmf = hypergeom(n - 1, k, k).pmf(m)
    return float((pmf * m / (2 * k - m)).sum())


def cycle_knn(x: Any, y: Any, *, k: int = 10, metric: str = "euclidean", block: int | None = None) -> float:
    """Fraction of samples ``i`` for which some k-NN ``j`` of ``i`` in ``y`` has ``i`` among its k-NN in ``x``.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n > k``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
        >>> cycle_knn(x, x, k=3) > 0.8  # below 1 even for x vs x: k-NN is not a symmetric relation
        True
    """
    x, y = prepare_pair(x, y, metric="cycle_knn")
    k = _check_k(k, len(x))
    nx = knn_indices(x, k, metric=metric, block=block)
    ny = knn_indices(y, k, metric=metric, block=block)
    hits = 0
    step = max(1, 2**24 // (k * k))
    for s in row_blocks(len(x), step):
        back = nx[ny[s : s + step]]  # (rows, k, k): x-neighbours of each y-neighbour
        own = torch.arange(s, s + len(back))[:, None, None]
        hits += int((back == own).flatten(1).any(1).sum())
    return hits / len(x)


def cycle_knn_chance(n: int, k: int) -> float:
    """Chance level of :func:`cycle_knn`: ``1 - (1 - k / (n - 1))^k`` (independent neighbour sets).

    Example:
        >>> round(cycle_knn_chance(1001, 10), 4)
        0.0956
    """
    k = _check_k(k, n)
    return 1.0 - (1.0 - k / (n - 1)) ** k


def relative_pair(
    x: torch.Tensor, y: torch.Tensor, *, n_anchors: int = 300, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine relative representations of both spaces w.r.t. the same (seeded, random) anchor samples.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  ``(n, a)``, ``(n, a)`` with ``a = min(n_anchors, n)``

    Example:
        >>> import torch
        >>> rx, ry = relative_pair(torch.randn(10, 3), torch.randn(10, 5), n_anchors=4)
        >>> rx.shape, ry.shape
        (torch.Size([10, 4]), torch.Size([10, 4]))
    """
    from stitch.core.projection import relative_projection

    n_anchors = check_positive_int(n_anchors, "n_anchors")
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(x), generator=g)[: min(n_anchors, len(x))]
    return relative_projection(x, x[idx], "cosine"), relative_projection(y, y[idx], "cosine")


def _unit_rows(r: torch.Tensor, name: str) -> torch.Tensor:
    r = r.to(torch.float64)
    norms = r.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError(
            f"the relative representation of {name} row {int((norms.flatten() == 0).nonzero()[0])} is all zeros "
            "(the sample is orthogonal to every anchor); use more anchors"
        )
    return r / norms


def retrieval_mrr(
    x: Any, y: Any, *, n_anchors: int = 300, seed: int = 0, block: int | None = None
) -> float:
    """Mean reciprocal rank of each sample's own match when its relative representation in ``x`` queries ``y``.

    Ranks are ``1 + #{j : cos(rx_i, ry_j) > cos(rx_i, ry_i)}``. Chance level: :func:`mrr_chance`.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``(0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(100, 16, generator=torch.Generator().manual_seed(0))
        >>> retrieval_mrr(x, 2 * x, n_anchors=20)
        1.0
    """
    x, y = prepare_pair(x, y, metric="retrieval_mrr")
    rx, ry = relative_pair(x, y, n_anchors=n_anchors, seed=seed)
    rx, ry = _unit_rows(rx, "x"), _unit_rows(ry, "y")
    n = len(rx)
    b = _block_rows(n, block)
    total = 0.0
    for s in row_blocks(n, b):
        sims = rx[s : s + b] @ ry.T
        rows = torch.arange(len(sims))
        own = sims[rows, rows + s]
        rank = 1 + (sims > own[:, None]).sum(1)
        total += float((1.0 / rank.to(torch.float64)).sum())
    return total / n


def mrr_chance(n: int) -> float:
    """Expected MRR when the own match's rank is uniform on ``1..n``: ``H_n / n``.

    Example:
        >>> round(mrr_chance(4), 4)
        0.5208
    """
    return sum(1.0 / r for r in range(1, n + 1)) / n


def relrep_cosine(x: Any, y: Any, *, n_anchors: int = 300, seed: int = 0) -> float:
    """Mean cosine similarity between each sample's relative representations in the two spaces.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
        >>> round(relrep_cosine(x, -x, n_anchors=10), 6)
        1.0
    """
    x, y = prepare_pair(x, y, metric="relrep_cosine")
    rx, ry = relative_pair(x, y, n_anchors=n_anchors, seed=seed)
    return float((_unit_rows(rx, "x") * _unit_rows(ry, "y")).sum(1).mean().clamp(-1.0, 1.0))


def chance_for(metric: str, n: int, options: Mapping[str, Any]) -> float:
    """Chance level of a neighbourhood metric for ``n`` samples and its options (used by the registry)."""
    if metric == "mutual_knn":
        return knn_jaccard_chance(n, options.get("k", 10))
    if metric == "cycle_knn":
        return cycle_knn_chance(n, options.get("k", 10))
    return mrr_chance(n)
