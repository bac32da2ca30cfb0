"""Anchor discovery: which sample of one space corresponds to which sample of another, without (many) pairs.

:func:`match_anchors` recovers a one-to-one correspondence between two point sets embedded by different
encoders. Its default, **self-learning** (``method="auto"``), works in relative space and grows its own
anchor set:

1. *starts*: first similarities between every source and target row, from the known pairs (cosine relative
   representations w.r.t. them are comparable across spaces), from a Wasserstein-Procrustes fit on them
   (Grave et al., AISTATS 2019), from the rows' **sorted similarity distributions** (Artetxe et al., ACL
   2018: the sorted row of ``sqrt(X Xᵀ)`` depends neither on how the space is rotated nor on the order of
   the samples) and, with fewer than ten known pairs and at most 500 rows, from **entropic
   Gromov-Wasserstein** (Alvarez-Melis & Jaakkola, EMNLP 2018) between the two cosine-distance matrices;
2. *self-learning*, two routes: the **schedule** assigns one-to-one (Hungarian) on the CSLS-corrected
   similarity (Conneau et al., ICLR 2018: it discounts "hub" rows close to everything), keeps the surest
   fraction of the matches as anchors, re-describes both sets relative to them and repeats with a growing
   fraction; **stochastic dictionary induction** (Artetxe et al., 2018) re-describes w.r.t. every current
   pair and re-assigns on similarities randomly thinned out, less and less, so the matching can leave a poor
   self-consistent solution (from the sorted start, with several seeds, when fewer than ten pairs are known);
3. *selection*: every route ends in a matching and its **objective**, the mean CSLS similarity of its
   discovered pairs in the relative spaces w.r.t. all of its pairs; the best one is kept. A wrong
   matching is not self-consistent and scores measurably lower (``Matching.candidates`` keeps every route's
   objective, so a user can see how clear the choice was);
4. *restart*: the best matching's 25 surest matches are borrowed as pairs for one more schedule, then
   freed (a half-right matching is right where it is surest, and those pairs are a far better start than a
   few known ones); then one last stochastic polish. Each is kept only if it raises the objective.

5. *stability*: the returned matching is checked, whichever method found it: half of its matches are
   scrambled and the self-learning schedule, with the known pairs freed too, is run from there, three times
   with seeded scrambles.
   A right matching is a wide basin and comes back; a wrong but self-consistent one, as found where the
   latents barely identify their samples (pretrained ImageNet backbones on 8x8 digits: even the true
   pairs find their partner top-1 for only a quarter of the samples), does not. The per-match survival rate is
   ``Matching.stability``, its mean over discovered matches ``Matching.reliability``; below
   :data:`RELIABLE` :func:`match_anchors` warns (:class:`~stitch.errors.MatchingWarning`).

``method="sinkhorn"`` / ``"gromov"`` are the one-shot transport solvers with Procrustes re-assignment that
``auto`` replaced; ``benchmarks/bench_anchors.py`` measures both on real encoders.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from stitch.errors import MatchingWarning
from stitch.utils.checks import as_matrix, check_choice, check_positive_int, check_seed
from stitch.utils.numerics import check_fits

__all__ = ["Matching", "match_anchors", "MATCHING_METHODS", "RELIABLE"]

#: Matching methods of :func:`match_anchors`.
MATCHING_METHODS = ("auto", "self-learning", "sinkhorn", "gromov")

# Entropic GW's regularisation as a multiple of 1 / n (costs are cosine distances in [0, 2]); measured on
# MiniLM-L6 vs paraphrase-MiniLM-L3 over TREC: 0.6 / n found the basin at 300 samples, 1 / n at 1,000, and
# each failed at the other size, so both are tried (benchmarks/bench_anchors.py).
_GW_SCALES = (0.6, 1.0)
# With this many known pairs the known-pair and Procrustes starts land in the right basin on every dataset
# we measured, so the routes that need no pair (Gromov-Wasserstein starts, stochastic restarts from the
# sorted start) are skipped; Gromov-Wasserstein is skipped above _GW_MAX_ROWS rows too: its O(n^3)
# iterations take minutes there, and the stochastic route found the basin on every dataset we measured.
_FEW_KNOWN = 10
#: dense (m, m)-sized float64 matrices a matching holds at its peak (about 9 measured at 1,500 and 3,000 rows)
_MATRICES_AT_ONCE = 10
_GW_MAX_ROWS = 500
# Rounds of stochastic dictionary induction at most (it ends earlier, when it stalls with p = 1).
_STOCHASTIC_ROUNDS = 100
# Seeds of the stochastic route from the sorted start (Fashion-MNIST, 300 rows, no pair: 0.49-0.66 recovered
# from one seed to the next; the objective picks the best).
_STOCHASTIC_RESTARTS = 3
# Surest matches borrowed as pairs by the restart (TREC, 300 stratified anchors, 5 or 10 known pairs: from
# 30-55 % recovered to 99 %; 10 to 50 borrowed pairs all worked, 25 best).
_RESTART_PAIRS = 25
# The stability check scrambles this fraction of the matches, this many times. Measured by
# benchmarks/bench_anchors.py --full (300 and 1,000 samples, two draws): matchings recovering 84-100 % (TREC,
# Fashion-MNIST) come back 91-100 %, those recovering at most 20 % (digits through ImageNet backbones, two
# GNNs on Cora) 37-74 %; scrambling 30 % instead separated them less (digits: 65-79 % at 300 samples).
_SCRAMBLE = 0.5
_SCRAMBLES = 3
#: :attr:`Matching.reliability` below which :func:`match_anchors` warns that the matching is unreliable.
RELIABLE = 0.85


@dataclass(frozen=True)
class Matching:
    """Correspondences discovered between two sets of points.

    Attributes:
        target: ``(n,)`` int64; source row ``i`` matches target row ``target[i]``.
        scores: ``(n, m)`` float64 scores the final assignment maximised (CSLS similarities for
            self-learning, a transport plan or negative distances for the transport methods).
        method: the method that produced it (``"self-learning"``, ``"sinkhorn"`` or ``"gromov"``).
        known: the ``(i, j)`` pairs that were given, not discovered.
        confidence: ``(n,)`` float64 margin of each match: its score minus the best competing score in its
            row or its column (``> 0``: both rows prefer each other; larger is surer); ``inf`` for known pairs.
        start: the route the returned matching came from: its start (``"known"``, ``"procrustes"``,
            ``"sorted"``, ``"gromov@0.6"``...) and the steps taken from it (``"sorted/stochastic#1"``,
            ``"procrustes/schedule/stochastic"``).
        candidates: ``((route, objective), ...)`` for every route tried (self-learning).
        stability: ``(n,)`` float64, the fraction of the stability check's scrambles after which the
            self-learning came back to this match (``1`` for known pairs; module docstring, step 5).
        reliability: the mean stability of the discovered matches: near 1 when the matching is a wide basin
            (right, on every pair we measured), low when it is one self-consistent solution among many
            (then most of its matches are wrong; below :data:`RELIABLE` :func:`match_anchors` warns).

    Example:
        >>> m = Matching(torch.tensor([0, 2, 1]), torch.eye(3), "sinkhorn", ((0, 0),))
        >>> m.n_correct([0, 1, 2]), m.recovery([0, 2, 1])
        (0, 1.0)
    """

    target: torch.Tensor
    scores: torch.Tensor
    method: str
    known: tuple[tuple[int, int], ...]
    confidence: torch.Tensor = field(default=None)  # type: ignore[assignment]
    start: str = ""
    candidates: tuple[tuple[str, float], ...] = ()
    stability: torch.Tensor = field(default=None)  # type: ignore[assignment]
    reliability: float = float("nan")

    def __post_init__(self) -> None:
        if self.confidence is None:
            object.__setattr__(self, "confidence", _margins(self.scores, self.target, self.known))
        if self.stability is None:  # unchecked: every match ranks by its margin alone
            object.__setattr__(self, "stability", torch.ones(len(self.target), dtype=torch.float64))

    def _hits(self, truth: Any) -> torch.Tensor:
        truth = torch.as_tensor(np.asarray(truth), dtype=torch.int64)
        if truth.shape != self.target.shape:
            raise ValueError(f"truth has shape {tuple(truth.shape)} but the matching has {len(self.target)} source "
                             "rows; pass one true target row per source row")
        hit = self.target == truth
        for i, _ in self.known:
            hit[i] = False
        return hit

    def n_correct(self, truth: Any) -> int:
        """How many source rows match their true target (``truth[i]``), known pairs excluded."""
        return int(self._hits(truth).sum())

    def recovery(self, truth: Any) -> float:
        """Fraction of the discovered (not known) matches that are right.

        Example:
            >>> Matching(torch.tensor([1, 0]), torch.eye(2), "sinkhorn", ()).recovery([1, 1])
            0.5
        """
        n = len(self.target) - len(self.known)
        return self.n_correct(truth) / n if n else 1.0

    def confident(self, fraction: float = 0.5) -> torch.Tensor:
        """Source rows of the known pairs and of the ``fraction`` surest discovered matches.

        Matches rank by :attr:`stability`, then by :attr:`confidence` (the margin). Keep these as anchors when
        precision matters more than count: on real encoders the surest half is right far more often than the
        whole matching (``benchmarks/bench_anchors.py``) — where the matching is reliable at all
        (:attr:`reliability`).

        Shapes:
            ->  ``(k,)`` int64 source rows, surest first; their partners are ``target[rows]``

        Example:
            >>> m = Matching(torch.tensor([0, 1, 2]), torch.eye(3), "sinkhorn", ())
            >>> m.confident(1.0).sort().values.tolist()
            [0, 1, 2]
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        order = torch.argsort(self.confidence, descending=True, stable=True)
        order = order[torch.argsort(self.stability[order], descending=True, stable=True)]  # margin breaks ties
        n_keep = len(self.known) + int(round(fraction * (len(self.target) - len(self.known))))
        return order[:n_keep]


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


