"""The core of an audit: every metric between every pair of already-computed latent spaces.

:func:`compare` takes ``{model: latents}`` (rows paired across models) and returns an
:class:`~stitch.audits.result.AuditResult` holding one ``rows x cols`` matrix per metric, with optional
permutation-test p-values and bootstrap intervals (:mod:`stitch.audits.statistics`). Its unit of work is a
**cell** (one metric, one pair); :func:`cell_value` and :func:`cell_draws` compute one from its inputs only, so
any engine (:mod:`stitch.engine`) runs the same cells and gets the same numbers (:func:`run_cells`).

Cost model, for ``M`` models and one metric: the latents are given (each encoder ran once, through the
latent cache); the per-model statistics a metric starts from (RDMs and their ranks, k-NN lists, distance
row means, uniformity) are computed ``O(M)`` times, once per model and option set
(:func:`~stitch.metrics._shared.shared_statistics`), and only the pair reductions run ``O(M^2)`` times. On
Ray every cell is its own task and computes its own statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stitch.audits.result import AuditResult
from stitch.audits.statistics import (BOOTSTRAP, PERMUTATION, CellKey, bootstrap_values, null_values, p_value,
                                     percentile_interval)

__all__ = ["compare", "default_metrics", "as_latents", "common_rows", "CellTask", "plan_cells", "run_cells",
           "cell_value", "cell_streams", "cell_draws", "finish_cell", "draw_chunks", "DRAWS_PER_TASK"]

#: Permutation / bootstrap draws per task: a cell with 1,000 permutations spreads over 40 tasks.
DRAWS_PER_TASK = 25


def default_metrics(*, with_labels: bool) -> list[str]:
    """Every registered metric usable without (or, ``with_labels=True``, with) labels.

    Example:
        >>> "stitching_score" in default_metrics(with_labels=False)
        False
    """
    from stitch.metrics import METRICS

    return [e.name for e in METRICS.entries() if with_labels or not e.obj.needs_labels]


def as_latents(latents: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """``{name: (n, d) tensor}`` validated (finite, 2-D) from tensors or arrays."""
    from stitch.utils.checks import as_matrix

    return {str(name): as_matrix(z, f"latents[{name!r}]") for name, z in latents.items()}


def common_rows(latents: Mapping[str, torch.Tensor]) -> int:
    """The number of paired rows every model has (a clear error when they differ)."""
    sizes = {name: len(z) for name, z in latents.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"all latents must hold the same paired samples, got row counts {sizes}; "
            "encode the same dataset split with every model"
        )
    return next(iter(sizes.values()))


@dataclass(frozen=True)
class CellTask:
    """One audit cell: metric ``metric`` (``index`` in the audit's list) between row ``i`` and column ``j``."""

    metric: str
    index: int
    i: int
    j: int


def plan_cells(metrics: Sequence[str], n_rows: int, n_cols: int, *, square: bool) -> list[CellTask]:
    """Every cell an audit computes: the lower triangle of a square audit's symmetric metrics is mirrored."""
    from stitch.metrics import get_metric

    tasks = []
    for index, name in enumerate(metrics):
        symmetric = get_metric(name).symmetric
        tasks += [CellTask(name, index, i, j) for i in range(n_rows) for j in range(n_cols)
                  if not (square and symmetric and j < i)]
    return tasks


def cell_value(task: CellTask, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any]) -> dict[str, Any]:
    """``{"value"}`` of one cell, or ``{"error"}`` with the reason it is undefined."""
    from stitch.metrics import get_metric

    try:
        return {"value": get_metric(task.metric)(x, y, **kw)}
    except ValueError as exc:
        # One undefined cell (e.g. CCA on a model wider than n) must not sink the whole audit;
        # it is left blank and its reason reported, never filled with a guess.
        return {"error": str(exc)}


def cell_streams(task: CellTask, *, same: bool, permutations: int, bootstrap: int) -> dict[int, int]:
    """``{stream: draws}`` a defined cell needs: permutations for paired metrics, bootstrap resamples; none
    on the diagonal of a square audit."""
    from stitch.metrics import get_metric

    if same:
        return {}
    streams = {PERMUTATION: permutations} if permutations and get_metric(task.metric).paired else {}
    if bootstrap:
        streams[BOOTSTRAP] = bootstrap
    return streams


def cell_draws(task: CellTask, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], *, seed: int, stream: int,
               draws: range) -> list[float | None]:
    """Draws ``draws`` of one cell's ``stream`` (any chunk of them: every draw has its own generator)."""
    from stitch.metrics import get_metric

    metric, key = get_metric(task.metric), cell_key(task, seed)
    if stream == PERMUTATION:
        return null_values(metric, x, y, kw, key, draws)  # type: ignore[return-value]
    return bootstrap_values(metric, x, y, kw, key, draws)


