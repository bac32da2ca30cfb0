"""Reference suites: the papers' protocols on the model pairs available here, ours beside the published number.

A suite is a function ``run(context) -> list[BenchRow]`` registered in :data:`SUITES` with what it measures,
its protocol and the source of its published numbers. ``stitch bench --suite lst`` runs one and prints its table
(also CSV, JSON and a figure with ``--out``); ``stitch bench --list`` lists them, plugins' included (the
``stitch_register_bench_suites`` hook). Built in:

* ``lst`` — Latent Space Translation (Maiorca et al., NeurIPS 2023), Table 1's protocol: frozen pretrained
  encoders, a linear head (logistic regression after per-dimension standardisation) on the decoder side's
  absolute latents, the other encoder's latents translated by maps fitted on anchor pairs.
* ``relreps`` — relative representations (Moschella et al., ICLR 2023): relative heads read across training seeds
  and architectures, with the choices that gain here (standardisation, k-means / farthest-point anchors).
* ``bricks`` — product of invariances (Cannistraci et al., ICLR 2024): relative heads on each single similarity
  and on their product, read zero-shot from the other encoder's relative space.

Every row is stitched accuracy over native accuracy, averaged over seeded anchor draws (the spread over draws
is the noise floor), timed, and cached latents are reused (:class:`~stitch.encoder.cache.LatentCache`).

Example:
    >>> "lst" in list_suites()
    True
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stitch.utils.names import BUILTIN, NameTable

__all__ = ["SUITES", "BenchContext", "BenchRow", "BenchSuite", "register_suite", "get_suite", "list_suites",
           "run_suite"]


@dataclass(frozen=True)
class BenchContext:
    """What a suite run may use: where data, local models and the latent cache are, how much to run.

    Args:
        data_root, models_root, cache_root: as everywhere (``None``: ``$STITCH_DATA`` / ``$STITCH_MODELS`` /
            ``$STITCH_CACHE``).
        full: larger subsets and more anchor counts (minutes to hours; the defaults take minutes on 2 cores
            once the latents are cached).
        seeds: anchor draws per row; their spread is the noise floor.
        anchors: anchor counts (``None``: the suite's, 300, and 1,000 as well with ``full``).
        pairs: shell patterns selecting the suite's pairs by name (``None``: all).
        user_pairs: ``(name, BenchPair)`` pairs to run instead of the suite's own
            (:func:`~stitch.bench.pairs.user_pair`: encoders and a dataset the user names).
        progress: phase lines on stderr (``None``: follow ``$STITCH_PROGRESS``).
        engine: where the anchor draws run (``None`` / ``"local"``: this process; an engine from
            :func:`stitch.engine.create_engine`, e.g. Ray); the numbers are the same on every engine.
        reuse: read back draws stored by earlier runs with the same data, settings and method code
            (``<cache>/bench/draws.jsonl``); ``False`` recomputes them all (and stores them again).

    Example:
        >>> BenchContext(seeds=(0,)).selects("trec: MiniLM-L6 / MiniLM-L3")
        True
    """

    data_root: str | os.PathLike[str] | None = None
    models_root: str | os.PathLike[str] | None = None
    cache_root: str | os.PathLike[str] | None = None
    full: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    anchors: tuple[int, ...] | None = None
    pairs: tuple[str, ...] | None = None
    user_pairs: tuple[tuple[str, Any], ...] = ()
    progress: bool | None = None
    engine: Any = None
    reuse: bool = True

    def selects(self, pair: str) -> bool:
        """Whether the pair named ``pair`` is to be run."""
        return self.pairs is None or any(fnmatch.fnmatch(pair.lower(), p.lower()) for p in self.pairs)


@dataclass(frozen=True)
class BenchRow:
    """One row of a suite's table: one method on one (pair, direction), over the context's seeds.

    ``stitched`` and ``ratio`` are means over the anchor draws, ``ratio_std`` their standard deviation (the
    noise floor); ``published`` the paper's stitched / native ratio for this dataset and method, if it gives
    one; ``note`` says why a row has no value (``n/a``); ``ceiling`` the new encoder's own accuracy over the head
    encoder's, both with the protocol's head (a weaker new encoder caps what any translation can pass on);
    ``reused`` how many of its draws were read back from earlier runs rather than computed.

    Example:
        >>> BenchRow("lst", "trec", "L3 -> L6 head", "affine", 300, 0.86, 0.70, 0.01, 0.81, 0.01, 0.94,
        ...          "LST Table 1", 1.2).gap
        -0.13
    """

    suite: str
    dataset: str
    direction: str
    method: str
    anchors: int
    native: float | None
    stitched: float | None
    stitched_std: float | None
    ratio: float | None
    ratio_std: float | None
    published: float | None = None
    source: str = ""
    seconds: float = 0.0
    note: str = ""
    ceiling: float | None = None
    reused: int = 0

    @property
    def gap(self) -> float | None:
        """``ratio - published`` (``None`` without either), rounded to 3 decimals."""
        return None if self.ratio is None or self.published is None else round(self.ratio - self.published, 3)

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (``gap`` included)."""
        return {**{f: getattr(self, f) for f in self.__dataclass_fields__}, "gap": self.gap}


@dataclass(frozen=True)
class BenchSuite:
    """A registered suite: its runner and what a reader needs to trust its table.

    Example:
        >>> get_suite("lst").reference.startswith("Maiorca et al.")
        True
    """

    name: str
    run: Callable[[BenchContext], list[BenchRow]]
    description: str
    protocol: str = ""
    reference: str = ""
    source: str = BUILTIN


#: every reference suite by name, built-ins and plugins' (``stitch bench --list``)
SUITES: NameTable[BenchSuite] = NameTable("bench suite", list_command="stitch bench --list")


def register_suite(name: str, run: Callable[[BenchContext], list[BenchRow]], *, description: str,
                   protocol: str = "", reference: str = "", source: str = BUILTIN) -> None:
    """Register a suite: ``run(context)`` returns its rows; ``protocol`` and ``reference`` are printed above the
    table (what was measured, where the published numbers come from).

    Example:
        >>> register_suite("noop", lambda ctx: [], description="nothing", source="doc")
        >>> run_suite("doc:noop", BenchContext()).rows
        []
        >>> SUITES.unregister_source("doc")
    """
    if not callable(run):
        raise TypeError(f"suite {name!r}: run must be a function of a BenchContext returning BenchRows, got "
                        f"{type(run).__name__}")
    if not description:
        raise ValueError(f"suite {name!r}: describe what it measures (description=...)")
    SUITES.register(name, BenchSuite(name, run, description, protocol, reference, source), source=source,
                    description=description)


def get_suite(name: str) -> BenchSuite:
    """The suite registered as ``name`` (a close name is suggested when there is none).

    Example:
        >>> get_suite("lst").name
        'lst'
    """
    return SUITES.get(name)


def list_suites(pattern: str = "*") -> list[str]:
    """Names of the registered suites matching ``pattern`` (shell wildcards).

    Example:
        >>> list_suites("b*")
        ['bricks']
    """
    return SUITES.names(pattern)


def run_suite(name: str, context: BenchContext | None = None) -> Any:
    """Run suite ``name`` and return its :class:`~stitch.bench.result.BenchResult` (rows, timing, versions).

    Example:
        >>> run_suite("lst", BenchContext(pairs=("no such pair",))).rows
        []
    """
    import time

    from stitch.bench.result import BenchResult
    from stitch.utils.provenance import library_versions

    suite = get_suite(name)
    context = context or BenchContext()
    start = time.perf_counter()
    rows = list(suite.run(context))
    if not all(isinstance(r, BenchRow) for r in rows):
        raise TypeError(f"suite {name!r} must return BenchRow objects, got "
                        f"{sorted({type(r).__name__ for r in rows})}")
    return BenchResult(suite, rows, context, time.perf_counter() - start, library_versions())


def _register_builtins() -> None:
    from stitch.bench import suites

    for name, run, description, protocol, reference in suites.BUILTIN_SUITES:
        register_suite(name, run, description=description, protocol=protocol, reference=reference)


_register_builtins()