def _margins(scores: torch.Tensor, target: torch.Tensor, known: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Each match's score minus the best rival in its row or its column (``inf`` for known pairs)."""
    rows = torch.arange(len(target))
    matched = scores[rows, target]
    rivals = scores.clone()
    rivals[rows, target] = -torch.inf
    best_row = rivals.max(1).values if rivals.shape[1] > 1 else torch.full_like(matched, -torch.inf)
    best_col = rivals.max(0).values[target] if rivals.shape[0] > 1 else torch.full_like(matched, -torch.inf)
    margin = matched - torch.maximum(best_row, best_col)
    margin[[i for i, _ in known]] = torch.inf
    return margin


def _check_known(known: Sequence[tuple[int, int]] | None, n: int, m: int) -> tuple[tuple[int, int], ...]:
    import numbers

    raw = list(known or ())
    bad = [p for p in raw if not (isinstance(p, (tuple, list)) and len(p) == 2
                                  and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in p))]
    if bad:
        raise ValueError(f"known must be a list of (i, j) pairs of integer row indices, got {bad[0]!r}; e.g. "
                         "known=[(0, 3), (1, 7)]")
    pairs = tuple((int(i), int(j)) for i, j in raw)
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


def _unit_rows(z: torch.Tensor) -> torch.Tensor:
    """Centre the columns, then scale every row to unit length (a zero row stays zero)."""
    z = z - z.mean(0)
    return z / z.norm(dim=1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)


