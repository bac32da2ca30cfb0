"""The built-in reference suites: ``lst`` (latent space translation), ``relreps`` (relative representations) and
``bricks`` (product of invariances).

Each runs on :data:`~stitch.bench.pairs.PAIRS`, in both directions (each encoder's head reads the other one),
with anchors drawn from training samples the head did not learn from, one draw per seed.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stitch.bench import BenchContext, BenchRow
from stitch.bench.pairs import PAIRS, BenchPair, PairData, accuracy, linear_head, load_pair
from stitch.errors import InterpolationWarning
from stitch.utils.progress import phase

__all__ = ["PUBLISHED", "BRICKS_SPACES", "METHODS", "Method", "lst", "relreps", "bricks", "BUILTIN_SUITES"]

#: (suite, dataset, method) -> (published stitched / native ratio, where it comes from)
PUBLISHED: dict[tuple[str, str, str], tuple[float, str]] = {
    ("lst", "fashion-mnist", "affine"): (0.98, "LST Table 1"),
    ("lst", "fashion-mnist", "orthogonal"): (0.97, "LST Table 1"),
    ("lst", "trec", "affine"): (0.94, "LST Table 1"),
    ("lst", "trec", "relative"): (0.86, "RelReps, across architectures"),
    ("lst", "mnist", "affine"): (0.97, "LST Table 1"),
    ("relreps", "trec", "relative"): (0.86, "RelReps, across architectures"),
}

#: the ``bricks`` rows: relative heads on each similarity, then on the product of the four
BRICKS_SPACES = ("cosine", "euclidean", "l1", "linf", "product")

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
         draws: list[dict[str, Any]], n_seeds: int, ceiling: float) -> BenchRow:
    """A row from its method's draws (``stitched``, ``native``: the method's own, if it has one, ``seconds``,
    ``note``); notes said by only some draws say by how many."""
    said: dict[str, int] = {}
    for d in draws:
        if d["note"]:
            said[d["note"]] = said.get(d["note"], 0) + 1
    note = "; ".join(k if c == n_seeds else f"{k} ({c} of {n_seeds} draws)" for k, c in said.items())
    seconds = float(sum(d["seconds"] for d in draws))
    reused = sum(bool(d.get("reused")) for d in draws)
    got = [d for d in draws if d["stitched"] is not None]
    if not got:
        return BenchRow(suite, pair.dataset, direction, method, n, native, None, None, None, None,
                        seconds=seconds, note=note, ceiling=ceiling, reused=reused)
    own = [d["native"] if d["native"] is not None else native for d in got]
    stitched = [d["stitched"] for d in got]
    ratios = [s / o for s, o in zip(stitched, own)]
    published, source = PUBLISHED.get((suite, pair.dataset, method), (None, ""))
    return BenchRow(suite, pair.dataset, direction, method, n, float(np.mean(own)), float(np.mean(stitched)),
                    float(np.std(stitched)), float(np.mean(ratios)), float(np.std(ratios)), published, source,
                    seconds, note, ceiling, reused)


def _draw(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))


@dataclass(frozen=True)
class Method:
    """One kind of row of a suite.

    ``fn(data, new, side, anchors, head, seed)`` returns ``(stitched accuracy or None, that method's own native
    accuracy or None, note)`` for one anchor draw; ``depends`` names the modules (dotted names) and functions
    that define the method besides ``fn``. Their source, ``fn``'s and the values ``fn`` closes over (its
    options) are the method's fingerprint, so a change to one of them recomputes that method's stored draws and
    no other's.

    Example:
        >>> len(Method("absolute", _absolute).fingerprint())
        64
    """

    name: str
    fn: Callable[..., tuple[float | None, float | None, str]]
    depends: tuple[str | Callable[..., Any], ...] = ()

    def fingerprint(self) -> str:
        """sha256 of the source of ``fn``, of ``depends`` and of the protocol's head (``linear_head``,
        ``accuracy``), and of the options ``fn`` closes over (the data are keyed by their own digest)."""
        import hashlib
        import inspect
        import json

        digest = hashlib.sha256()
        for part in (self.fn, *self.depends, linear_head, accuracy):
            digest.update(_source(part) if isinstance(part, str) else inspect.getsource(part).encode())
        for cell in self.fn.__closure__ or ():
            try:  # options (names, numbers, dicts of them); a captured function is covered by its source above
                digest.update(json.dumps(cell.cell_contents, sort_keys=True).encode())
            except TypeError:
                continue
        return digest.hexdigest()


def _source(module: str) -> bytes:
    """The source of a module, or of every module of a package."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LookupError(f"a bench method depends on {module!r}, which is not an importable module")
    origin = Path(spec.origin)
    files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
    return b"".join(f.read_bytes() for f in files)


