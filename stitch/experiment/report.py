"""Reports of a stitching experiment: ``results.json``, ``results.csv``, heatmaps, a bar chart, ``report.md``.

Figures and tables come from the shared :mod:`stitch._report` helpers; every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from stitch._io import atomic_open, write_json
from stitch._report import markdown_table, save_bars, save_heatmap
from stitch.experiment.runner import ExperimentResult

__all__ = ["write_report", "format_summary", "summary_rows", "SUMMARY_HEADERS"]

SUMMARY_HEADERS = ("space", "non-stitched", "stitched", "same group", "cross group")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None or math.isnan(mean):
        return "-"
    return f"{mean:.3f} ± {std:.3f}"


def summary_rows(result: ExperimentResult) -> list[list[str]]:
    """One row per space: mean ± std over seeds of non-stitched, stitched, same- and cross-group scores.

    Example:
        >>> summary_rows(ExperimentResult("t", "classification", "accuracy", True, ["A"], ["s"], [0], [],
        ...     {"s": {"diagonal_mean": 0.9, "diagonal_std": 0.0, "stitched_mean": None, "stitched_std": None,
        ...            "same_group_mean": None, "same_group_std": None, "cross_group_mean": None,
        ...            "cross_group_std": None}}, {}))
        [['s', '0.900 ± 0.000', '-', '-', '-']]
    """
    rows = []
    for space in result.spaces:
        s = result.summary[space]
        parts = ("diagonal", "stitched", "same_group", "cross_group")
        row = [space] + [_pm(s[f"{k}_mean"], s[f"{k}_std"]) for k in parts]
        if "anchors_recovered_fraction" in s:
            row[0] += f" (OT recovered {s['anchors_recovered_fraction']:.0%} of anchor pairs)"
        rows.append(row)
    return rows


def format_summary(result: ExperimentResult) -> str:
    """A plain-text table of :func:`summary_rows` for the terminal.

    Example:
        >>> r = ExperimentResult("t", "classification", "accuracy", True, ["A"], ["s"], [0], [],
        ...     {"s": {k + s: 0.5 for k in ("diagonal", "stitched", "same_group", "cross_group")
        ...            for s in ("_mean", "_std")}}, {}, chance=0.1)
        >>> print(format_summary(r).splitlines()[0])
        t: accuracy (mean ± std over 1 seed(s); chance 0.100)
    """
    rows = summary_rows(result)
    table = [list(SUMMARY_HEADERS), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(SUMMARY_HEADERS))]
    chance = f"; chance {result.chance:.3f}" if result.chance is not None else ""
    better = "" if result.greater_is_better else "; lower is better"
    lines = [f"{result.name}: {result.metric} (mean ± std over {len(result.seeds)} seed(s){chance}{better})"]
    for i, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [
        "non-stitched: each decoder on the encoder it was trained on; stitched: on every other encoder, zero-shot;",
        "same group: stitched pairs of one group (architecture, other seed); cross group: pairs of two groups.",
    ]
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


def write_report(result: ExperimentResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns ``{what: path}``.

    Files: ``results.json`` (cells with their config, seeds, anchor ids, versions), ``results.csv`` (one row
    per cell), ``heatmap_<space>.png`` (mean matrix over seeds, rows = decoder's encoder), ``stitched_bars.png``
    (mean stitched score per space with its seed std and the chance level), ``report.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"json": out / "results.json", "csv": out / "results.csv"}
    write_json(files["json"], result.to_dict())
    with atomic_open(files["csv"], "w") as f:
        f.write(_csv(result))

    lo, hi = (0.0, 1.0) if result.task == "classification" else (None, None)
    sections = []
    for space in result.spaces:
        mean, std = result.matrix(space)
        path = out / f"heatmap_{_slug(space)}.png"
        save_heatmap(
            mean, result.encoders, result.encoders, path, title=f"{space}: {result.metric}",
            xlabel="test encoder", ylabel="decoder trained on", vmin=lo, vmax=hi,
        )
        files[f"heatmap:{space}"] = path
        table = markdown_table(
            ["decoder \\ encoder", *result.encoders],
            [[e, *(_pm(float(m), float(s)) for m, s in zip(mrow, srow))]
             for e, mrow, srow in zip(result.encoders, mean, std)],
        )
        sections.append(f"### {space}\n\n![{space}]({path.name})\n\n{table}\n")

    stitched = [result.summary[s]["stitched_mean"] for s in result.spaces]
    errors = [result.summary[s]["stitched_std"] for s in result.spaces]
    if any(v is not None for v in stitched):
        files["bars"] = out / "stitched_bars.png"
        save_bars(
            result.spaces, [0.0 if v is None else v for v in stitched], files["bars"],
            errors=[0.0 if e is None else e for e in errors], title=f"mean stitched {result.metric}",
            ylabel=result.metric, reference=result.chance, reference_label="chance" if result.chance else "",
        )

    strategy = result.config.get("anchors", {}).get("strategy", "?")
    anchor_lines = [
        f"- seed {seed}: {len(a['indices'])} anchors, strategy `{strategy}`, "
        f"anchor seed {a['seed']}, chosen in `{a['reference']}`'s training latents"
        for seed, a in result.anchors.items()
    ]
    bars = f"![mean stitched score per space]({files['bars'].name})\n\n" if "bars" in files else ""
    chance = f" Chance level: {result.chance:.3f}." if result.chance is not None else ""
    direction = "higher" if result.greater_is_better else "lower"
    skipped = [c for c in result.cells if "skipped" in c]
    if skipped:
        chance += (
            f" {len(skipped)} cell(s) show '-': a decoder cannot read latents of another width "
            f"(e.g. {skipped[0]['skipped']}), so those absolute-space pairs are not applicable."
        )
    summary = markdown_table(list(SUMMARY_HEADERS), summary_rows(result))
    text = (
        f"# Stitching report: {result.name}\n\n"
        f"Task: {result.task}; metric: `{result.metric}` ({direction} is better), mean ± std over seeds "
        f"{result.seeds}.{chance} Rows: the encoder whose space the decoder was trained on; columns: the encoder "
        f"whose latents it decodes zero-shot. The diagonal is the non-stitched score.\n\n"
        f"## Summary\n\n{summary}\n\n{bars}"
        "*non-stitched*: mean of the diagonal; *stitched*: mean off the diagonal; *same group* / *cross group*: "
        "stitched pairs within / across encoder groups (architectures).\n\n"
        f"## Matrices\n\n" + "\n".join(sections) + "\n"
        f"## Anchors\n\n" + "\n".join(anchor_lines) + "\n\nAnchor ids per seed are in `results.json`.\n\n"
        f"## Versions\n\n" + "\n".join(f"- {k}: {v}" for k, v in sorted(result.versions.items())) + "\n"
    )
    files["report"] = out / "report.md"
    with atomic_open(files["report"], "w") as f:
        f.write(text)
    return files

