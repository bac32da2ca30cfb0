"""Anchor selection: which reference samples every encoder embeds to build its relative space.

Anchors are always *real* samples (indices into the reference set), so any other encoder can embed the
same inputs. Strategies live in :data:`ANCHOR_STRATEGIES`, a :class:`~stitch.utils.names.NameTable` open to
plugins; a strategy is ``fn(x, n, *, labels, seed, **params) -> LongTensor`` of ``n`` distinct indices.

Built-ins:

* ``random``: a seeded uniform draw without replacement.
* ``stratified``: the same number of anchors per class (``n`` must be a multiple of the class count).
* ``fps``: farthest-point sampling in Euclidean distance, starting from a seeded random sample.
* ``kmeans``: k-means (scikit-learn, seeded) on ``x``, then the real sample nearest each centroid.
* ``balanced``: clusters of equal size from a Sinkhorn-Knopp optimal-transport assignment (POT) with
  uniform marginals, alternated with centroid updates; then the real sample nearest each centroid.
  Costs are divided by their mean, so ``reg`` is relative; each round runs at most 1000 Sinkhorn iterations,
  so cluster masses are equal up to that convergence. Memory grows as ``n_reference * n``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stitch.utils.checks import as_matrix, check_positive_int, check_seed
from stitch.utils.names import BUILTIN, NameTable, check_options, describe

__all__ = [
    "ANCHOR_STRATEGIES",
    "AnchorSelection",
    "register_anchor_strategy",
    "select_anchors",
    "get_anchor_strategy",
    "list_anchor_strategies",
]

AnchorStrategy = Callable[..., torch.Tensor]

#: every anchor strategy by name (``stitch anchors list``)
ANCHOR_STRATEGIES: NameTable[AnchorStrategy] = NameTable("anchor strategy", list_command="stitch anchors list")


@dataclass(frozen=True)
class AnchorSelection:
    """Indices chosen by :func:`select_anchors` plus everything needed to reproduce them.

    Example:
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
        >>> sel = select_anchors(x, 5, "fps", seed=3, return_info=True)
        >>> sel.strategy, sel.seed, sel.n_reference, len(sel.indices)
        ('fps', 3, 30, 5)
        >>> torch.equal(sel.indices, select_anchors(x, 5, "fps", seed=3))
        True
    """

    indices: torch.Tensor
    strategy: str
    seed: int
    n_reference: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (indices as a list of ints).

        Example:
            >>> sel = select_anchors(torch.randn(20, 3), 4, seed=1, return_info=True)
            >>> sorted(sel.to_dict())
            ['indices', 'n_reference', 'params', 'seed', 'strategy']
        """
        return {
            "indices": [int(i) for i in self.indices],
            "strategy": self.strategy,
            "seed": self.seed,
            "n_reference": self.n_reference,
            "params": dict(self.params),
        }


def register_anchor_strategy(
    name: str,
    fn: AnchorStrategy,
    *,
    source: str = BUILTIN,
    description: str = "",
    aliases: Iterable[str] = (),
) -> None:
    """Register ``fn(x, n, *, labels, seed, **params) -> LongTensor`` as anchor strategy ``name``.

    ``x`` arrives validated (finite, float, ``(n_ref, d)``, on the CPU); ``fn`` must return ``n`` distinct
    indices.

    Example:
        >>> register_anchor_strategy("first", lambda x, n, **kw: torch.arange(n), source="doc")
        >>> select_anchors(torch.randn(5, 2), 2, "doc:first").tolist()
        [0, 1]
        >>> ANCHOR_STRATEGIES.unregister_source("doc")
    """
    if not callable(fn):
        raise TypeError(f"anchor strategy {name!r} must be callable, got {type(fn).__name__}")
    ANCHOR_STRATEGIES.register(name, fn, source=source, aliases=aliases, description=description or describe(fn))


def get_anchor_strategy(name: str) -> AnchorStrategy:
    """The strategy function registered as ``name`` (bare, alias or ``plugin:name``).

    Example:
        >>> get_anchor_strategy("fps").__name__
        '_fps'
    """
    return ANCHOR_STRATEGIES.get(name)


def list_anchor_strategies(pattern: str = "*") -> list[str]:
    """Names of the registered anchor strategies matching a shell-style ``pattern``.

    Example:
        >>> list_anchor_strategies("k*")
        ['kmeans']
    """
    return ANCHOR_STRATEGIES.names(pattern)


def select_anchors(
    x: Any,
    n: int,
    strategy: str = "random",
    *,
    labels: Any = None,
    seed: int = 0,
    return_info: bool = False,
    **params: Any,
) -> torch.Tensor | AnchorSelection:
    """Pick ``n`` anchors among the rows of the reference set ``x``.

    Args:
        x: reference set; NaN/Inf rows raise, naming the first bad row.
        n: number of anchors, ``1 <= n <= len(x)``.
        strategy: a name from :func:`list_anchor_strategies`.
        labels: class of each reference sample (``stratified`` needs them).
        seed: every random choice is drawn from it; recorded in the returned info.
        return_info: return an :class:`AnchorSelection` (indices, strategy, seed, params) instead.
        params: strategy options (``n_init``/``max_iter`` for ``kmeans``; ``reg``/``n_iter`` for ``balanced``).

    Shapes:
        x: ``(n_ref, d)``, labels: ``(n_ref,)`` -> ``(n,)`` int64 indices into ``x``

    Example:
        >>> import torch
        >>> idx = select_anchors(torch.randn(100, 8), 10, "fps", seed=3)
        >>> idx.shape, len(set(idx.tolist()))
        (torch.Size([10]), 10)
    """
    entry = ANCHOR_STRATEGIES.entry(strategy)
    fn = entry.obj
    check_options("anchor strategy", entry.name, fn, {"labels": labels, "seed": seed, **params}, args=(None, None))
    x = as_matrix(x, "x").detach().cpu()  # selection runs once, on the CPU, and returns CPU indices
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (number of anchors) must be a positive integer, got {n!r}")
    n = int(n)
    if n > len(x):
        raise ValueError(
            f"cannot select {n} anchors from a reference set of {len(x)} samples; "
            f"use n <= {len(x)} or a larger reference set"
        )
    seed = check_seed(seed)
    if labels is not None:
        labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        if labels.shape != (len(x),):
            raise ValueError(f"labels must have shape ({len(x)},) (one per reference sample), got {labels.shape}")
    indices = torch.as_tensor(fn(x, n, labels=labels, seed=int(seed), **params), dtype=torch.long).flatten()
    if indices.numel() != n or len(torch.unique(indices)) != n or (indices < 0).any() or (indices >= len(x)).any():
        raise ValueError(
            f"anchor strategy {strategy!r} returned {indices.numel()} indices (expected {n} distinct ones in "
            f"[0, {len(x)})); this is a bug in the strategy"
        )
    if not return_info:
        return indices
    return AnchorSelection(indices=indices, strategy=strategy, seed=int(seed), n_reference=len(x), params=params)


