"""Anchor discovery: which sample of one space corresponds to which sample of another, without (many) pairs.

:func:`match_anchors` recovers a one-to-one correspondence between two point sets embedded by different
encoders, from a few known pairs (relative representations w.r.t. them are comparable across spaces) or from
none (Gromov-Wasserstein compares the two intra-space distance structures), then refines it by alternating
Procrustes fits and re-assignment (Wasserstein-Procrustes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stitch.utils.checks import as_matrix, check_choice

__all__ = ["Matching", "match_anchors", "MATCHING_METHODS"]

#: Matching methods of :func:`match_anchors`.
MATCHING_METHODS = ("auto", "sinkhorn", "gromov")


@dataclass(frozen=True)
class Matching:
    """Correspondences discovered between two sets of points.

    Attributes:
        target: ``(n,)`` int64; source row ``i`` matches target row ``target[i]``.
        plan: ``(n, m)`` float64 transport plan the matching was read from.
        method: ``"sinkhorn"`` or ``"gromov"``.
        known: the ``(i, j)`` pairs that were given, not discovered.

    Example:
        >>> m = Matching(torch.tensor([0, 2, 1]), torch.eye(3), "sinkhorn", ((0, 0),))
        >>> m.n_correct([0, 1, 2])
        0
    """

    target: torch.Tensor
    plan: torch.Tensor
    method: str
    known: tuple[tuple[int, int], ...]

    def n_correct(self, truth: Any) -> int:
        """How many source rows match their true target (``truth[i]``), known pairs excluded."""
        truth = torch.as_tensor(np.asarray(truth), dtype=torch.int64)
        hit = self.target == truth
        for i, _ in self.known:
            hit[i] = False
        return int(hit.sum())


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


def _assign(score: torch.Tensor, known: Sequence[tuple[int, int]]) -> torch.Tensor:
    """One-to-one assignment maximising ``score`` with the known pairs forced."""
    from scipy.optimize import linear_sum_assignment

    s = score.clone()
    big = float(s.abs().max()) * 10 + 1.0
    for i, j in known:
        s[i, :] = -big
        s[:, j] = -big
        s[i, j] = big
    rows, cols = linear_sum_assignment(s.numpy(), maximize=True)
    target = torch.full((score.shape[0],), -1, dtype=torch.int64)
    target[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.int64)
    return target


def _check_known(known: Sequence[tuple[int, int]] | None, n: int, m: int) -> tuple[tuple[int, int], ...]:
    pairs = tuple((int(i), int(j)) for i, j in (known or ()))
    for i, j in pairs:
        if not (0 <= i < n and 0 <= j < m):
            raise ValueError(f"known pair ({i}, {j}) is out of range for x with {n} rows and y with {m} rows")
    for side, values in (("source", [i for i, _ in pairs]), ("target", [j for _, j in pairs])):
        seen: dict[int, int] = {}
        for k, v in enumerate(values):
            if v in seen:
                raise ValueError(
                    f"known pairs {pairs[seen[v]]} and {pairs[k]} give {side} row {v} two partners; a matching is "
                    "one-to-one, so every row may appear in at most one known pair"
                )
            seen[v] = k
    return pairs


def match_anchors(
    x: Any,
    y: Any,
    *,
    known: Sequence[tuple[int, int]] | None = None,
    method: str = "auto",
    reg: float = 0.05,
    refine: int = 10,
    seed: int = 0,
) -> Matching:
    """Discover which row of ``y`` corresponds to each row of ``x`` (two encoders' latents of shuffled samples).

    * ``method="sinkhorn"`` (default when ``known`` pairs are given): both sets are re-described relative to
      their known pairs (cosine relative representation, comparable across spaces), and entropic OT
      (Sinkhorn) on the distances between those descriptions gives the plan.
    * ``method="gromov"`` (default with no known pairs): Gromov-Wasserstein matches the two intra-space
      distance matrices, so no cross-space comparison is needed at all.

    The plan's one-to-one rounding is then refined ``refine`` times: fit a Procrustes map on the current
    matches, translate ``x``, re-assign by distance (Wasserstein-Procrustes), until the matching is stable.

    Args:
        x, y: the two point sets; ``len(x) <= len(y)``.
        known: ``(i, j)`` pairs known to correspond (kept fixed); each row in at most one pair.
        method: ``"auto"``, ``"sinkhorn"`` or ``"gromov"``.
        reg: entropic regularisation relative to the cost scale (Sinkhorn), ``> 0``.
        refine: maximum Procrustes re-assignment rounds (0 disables).
        seed: seed of every random choice (recorded for reproducibility).

    Shapes:
        x: ``(n, d_x)``, y: ``(m, d_y)`` with ``n <= m``  ->  ``Matching.target``: ``(n,)``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(40, 5, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
        >>> perm = torch.randperm(40, generator=g)
        >>> y = (x @ q)[perm]              # y[k] is x[perm[k]] rotated
        >>> truth = torch.argsort(perm)    # x[i] is y[truth[i]]
        >>> m = match_anchors(x, y, known=[(int(i), int(truth[i])) for i in range(5)])
        >>> m.n_correct(truth)
        35
    """
    import ot

    from stitch.core.projection import relative_projection
    from stitch.core.translate import Procrustes

    x = as_matrix(x, "x").detach().double().cpu()
    y = as_matrix(y, "y").detach().double().cpu()
    n, m = len(x), len(y)
    if n > m:
        raise ValueError(f"x has {n} rows but y only {m}; every row of x needs its own match, pass the larger set as y")
    check_choice(method, MATCHING_METHODS, "matching method")
    if isinstance(reg, bool) or not isinstance(reg, (int, float)) or not reg > 0:
        raise ValueError(f"reg (entropic regularisation, relative to the cost scale) must be > 0, got {reg!r}")
    known = _check_known(known, n, m)
    if method == "auto":
        method = "sinkhorn" if known else "gromov"
    if method == "sinkhorn" and not known:
        raise ValueError(
            "method='sinkhorn' compares relative spaces built from known pairs, but known is empty; "
            "pass a few known (i, j) pairs or use method='gromov'"
        )
    p, q = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    if method == "sinkhorn":
        ki, kj = [i for i, _ in known], [j for _, j in known]
        cost = _sq_dists(relative_projection(x, x[ki], "cosine"), relative_projection(y, y[kj], "cosine"))
        cost = cost / cost.max().clamp_min(torch.finfo(cost.dtype).tiny)
        plan = ot.sinkhorn(p, q, cost.numpy(), reg, numItermax=5000, warn=False)
    else:
        cx, cy = _sq_dists(x, x).sqrt(), _sq_dists(y, y).sqrt()
        cx = cx / cx.max().clamp_min(torch.finfo(cx.dtype).tiny)
        cy = cy / cy.max().clamp_min(torch.finfo(cy.dtype).tiny)
        plan = ot.gromov.gromov_wasserstein(cx.numpy(), cy.numpy(), p, q, loss_fun="square_loss")
    plan_t = torch.as_tensor(np.asarray(plan), dtype=torch.float64)
    target = _assign(plan_t, known)
    for _ in range(refine):
        fitted = Procrustes().fit(x, y[target])
        new = _assign(-_sq_dists(fitted.transform(x), y), known)
        if torch.equal(new, target):
            break
        target = new
    return Matching(target=target, plan=plan_t, method=method, known=known)
