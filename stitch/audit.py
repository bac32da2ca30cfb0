"""Cross-model similarity audits: every metric for every pair of latent spaces, as matrices and a report.

Two layers:

* :func:`compare` — the core. Takes already-computed latents (``{model: (n, d_model)}``, rows paired) and
  returns an :class:`AuditResult` holding one ``rows x cols`` matrix per metric, with optional
  permutation-test p-values and bootstrap confidence intervals.
* :func:`audit` — obtains the latents (from ``latents=`` or by encoding ``dataset`` with each encoder
  through :class:`stitch.cache.LatentCache`), subsamples ``n`` rows (seeded, the same rows for every
  model), and calls :func:`compare`. :func:`audit_layers` does the same for every layer of two encoders
  (adapters that accept a ``layer=`` option) and returns a layer x layer result.

``AuditResult.save(out)`` writes, per metric, ``<metric>.json``, ``<metric>.csv`` and ``<metric>.png``,
plus ``audit.json`` (everything) and ``report.md``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stitch._io import atomic_open, write_json
from stitch._progress import progress_bar

__all__ = ["AuditResult", "audit", "audit_layers", "compare", "parse_encoder", "default_metrics"]


@dataclass
class AuditResult:
    """Matrices of metric values between models (``values[metric][i][j]`` = metric(rows[i], cols[j])).

    ``p_values`` (one-sided permutation test against shuffled pairings) and ``ci_low``/``ci_high``
    (percentile bootstrap) hold ``NaN`` where not computed (diagonal, unpaired metrics, or not asked).
    A cell where the metric is undefined (it raised ``ValueError``) is ``NaN`` with its reason in
    ``errors[metric]["A vs B"]``.
    """

    rows: list[str]
    cols: list[str]
    values: dict[str, np.ndarray]
    declarations: dict[str, dict[str, Any]]
    options: dict[str, dict[str, Any]]
    chance: dict[str, float | None]
    p_values: dict[str, np.ndarray] = field(default_factory=dict)
    ci_low: dict[str, np.ndarray] = field(default_factory=dict)
    ci_high: dict[str, np.ndarray] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        return list(self.values)

    def matrix(self, metric: str) -> np.ndarray:
        """The ``(len(rows), len(cols))`` matrix of ``metric``."""
        if metric not in self.values:
            raise KeyError(f"metric {metric!r} is not in this audit; it has {', '.join(self.values)}")
        return self.values[metric]

    def metric_dict(self, metric: str) -> dict[str, Any]:
        """JSON-ready record of one metric (NaN written as ``null``)."""
        out = {
            "metric": metric,
            "rows": self.rows,
            "cols": self.cols,
            "values": _nan_to_none(self.values[metric]),
            "declaration": self.declarations[metric],
            "options": self.options[metric],
            "chance": self.chance[metric],
        }
        for key, table in (("p_values", self.p_values), ("ci_low", self.ci_low), ("ci_high", self.ci_high)):
            if metric in table:
                out[key] = _nan_to_none(table[metric])
        if metric in self.errors:
            out["errors"] = self.errors[metric]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        return {"config": self.config, "metrics": {m: self.metric_dict(m) for m in self.values}}

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write JSON, CSV and a heatmap per metric, ``audit.json`` and ``report.md`` under ``out``."""
        from stitch._report import save_heatmap

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for metric in self.values:
            write_json(out / f"{metric}.json", self.metric_dict(metric))
            _write_csv(out / f"{metric}.csv", self.rows, self.cols, self.values[metric])
            lo, hi = self.declarations[metric]["range"]
            finite = np.abs(self.values[metric][np.isfinite(self.values[metric])])
            # Two decimals would print small-valued metrics (e.g. Gromov-Wasserstein) as all 0.00 / 0.01.
            fmt = ".4f" if finite.size and 0 < finite.max() < 0.1 else ".2f"
            save_heatmap(
                self.values[metric], self.rows, self.cols, out / f"{metric}.png",
                title=f"{metric} ({'higher' if self.declarations[metric]['kind'] == 'score' else 'lower'}"
                      " = more similar)",
                vmin=lo if math.isfinite(lo) else None, vmax=hi if math.isfinite(hi) else None, fmt=fmt,
            )
        write_json(out / "audit.json", self.to_dict())
        with atomic_open(out / "report.md", "w") as f:
            f.write(self.report())
        return out

    def report(self) -> str:
        """The markdown report: configuration, one table and heatmap per metric, the metric declarations."""
        from stitch._report import markdown_table

        cfg = self.config
        lines = ["# Similarity audit", ""]
        for key in ("dataset", "split", "n_samples", "n_available", "seed", "permutations", "bootstrap",
                    "confidence", "encoder_a", "encoder_b", "layers", "layers_b"):
            if cfg.get(key) is not None:
                lines.append(f"- **{key}**: {cfg[key]}")
        for label, spec in cfg.get("encoders", {}).items():
            lines.append(f"- **encoder** `{label}`" + ("" if spec == label else f": `{spec}`"))
        lines += ["", "## Summary", "", markdown_table(["metric", "most similar pair", "least similar pair"],
                                                       self._summary_rows()), ""]
        for metric in self.values:
            decl = self.declarations[metric]
            better = "higher" if decl["kind"] == "score" else "lower"
            lines += [f"## {metric}", "", f"{decl['description']} ({decl['kind']}, {better} = more similar; "
                      f"range {decl['range']}; {decl['reference']})", ""]
            if self.chance[metric] is not None:
                lines += [f"Chance level (unrelated spaces): {self.chance[metric]:.4f}", ""]
            rows = []
            for i, r in enumerate(self.rows):
                cells = []
                for j in range(len(self.cols)):
                    cells.append(_cell(self, metric, i, j))
                rows.append([r, *cells])
            lines += [markdown_table(["", *self.cols], rows), "", f"![{metric}]({metric}.png)", ""]
            # One line per distinct reason: a rank-deficient model makes a whole row and column undefined.
            by_reason: dict[str, list[str]] = {}
            for cell, why in self.errors.get(metric, {}).items():
                by_reason.setdefault(why, []).append(cell)
            every = len(by_reason) == 1 and bool(np.isnan(self.values[metric]).all())
            for why, cells in by_reason.items():
                lines.append(f"- undefined for {'every pair' if every else ', '.join(cells)}: {why}")
            lines += [""] if by_reason else []
        lines += ["## Metric declarations", ""]
        decl_rows = [
            [m, d["kind"], f"[{d['range'][0]:.3g}, {d['range'][1]:.3g}]", d["symmetric"],
             ", ".join(d["invariances"]) or "-", self.options[m]]
            for m, d in self.declarations.items()
        ]
        lines.append(markdown_table(["metric", "kind", "range", "symmetric", "invariances", "options"], decl_rows))
        return "\n".join(lines) + "\n"


    def _summary_rows(self) -> list[list[str]]:
        # Self-pairs say nothing about how models relate, so they are left out when there is anything else.
        rows = []
        for metric, m in self.values.items():
            cells = [(m[i, j], f"{r} vs {c}") for i, r in enumerate(self.rows) for j, c in enumerate(self.cols)
                     if math.isfinite(m[i, j]) and r != c]
            if not cells:
                rows.append([metric, "-", "-"])
                continue
            sign = 1.0 if self.declarations[metric]["kind"] == "score" else -1.0
            best = max(cells, key=lambda t: sign * t[0])
            worst = min(cells, key=lambda t: sign * t[0])
            rows.append([metric, f"{best[1]} ({best[0]:.3f})", f"{worst[1]} ({worst[0]:.3f})"])
        return rows


