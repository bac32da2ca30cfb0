"""The files of an audit: per metric JSON, CSV, LaTeX (booktabs) and a heatmap; ``audit.json``; ``report.md``.

Heatmaps of a square model x model audit are ordered by hierarchical clustering (average linkage on the
metric turned into a dissimilarity) with the dendrogram drawn above; layer x layer audits keep the layer
order. The colour range is fitted to the values by default (``color_range="declared"`` uses the metric's
declared range: a fixed 0-1 scale would paint 0.86 and 0.99 alike).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stitch.utils.checks import check_choice
from stitch.utils.files import atomic_open, write_json
from stitch.utils.plots import markdown_table, save_heatmap

if TYPE_CHECKING:
    from stitch.audits.result import AuditResult

__all__ = ["write_audit", "audit_markdown", "verdict_markdown", "latex_table", "cluster_order", "sanity_markdown"]


def cluster_order(m: np.ndarray, kind: str) -> tuple[np.ndarray, Any] | None:
    """``(order, linkage)`` of a square similarity (``kind="score"``) or distance matrix; ``None`` if not clusterable.

    Example:
        >>> m = np.array([[1.0, 0.1, 0.9], [0.1, 1.0, 0.2], [0.9, 0.2, 1.0]])
        >>> cluster_order(m, "score")[0].tolist()
        [1, 2, 0]
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = m.shape[0]
    if m.shape != (n, n) or n < 3 or not np.isfinite(m).all():
        return None
    sym = (m + m.T) / 2
    d = (sym.max() - sym) if kind == "score" else sym - sym.min()
    np.fill_diagonal(d, 0.0)
    link = linkage(squareform(np.clip(d, 0.0, None), checks=False), method="average", optimal_ordering=True)
    return leaves_list(link), link


