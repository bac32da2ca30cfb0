"""The built-in reference suites: ``lst`` (latent space translation), ``relreps`` (relative representations) and
``bricks`` (product of invariances).

Each runs on :data:`~stitch.bench.pairs.PAIRS`, in both directions (each encoder's head reads the other one),
with anchors drawn from training samples the head did not learn from, one draw per seed.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from stitch.bench import BenchContext, BenchRow
from stitch.bench.pairs import PAIRS, BenchPair, PairData, accuracy, linear_head, load_pair
from stitch.errors import InterpolationWarning
from stitch.utils.progress import phase

__all__ = ["PUBLISHED", "LST_METHODS", "RELREPS_METHODS", "BRICKS_SPACES", "lst", "relreps", "bricks",
           "BUILTIN_SUITES"]

#: (suite, dataset, method) -> (published stitched / native ratio, where it comes from)
PUBLISHED: dict[tuple[str, str, str], tuple[float, str]] = {
    ("lst", "fashion-mnist", "affine"): (0.98, "LST Table 1"),
    ("lst", "fashion-mnist", "orthogonal"): (0.97, "LST Table 1"),
    ("lst", "trec", "affine"): (0.94, "LST Table 1"),
    ("lst", "trec", "relative"): (0.86, "RelReps, across architectures"),
    ("lst", "mnist", "affine"): (0.97, "LST Table 1"),
    ("relreps", "trec", "relative"): (0.86, "RelReps, across architectures"),
}

#: the ``lst`` rows: no map, a relative head, the paper's maps (orthogonal: after its per-dimension standard
#: scaling), Procrustes without that scaling, ridge, and ours (the Stitcher's choice)
LST_METHODS = ("absolute", "relative", "affine", "linear", "orthogonal", "procrustes", "ridge", "auto")
#: the ``relreps`` rows: a head on absolute latents (the baseline relative spaces exist to beat), then relative
#: heads on cosine similarities to random anchors, with per-dimension standardisation fitted on the anchors
#: (before the similarity and of its output), and with that standardisation on k-means or farthest-point anchors
#: chosen in the head side's space
RELREPS_METHODS = ("absolute", "relative", "standardized", "k-means anchors", "FPS anchors")
#: the ``bricks`` rows: relative heads on each similarity, then on the product of the four
BRICKS_SPACES = ("cosine", "euclidean", "l1", "linf", "product")

_TRANSLATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "affine": ("affine", {}), "linear": ("linear", {}), "orthogonal": ("procrustes", {"standardize": True}),
    "procrustes": ("procrustes", {}), "ridge": ("ridge", {})}


def _anchor_counts(context: BenchContext) -> tuple[int, ...]:
    if context.anchors is not None:
        return context.anchors
    return (300, 1000) if context.full else (300,)


def _pairs(context: BenchContext) -> Iterator[tuple[str, BenchPair]]:
    for name, pair in context.user_pairs or PAIRS.items():
        if context.selects(name):
            yield name, pair


def _skipped(suite: str, pair: BenchPair, exc: BaseException) -> BenchRow:
    reason = " ".join(str(exc).split())
    return BenchRow(suite, pair.dataset, " / ".join(pair.labels), "-", 0, None, None, None, None, None,
                    note=f"skipped: {reason}")


def _directions(pair: BenchPair) -> Iterator[tuple[str, int, int]]:
    """``(label, new side, head side)`` for both directions."""
    yield f"{pair.labels[1]} -> {pair.labels[0]} head", 1, 0
    yield f"{pair.labels[0]} -> {pair.labels[1]} head", 0, 1


def _row(suite: str, pair: BenchPair, direction: str, method: str, n: int, native: float,
         stitched: list[float], natives: list[float] | None, seconds: float, note: str, ceiling: float) -> BenchRow:
    if not stitched:
        return BenchRow(suite, pair.dataset, direction, method, n, native, None, None, None, None,
                        seconds=seconds, note=note, ceiling=ceiling)
    own = natives or [native] * len(stitched)
    ratios = [s / o for s, o in zip(stitched, own)]
    published, source = PUBLISHED.get((suite, pair.dataset, method), (None, ""))
    return BenchRow(suite, pair.dataset, direction, method, n, float(np.mean(own)), float(np.mean(stitched)),
                    float(np.std(stitched)), float(np.mean(ratios)), float(np.std(ratios)), published, source,
                    seconds, note, ceiling)


def _draw(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    if n > len(pool):
        raise ValueError(f"{n} anchors cannot be drawn from a pool of {len(pool)} training samples; run with --full "
                         "for a larger pool, or fewer anchors")
    return np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))


def _run(suite: str, context: BenchContext,
         methods: Callable[[PairData, int, int, np.ndarray, Any, int], dict[str, Any]]) -> list[BenchRow]:
    """Rows of ``suite``: per pair, direction, anchor count and seed, ``methods(data, new, head_side, anchors,
    head, seed)`` returns ``{method: (stitched accuracy or None, that method's own native accuracy or None,
    seconds, note)}``; a row averages its method's draws. Every row of a direction carries its ceiling: the new
    encoder's accuracy with its own head over the head encoder's (a translation passes on at most what the new
    encoder's latents hold, so a weaker new encoder caps the ratio near this, whatever the method)."""
    rows: list[BenchRow] = []
    for name, pair in _pairs(context):
        phase(f"bench {suite}: {name}: encoding (cached after the first run)", enabled=context.progress)
        try:
            data = load_pair(pair, context)
        except (OSError, LookupError, ImportError) as exc:
            rows.append(_skipped(suite, pair, exc))
            continue
        heads = [linear_head(data.train[s][data.head_rows], data.y_train[data.head_rows]) for s in (0, 1)]
        natives = [accuracy(heads[s], data.test[s], data.y_test) for s in (0, 1)]
        for direction, new, side in _directions(pair):
            head, native, ceiling = heads[side], natives[side], natives[new] / natives[side]
            for n in _anchor_counts(context):
                phase(f"bench {suite}: {name}: {direction}, {n} anchors", enabled=context.progress)
                results: dict[str, list[Any]] = {}
                seconds: dict[str, float] = {}
                notes: dict[str, dict[str, int]] = {}  # method -> note -> how many draws said it
                for seed in context.seeds:
                    anchors = _draw(data.pool_rows, n, seed)
                    for method, value in methods(data, new, side, anchors, head, seed).items():
                        acc, own, spent, note = value
                        seconds[method] = seconds.get(method, 0.0) + spent
                        if note:
                            counts = notes.setdefault(method, {})
                            counts[note] = counts.get(note, 0) + 1
                        if acc is not None:
                            results.setdefault(method, []).append((acc, own))
                for method in seconds:
                    got = results.get(method, [])
                    said = notes.get(method, {})
                    note = "; ".join(k if c == len(context.seeds) else f"{k} ({c} of {len(context.seeds)} draws)"
                                     for k, c in said.items())
                    own = [o for _, o in got] if any(o is not None for _, o in got) else None
                    rows.append(_row(suite, pair, direction, method, n, native, [a for a, _ in got], own,
                                     seconds[method], note, ceiling))
    return rows


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _relative_head(data: PairData, new: int, side: int, anchors: np.ndarray, similarity: str,
                   **options: Any) -> tuple[float, float]:
    """A head trained on the head side's relative space (w.r.t. its anchors), read from the new side's:
    ``(stitched accuracy, the relative head's own accuracy)``; ``options`` go to the relative projection."""
    from stitch.core.product import ProductSpace
    from stitch.core.projection import RelativeProjection

    def space(x_anchors: torch.Tensor) -> Any:
        if similarity == "product":
            return ProductSpace(["cosine", "euclidean", "l1", "linf"], aggregation="concat").fit(x_anchors)
        return RelativeProjection(similarity, **options).fit(x_anchors)

    own, other = space(data.train[side][anchors]), space(data.train[new][anchors])
    head = linear_head(own.transform(data.train[side][data.head_rows]), data.y_train[data.head_rows])
    return (accuracy(head, other.transform(data.test[new]), data.y_test),
            accuracy(head, own.transform(data.test[side]), data.y_test))


def _absolute(data: PairData, new: int, side: int, head: Any) -> tuple[Any, ...]:
    """The head read straight from the other encoder's latents: the no-stitching baseline (same widths only)."""
    test = data.test[new]
    if test.shape[1] != data.test[side].shape[1]:
        return None, None, 0.0, f"widths differ ({test.shape[1]} vs {data.test[side].shape[1]})"
    acc, spent = _timed(lambda: accuracy(head, test, data.y_test))
    return acc, None, spent, ""


def _lst_methods(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int) -> dict[str, Any]:
    from stitch.core.translate import create_translator

    x, y, test = data.train[new][anchors], data.train[side][anchors], data.test[new]
    out: dict[str, Any] = {"absolute": _absolute(data, new, side, head)}
    (acc, own), spent = _timed(lambda: _relative_head(data, new, side, anchors, "cosine"))
    out["relative"] = (acc, own, spent, "")
    for method, (name, options) in _TRANSLATORS.items():
        with warnings.catch_warnings(record=True) as caught:  # a row's caveat, not a line per draw on stderr
            warnings.simplefilter("always", InterpolationWarning)
            acc, spent = _timed(lambda name=name, options=options: accuracy(
                head, create_translator(name, **options).fit(x, y).transform(test), data.y_test))
        peak = any(issubclass(w.category, InterpolationWarning) for w in caught)
        out[method] = (acc, None, spent, f"near the interpolation peak ({len(x)} pairs, {x.shape[1]} dimensions)"
                       if peak else "")
    (acc, choice), spent = _timed(lambda: _auto(x, y, head, test, data.y_test))
    out["auto"] = (acc, None, spent, f"chose {choice}")
    return out


def _auto(x: torch.Tensor, y: torch.Tensor, head: Any, test: torch.Tensor, labels: np.ndarray) -> tuple[float, str]:
    from stitch.stitcher import Stitcher

    with warnings.catch_warnings():  # candidates near the interpolation peak lose the cross-validation anyway
        warnings.simplefilter("ignore", InterpolationWarning)
        stitcher = Stitcher().fit(x, y, decoder=head)
    return accuracy(head, stitcher.transform(test).double(), labels), str(stitcher.report_["choice"])


def _relreps_methods(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int
                     ) -> dict[str, Any]:
    from stitch.core.anchors import select_anchors

    standardized = {"center": "standardize", "normalization": "standardize"}
    out: dict[str, Any] = {"absolute": _absolute(data, new, side, head)}
    (acc, own), spent = _timed(lambda: _relative_head(data, new, side, anchors, "cosine"))
    out["relative"] = (acc, own, spent, "")
    (acc, own), spent = _timed(lambda: _relative_head(data, new, side, anchors, "cosine", **standardized))
    out["standardized"] = (acc, own, spent, "")
    pool = data.pool_rows
    for method, strategy in (("k-means anchors", "kmeans"), ("FPS anchors", "fps")):
        def run(strategy: str = strategy) -> tuple[float, float]:
            chosen = select_anchors(data.train[side][pool], len(anchors), strategy, seed=seed).numpy()
            return _relative_head(data, new, side, np.sort(pool[chosen]), "cosine", **standardized)

        (acc, own), spent = _timed(run)
        out[method] = (acc, own, spent, "")
    return out


def _bricks_methods(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int
                    ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for similarity in BRICKS_SPACES:
        (acc, own), spent = _timed(lambda s=similarity: _relative_head(data, new, side, anchors, s))
        out[similarity] = (acc, own, spent, "")
    return out


def lst(context: BenchContext) -> list[BenchRow]:
    """The ``lst`` suite's rows (see :mod:`stitch.bench`).

    Example:
        >>> lst(BenchContext(pairs=("none",)))
        []
    """
    return _run("lst", context, _lst_methods)


def relreps(context: BenchContext) -> list[BenchRow]:
    """The ``relreps`` suite's rows (see :mod:`stitch.bench`).

    Example:
        >>> relreps(BenchContext(pairs=("none",)))
        []
    """
    return _run("relreps", context, _relreps_methods)


def bricks(context: BenchContext) -> list[BenchRow]:
    """The ``bricks`` suite's rows (see :mod:`stitch.bench`).

    Example:
        >>> bricks(BenchContext(pairs=("none",)))
        []
    """
    return _run("bricks", context, _bricks_methods)


_LST_PROTOCOL = (
    "Frozen pretrained encoders; a linear head (logistic regression after per-dimension standardisation) trained "
    "on the head side's absolute latents of {head} training samples; anchors drawn from the other training "
    "samples (one draw per seed); the other encoder's test latents translated by a map fitted on the anchor pairs "
    "(absolute: no map, where the widths match; relative: a head trained on cosine relative latents instead; "
    "orthogonal: Procrustes after the paper's per-dimension standard scaling, procrustes: without it; auto: "
    "stitch.Stitcher's cross-validated choice by the head's agreement). Ratio: stitched / the same head's accuracy "
    "on its own encoder's test latents (for relative, the relative head's own).")
_RELREPS_PROTOCOL = (
    "Encoders that differ by training seed (digits, Cora: trained here from scratch) or by architecture (digits, "
    "Cora, and frozen pretrained pairs); a linear head (logistic regression after standardisation) trained on the "
    "head side's relative latents (cosine similarity to the anchors), read zero-shot from the other encoder's "
    "relative latents w.r.t. the same anchors (absolute: a head on absolute latents read from the other's, the "
    "baseline; standardized: per-dimension standardisation fitted on the anchors before the similarity and of its "
    "output; k-means / FPS anchors: that, with anchors chosen in the head side's space from the same pool). "
    "Ratio: stitched / the head's accuracy on its own encoder.")
_BRICKS_PROTOCOL = (
    "Frozen pretrained encoders; per similarity, a linear head (logistic regression after standardisation) "
    "trained on the head side's relative latents w.r.t. the anchors, read zero-shot from the other encoder's "
    "relative latents w.r.t. the same anchors; product: the four relative spaces concatenated.")

#: (name, run, description, protocol, reference) of the suites latent-stitch ships
BUILTIN_SUITES: tuple[tuple[str, Callable[[BenchContext], list[BenchRow]], str, str, str], ...] = (
    ("lst", lst, "latent space translation: maps fitted on anchors, a linear head on absolute latents",
     _LST_PROTOCOL.format(head=2000),
     "Maiorca et al., Latent Space Translation via Semantic Alignment, NeurIPS 2023, Table 1 (ratios as quoted "
     "in latent-stitch issue 27); relative column: Moschella et al., ICLR 2023, across architectures"),
    ("relreps", relreps, "relative representations: relative heads read across seeds and architectures",
     _RELREPS_PROTOCOL,
     "Moschella et al., Relative representations enable zero-shot latent space communication, ICLR 2023 (ratio "
     "across text architectures as quoted in latent-stitch issue 27; across seeds the paper reports stitching "
     "near native accuracy, without ratios for these pairs)"),
    ("bricks", bricks, "product of invariances: relative heads on single similarities and on their product",
     _BRICKS_PROTOCOL,
     "Cannistraci et al., From Bricks to Bridges: Product of Invariances, ICLR 2024 (no ratios for these pairs "
     "are published: the column is empty)"),
)