def _cell(res: AuditResult, metric: str, i: int, j: int) -> str:
    v = res.values[metric][i, j]
    text = "-" if not math.isfinite(v) else f"{v:.3f}"
    if metric in res.ci_low and math.isfinite(res.ci_low[metric][i, j]):
        text += f" [{res.ci_low[metric][i, j]:.3f}, {res.ci_high[metric][i, j]:.3f}]"
    if metric in res.p_values and math.isfinite(res.p_values[metric][i, j]):
        text += f" (p={res.p_values[metric][i, j]:.3g})"
    return text


def _nan_to_none(m: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in np.asarray(m, dtype=float)]


def _write_csv(path: Path, rows: Sequence[str], cols: Sequence[str], m: np.ndarray) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", *cols])
    for name, row in zip(rows, m):
        w.writerow([name, *("" if not math.isfinite(v) else repr(float(v)) for v in row)])
    with atomic_open(path, "w") as f:
        f.write(buf.getvalue())


def default_metrics(*, with_labels: bool) -> list[str]:
    """Every registered metric usable without (or, ``with_labels=True``, with) labels.

    Example:
        >>> "stitching_score" in default_metrics(with_labels=False)
        False
    """
    from stitch.metrics import METRICS

    return [e.name for e in METRICS.entries() if with_labels or not e.obj.needs_labels]


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
) -> AuditResult:
    """Compute every metric between every ``rows`` model and every ``cols`` model (``cols=None``: rows x rows).

    Args:
        rows, cols: ``{name: latents}`` with the same ``n`` paired rows everywhere.
        metrics: registered names (default: all, label-free ones only when ``labels`` is ``None``).
        labels: ``(n,)`` classes for metrics that need them.
        metric_options: ``{metric: {option: value}}`` overriding each metric's defaults.
        permutations: permutation-test draws per cell (0 = none): p = (1 + #null at least as similar) / (1 + draws).
        bootstrap: bootstrap resamples per cell (0 = none) for a percentile interval at ``confidence``.
        seed: seeds permutations and resamples (recorded in ``config``).

    Shapes:
        each latent: ``(n, d_model)``  ->  each matrix: ``(len(rows), len(cols))``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
        >>> res = compare({"a": x, "b": 2 * x}, metrics=["linear_cka"])
        >>> res.matrix("linear_cka").round(3).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    from stitch._checks import check_positive_int
    from stitch.metrics import get_metric

    square = cols is None
    if not rows or (cols is not None and not cols):
        raise ValueError("compare needs at least one model on each side; got an empty latents mapping")
    row_t = _as_latents(rows)
    col_t = row_t if cols is None else _as_latents(cols)
    sides = row_t if square else {**{f"rows:{k}": v for k, v in row_t.items()},
                                  **{f"cols:{k}": v for k, v in col_t.items()}}
    n = _common_rows(sides)
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
    rng = np.random.default_rng(seed)
    with progress_bar(len(names) * len(row_t) * len(col_t), "audit", enabled=progress, unit="cell") as bar:
        for name in names:
            metric = get_metric(name)
            opts = {**metric.defaults, **metric_options.get(name, {})}
            kw = dict(opts)
            if metric.needs_labels:
                if labels is None:
                    raise ValueError(f"metric {name!r} needs labels; pass labels= or audit a dataset with labels")
                kw["labels"] = labels
            res.declarations[name] = metric.to_dict()
            res.options[name] = opts
            res.chance[name] = metric.chance(n, opts) if metric.chance else None
            vals = np.full((len(row_t), len(col_t)), np.nan)
            pv, lo, hi = np.full_like(vals, np.nan), np.full_like(vals, np.nan), np.full_like(vals, np.nan)
            for i, (a, x) in enumerate(row_t.items()):
                for j, (b, y) in enumerate(col_t.items()):
                    bar.update(1)
                    if square and metric.symmetric and j < i:
                        vals[i, j], pv[i, j], lo[i, j], hi[i, j] = vals[j, i], pv[j, i], lo[j, i], hi[j, i]
                        continue
                    try:
                        vals[i, j] = metric(x, y, **kw)
                    except ValueError as exc:
                        # One undefined cell (e.g. CCA on a model wider than n) must not sink the whole audit;
                        # it is left blank and its reason reported, never filled with a guess.
                        res.errors.setdefault(name, {})[f"{a} vs {b}"] = str(exc)
                        continue
                    same = square and i == j
                    if permutations and metric.paired and not same:
                        pv[i, j] = _permutation_p(metric, x, y, kw, vals[i, j], permutations, rng)
                    if bootstrap and not same:
                        lo[i, j], hi[i, j] = _bootstrap_ci(metric, x, y, kw, bootstrap, confidence, rng)
            res.values[name] = vals
            if permutations:
                res.p_values[name] = pv
            if bootstrap:
                res.ci_low[name], res.ci_high[name] = lo, hi
    return res


def _as_latents(latents: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    from stitch._checks import as_matrix

    return {str(name): as_matrix(z, f"latents[{name!r}]") for name, z in latents.items()}


def _common_rows(latents: Mapping[str, torch.Tensor]) -> int:
    sizes = {name: len(z) for name, z in latents.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"all latents must hold the same paired samples, got row counts {sizes}; "
            "encode the same dataset split with every model"
        )
    return next(iter(sizes.values()))


def _subset_kw(kw: dict[str, Any], idx: np.ndarray) -> dict[str, Any]:
    if "labels" in kw:
        return {**kw, "labels": np.asarray(kw["labels"])[idx]}
    return kw


def _permutation_p(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], observed: float,
                   draws: int, rng: np.random.Generator) -> float:
    # Shuffling y's rows breaks the pairing and keeps both marginal geometries: the null of "unrelated".
    hits = 0
    for _ in range(draws):
        perm = torch.from_numpy(rng.permutation(len(y)))
        null = metric(x, y[perm], **kw)
        hits += null >= observed if metric.kind == "score" else null <= observed
    return (1 + hits) / (1 + draws)


def _bootstrap_ci(metric: Any, x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any], draws: int,
                  confidence: float, rng: np.random.Generator) -> tuple[float, float]:
    stats = []
    for _ in range(draws):
        idx = rng.integers(0, len(x), len(x))
        try:
            stats.append(metric(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)], **_subset_kw(kw, idx)))
        except ValueError:
            continue  # a degenerate resample (e.g. rank-deficient after duplicates) says nothing about the CI
    if not stats:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def parse_encoder(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name?key=value&key=value"`` into the encoder name and its options (ints, floats, bools parsed).

    Example:
        >>> parse_encoder("hf:bert-base-uncased?layer=3&pooling=cls")
        ('hf:bert-base-uncased', {'layer': 3, 'pooling': 'cls'})
    """
    name, _, query = text.strip().partition("?")
    if not name:
        raise ValueError(f"encoder {text!r} has no name; expected 'name' or 'name?option=value&...'")
    options: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"encoder option {part!r} in {text!r} is not of the form key=value")
        options[key] = _parse_value(value)
    return name, options