#: LaTeX's special characters and what prints each
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_table(rows: Sequence[str], cols: Sequence[str], m: np.ndarray, *, fmt: str = ".3f", caption: str = "") -> str:
    r"""A booktabs LaTeX table of a matrix (``--`` for undefined cells), labels escaped.

    Example:
        >>> print(latex_table(["a_1"], ["b"], np.array([[0.5]])))
        \begin{tabular}{lc}
        \toprule
         & b \\
        \midrule
        a\_1 & 0.500 \\
        \bottomrule
        \end{tabular}
    """
    def esc(text: str) -> str:
        # one pass: a replacement's own braces and backslashes are never escaped again
        return "".join(_LATEX.get(ch, ch) for ch in text)

    lines = [r"\begin{tabular}{l" + "c" * len(cols) + "}", r"\toprule",
             " & " + " & ".join(esc(c) for c in cols) + r" \\", r"\midrule"]
    for name, row in zip(rows, m):
        cells = [format(v, fmt) if math.isfinite(v) else "--" for v in row]
        lines.append(f"{esc(name)} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    table = "\n".join(lines)
    return f"\\begin{{table}}\n\\centering\n{table}\n\\caption{{{esc(caption)}}}\n\\end{{table}}" if caption else table


def _write_csv(path: Path, rows: Sequence[str], cols: Sequence[str], m: np.ndarray) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", *cols])
    for name, row in zip(rows, m):
        w.writerow([name, *("" if not math.isfinite(v) else repr(float(v)) for v in row)])
    with atomic_open(path, "w") as f:
        f.write(buf.getvalue())


def write_audit(result: AuditResult, out: str | os.PathLike[str], *, color_range: str = "data",
                order: str = "cluster") -> Path:
    """Write per metric ``<metric>.json/.csv/.tex/.png``, then ``audit.json`` and ``report.md``, under ``out``.

    Args:
        color_range: ``"data"`` (fitted to the values) or ``"declared"`` (the metric's declared range).
        order: ``"cluster"`` (square model x model audits: hierarchical clustering with a dendrogram) or
            ``"given"`` (the order the models were listed in).
    """
    check_choice(color_range, ("data", "declared"), "heatmap colour range")
    check_choice(order, ("cluster", "given"), "heatmap order")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    square = result.rows == result.cols
    for metric, m in result.values.items():
        decl = result.declarations[metric]
        write_json(out / f"{metric}.json", result.metric_dict(metric))
        _write_csv(out / f"{metric}.csv", result.rows, result.cols, m)
        with atomic_open(out / f"{metric}.tex", "w") as f:
            f.write(latex_table(result.rows, result.cols, m, caption=f"{metric} ({decl['kind']})") + "\n")
        if not _drawn(m):  # undefined for every pair: report.md says why, an empty heatmap would not
            continue
        rows, cols, shown, link = result.rows, result.cols, m, None
        clustered = cluster_order(m, decl["kind"]) if square and order == "cluster" else None
        if clustered is not None:
            idx, link = clustered
            rows = cols = [result.rows[i] for i in idx]
            shown = m[np.ix_(idx, idx)]
        lo, hi = decl["range"] if color_range == "declared" else (math.nan, math.nan)
        finite = np.abs(m[np.isfinite(m)])
        # Two decimals would print small-valued metrics (e.g. Gromov-Wasserstein) as all 0.00 / 0.01.
        fmt = ".4f" if finite.size and 0 < finite.max() < 0.1 else ".2f"
        better = "higher" if decl["kind"] == "score" else "lower"
        save_heatmap(shown, rows, cols, out / f"{metric}.png", title=f"{metric} ({better} = more similar)",
                     vmin=lo if math.isfinite(lo) else None, vmax=hi if math.isfinite(hi) else None, fmt=fmt,
                     linkage=link)
    write_json(out / "audit.json", result.to_dict())
    with atomic_open(out / "report.md", "w") as f:
        f.write(audit_markdown(result))
    return out


def _drawn(m: np.ndarray) -> bool:
    """Whether a metric's heatmap is drawn: not when it is undefined (n/a) for every pair."""
    return bool(np.isfinite(m).any())


def _cell(res: AuditResult, metric: str, i: int, j: int) -> str:
    v = res.values[metric][i, j]
    text = "n/a" if not math.isfinite(v) else f"{v:.3f}"
    if metric in res.ci_low and math.isfinite(res.ci_low[metric][i, j]):
        text += f" [{res.ci_low[metric][i, j]:.3f}, {res.ci_high[metric][i, j]:.3f}]"
    if metric in res.p_values and math.isfinite(res.p_values[metric][i, j]):
        text += f" (p={res.p_values[metric][i, j]:.3g})"
    return text


def _summary_rows(result: AuditResult) -> list[list[str]]:
    # Self-pairs say nothing about how models relate, so they are left out when there is anything else.
    rows = []
    for metric, m in result.values.items():
        caveat = result.declarations[metric].get("caveat", "") or "-"
        cells = [(m[i, j], f"{r} vs {c}") for i, r in enumerate(result.rows) for j, c in enumerate(result.cols)
                 if math.isfinite(m[i, j]) and r != c]
        if not cells:
            rows.append([metric, "n/a", "n/a", caveat])
            continue
        sign = 1.0 if result.declarations[metric]["kind"] == "score" else -1.0
        best = max(cells, key=lambda t: sign * t[0])
        worst = min(cells, key=lambda t: sign * t[0])
        if best[0] == worst[0]:  # one value everywhere: no pair is more similar than another
            rows.append([metric, f"every pair ties ({best[0]:.3f})", "-", caveat])
        else:
            rows.append([metric, f"{best[1]} ({best[0]:.3f})", f"{worst[1]} ({worst[0]:.3f})", caveat])
    return rows


def verdict_markdown(result: AuditResult) -> str:
    """The audit's first screen: which pairs of models the measures agree are most and least similar.

    Example:
        >>> from stitch.audits.result import AuditResult
        >>> v = {"m": np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.5], [0.1, 0.5, 1.0]])}
        >>> r = AuditResult(list("abc"), list("abc"), v, {"m": {"kind": "score"}}, {"m": {}}, {"m": None})
        >>> print(verdict_markdown(r).splitlines()[2])
        Most similar by consensus: **a vs b** (first for 1/1 measures); least similar: **a vs c** (last for 1/1).
    """
    c = result.consensus()
    lines = ["## Verdict", ""]
    if not c["pairs"]:
        single = len(result.rows) == len(result.cols) == 2 or (len(result.rows) * len(result.cols) == 1)
        return "\n".join(lines + [
            ("One pair of models: nothing to rank; read each measure's value against its range and chance level "
             "below." if single else "No measure is defined on two or more pairs of models: nothing to rank; read "
             "each measure below.")])
    top, bottom = c["pairs"][0], c["pairs"][-1]
    lines.append(f"Most similar by consensus: **{top['pair']}** (first for {top['first']}/{top['measures']} "
                 f"measures); least similar: **{bottom['pair']}** (last for {bottom['last']}/{bottom['measures']}).")
    agreement = c["agreement"]
    if agreement is None:
        lines.append("Agreement between measures: n/a (it needs three or more pairs).")
    else:
        tells = ("they tell one story" if agreement >= 0.7 else "they partly agree: read the measures that disagree"
                 if agreement >= 0.3 else "they disagree: no single ranking holds, read each measure")
        lines.append(f"Agreement between measures: mean Spearman {agreement:.2f} between their rankings of the "
                     f"pairs ({tells}).")
    lines += ["", markdown_table(["pair", "consensus (1 = most similar)", "ranked first by", "ranked last by"],
                                 [[p["pair"], f"{p['consensus']:.2f}", f"{p['first']}/{p['measures']}",
                                   f"{p['last']}/{p['measures']}"] for p in c["pairs"]])]
    if c["skipped"]:
        lines += ["", "Not ranked: " + "; ".join(f"{m} ({why})" for m, why in c["skipped"].items()) + "."]
    return "\n".join(lines)


def audit_markdown(result: AuditResult) -> str:
    """The markdown report: configuration, grounding scores, one table and heatmap per metric, declarations."""
    cfg = result.config
    lines = ["# Similarity audit", ""]
    for key in ("dataset", "split", "n_samples", "n_available", "seed", "permutations", "bootstrap",
                "confidence", "encoder_a", "encoder_b", "layers", "layers_b"):
        if cfg.get(key) is not None:
            lines.append(f"- **{key}**: {cfg[key]}")
    for label, spec in cfg.get("encoders", {}).items():
        lines.append(f"- **encoder** `{label}`" + ("" if spec == label else f": `{spec}`"))
    lines += ["", verdict_markdown(result), "", "## Summary", "",
              markdown_table(["metric", "most similar pair", "least similar pair", "caveat"], _summary_rows(result)),
              ""]
    if result.sanity:
        lines += [sanity_markdown(result.sanity), ""]
    for metric in result.values:
        decl = result.declarations[metric]
        better = "higher" if decl["kind"] == "score" else "lower"
        lines += [f"## {metric}", "", f"{decl['description']} ({decl['kind']}, {better} = more similar; "
                  f"range {decl['range']}; {decl['reference']})", ""]
        if result.chance[metric] is not None:
            lines += [f"Chance level (unrelated spaces): {result.chance[metric]:.4f}", ""]
        rows = [[r, *(_cell(result, metric, i, j) for j in range(len(result.cols)))] for i, r in enumerate(result.rows)]
        lines += [markdown_table(["", *result.cols], rows), ""]
        lines += [f"![{metric}]({metric}.png)", ""] if _drawn(result.values[metric]) else []
        # One line per distinct reason: a rank-deficient model makes a whole row and column undefined.
        by_reason: dict[str, list[str]] = {}
        for cell, why in result.errors.get(metric, {}).items():
            by_reason.setdefault(why, []).append(cell)
        every = len(by_reason) == 1 and bool(np.isnan(result.values[metric]).all())
        for why, cells in by_reason.items():
            lines.append(f"- undefined for {'every pair' if every else ', '.join(cells)}: {why}")
        lines += [""] if by_reason else []
    lines += ["## Metric declarations", ""]
    decl_rows = [
        [m, d["kind"], f"[{d['range'][0]:.3g}, {d['range'][1]:.3g}]", d["symmetric"],
         ", ".join(d["invariances"]) or "-", result.options[m]]
        for m, d in result.declarations.items()
    ]
    lines.append(markdown_table(["metric", "kind", "range", "symmetric", "invariances", "options"], decl_rows))
    return "\n".join(lines) + "\n"


def sanity_markdown(sanity: Mapping[str, Any]) -> str:
    """The grounding section of an audit report: one row per measure, best grounded first."""
    tests = sanity["tests"]  # in the order they ran
    ran = [t for t in tests if "skipped" not in tests[t]]

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:+.2f}"

    rows = []
    for r in sanity["ranking"]:
        cells = [fmt(r["scores"].get(t)) for t in ran]
        rows.append([r["metric"], *cells, fmt(r["mean_rho"]), f"{r['passed']}/{r['ran']}"])
    lines = ["## Grounding tests", "",
             f"Spearman rho between each measure and what it should track (higher = better grounded; a test passes "
             f"at rho >= {sanity['pass_rho']}). Measures are ranked by their mean.", "",
             markdown_table(["metric", *ran, "mean", "passed"], rows)]
    for t in tests:
        if "skipped" in tests[t]:
            lines += ["", f"- {t}: not run ({tests[t]['skipped']})"]
    return "\n".join(lines)
