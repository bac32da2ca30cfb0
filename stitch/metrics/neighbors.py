"""Neighbourhood measures, exact and memory-bounded: no ``n x n`` matrix is ever held in memory.

k-NN search has two exact backends: **faiss** (``IndexFlatL2`` / ``IndexFlatIP``, BLAS blocks with a SIMD
heap reduction; ``pip install latent-stitch[fast]``), used by default for float32 CPU inputs when it is
installed, and **blocked torch** (one GEMM per block of query rows, then ``topk``), used otherwise and
for float64, CUDA or an explicit ``block``. Both compute in the inputs' precision. The torch blocks hold
at most :data:`~stitch.utils.numerics.MEMORY_BUDGET_BYTES` of scores, sized for the actual dtype.

**Ties.** Neighbour *sets* equal scikit-learn's brute force except where two candidates are at exactly
the same distance (or, for float32, within float32 rounding of it — pass float64 latents when that
matters): which of them is kept then depends on the backend (faiss and ``torch.topk`` keep either). The
sample itself is always excluded, even when it has exact duplicates.

* ``mutual_knn``: mean Jaccard index of each sample's k-NN sets in the two spaces (self excluded), with
  the chance level of unrelated spaces (:func:`knn_jaccard_chance`) reported beside it.
* ``cycle_knn``: fraction of samples ``i`` that some ``y``-neighbour ``j`` of ``i`` has among its own
  ``x``-neighbours (Huh et al., ICML 2024); asymmetric.
* ``retrieval_mrr``: each sample's relative representation (cosine to shared anchors; Moschella et al.,
  ICLR 2023) in ``x`` queries all relative representations in ``y``; mean reciprocal rank of its own match.
  Scored in float32 blocks; only comparisons within float32 rounding of the own match are redone in
  float64, so ranks are those of an exact float64 computation.
* ``relrep_cosine``: mean cosine between a sample's relative representations in the two spaces.
* ``second_order_cosine``: for each sample, its cosine similarities to the union of its k-NN in both
  spaces, compared across the spaces by cosine (Hamilton et al., 2016).
* ``rank_similarity`` / ``joint_rank_jaccard``: agreement of the *ranks* of the shared k-NN
  (Wang et al., 2022): ``sum_j 2 / ((1 + |r_x - r_y|)(r_x + r_y))`` over the shared neighbours ``j``,
  normalised by its maximum ``H_m`` (``m`` shared neighbours), times Jaccard@k for the joint version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from stitch.core.pairwise import count_above
from stitch.metrics._shared import per_model
from stitch.utils.checks import check_choice, check_positive_int, compute_dtype
from stitch.utils.extras import extra_available, require
from stitch.utils.numerics import rows_per_chunk
from stitch.metrics._base import prepare_pair, row_blocks

__all__ = [
    "KNN_BACKENDS",
    "knn_indices",
    "mutual_knn",
    "knn_jaccard_chance",
    "cycle_knn",
    "cycle_knn_chance",
    "retrieval_mrr",
    "mrr_chance",
    "relrep_cosine",
    "relative_pair",
    "second_order_cosine",
    "rank_similarity",
    "joint_rank_jaccard",
]

#: k-NN backends of the neighbourhood measures (``auto``: faiss when installed, else blocked torch)
KNN_BACKENDS = ("auto", "faiss", "torch")


def _block_rows(n: int, block: int | None, dtype: torch.dtype, copies: int = 1) -> int:
    # ``copies``: how many (rows, n) temporaries of ``dtype`` a block holds at once.
    if block is None:
        return rows_per_chunk(n, bytes_per_row=copies * max(n, 1) * torch.finfo(dtype).bits // 8)
    return check_positive_int(block, "block")


def _pick_backend(backend: str, z: torch.Tensor, block: int | None) -> str:
    check_choice(backend, KNN_BACKENDS, "k-NN backend")
    if backend != "auto":
        if backend == "faiss" and z.device.type != "cpu":
            raise ValueError("the faiss backend searches CPU tensors; move x to the CPU or use backend='torch'")
        return backend
    fits = z.dtype == torch.float32 and z.device.type == "cpu" and block is None
    return "faiss" if fits and extra_available("fast") else "torch"


def _faiss_knn(z: torch.Tensor, k: int, metric: str) -> torch.Tensor:
    faiss = require("faiss", what="the faiss k-NN backend")
    faiss.omp_set_num_threads(torch.get_num_threads())
    data = np.ascontiguousarray(z.detach().cpu().numpy(), dtype=np.float32)
    index = (faiss.IndexFlatL2 if metric == "euclidean" else faiss.IndexFlatIP)(data.shape[1])
    index.add(data)
    _, found = index.search(data, k + 1)
    # Drop the query itself wherever it landed (exact duplicates can rank before it); rows where it fell
    # off the end (rounding) lose their last candidate instead. The stable sort keeps the distance order.
    is_self = found == np.arange(len(found))[:, None]
    keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    return torch.from_numpy(np.take_along_axis(found, keep, axis=1).astype(np.int64))


@per_model("knn")
def knn_indices(x: Any, k: int, *, metric: str = "euclidean", block: int | None = None,
                backend: str = "auto") -> torch.Tensor:
    """Indices of each row's ``k`` nearest other rows (self excluded), nearest first.

    Args:
        x: latents (torch or numpy).
        k: neighbours per row (``k < n``).
        metric: ``"euclidean"`` or ``"cosine"``.
        block: query rows per block for the torch backend (``None``: sized by the memory budget).
        backend: ``"auto"`` (faiss for float32 CPU inputs when installed, else torch), ``"faiss"`` or
            ``"torch"``. Ties: see the module docstring.

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
    else:
        # smaller norms, less cancellation in ||a||^2 - 2ab + ||b||^2
        z = z - z.mean(0, keepdim=True, dtype=torch.float64).to(z.dtype)
    if _pick_backend(backend, z, block) == "faiss":
        return _faiss_knn(z, k, metric).to(z.device)
    bias = -(z * z).sum(1) if metric == "euclidean" else torch.zeros(n, dtype=z.dtype, device=z.device)
    b = _block_rows(n, block, z.dtype)
    out = torch.empty(n, k, dtype=torch.int64, device=z.device)
    for s in row_blocks(n, b):
        q = z[s : s + b]
        # -||q - z||^2 up to a per-row constant: 2 q.z - ||z||^2 (euclidean) or q.z (cosine).
        scores = torch.addmm(bias, q, z.T, alpha=2.0 if metric == "euclidean" else 1.0)
        rows = torch.arange(len(q), device=z.device)
        scores[rows, rows + s] = -math.inf
        out[s : s + b] = scores.topk(k, dim=1).indices
    return out