def _parse_value(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _encode_all(
    encoders: Mapping[str, Any], dataset: Any, split: str | None, cache_root: Any, dataset_root: Any
) -> tuple[dict[str, torch.Tensor], Any]:
    from stitch.cache import LatentCache
    from stitch.plugins import get_dataset, get_encoder

    ds = get_dataset(dataset, root=dataset_root) if isinstance(dataset, str) else dataset
    cache = LatentCache(cache_root)
    built = {}
    for label, enc in encoders.items():
        if isinstance(enc, str):
            name, opts = parse_encoder(enc)
            enc = get_encoder(name, **opts)
        _check_modality(label, enc, ds)
        built[label] = enc
    # Every encoder is built and checked before any is run, so a typo in the last name fails in seconds.
    return {label: cache.encode(enc, ds, split) for label, enc in built.items()}, ds


_MODALITIES = ("image", "text", "graph")


def _check_modality(label: str, encoder: Any, ds: Any) -> None:
    # Only the core modalities are compared: "any", "tabular" or a plugin's own may legitimately mix.
    enc_mod, ds_mod = getattr(encoder, "modality", None), getattr(ds, "modality", None)
    if enc_mod in _MODALITIES and ds_mod in _MODALITIES and enc_mod != ds_mod:
        raise ValueError(f"encoder {label!r} takes {enc_mod} inputs but dataset {ds.name!r} holds {ds_mod}; pick "
                         f"an encoder from `stitch encoders list --modality {ds_mod}` or a {enc_mod} dataset")


def _check_metric_names(metrics: Sequence[str] | None) -> None:
    # Before any encoding: an unknown metric name must not cost a full encoding pass to discover.
    from stitch.metrics import get_metric

    for name in metrics or ():
        get_metric(name)


def _as_encoder_map(encoders: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(encoders, Mapping):
        return dict(encoders)
    out = {}
    for enc in encoders:
        label = enc if isinstance(enc, str) else getattr(enc, "name", repr(enc))
        if label in out:
            raise ValueError(f"encoder {label!r} is listed twice")
        out[label] = enc
    return out


def _subsample(n_total: int, n: int | None, seed: int) -> np.ndarray | None:
    if n is None or n >= n_total:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=int(n), replace=False))