def _digest(data: PairData) -> str:
    """What the draws of a pair are computed from: its latents, labels and rows (stored draws are keyed by it)."""
    import hashlib

    digest = hashlib.sha256()
    for part in (*data.train, *data.test, data.y_train, data.y_test, data.head_rows, data.pool_rows):
        array = part.numpy() if isinstance(part, torch.Tensor) else np.asarray(part)
        digest.update(str((array.dtype, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _draw_task(task: tuple[int, int, np.ndarray, int, tuple[str, ...]], *, suite: str, data: PairData,
               heads: list[Any]) -> dict[str, tuple[float | None, float | None, float, str]]:
    """One anchor draw of one direction: ``{method: (stitched, own native, seconds, note)}`` for the methods the
    task names (a module-level function, so an engine can ship it to another process)."""
    new, side, anchors, seed, names = task
    out = {}
    for method in METHODS[suite]:
        if method.name in names:
            start = time.perf_counter()
            acc, own, note = method.fn(data, new, side, anchors, heads[side], seed)
            out[method.name] = (acc, own, time.perf_counter() - start, note)
    return out


def _run(suite: str, context: BenchContext) -> list[BenchRow]:
    """Rows of ``suite``: per pair, direction, anchor count and seed, each of its :data:`METHODS` on one anchor
    draw; a row averages its method's draws.

    Every draw is stored (``<cache>/bench/draws.jsonl``) under a key of the suite, the pair, its latents, the
    direction, the anchor count, the seed and the method's fingerprint, so a rerun, or a run that was
    interrupted, computes only what is missing, and a changed method only its own rows (``context.reuse=False``
    recomputes everything). Draws run on ``context.engine`` (local, or Ray). Every row of a direction carries its
    ceiling: the new encoder's accuracy with its own head over the head encoder's (a translation passes on at most
    what the new encoder's latents hold, so a weaker new encoder caps the ratio near this, whatever the method).
    """
    from stitch.encoder.cache import LatentCache
    from stitch.engine import as_engine
    from stitch.experiment.results import CellStore, record_hash
    from stitch.utils.provenance import library_versions

    engine = as_engine(context.engine)
    store = CellStore(LatentCache(context.cache_root).root / "bench" / "draws.jsonl")
    methods = METHODS[suite]
    fingerprints = {m.name: m.fingerprint() for m in methods}
    versions = {k: v for k, v in library_versions().items() if k in ("torch", "numpy", "scikit-learn")}
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
        base = {"suite": suite, "pair": name, "latents": _digest(data), "versions": versions}
        draws: dict[tuple[str, int, int, str], dict[str, Any]] = {}  # (direction, n, seed, method) -> result
        tasks, labels = [], []
        for direction, new, side in _directions(pair):
            for n in _anchor_counts(context):
                if n > len(data.pool_rows):  # its rows say so (a small pair must not stop the suite)
                    continue
                for seed in context.seeds:
                    missing = []
                    for m in methods:
                        key = record_hash({**base, "direction": direction, "anchors": n, "seed": seed,
                                           "method": m.name, "code": fingerprints[m.name]})
                        stored = store.get(key) if context.reuse else None
                        if stored:
                            draws[direction, n, seed, m.name] = {**stored[0], "reused": True}
                        else:
                            missing.append((m.name, key))
                    if missing:
                        tasks.append((new, side, _draw(data.pool_rows, n, seed), seed,
                                      tuple(m for m, _ in missing)))
                        labels.append((direction, n, seed, dict(missing)))

        def started(i: int, task: Any) -> None:
            direction, n, seed, _ = labels[i]
            phase(f"bench {suite}: {name}: {direction}, {n} anchors, draw {seed}", enabled=context.progress)

        for i, result in engine.map(_draw_task, tasks, shared={"suite": suite, "data": data, "heads": heads},
                                    what=f"{suite} draws", progress=context.progress, on_start=started):
            direction, n, seed, keys = labels[i]
            for method, (acc, own, spent, note) in result.items():
                value = {"stitched": acc, "native": own, "seconds": spent, "note": note}
                store.add(keys[method], [value])
                draws[direction, n, seed, method] = value
        for direction, new, side in _directions(pair):
            for n in _anchor_counts(context):
                if n > len(data.pool_rows):
                    note = (f"{n} anchors exceed this pair's pool of {len(data.pool_rows)} samples the head did not "
                            "learn from; pass fewer with --anchors")
                    rows.extend(BenchRow(suite, pair.dataset, direction, m.name, n, natives[side], None, None, None,
                                         None, note=note, ceiling=natives[new] / natives[side]) for m in methods)
                    continue
                for m in methods:
                    got = [draws[direction, n, seed, m.name] for seed in context.seeds]
                    rows.append(_row(suite, pair, direction, m.name, n, natives[side], got, len(context.seeds),
                                     natives[new] / natives[side]))
    return rows


def _relative_head(data: PairData, new: int, side: int, anchors: np.ndarray, similarity: str,
                   **options: Any) -> tuple[float, float, str]:
    """A head trained on the head side's relative space (w.r.t. its anchors), read from the new side's:
    ``(stitched accuracy, the relative head's own accuracy, "")``; ``options`` go to the relative projection."""
    from stitch.core.product import ProductSpace
    from stitch.core.projection import RelativeProjection

    def space(x_anchors: torch.Tensor) -> Any:
        if similarity == "product":
            return ProductSpace(list(BRICKS_SPACES[:-1]), aggregation="concat").fit(x_anchors)
        return RelativeProjection(similarity, **options).fit(x_anchors)

    own, other = space(data.train[side][anchors]), space(data.train[new][anchors])
    head = linear_head(own.transform(data.train[side][data.head_rows]), data.y_train[data.head_rows])
    return (accuracy(head, other.transform(data.test[new]), data.y_test),
            accuracy(head, own.transform(data.test[side]), data.y_test), "")


def _absolute(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int
              ) -> tuple[float | None, None, str]:
    """The head read straight from the other encoder's latents: the no-stitching baseline (same widths only)."""
    test = data.test[new]
    if test.shape[1] != data.test[side].shape[1]:
        return None, None, f"widths differ ({test.shape[1]} vs {data.test[side].shape[1]})"
    return accuracy(head, test, data.y_test), None, ""


def _cosine(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int) -> tuple[Any, ...]:
    return _relative_head(data, new, side, anchors, "cosine")


def _unpaired(data: PairData, new: int, side: int, anchors: np.ndarray) -> dict[str, torch.Tensor]:
    """Each side's own training latents other than the anchors, as unpaired latents (no pairing or label used)."""
    rest = np.setdiff1d(np.arange(len(data.y_train)), anchors)
    return {"x_unpaired": data.train[new][rest], "y_unpaired": data.train[side][rest]}


def _translated(translator: str, *, unpaired: bool = False, **options: Any) -> Callable[..., tuple[float, None, str]]:
    """The method that maps the new side's test latents by ``translator`` fitted on the anchor pairs (and, with
    ``unpaired``, each side's other training latents)."""

    def run(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int
            ) -> tuple[float, None, str]:
        from stitch.core.translate import create_translator

        x, y = data.train[new][anchors], data.train[side][anchors]
        extra = _unpaired(data, new, side, anchors) if unpaired else {}
        with warnings.catch_warnings(record=True) as caught:  # a row's caveat, not a line per draw on stderr
            warnings.simplefilter("always", InterpolationWarning)
            translated = create_translator(translator, **options).fit(x, y, **extra).transform(data.test[new])
            acc = accuracy(head, translated, data.y_test)
        peak = any(issubclass(w.category, InterpolationWarning) for w in caught)
        return acc, None, f"near the interpolation peak ({len(x)} pairs, {x.shape[1]} dimensions)" if peak else ""

    return run


def _auto(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int) -> tuple[float, None, str]:
    from stitch.stitcher import Stitcher

    with warnings.catch_warnings():  # candidates near the interpolation peak lose the cross-validation anyway
        warnings.simplefilter("ignore", InterpolationWarning)
        unpaired = _unpaired(data, new, side, anchors)
        stitcher = Stitcher().fit(data.train[new][anchors], data.train[side][anchors], decoder=head,
                                  encoder_unpaired=unpaired["x_unpaired"], decoder_unpaired=unpaired["y_unpaired"])
    acc = accuracy(head, stitcher.transform(data.test[new]).double(), data.y_test)
    return acc, None, f"chose {stitcher.report_['choice']}"


_STANDARDIZED = {"center": "standardize", "normalization": "standardize"}


def _standardized(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int
                  ) -> tuple[Any, ...]:
    return _relative_head(data, new, side, anchors, "cosine", **_STANDARDIZED)


def _mahalanobis(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int
                 ) -> tuple[Any, ...]:
    return _relative_head(data, new, side, anchors, "mahalanobis", normalization="standardize")


def _chosen_anchors(strategy: str) -> Callable[..., tuple[Any, ...]]:
    """The standardised relative head on as many anchors as drawn, chosen by ``strategy`` in the head side's
    space from the same pool (seeded by the draw's seed)."""

    def run(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int) -> tuple[Any, ...]:
        from stitch.core.anchors import select_anchors

        pool = data.pool_rows
        chosen = select_anchors(data.train[side][pool], len(anchors), strategy, seed=seed).numpy()
        return _relative_head(data, new, side, np.sort(pool[chosen]), "cosine", **_STANDARDIZED)

    return run


def _similarity(name: str) -> Callable[..., tuple[Any, ...]]:
    def run(data: PairData, new: int, side: int, anchors: np.ndarray, head: Any, seed: int) -> tuple[Any, ...]:
        return _relative_head(data, new, side, anchors, name)

    return run


_RELATIVE = (_relative_head, "stitch.core.projection", "stitch.core.similarity", "stitch.core.pairwise",
             "stitch.core.normalization")
_TRANSLATE = ("stitch.core.translate", "stitch.core.linalg")
_TRANSLATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "affine": ("affine", {}), "linear": ("linear", {}), "orthogonal": ("procrustes", {"standardize": True}),
    "orthogonal, unpaired stats": ("procrustes", {"standardize": True, "unpaired": True}),
    "procrustes": ("procrustes", {}), "ridge": ("ridge", {})}

#: each built-in suite's methods, in the order of its rows. ``lst``: no map (absolute), a relative head, the paper's
#: maps (orthogonal: after its per-dimension standard scaling, also with that scaling estimated on each side's
#: unpaired latents), Procrustes without that scaling, ridge, and ours (auto: the Stitcher's choice). ``relreps``:
#: a head on absolute latents (the baseline relative spaces exist to beat), relative heads on cosine similarities to
#: random anchors, with per-dimension standardisation fitted on the anchors (before the similarity and of its
#: output), on the negated Mahalanobis distance (the anchors' covariance, Ledoit-Wolf shrinkage; standardised output),
#: and with that standardisation on k-means or farthest-point anchors chosen in the head side's space.
#: ``bricks``: relative heads on each similarity, then on their product.
METHODS: dict[str, tuple[Method, ...]] = {
    "lst": (Method("absolute", _absolute), Method("relative", _cosine, _RELATIVE),
            *(Method(m, _translated(t, **o), (_translated, _unpaired, *_TRANSLATE))
              for m, (t, o) in _TRANSLATORS.items()),
            Method("auto", _auto, (_unpaired, "stitch.stitcher", "stitch.core.selection", *_TRANSLATE))),
    "relreps": (Method("absolute", _absolute), Method("relative", _cosine, _RELATIVE),
                Method("standardized", _standardized, _RELATIVE),
                Method("mahalanobis", _mahalanobis, (*_RELATIVE, "stitch.core.kernels")),
                Method("k-means anchors", _chosen_anchors("kmeans"), (_chosen_anchors, "stitch.core.anchors",
                                                                      *_RELATIVE)),
                Method("FPS anchors", _chosen_anchors("fps"), (_chosen_anchors, "stitch.core.anchors", *_RELATIVE))),
    "bricks": tuple(Method(s, _similarity(s), (*_RELATIVE, *(("stitch.core.product", "stitch.core.aggregation")
                                                          if s == "product" else ()))) for s in BRICKS_SPACES),
}


def lst(context: BenchContext) -> list[BenchRow]:
    """The ``lst`` suite's rows (see :mod:`stitch.bench`).

    Example:
        >>> lst(BenchContext(pairs=("none",)))
        []
    """
    return _run("lst", context)


def relreps(context: BenchContext) -> list[BenchRow]:
    """The ``relreps`` suite's rows (see :mod:`stitch.bench`).

    Example:
        >>> relreps(BenchContext(pairs=("none",)))
        []
    """
    return _run("relreps", context)


def bricks(context: BenchContext) -> list[BenchRow]:
    """The ``bricks`` suite's rows (see :mod:`stitch.bench`).

    Example:
        >>> bricks(BenchContext(pairs=("none",)))
        []
    """
    return _run("bricks", context)


_LST_PROTOCOL = (
    "Frozen encoders (pretrained; on digits and Cora trained here from scratch); a linear head (logistic "
    "regression after per-dimension standardisation) trained on the head side's absolute latents of its training "
    "samples (Fashion-MNIST, TREC: 2,000; digits: 60 %; Cora: the 140 labelled nodes); anchors drawn from the "
    "other training samples (one draw per seed); the other encoder's test latents translated by a map fitted on the "
    "anchor pairs (absolute: no map, where the widths match; relative: a head trained on cosine relative latents "
    "instead; orthogonal: Procrustes after the paper's per-dimension standard scaling, estimated on the anchors, or "
    "with 'unpaired stats' on each side's other training latents too, unpaired; procrustes: without the scaling; "
    "auto: stitch.Stitcher's cross-validated choice by the head's agreement, given those unpaired latents). Ratio: "
    "stitched / the same head's accuracy on its own encoder's test latents (for relative, the relative head's own).")
_RELREPS_PROTOCOL = (
    "Encoders that differ by training seed (digits, Cora: trained here from scratch) or by architecture (digits, "
    "Cora, and frozen pretrained pairs); a linear head (logistic regression after standardisation) trained on the "
    "head side's relative latents (cosine similarity to the anchors), read zero-shot from the other encoder's "
    "relative latents w.r.t. the same anchors (absolute: a head on absolute latents read from the other's, the "
    "baseline; standardized: per-dimension standardisation fitted on the anchors before the similarity and of its "
    "output; mahalanobis: the negated Mahalanobis distance to the anchors, their covariance shrunk by the "
    "Ledoit-Wolf rule, standardised output; k-means / FPS anchors: standardized, with anchors chosen in the head "
    "side's space from the same pool). "
    "Ratio: stitched / the head's accuracy on its own encoder.")
_BRICKS_PROTOCOL = (
    "Frozen encoders; per similarity, a linear head (logistic regression after standardisation) "
    "trained on the head side's relative latents w.r.t. the anchors, read zero-shot from the other encoder's "
    "relative latents w.r.t. the same anchors; product: the four relative spaces concatenated.")

#: (name, run, description, protocol, reference) of the suites latent-stitch ships
BUILTIN_SUITES: tuple[tuple[str, Callable[[BenchContext], list[BenchRow]], str, str, str], ...] = (
    ("lst", lst, "latent space translation: maps fitted on anchors, a linear head on absolute latents",
     _LST_PROTOCOL,
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