def _csls(s: torch.Tensor, k: int) -> torch.Tensor:
    """CSLS: ``2 s_ij - r_i - r_j`` with ``r`` the mean similarity to the ``k`` nearest rows of the other side."""
    rx = s.topk(min(k, s.shape[1]), dim=1).values.mean(1)
    ry = s.topk(min(k, s.shape[0]), dim=0).values.mean(0)
    return 2 * s - rx[:, None] - ry[None, :]


def _center_unit(r: torch.Tensor) -> torch.Tensor:
    """Centre every row, then scale it to unit length (a constant row becomes zero)."""
    r = r - r.mean(1, keepdim=True)
    return r / r.norm(dim=1, keepdim=True).clamp_min(torch.finfo(r.dtype).tiny)


def _relative(z: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
    """Cosine relative representation of unit rows w.r.t. ``z[rows]``."""
    return _center_unit(z @ z[list(rows)].T)


def _sorted_similarity(z: torch.Tensor, length: int) -> torch.Tensor:
    """Each row's sorted similarity distribution in ``sqrt(z zᵀ)``, resampled to ``length`` values."""
    u, s, _ = torch.linalg.svd(z, full_matrices=False)
    profile = ((u * s) @ u.T).sort(dim=1).values
    # Sets of different sizes are compared through the same quantiles of their distributions.
    pick = torch.linspace(0, profile.shape[1] - 1, length).round().long()
    return _center_unit(profile[:, pick])


def _gromov_start(xu: torch.Tensor, yu: torch.Tensor, scale: float) -> torch.Tensor:
    """Entropic Gromov-Wasserstein plan between the cosine-distance matrices, scaled to rows summing to 1."""
    import ot

    n, m = len(xu), len(yu)
    plan = ot.gromov.entropic_gromov_wasserstein(
        (1 - xu @ xu.T).numpy(), (1 - yu @ yu.T).numpy(), np.full(n, 1.0 / n), np.full(m, 1.0 / m),
        "square_loss", epsilon=scale / n, max_iter=100, warn=False,
    )
    return torch.as_tensor(np.asarray(plan), dtype=torch.float64) * n


class _Objective:
    """Scores a matching in its own relative spaces: every pair of it is an anchor, and the objective is the
    mean CSLS similarity of the discovered (not known) pairs. A right matching describes both sets alike, so
    its pairs are similar; a wrong one is not even self-consistent."""

    def __init__(self, xu: torch.Tensor, yu: torch.Tensor, known: tuple[tuple[int, int], ...], csls_k: int) -> None:
        self.xu, self.yu, self.known, self.csls_k = xu, yu, known, csls_k
        self.rows = torch.arange(len(xu))
        self.discovered = torch.ones(len(xu), dtype=torch.bool)
        self.discovered[[i for i, _ in known]] = False
        if not bool(self.discovered.any()):
            self.discovered[:] = True

    def describe(self, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """CSLS similarities in the relative spaces w.r.t. the pairs ``(keep, target[keep])`` and the known ones."""
        pairs = dict(zip(keep.tolist(), target[keep].tolist()))
        pairs.update(self.known)  # the known pairs are always anchors, with their true partners
        return _csls(_relative(self.xu, list(pairs)) @ _relative(self.yu, list(pairs.values())).T, self.csls_k)

    def value(self, target: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """``(target, scores, objective)``: the mean of ``scores`` over the discovered pairs of ``target``."""
        return target, scores, float(scores[self.rows, target][self.discovered].mean())

    def __call__(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        return self.value(target, self.describe(target, self.rows))


def _schedule(objective: _Objective, scores: torch.Tensor, rounds: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Grow an anchor set from ``scores``: assign, keep the surest matches, re-describe relative to them, repeat.

    The kept fraction grows from 10 % to every row, then a few rounds converge. Returns the best matching
    seen (the start's own assignment included, so the rounds cannot make a good start worse), its scores
    and its objective.
    """
    n, known, rows = len(scores), objective.known, objective.rows
    target = _assign(scores, known)
    best = objective(target)
    warmup = max(1, rounds - 5)
    for r in range(rounds):
        fraction = min(1.0, 0.1 + 0.9 * r / warmup)
        keep = torch.argsort(scores[rows, target], descending=True)[: max(int(fraction * n), len(known) + 1)]
        scores = objective.describe(target, keep)
        if fraction == 1.0 and r > 0:
            best = max(best, objective.value(target, scores), key=lambda t: t[2])
        new = _assign(scores, known)
        if fraction == 1.0 and torch.equal(new, target):
            break
        target = new
    return best


def _stochastic(objective: _Objective, target: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Stochastic dictionary induction (Artetxe et al., ACL 2018) from the matching ``target``.

    Re-describe both sets w.r.t. every current pair, then re-assign on the similarities with each entry kept
    with probability ``p`` (the others forbidden): the noise lets the matching leave a poor self-consistent
    solution. ``p`` starts at 0.1 and doubles whenever the objective has not improved for three rounds; at
    ``p = 1`` the assignment is exact and the loop ends when it stalls. Returns the best matching seen.
    """
    g = torch.Generator().manual_seed(seed)
    best = current = objective(target)
    p, stall = 0.1, 0
    for r in range(_STOCHASTIC_ROUNDS):
        if r:  # round 0 scores the start, already scored as the best so far
            current = objective(target)
        _, scores, value = current
        if value > best[2] + 1e-4:
            best, stall = current, 0
        else:
            stall += 1
            if stall >= 3:
                if p >= 1.0:
                    break
                p, stall = min(1.0, 2 * p), 0
        if p < 1.0:
            scores = torch.where(torch.rand(scores.shape, generator=g, dtype=scores.dtype) < p, scores,
                                 torch.full_like(scores, -1e3))  # CSLS lies in [-4, 4]: forbidden entries lose
        target = _assign(scores, objective.known)
    return best


def _restart(objective: _Objective, run: tuple[torch.Tensor, torch.Tensor, float],
             rounds: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Restart from a matching's surest matches: take them as pairs for one schedule, then free them.

    A matching that is half right is usually right where it is surest (benchmarks/bench_anchors.py: the top
    half is right far more often); relative spaces w.r.t. those pairs are a far better start than the few
    known ones, and a second schedule with only the truly known pairs fixed lets the borrowed ones change.
    """
    target, scores, _ = run
    margin = _margins(scores, target, objective.known)
    margin[~objective.discovered] = -torch.inf
    top = min(_RESTART_PAIRS, int(objective.discovered.sum()) // 2)
    if top == 0:
        return run
    rows = torch.argsort(margin, descending=True, stable=True)[:top]
    borrowed = _Objective(objective.xu, objective.yu,
                          objective.known + tuple((int(i), int(target[i])) for i in rows), objective.csls_k)
    held, _, _ = _schedule(borrowed, objective.describe(target, rows), rounds)
    return _schedule(objective, objective(held)[1], rounds)


def _stability(objective: _Objective, target: torch.Tensor, rounds: int, seed: int) -> torch.Tensor:
    """Per match, the fraction of :data:`_SCRAMBLES` seeded scrambles of the matching after which the schedule
    comes back to it (module docstring, step 5); known pairs count as stable.

    The known pairs are scrambled and freed like the rest: held in place, they would pull the schedule back to
    whatever basin they chose, right or wrong (Cora, two GNNs, 25 known pairs: a matching 15 % right came back
    84 % with them held, 37 % with them free; Fashion-MNIST's, 95 % right, 98 % and 94 %).
    """
    free = _Objective(objective.xu, objective.yu, (), objective.csls_k)
    g = torch.Generator().manual_seed(seed)
    n = len(target)
    back = torch.zeros(n, dtype=torch.float64)
    for _ in range(_SCRAMBLES):
        scrambled = target.clone()
        rows = torch.randperm(n, generator=g)[: max(2, round(_SCRAMBLE * n))]
        scrambled[rows] = target[rows[torch.randperm(len(rows), generator=g)]]
        returned, _, _ = _schedule(free, free(scrambled)[1], max(rounds, 1))
        back += (returned == target).double()
    back /= _SCRAMBLES
    back[~objective.discovered] = 1.0
    return back


def _checked(m: Matching, objective: _Objective, rounds: int, seed: int) -> Matching:
    """``m`` with its stability and reliability, warning when it is unreliable."""
    stability = _stability(objective, m.target, rounds, seed)
    reliability = float(stability[objective.discovered].mean())
    if reliability < RELIABLE:
        warnings.warn(
            f"the discovered matching is unreliable: after half of it is scrambled, the self-learning comes back "
            f"to only {reliability:.0%} of its matches (reliable matchings come back to over {RELIABLE:.0%}), so "
            "most of its matches are likely wrong; the two encoders' latents barely identify these samples. Give "
            "more known pairs, or pair the anchors (the same inputs through both encoders)",
            MatchingWarning, stacklevel=3,
        )
    return replace(m, stability=stability, reliability=reliability)


def match_anchors(
    x: Any,
    y: Any,
    *,
    known: Sequence[tuple[int, int]] | None = None,
    method: str = "auto",
    reg: float = 0.05,
    refine: int = 10,
    csls_k: int = 10,
    seed: int = 0,
) -> Matching:
    """Discover which row of ``y`` corresponds to each row of ``x`` (two encoders' latents of shuffled samples).

    * ``method="auto"`` (default): self-learning (see the module docstring) from every start — the known
      pairs, a Wasserstein-Procrustes fit on them, the sorted similarity distributions and, with fewer than
      10 known pairs and at most 500 rows, two entropic Gromov-Wasserstein plans — returning the matching
      with the best objective.
    * ``method="self-learning"``: the same without the Procrustes and Gromov-Wasserstein starts.
    * ``method="sinkhorn"``: entropic OT (Sinkhorn) between the relative representations w.r.t. the known
      pairs, then ``refine`` Procrustes re-assignment rounds.
    * ``method="gromov"``: exact Gromov-Wasserstein on the two distance matrices, then the same rounds.

    With few or no pairs, match on more unpaired samples than the anchors you need, then keep the most
    confident matches (:meth:`Matching.confident`): the surest half is right far more often than the whole.
    Every matching is then checked for stability (module docstring, step 5): read
    :attr:`Matching.reliability` before trusting it; below :data:`RELIABLE` a
    :class:`~stitch.errors.MatchingWarning` says the matching is unreliable.

    Args:
        x, y: the two point sets; ``len(x) <= len(y)``.
        known: ``(i, j)`` pairs known to correspond (kept fixed); each row in at most one pair.
        method: one of :data:`MATCHING_METHODS`.
        reg: entropic regularisation relative to the cost scale (Sinkhorn), ``> 0``.
        refine: rounds of the self-learning schedule / Procrustes re-assignment (0: each start's rounding, as
            is, and no stochastic route).
        csls_k: neighbourhood size of the CSLS hubness correction.
        seed: seed of the stochastic routes (restart ``r`` uses ``seed + r``); the rest is deterministic.

    Shapes:
        x: ``(n, d_x)``, y: ``(m, d_y)`` with ``n <= m``  ->  ``Matching.target``: ``(n,)``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(60, 5, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
        >>> perm = torch.randperm(60, generator=g)
        >>> y = (x @ q)[perm]              # y[k] is x[perm[k]] rotated
        >>> truth = torch.argsort(perm)    # x[i] is y[truth[i]]
        >>> m = match_anchors(x, y, known=[(int(i), int(truth[i])) for i in range(5)])
        >>> m.n_correct(truth), m.method, m.reliability
        (55, 'self-learning', 1.0)
    """
    x = as_matrix(x, "x").detach().double().cpu()
    y = as_matrix(y, "y").detach().double().cpu()
    n, m = len(x), len(y)
    if n > m:
        raise ValueError(f"x has {n} rows but y only {m}; every row of x needs its own match, pass the larger set as y")
    check_choice(method, MATCHING_METHODS, "matching method")
    if isinstance(reg, bool) or not isinstance(reg, (int, float)) or not reg > 0:
        raise ValueError(f"reg (entropic regularisation, relative to the cost scale) must be > 0, got {reg!r}")
    if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
        raise ValueError(f"refine (re-assignment rounds) must be an int >= 0, got {refine!r}")
    check_positive_int(csls_k, "csls_k")
    check_seed(seed)
    known = _check_known(known, n, m)
    # its starts and rounds hold several dense (n, m) / (m, m) float64 matrices at once
    check_fits(_MATRICES_AT_ONCE * 8 * m * m, f"matching {n} x {m} rows",
               "match a random subset of the rows (a few thousand), then translate the rest with the map it gives")
    if method == "sinkhorn" and not known:
        raise ValueError(
            "method='sinkhorn' compares relative spaces built from known pairs, but known is empty; "
            "pass a few known (i, j) pairs or use method='auto'"
        )
    xu, yu = _unit_rows(x), _unit_rows(y)
    objective = _Objective(xu, yu, known, csls_k)
    if method in ("sinkhorn", "gromov"):
        return _checked(_transport(x, y, known, method, reg, refine), objective, refine, seed)
    starts: dict[str, Any] = {}
    if known:
        starts["known"] = lambda: _csls(_relative(xu, [i for i, _ in known]) @ _relative(yu, [j for _, j in known]).T,
                                        csls_k)
    starts["sorted"] = lambda: _csls(_sorted_similarity(xu, n) @ _sorted_similarity(yu, n).T, csls_k)
    if method == "auto" and known:
        # Wasserstein-Procrustes pools the evidence of all rows in one linear map: on nearly isotropic
        # spaces it finds the basin where a few noisy relative coordinates do not.
        starts["procrustes"] = lambda: _transport(x, y, known, "sinkhorn", reg, refine).scores
    few = len(known) < _FEW_KNOWN
    if method == "auto" and few and m <= _GW_MAX_ROWS:
        for scale in _GW_SCALES:
            starts[f"gromov@{scale}"] = lambda scale=scale: _gromov_start(xu, yu, scale)
    runs: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
    for name, start in starts.items():
        scores = start()
        runs[f"{name}/schedule"] = _schedule(objective, scores, refine)
        if refine and few and name == "sorted":
            # the start that needs no pairs and no transport plan is the weakest: shake it, from several seeds
            for r in range(_STOCHASTIC_RESTARTS):
                runs[f"sorted/stochastic#{r}"] = _stochastic(objective, _assign(scores, known), seed + r)
    name = max(runs, key=lambda k: runs[k][2])
    if refine:
        restarted = _restart(objective, runs[name], refine)
        if restarted[2] > runs[name][2]:
            name = f"{name}/restart"
            runs[name] = restarted
    if refine and not name.endswith("/stochastic"):  # the best schedule, shaken once more
        polished = _stochastic(objective, runs[name][0], seed)
        if polished[2] > runs[name][2]:
            name = f"{name}/stochastic"
            runs[name] = polished
    target, scores, _ = runs[name]
    return _checked(Matching(target=target, scores=scores, method="self-learning", known=known, start=name,
                             candidates=tuple((k, r[2]) for k, r in runs.items())), objective, refine, seed)


def _transport(x: torch.Tensor, y: torch.Tensor, known: tuple[tuple[int, int], ...], method: str, reg: float,
               refine: int) -> Matching:
    """The one-shot transport solvers: a Sinkhorn or Gromov-Wasserstein plan, then Procrustes re-assignment."""
    import ot

    from stitch.core.linalg import similarity_procrustes
    from stitch.core.projection import relative_projection

    n, m = len(x), len(y)
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
    scores = torch.as_tensor(np.asarray(plan), dtype=torch.float64)
    target = _assign(scores, known)
    for _ in range(refine):
        coef, intercept, _, _ = similarity_procrustes(x, y[target])
        scores = -_sq_dists(torch.addmm(intercept, x, coef), y)
        new = _assign(scores, known)
        if torch.equal(new, target):
            break
        target = new
    return Matching(target=target, scores=scores, method=method, known=known, start=method)