# -- built-in strategies -----------------------------------------------------------------------------------
def _random(x: torch.Tensor, n: int, *, labels: Any = None, seed: int = 0) -> torch.Tensor:
    """Seeded uniform draw without replacement."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(len(x), generator=g)[:n]


def _stratified(x: torch.Tensor, n: int, *, labels: Any = None, seed: int = 0) -> torch.Tensor:
    """The same number of anchors from every class (needs labels)."""
    if labels is None:
        raise ValueError("strategy 'stratified' needs labels=...: one class label per reference sample")
    classes, counts = np.unique(labels, return_counts=True)
    if n % len(classes):
        raise ValueError(
            f"strategy 'stratified' draws the same number per class, but n={n} is not a multiple of the "
            f"{len(classes)} classes; use n={(n // len(classes) + 1) * len(classes)} or another strategy"
        )
    per_class = n // len(classes)
    short = [(c, k) for c, k in zip(classes, counts) if k < per_class]
    if short:
        c, k = short[0]
        raise ValueError(
            f"class {c.item()!r} has only {k} samples but strategy 'stratified' needs {per_class} per class "
            f"(n={n} over {len(classes)} classes); lower n or use strategy 'random'"
        )
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in classes]
    return torch.from_numpy(np.concatenate(picks).astype(np.int64))


def _fps(x: torch.Tensor, n: int, *, labels: Any = None, seed: int = 0) -> torch.Tensor:
    """Farthest-point sampling from a seeded random start."""
    x = x.double()
    start = int(torch.randint(len(x), (1,), generator=torch.Generator().manual_seed(seed)))
    chosen = [start]
    dist = ((x - x[start]) ** 2).sum(1)
    dist[start] = -1.0  # chosen points never win again, even among exact duplicates
    for _ in range(n - 1):
        nxt = int(torch.argmax(dist))
        chosen.append(nxt)
        dist = torch.minimum(dist, ((x - x[nxt]) ** 2).sum(1))
        dist[chosen] = -1.0
    return torch.tensor(chosen, dtype=torch.long)


def _nearest_unique(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """For each centroid the nearest sample not already taken by an earlier centroid."""
    d = torch.cdist(centroids.double(), x.double())
    taken = torch.zeros(len(x), dtype=torch.bool)
    out = []
    for row in d:
        row = row.masked_fill(taken, float("inf"))
        i = int(torch.argmin(row))
        taken[i] = True
        out.append(i)
    return torch.tensor(out, dtype=torch.long)


def _kmeans(
    x: torch.Tensor, n: int, *, labels: Any = None, seed: int = 0, n_init: int = 3, max_iter: int = 100
) -> torch.Tensor:
    """k-means centroids, each replaced by its nearest real sample."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n, n_init=check_positive_int(n_init, "n_init"),
                max_iter=check_positive_int(max_iter, "max_iter"), random_state=seed)
    km.fit(x.double().cpu().numpy())
    return _nearest_unique(x, torch.from_numpy(km.cluster_centers_))


def _balanced(
    x: torch.Tensor, n: int, *, labels: Any = None, seed: int = 0, reg: float = 0.05, n_iter: int = 10
) -> torch.Tensor:
    """Equal-size clusters from Sinkhorn-Knopp optimal transport, each centre replaced by its nearest sample."""
    import ot

    if not (isinstance(reg, (int, float)) and reg > 0):
        raise ValueError(f"reg (entropic regularisation, relative to the mean cost) must be > 0, got {reg!r}")
    x64 = x.double()
    centroids = x64[_fps(x, n, seed=seed)]
    a = np.full(len(x), 1.0 / len(x))
    b = np.full(n, 1.0 / n)  # uniform cluster marginals: every cluster gets the same mass
    for _ in range(check_positive_int(n_iter, "n_iter")):
        cost = torch.cdist(x64, centroids) ** 2
        scale = float(cost.mean()) or 1.0
        plan = torch.from_numpy(ot.sinkhorn(a, b, (cost / scale).numpy(), reg, numItermax=1000, warn=False))
        mass = plan.sum(0).clamp(min=torch.finfo(plan.dtype).tiny)
        centroids = (plan.T @ x64) / mass[:, None]
    return _nearest_unique(x, centroids)


for _name, _fn in [("random", _random), ("stratified", _stratified), ("fps", _fps), ("kmeans", _kmeans),
                   ("balanced", _balanced)]:
    register_anchor_strategy(_name, _fn)
