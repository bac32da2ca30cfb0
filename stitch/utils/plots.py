"""Shared report building blocks: heatmaps, bar charts and markdown tables (experiments and audits).

Matplotlib is imported lazily with the non-interactive Agg backend; figures are written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from stitch.utils.files import atomic_open

__all__ = ["save_heatmap", "save_bars", "markdown_table"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def save_heatmap(
    matrix: Any,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    fmt: str = ".2f",
    linkage: Any = None,
) -> None:
    """Write an annotated heatmap PNG of a ``(rows, cols)`` matrix (NaN cells are marked ``n/a``).

    Without ``vmin``/``vmax`` the colour range is fitted to the finite values, so 0.86 and 0.99 look different.
    With a scipy ``linkage`` of a square matrix, its dendrogram is drawn above the columns (the matrix must
    already be in the dendrogram's leaf order).

    Example:
        >>> import tempfile, os, numpy as np
        >>> save_heatmap(np.eye(2), ["a", "b"], ["a", "b"], os.path.join(tempfile.mkdtemp(), "h.png"))
    """
    import numpy as np

    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    size = (1.6 + 0.7 * m.shape[1], 0.8 + 0.6 * m.shape[0] + (1.2 if linkage is not None else 0.0))
    if linkage is not None:
        fig, (top, ax) = plt.subplots(2, 1, figsize=size, gridspec_kw={"height_ratios": [1, 3 * max(1, m.shape[0]) / 4]})
    else:
        fig, ax = plt.subplots(figsize=size)
    try:
        if linkage is not None:
            from scipy.cluster.hierarchy import dendrogram

            dendrogram(linkage, ax=top, no_labels=True, color_threshold=0, above_threshold_color="grey")
            top.set_axis_off()
            top.set_title(title)
        finite = m[np.isfinite(m)]
        if finite.size and vmin is None and vmax is None and finite.min() == finite.max():
            vmin, vmax = finite.min() - 0.5, finite.max() + 0.5  # one value: a flat, mid-range colour
        im = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(m.shape[1]), labels=list(col_labels), rotation=45, ha="right")
        ax.set_yticks(range(m.shape[0]), labels=list(row_labels))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                # Text colour follows the colour scale (not the data range), so it stays readable on any cell;
                # an undefined cell says so instead of looking like a missing value.
                if np.isfinite(m[i, j]):
                    ax.text(j, i, format(m[i, j], fmt), ha="center", va="center", fontsize=8,
                            color="black" if im.norm(m[i, j]) > 0.5 else "white")
                else:
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=8, color="grey")
        if linkage is None:
            ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        _save(fig, path)
    finally:
        plt.close(fig)


def save_bars(
    labels: Sequence[str],
    series: dict[str, tuple[Sequence[float | None], Sequence[float | None] | None]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    ylabel: str = "",
    reference: float | None = None,
    reference_label: str = "",
    marks: dict[str, Sequence[float | None]] | None = None,
    marks_label: str = "",
) -> None:
    """Write a grouped bar chart PNG: one group per label, one bar per series, optional error bars.

    ``series`` maps a series name to ``(values, errors)``; a ``None`` value (not applicable) draws an empty
    hatched slot marked ``n/a``, so a missing bar is not mistaken for a zero, and a ``None`` error no error bar
    (a single seed has no spread). ``reference`` draws a dashed line (chance). The legend sits outside the
    axes, where it cannot cover a bar. ``marks`` draws a black tick across a series' bars at the given heights
    (``None``: none), e.g. a published value to compare with.

    Example:
        >>> import tempfile, os
        >>> save_bars(["a", "b"], {"stitched": ([0.5, None], None), "non-stitched": ([0.9, 0.8], [0.01, 0.02])},
        ...           os.path.join(tempfile.mkdtemp(), "b.png"), reference=0.1, reference_label="chance")
    """
    import numpy as np

    plt = _pyplot()
    k = max(1, len(series))
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * k * len(labels), 3.5))
    marked = False  # the marks' legend entry is drawn once
    try:
        for i, (name, (values, errors)) in enumerate(series.items()):
            x = np.arange(len(labels)) + (i - (k - 1) / 2) * width
            vals = np.array([np.nan if v is None else v for v in values], dtype=float)
            errs = None if errors is None else np.array([0.0 if e is None else e for e in errors], dtype=float)
            ax.bar(x, vals, width=width, yerr=errs, capsize=3, label=name)
            for xi, m in zip(x, (marks or {}).get(name, ())):
                if m is not None:
                    ax.plot([xi - width / 2, xi + width / 2], [m, m], color="black", linewidth=2,
                            label=marks_label if not marked else None)
                    marked = True
            for xi, v in zip(x, vals):
                if not np.isfinite(v):
                    ax.bar(xi, 1.0, width=width, bottom=0.0, fill=False, hatch="//", edgecolor="lightgrey",
                           linewidth=0.5, transform=ax.get_xaxis_transform())  # full height, whatever the scale
                    ax.text(xi, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=7, color="grey",
                            transform=ax.get_xaxis_transform())
        ax.set_xticks(range(len(labels)), labels=list(labels), rotation=30, ha="right")
        if reference is not None:
            ax.axhline(reference, linestyle="--", color="grey", label=reference_label or None)
        if len(series) > 1 or reference_label or marked:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        _save(fig, path)
    finally:
        plt.close(fig)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured markdown table; floats formatted with ``floatfmt``.

    Example:
        >>> print(markdown_table(["a", "b"], [["x", 0.5]]))
        | a | b |
        | --- | --- |
        | x | 0.500 |
    """

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, headers)) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