def audit(
    latents: Mapping[str, Any] | None = None,
    *,
    encoders: Sequence[Any] | Mapping[str, Any] | None = None,
    dataset: Any = None,
    split: str | None = "test",
    ids: Mapping[str, Sequence[str]] | None = None,
    labels: Any = None,
    metrics: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    permutations: int = 0,
    bootstrap: int = 0,
    confidence: float = 0.95,
    out: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    dataset_root: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> AuditResult:
    """Audit how similar several models' latent spaces are, pair by pair, under many metrics.

    Give either ``latents`` (``{model: (n, d)}``, optionally with ``ids={model: sample ids}``, which are
    then aligned to the first model's order) or ``encoders`` (names — ``"name?opt=value"`` — or
    :class:`~stitch.Encoder` objects) and ``dataset`` (name or :class:`~stitch.Dataset`), encoded through
    the latent cache. ``n`` rows are kept (a seeded random subset shared by all models). With ``out``,
    the result is also saved there (see :meth:`AuditResult.save`).

    Shapes:
        latents: ``{model: (n, d_model)}``  ->  per metric a ``(models, models)`` matrix

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(80, 6, generator=g)
        >>> res = audit({"a": x, "b": x @ torch.randn(6, 6, generator=g)}, metrics=["mean_cca", "linear_cka"])
        >>> round(float(res.matrix("mean_cca")[0, 1]), 6)
        1.0
    """
    config: dict[str, Any] = {}
    if (latents is None) == (encoders is None):
        raise ValueError("pass either latents={model: tensor} or encoders=[...] with dataset=..., not both or neither")
    if encoders is not None:
        if dataset is None:
            raise ValueError("encoders need a dataset to encode: pass dataset='name' or a stitch.Dataset")
        enc_map = _as_encoder_map(encoders)
        _check_metric_names(metrics)
        latents, ds = _encode_all(enc_map, dataset, split, cache_root, dataset_root)
        sample_ids = ds.split_ids(split)
        if labels is None:
            labels = ds.split_labels(split)
        config.update(dataset=ds.name, split=split, encoders={k: v if isinstance(v, str) else repr(v)
                                                              for k, v in enc_map.items()})
    else:
        if not latents:
            raise ValueError("latents is empty; pass at least one {model: tensor}")
        latents = _as_latents(latents)
        sample_ids = _align_ids(latents, ids) if ids is not None else None
    n_total = _common_rows(latents)
    idx = _subsample(n_total, n, seed)
    if idx is not None:
        t = torch.from_numpy(idx)
        latents = {k: v[t] for k, v in latents.items()}
        labels = None if labels is None else np.asarray(labels)[idx]
        sample_ids = None if sample_ids is None else [sample_ids[i] for i in idx]
    res = compare(latents, metrics=metrics, labels=labels, metric_options=metric_options,
                  permutations=permutations, bootstrap=bootstrap, confidence=confidence, seed=seed,
                  progress=progress)
    res.config.update(config, n_requested=n, n_available=n_total)
    if sample_ids is not None:
        import hashlib

        res.config["sample_ids_sha256"] = hashlib.sha256("\x1f".join(map(str, sample_ids)).encode()).hexdigest()
    if out is not None:
        res.save(out)
    return res


def _align_ids(latents: dict[str, Any], ids: Mapping[str, Sequence[str]]) -> list[str]:
    from stitch.metrics._base import align_by_ids

    missing = [k for k in latents if k not in ids]
    if missing:
        raise ValueError(f"ids given for some models but not for {missing}; give ids for every model or none")
    first = next(iter(latents))
    ref = [str(i) for i in ids[first]]
    for k in latents:
        latents[k] = align_by_ids(ref, ids[k], latents[k], align=True, n=len(latents[first]))
    return ref


def audit_layers(
    encoder_a: str,
    encoder_b: str,
    dataset: Any,
    layers: Sequence[int],
    *,
    layers_b: Sequence[int] | None = None,
    split: str | None = "test",
    metrics: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    out: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    dataset_root: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> AuditResult:
    """Layer x layer audit of two encoders whose adapters take a ``layer=`` option (e.g. transformers).

    Rows are ``encoder_a`` at each of ``layers``, columns ``encoder_b`` at each of ``layers_b``
    (default: the same layers). Encoder names may carry other options (``"hf:bert?pooling=cls"``).

    Shapes:
        per metric a ``(len(layers), len(layers_b))`` matrix

    Example:
        >>> audit_layers("hf:a", "hf:b", "trec", [])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: audit_layers needs at least one layer...
    """
    layers_b = list(layers if layers_b is None else layers_b)
    if not layers or not layers_b:
        raise ValueError("audit_layers needs at least one layer on each side, e.g. layers=[0, 6, 12]")

    def with_layer(text: str, layer: int) -> str:
        name, opts = parse_encoder(text)
        opts["layer"] = int(layer)
        return name + "?" + "&".join(f"{k}={v}" for k, v in opts.items())

    row_encs = {f"{encoder_a}@{layer}": with_layer(encoder_a, layer) for layer in layers}
    col_encs = {f"{encoder_b}@{layer}": with_layer(encoder_b, layer) for layer in layers_b}
    _check_metric_names(metrics)
    latents, ds = _encode_all({**row_encs, **col_encs}, dataset, split, cache_root, dataset_root)
    n_total = _common_rows(latents)
    idx = _subsample(n_total, n, seed)
    if idx is not None:
        latents = {k: v[torch.from_numpy(idx)] for k, v in latents.items()}
    labels = ds.split_labels(split)
    labels = labels if idx is None else labels[idx]
    res = compare({k: latents[k] for k in row_encs}, {k: latents[k] for k in col_encs}, metrics=metrics,
                  labels=labels, metric_options=metric_options, seed=seed, progress=progress)
    res.config.update(dataset=ds.name, split=split, layers=list(layers), layers_b=layers_b,
                      encoder_a=encoder_a, encoder_b=encoder_b, n_requested=n, n_available=n_total)
    if out is not None:
        res.save(out)
    return res
