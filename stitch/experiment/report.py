"""Reports of a stitching experiment: ``results.json``, ``results.csv``, heatmaps, a bar chart, ``report.md``.

Figures and tables come from the shared :mod:`stitch.utils.plots` helpers; every file is written atomically.
A value that cannot be computed is written ``n/a``: a group where a space does not apply to every pair (with
how many pairs it applies to), and the spread of a single seed.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from stitch.experiment.results import ExperimentResult
from stitch.utils.files import atomic_open, slug, write_json
from stitch.utils.plots import markdown_table, save_bars, save_heatmap

__all__ = ["write_report", "format_summary", "summary_rows", "SUMMARY_HEADERS"]

#: the columns of the summary table ``stitch run`` prints
SUMMARY_HEADERS = ("space", "non-stitched", "stitched", "same group", "cross group")
_GROUPS = ("diagonal", "stitched", "same_group", "cross_group")
#: the columns ``report_same_seed = true`` adds: cross-group pairs trained with the same / other run seeds
_SEED_HEADERS = ("cross, same seed", "cross, other seeds")
_SEED_GROUPS = ("cross_same_seed", "cross_other_seed")


def _columns(result: ExperimentResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if result.config.get("report_same_seed"):
        return SUMMARY_HEADERS + _SEED_HEADERS, _GROUPS + _SEED_GROUPS
    return SUMMARY_HEADERS, _GROUPS


def _pm(mean: float | None, std: float | None, applicable: str | None = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return f"n/a ({applicable} pairs apply)" if applicable else "n/a"
    spread = "n/a" if std is None or (isinstance(std, float) and math.isnan(std)) else f"{std:.3f}"
    return f"{mean:.3f} ± {spread}"


def summary_rows(result: ExperimentResult) -> list[list[str]]:
    """One row per space: mean ± std over seeds of non-stitched, stitched, same- and cross-group scores.

    Example:
        >>> summary_rows(ExperimentResult("t", "classification", "accuracy", True, ["A"], ["s"], [0], [],
        ...     {"s": {"diagonal_mean": 0.9, "diagonal_std": None, "stitched_mean": None, "stitched_std": None,
        ...            "same_group_mean": None, "same_group_std": None, "cross_group_mean": None,
        ...            "cross_group_std": None}}, {}))
        [['s', '0.900 ± n/a', 'n/a', 'n/a', 'n/a']]
    """
    rows = []
    for space in result.spaces:
        s = result.summary[space]
        row = [space] + [_pm(s.get(f"{k}_mean"), s.get(f"{k}_std"), s.get(f"{k}_applicable"))
                         for k in _columns(result)[1]]
        if "anchors_recovered_fraction" in s:
            row[0] += f" (discovered anchors: {s['anchors_recovered_fraction']:.0%} of pairs recovered"
            if "match_confidence" in s:
                row[0] += f", {s['match_confidence']:.0%} mutual best"
            if "match_reliability" in s:
                row[0] += f", reliability {s['match_reliability']:.2f}"
            row[0] += ")"
        rows.append(row)
    return rows


def format_summary(result: ExperimentResult) -> str:
    """A plain-text table of :func:`summary_rows` for the terminal.

    Example:
        >>> r = ExperimentResult("t", "classification", "accuracy", True, ["A"], ["s"], [0], [],
        ...     {"s": {k + s: 0.5 for k in ("diagonal", "stitched", "same_group", "cross_group")
        ...            for s in ("_mean", "_std")}}, {}, chance=0.1)
        >>> print(format_summary(r).splitlines()[0])
        t: accuracy (mean ± std over 1 seed; chance 0.100)
    """
    rows = summary_rows(result)
    headers = _columns(result)[0]
    table = [list(headers), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    chance = f"; chance {result.chance:.3f}" if result.chance is not None else ""
    better = "" if result.greater_is_better else "; lower is better"
    n = len(result.seeds)
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    lines = [f"{result.name}: {result.metric} (mean ± std over {seeds}{chance}{better})"]
    for i, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [
        "non-stitched: each decoder on the encoder it was trained on; stitched: on every other encoder, zero-shot;",
        "same group: stitched pairs of one group (architecture, other seed); cross group: pairs of two groups.",
    ]
    if result.config.get("report_same_seed"):
        lines.append("cross, same seed / other seeds: cross-group pairs whose encoders were trained with the same "
                     "run seed / with different ones.")
    if any("n/a (" in c for row in rows for c in row):
        lines.append("n/a (k/m pairs apply): the space cannot decode some pairs of the group (latents of other "
                     "widths), so no mean over a part of them is shown.")
    if n == 1:
        lines.append("± n/a: one seed has no spread; add seeds for one.")
    if result.chance is not None:
        lines.append(f"chance level (guessing uniformly at random, 1 / number of classes): {result.chance:.3f}")
    return "\n".join(lines)


def _csv(result: ExperimentResult) -> str:
    buf = io.StringIO()
    keys: list[str] = []
    for c in result.cells:
        keys += [k for k in c if k not in keys]
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for c in result.cells:
        writer.writerow({k: (repr(v) if isinstance(v, dict) else v) for k, v in c.items()})
    return buf.getvalue()


def _bars(result: ExperimentResult, path: Path) -> bool:
    series: dict[str, tuple[list[Any], list[Any] | None]] = {}
    for group, name in (("diagonal", "non-stitched"), ("stitched", "stitched")):
        values = [result.summary[s][f"{group}_mean"] for s in result.spaces]
        errors = [result.summary[s][f"{group}_std"] for s in result.spaces]
        series[name] = (values, errors if len(result.seeds) > 1 else None)
    if all(v is None for v in series["stitched"][0]):
        return False
    save_bars(result.spaces, series, path, title=f"{result.metric}: non-stitched vs stitched (mean over seeds)",
              ylabel=result.metric, reference=result.chance, reference_label="chance" if result.chance else "")
    return True


def write_report(result: ExperimentResult, out_dir: str | os.PathLike[str], *,
                 shared_colors: bool = True) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns ``{what: path}``.

    Files: ``results.json`` (cells with their config, seeds, anchor ids, encoders' provenance, versions),
    ``results.csv`` (one row per cell), ``heatmap_<space>.png`` (mean matrix over seeds, rows = decoder's
    encoder; one colour range for every space, so a colour means the same value in each — ``shared_colors=
    False`` fits each to its own values), ``stitched_bars.png`` (non-stitched and stitched means per space
    with their seed spread and the chance level; a space without a value shows a hatched ``n/a`` slot),
    ``report.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"json": out / "results.json", "csv": out / "results.csv"}
    write_json(files["json"], result.to_dict())
    with atomic_open(files["csv"], "w") as f:
        f.write(_csv(result))

    sections = []
    matrices = {space: result.matrix(space) for space in result.spaces}
    finite = np.concatenate([m[np.isfinite(m)] for m, _ in matrices.values()] or [np.empty(0)])
    vmin, vmax = (float(finite.min()), float(finite.max())) if shared_colors and finite.size else (None, None)
    if vmin is not None and vmin == vmax:
        vmin = vmax = None  # one value everywhere: save_heatmap picks a flat mid-range colour
    for space in result.spaces:
        mean, std = matrices[space]
        path = out / f"heatmap_{slug(space)}.png"
        save_heatmap(mean, result.encoders, result.encoders, path, title=f"{space}: {result.metric}",
                     xlabel="encoder whose latents are decoded", ylabel="decoder trained on", vmin=vmin, vmax=vmax)
        files[f"heatmap:{space}"] = path
        table = markdown_table(
            ["decoder \\ encoder", *result.encoders],
            [[e, *(_pm(float(m), float(s)) for m, s in zip(mrow, srow))]
             for e, mrow, srow in zip(result.encoders, mean, std)],
        )
        sections.append(f"### {space}\n\n![{space}]({path.name})\n\n{table}\n")

    if _bars(result, out / "stitched_bars.png"):
        files["bars"] = out / "stitched_bars.png"
    strategy = result.config.get("anchors", {}).get("strategy", "?")
    anchor_lines = [
        f"- seed {seed}: {len(a['indices'])} anchors, strategy `{strategy}`, "
        f"anchor seed {a['seed']}, chosen in `{a['reference']}`'s training latents"
        for seed, a in result.anchors.items()
    ]
    encoder_lines = [f"- `{label}`: {info.get('name')}" + (
        f", trained from scratch (run seed {info['run_seed']}, initialisation seed {info['init_seed']}, "
        f"{info.get('training', {}).get('epochs_run', '?')} epochs run)" if "trained" in info else "")
        for label, info in result.encoder_info.items()]
    bars = f"![non-stitched vs stitched per space]({files['bars'].name})\n\n" if "bars" in files else ""
    chance = f" Chance level: {result.chance:.3f}." if result.chance is not None else ""
    direction = "higher" if result.greater_is_better else "lower"
    skipped = [c for c in result.cells if "skipped" in c]
    if skipped:
        chance += (
            f" {len(skipped)} cell(s) show 'n/a': a decoder cannot read latents of another width "
            f"(e.g. {skipped[0]['skipped']}), so those absolute-space pairs do not apply; a summary group with "
            "such pairs shows n/a rather than a mean over part of its pairs."
        )
    spread = " With one seed there is no spread: ± n/a." if len(result.seeds) == 1 else ""
    summary = markdown_table(list(_columns(result)[0]), summary_rows(result))
    text = (
        f"# Stitching report: {result.name}\n\n"
        f"Task: {result.task}; metric: `{result.metric}` ({direction} is better), mean ± std over seeds "
        f"{result.seeds}.{chance}{spread} Rows: the encoder whose space the decoder was trained on; columns: the "
        f"encoder whose latents it decodes zero-shot. The diagonal is the non-stitched score.\n\n"
        f"## Summary\n\n{summary}\n\n{bars}"
        "*non-stitched*: mean of the diagonal; *stitched*: mean off the diagonal; *same group* / *cross group*: "
        "stitched pairs within / across encoder groups (architectures).\n\n"
        f"## Matrices\n\n" + "\n".join(sections) + "\n"
        + (f"## Encoders\n\n" + "\n".join(encoder_lines) + "\n\n" if encoder_lines else "")
        + f"## Anchors\n\n" + "\n".join(anchor_lines) + "\n\nAnchor ids per seed are in `results.json`.\n\n"
        f"## Versions\n\n" + "\n".join(f"- {k}: {v}" for k, v in sorted(result.versions.items())) + "\n"
    )
    files["report"] = out / "report.md"
    with atomic_open(files["report"], "w") as f:
        f.write(text)
    return files