def _check_k(k: int, n: int) -> int:
    k = check_positive_int(k, "k")
    if k >= n:
        raise ValueError(f"k={k} neighbours need at least k + 1 = {k + 1} samples, got {n}; lower k")
    return k


def mutual_knn(x: Any, y: Any, *, k: int = 10, metric: str = "euclidean", block: int | None = None,
               backend: str = "auto") -> float:
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
    nx = knn_indices(x, k, metric=metric, block=block, backend=backend)
    ny = knn_indices(y, k, metric=metric, block=block, backend=backend)
    total = 0.0
    step = rows_per_chunk(len(x), bytes_per_row=k * k)  # bounds the (rows, k, k) comparison tensor
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


def cycle_knn(x: Any, y: Any, *, k: int = 10, metric: str = "euclidean", block: int | None = None,
              backend: str = "auto") -> float:
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
    nx = knn_indices(x, k, metric=metric, block=block, backend=backend)
    ny = knn_indices(y, k, metric=metric, block=block, backend=backend)
    hits = 0
    step = rows_per_chunk(len(x), bytes_per_row=8 * k * k)  # the (rows, k, k) int64 gather
    for s in row_blocks(len(x), step):
        back = nx[ny[s : s + step]]  # (rows, k, k): x-neighbours of each y-neighbour
        own = torch.arange(s, s + len(back), device=back.device)[:, None, None]
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
    n, a = rx.shape
    qx, qy = rx.float(), ry.float()
    # |float32 dot - exact dot| <= (a + 2) eps32 for unit rows (the dot's rounding plus the inputs'):
    # only pairs that close to the own match's score can be ordered wrongly, and those are redone in float64.
    tol = (a + 2) * torch.finfo(torch.float32).eps
    b = _block_rows(n, block, torch.float32, copies=3)  # scores, |scores - own|, masks
    total = 0.0
    for s in row_blocks(n, b):
        sims = qx[s : s + b] @ qy.T
        own = (rx[s : s + b] * ry[s : s + b]).sum(1)  # exact, float64
        own32 = own.float()[:, None]
        counts = count_above(sims, own32[:, 0], tol, offset=s)  # one fused pass where numba runs
        if counts is not None:
            above, near, near_idx = counts
            rank = 1 + above
            recorded = near_idx >= 0
            near_r, near_c = recorded.nonzero(as_tuple=True)[0], near_idx[recorded]
            full = (near > near_idx.shape[1]).nonzero().flatten()  # more near columns than recorded: rescan
            if len(full):
                near_r, near_c = near_r[~torch.isin(near_r, full)], near_c[~torch.isin(near_r, full)]
                fr, fc = ((sims[full] - own32[full]).abs() <= tol).nonzero(as_tuple=True)
                near_r, near_c = torch.cat([near_r, full[fr]]), torch.cat([near_c, fc])
        else:
            rank = 1 + (sims > own32 + tol).sum(1)
            near_r, near_c = ((sims - own32).abs() <= tol).nonzero(as_tuple=True)
        if len(near_r):
            exact = (rx[near_r + s] * ry[near_c]).sum(1)
            rank.index_add_(0, near_r, (exact > own[near_r]).to(rank.dtype))
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


