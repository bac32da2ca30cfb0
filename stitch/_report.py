"""Shared report building blocks: heatmaps, bar charts and markdown tables (experiments and audits).

Matplotlib is imported lazily with the non-interactive Agg backend; figures are written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from stitch._io import atomic_open

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
) -> None:
    """Write an annotated heatmap PNG of a ``(rows, cols)`` matrix (NaN cells are marked ``n/a``).

    Example:
        >>> import tempfile, os, numpy as np
        >>> save_heatmap(np.eye(2), ["a", "b"], ["a", "b"], os.path.join(tempfile.mkdtemp(), "h.png"))
    """
    import numpy as np

    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * m.shape[1], 0.8 + 0.6 * m.shape[0]))
    try:
        im = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=vmax)
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
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        _save(fig, path)
    finally:
        plt.close(fig)


def save_bars(
    labels: Sequence[str],
    values: Sequence[float],
    path: str | os.PathLike[str],
    *,
    errors: Sequence[float] | None = None,
    title: str = "",
    ylabel: str = "",
    reference: float | None = None,
    reference_label: str = "",
) -> None:
    """Write a bar chart PNG (optional error bars and a dashed horizontal reference line, e.g. chance).

    Example:
        >>> import tempfile, os
        >>> save_bars(["a", "b"], [0.5, 0.9], os.path.join(tempfile.mkdtemp(), "b.png"), reference=0.1)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(labels), 3.5))
    try:
        ax.bar(range(len(labels)), values, yerr=errors, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(labels)), labels=list(labels), rotation=30, ha="right")
        if reference is not None:
            ax.axhline(reference, linestyle="--", color="grey", label=reference_label or None)
            if reference_label:
                ax.legend()
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