def finish_cell(task: CellTask, outcome: dict[str, Any], draws: dict[int, list[float | None]], *,
                confidence: float) -> dict[str, Any]:
    """The cell's p-value and interval from its (concatenated, in draw order) draws."""
    from stitch.metrics import get_metric

    out = dict(outcome)
    if PERMUTATION in draws:
        out["p"] = p_value(get_metric(task.metric).kind, out["value"], draws[PERMUTATION])  # type: ignore[arg-type]
    if BOOTSTRAP in draws:
        out["low"], out["high"] = percentile_interval(draws[BOOTSTRAP], confidence)
    return out


def cell_key(task: CellTask, seed: int) -> CellKey:
    """The seed key of a cell's draws: ``(seed, metric index, row, column)``."""
    return (seed, task.index, task.i, task.j)


def draw_chunks(draws: int, per_chunk: int) -> list[range]:
    """``range(draws)`` cut into consecutive chunks of at most ``per_chunk`` draws.

    Example:
        >>> draw_chunks(5, 2)
        [range(0, 2), range(2, 4), range(4, 5)]
    """
    return [range(s, min(s + per_chunk, draws)) for s in range(0, draws, per_chunk)]


def compare(
    rows: Mapping[str, Any],
    cols: Mapping[str, Any] | None = None,
    *,
    metrics: Sequence[str] | None = None,
    labels: Any = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    permutations: int = 0,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    progress: bool | None = None,
    engine: Any = None,
) -> AuditResult:
    """Compute every metric between every ``rows`` model and every ``cols`` model (``cols=None``: rows x rows).

    Args:
        rows, cols: ``{name: latents}`` with the same ``n`` paired rows everywhere.
        metrics: registered names (default: all, label-free ones only when ``labels`` is ``None``).
        labels: ``(n,)`` classes for metrics that need them.
        metric_options: ``{metric: {option: value}}`` overriding each metric's defaults.
        permutations: permutation-test draws per cell (0 = none): p = (1 + #null at least as similar) / (1 + draws).
        bootstrap: bootstrap resamples per cell (0 = none) for a percentile interval at ``confidence``.
        seed: seeds permutations and resamples, per cell (recorded in ``config``).
        engine: where cells run: ``None`` (this process) or an engine from :mod:`stitch.engine`.

    Shapes:
        each latent: ``(n, d_model)``  ->  each matrix: ``(len(rows), len(cols))``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
        >>> res = compare({"a": x, "b": 2 * x}, metrics=["linear_cka"])
        >>> res.matrix("linear_cka").round(3).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    from stitch.engine import as_engine
    from stitch.metrics import get_metric
    from stitch.metrics._shared import shared_statistics
    from stitch.utils.checks import check_positive_int

    square = cols is None
    if not rows or (cols is not None and not cols):
        raise ValueError("compare needs at least one model on each side; got an empty latents mapping")
    row_t = as_latents(rows)
    col_t = row_t if cols is None else as_latents(cols)
    sides = row_t if square else {**{f"rows:{k}": v for k, v in row_t.items()},
                                  **{f"cols:{k}": v for k, v in col_t.items()}}
    n = common_rows(sides)
    if permutations:
        check_positive_int(permutations, "permutations")
    if bootstrap:
        check_positive_int(bootstrap, "bootstrap")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    names = list(metrics) if metrics is not None else default_metrics(with_labels=labels is not None)
    metric_options = {k: dict(v) for k, v in (metric_options or {}).items()}
    unknown_opts = sorted(set(metric_options) - set(names))
    if unknown_opts:
        raise ValueError(f"metric_options given for {unknown_opts}, which are not among the audited metrics {names}")
    res = AuditResult(list(row_t), list(col_t), {}, {}, {}, {}, config={
        "n_samples": n, "seed": seed, "permutations": permutations, "bootstrap": bootstrap,
        "confidence": confidence, "metrics": names,
    })
    kws: dict[str, dict[str, Any]] = {}
    for name in names:
        metric = get_metric(name)
        opts = {**metric.defaults, **metric_options.get(name, {})}
        kws[name] = dict(opts)
        if metric.needs_labels:
            if labels is None:
                raise ValueError(f"metric {name!r} needs labels; pass labels= or audit a dataset with labels")
            kws[name]["labels"] = labels
        res.declarations[name] = metric.to_dict()
        res.options[name] = opts
        res.chance[name] = metric.chance(n, opts) if metric.chance else None
    tasks = plan_cells(names, len(row_t), len(col_t), square=square)
    # each model's per-model statistics (RDMs, k-NN lists, ...) once, not once per pair it is in (in this process;
    # an engine elsewhere computes them per task)
    with shared_statistics([*row_t.values(), *col_t.values()]):
        outcomes = run_cells(as_engine(engine), tasks, row_t, col_t, kws, square=square, progress=progress,
                             permutations=permutations, bootstrap=bootstrap, confidence=confidence, seed=seed)
    _fill(res, tasks, outcomes, names, square, permutations, bootstrap)
    return res


def _pair(task: CellTask, rows: Mapping[str, torch.Tensor],
          cols: Mapping[str, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
    cols = rows if cols is None else cols  # a square audit ships its latents once
    return rows[list(rows)[task.i]], cols[list(cols)[task.j]]


def _value_job(task: CellTask, *, rows: Mapping[str, torch.Tensor], cols: Mapping[str, torch.Tensor] | None,
               kws: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    return cell_value(task, *_pair(task, rows, cols), kws[task.metric])


def _draws_job(job: tuple[CellTask, int, range], *, rows: Mapping[str, torch.Tensor],
               cols: Mapping[str, torch.Tensor] | None, kws: Mapping[str, dict[str, Any]],
               seed: int) -> list[float | None]:
    task, stream, draws = job
    return cell_draws(task, *_pair(task, rows, cols), kws[task.metric], seed=seed, stream=stream, draws=draws)


def run_cells(engine: Any, tasks: Sequence[CellTask], rows: Mapping[str, torch.Tensor],
              cols: Mapping[str, torch.Tensor], kws: Mapping[str, dict[str, Any]], *, square: bool,
              progress: bool | None = None, permutations: int = 0, bootstrap: int = 0, confidence: float = 0.95,
              seed: int = 0) -> list[dict[str, Any]]:
    """Every cell's outcome, computed on ``engine`` (:mod:`stitch.engine`): the values first, then the
    permutation and bootstrap draws of the defined cells in chunks of at most :data:`DRAWS_PER_TASK` (a cell
    with 1,000 permutations spreads over 40 tasks); every draw has its own generator, so the numbers do not
    depend on the engine or the chunking.

    Example:
        >>> import torch
        >>> from stitch.engine import LocalEngine
        >>> x = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
        >>> tasks = plan_cells(["linear_cka"], 2, 2, square=True)
        >>> [round(o["value"], 3) for o in run_cells(LocalEngine(), tasks, {"a": x, "b": -x}, {"a": x, "b": -x},
        ...                                           {"linear_cka": {}}, square=True, progress=False)]
        [1.0, 1.0, 1.0]
    """
    shared = {"rows": rows, "cols": None if cols is rows else cols, "kws": kws}
    values: list[dict[str, Any]] = [{} for _ in tasks]
    for i, outcome in engine.map(_value_job, tasks, shared=shared, what="audit", progress=progress):
        values[i] = outcome
    jobs = [(i, (t, stream, chunk)) for i, t in enumerate(tasks) if "error" not in values[i]
            for stream, n in cell_streams(t, same=square and t.i == t.j, permutations=permutations,
                                          bootstrap=bootstrap).items()
            for chunk in draw_chunks(n, DRAWS_PER_TASK)]
    drawn: dict[int, dict[int, dict[int, list[Any]]]] = {}
    for k, result in engine.map(functools.partial(_draws_job, seed=seed), [job for _, job in jobs],
                                shared=shared, what="audit draws", progress=progress):
        i, (_, stream, chunk) = jobs[k]
        drawn.setdefault(i, {}).setdefault(stream, {})[chunk.start] = result
    return [finish_cell(t, values[i], {stream: [v for start in sorted(parts) for v in parts[start]]
                                       for stream, parts in drawn.get(i, {}).items()}, confidence=confidence)
            if "error" not in values[i] else values[i] for i, t in enumerate(tasks)]


def _fill(res: AuditResult, tasks: Sequence[CellTask], outcomes: Sequence[dict[str, Any]], names: Sequence[str],
          square: bool, permutations: int, bootstrap: int) -> None:
    from stitch.metrics import get_metric

    shape = (len(res.rows), len(res.cols))
    tables = {key: {m: np.full(shape, np.nan) for m in names} for key in ("value", "p", "low", "high")}
    for task, outcome in zip(tasks, outcomes):
        if "error" in outcome:
            res.errors.setdefault(task.metric, {})[f"{res.rows[task.i]} vs {res.cols[task.j]}"] = outcome["error"]
            continue
        for key in tables:
            if key in outcome:
                tables[key][task.metric][task.i, task.j] = outcome[key]
    for m in names:
        if square and get_metric(m).symmetric:  # mirror the computed upper triangle
            for table in tables.values():
                lower = np.tril_indices(shape[0], -1)
                table[m][lower] = table[m].T[lower]
        res.values[m] = tables["value"][m]
        if permutations:
            res.p_values[m] = tables["p"][m]
        if bootstrap:
            res.ci_low[m], res.ci_high[m] = tables["low"][m], tables["high"][m]