def second_order_cosine(x: Any, y: Any, *, k: int = 10, backend: str = "auto") -> float:
    """Mean over samples of the cosine between their first-order (cosine) similarities to the joint k-NN union.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n > k``  ->  float in ``[-1, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
        >>> round(second_order_cosine(x, 4 * x, k=5), 6)
        1.0
    """
    x, y = prepare_pair(x, y, metric="second_order_cosine")
    k = _check_k(k, len(x))
    nx = knn_indices(x, k, metric="cosine", backend=backend)  # also rejects all-zero rows, by name
    ny = knn_indices(y, k, metric="cosine", backend=backend)
    ux = x.to(torch.float64) / x.to(torch.float64).norm(dim=1, keepdim=True)
    uy = y.to(torch.float64) / y.to(torch.float64).norm(dim=1, keepdim=True)
    idx = torch.cat([nx, ny], 1)  # (n, 2k): the union, with y's neighbours that x also has masked out
    keep = torch.cat([torch.ones_like(nx, dtype=torch.bool), ~(ny[:, :, None] == nx[:, None, :]).any(-1)], 1)
    n = len(x)
    step = rows_per_chunk(n, bytes_per_row=2 * k * 8 * (ux.shape[1] + uy.shape[1]))
    total = 0.0
    for s in row_blocks(n, step):
        rows = slice(s, s + step)
        sx = (ux[rows, None, :] * ux[idx[rows]]).sum(-1) * keep[rows]
        sy = (uy[rows, None, :] * uy[idx[rows]]).sum(-1) * keep[rows]
        norm = sx.norm(dim=1) * sy.norm(dim=1)
        cos = torch.where(norm > 0, (sx * sy).sum(1) / norm.clamp_min(torch.finfo(norm.dtype).tiny), 0.0)
        total += float(cos.sum())
    return max(-1.0, min(1.0, total / n))


def _rank_agreement(x: Any, y: Any, k: int, metric: str, backend: str, name: str,
                    jaccard: bool) -> float:
    x, y = prepare_pair(x, y, metric=name)
    k = _check_k(k, len(x))
    nx = knn_indices(x, k, metric=metric, backend=backend)
    ny = knn_indices(y, k, metric=metric, backend=backend)
    r = torch.arange(1, k + 1, dtype=torch.float64)
    weight = 2.0 / ((1 + (r[:, None] - r[None, :]).abs()) * (r[:, None] + r[None, :]))  # (rank in x, rank in y)
    harmonic = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(1.0 / r, 0)])  # H_0 .. H_k
    total = 0.0
    step = rows_per_chunk(len(x), bytes_per_row=9 * k * k)
    for s in row_blocks(len(x), step):
        eq = nx[s : s + step, :, None] == ny[s : s + step, None, :]  # (rows, k, k): shared neighbour at (rx, ry)
        m = eq.sum((1, 2))
        score = (eq * weight).sum((1, 2)) / harmonic[m].clamp_min(1.0)  # m = 0 scores 0
        if jaccard:
            score = score * m / (2 * k - m)
        total += float(score.sum())
    return total / len(x)


def rank_similarity(x: Any, y: Any, *, k: int = 10, metric: str = "cosine", backend: str = "auto") -> float:
    """Mean rank agreement of the neighbours two spaces share among their k-NN (1 = same neighbours, same order).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n > k``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
        >>> round(rank_similarity(x, 2 * x, k=5), 6)
        1.0
    """
    return _rank_agreement(x, y, k, metric, backend, "rank_similarity", jaccard=False)


def joint_rank_jaccard(x: Any, y: Any, *, k: int = 10, metric: str = "cosine", backend: str = "auto") -> float:
    """Mean of Jaccard@k times rank similarity per sample (Wang et al., 2022).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``, ``n > k``  ->  float in ``[0, 1]``

    Example:
        >>> import torch
        >>> x = torch.randn(60, 5, generator=torch.Generator().manual_seed(0))
        >>> round(joint_rank_jaccard(x, 2 * x, k=5), 6)
        1.0
    """
    return _rank_agreement(x, y, k, metric, backend, "joint_rank_jaccard", jaccard=True)


def chance_for(metric: str, n: int, options: Mapping[str, Any]) -> float:
    """Chance level of a neighbourhood metric for ``n`` samples and its options (used by the registry)."""
    if metric == "mutual_knn":
        return knn_jaccard_chance(n, options.get("k", 10))
    if metric == "cycle_knn":
        return cycle_knn_chance(n, options.get("k", 10))
    return mrr_chance(n)
