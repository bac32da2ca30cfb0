"""A suite's result: its rows as a text table (what ``stitch bench`` prints), CSV, JSON and a figure.

Example:
    >>> from stitch.bench import BenchContext, BenchRow, get_suite
    >>> row = BenchRow("lst", "trec", "L3 -> L6 head", "affine", 300, 0.86, 0.70, 0.01, 0.81, 0.012, 0.94,
    ...                "LST Table 1", 1.2, ceiling=0.87)
    >>> table = BenchResult(get_suite("lst"), [row], BenchContext(seeds=(0,)), 1.0, {}).table()
    >>> print(table.splitlines()[2])  # doctest: +NORMALIZE_WHITESPACE
    trec     L3 -> L6 head  affine  300      0.860   0.700 ± 0.010  0.810 ± 0.012  0.870
    0.940 (LST Table 1)  -0.130  1.2
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stitch.utils.files import atomic_open, write_json

__all__ = ["BenchResult", "HEADERS"]

#: the columns of a suite's table
HEADERS = ("dataset", "direction", "method", "anchors", "native", "stitched", "ratio", "ceiling", "published ratio",
           "gap", "s/row")


def _num(value: float | None, std: float | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if std is None else f"{value:.3f} ± {std:.3f}"


@dataclass
class BenchResult:
    """What :func:`~stitch.bench.run_suite` returns: the suite, its rows, the context, wall time, versions."""

    suite: Any
    rows: list[Any]
    context: Any
    seconds: float
    versions: dict[str, str]

    def table_rows(self) -> list[tuple[str, ...]]:
        """The rows as the strings of :data:`HEADERS` (``n/a`` where there is no value)."""
        out = []
        for r in self.rows:
            published = "" if r.published is None else f"{r.published:.3f} ({r.source})"
            gap = "" if r.gap is None else f"{r.gap:+.3f}"
            out.append((r.dataset, r.direction, r.method, str(r.anchors) if r.anchors else "", _num(r.native),
                        _num(r.stitched, r.stitched_std), _num(r.ratio, r.ratio_std),
                        "" if r.ceiling is None else f"{r.ceiling:.3f}", published, gap,
                        f"{r.seconds:.1f}"))
        return out

    def table(self) -> str:
        """A plain-text table, one row per method and direction, then each row's note."""
        rows = [HEADERS, *self.table_rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def summary(self) -> str:
        """The table with the suite's protocol, reference and run settings above it (what the CLI prints)."""
        seeds = ", ".join(map(str, self.context.seeds))
        head = [f"{self.suite.name}: {self.suite.description}"]
        if self.suite.protocol:
            head.append(f"protocol: {self.suite.protocol}")
        if self.suite.reference:
            head.append(f"published numbers: {self.suite.reference}")
        draws = len(self.context.seeds) * sum(1 for r in self.rows if r.method != "-")
        reused = sum(r.reused for r in self.rows)
        head.append(f"anchor draws (seeds): {seeds}; mean ± std over them (the noise floor); "
                    f"{'full' if self.context.full else 'default'} sizes; {self.seconds:.0f} s"
                    + (f"; {reused} of {draws} draws read back from earlier runs (s/row: when computed; "
                       "--fresh recomputes)" if reused else ""))
        notes = [f"  {r.dataset}, {r.direction}, " + (f"{r.anchors} anchors, {r.method}: " if r.anchors else "")
                 + r.note for r in self.rows if r.note]
        return "\n".join([*head, "", self.table(), *(["", "notes:", *notes] if notes else [])])

    def to_json(self) -> dict[str, Any]:
        """Everything needed to read or redo the run: suite, protocol, reference, settings, rows, versions."""
        ctx = self.context
        return {"suite": self.suite.name, "description": self.suite.description, "protocol": self.suite.protocol,
                "reference": self.suite.reference,
                "context": {"full": ctx.full, "seeds": list(ctx.seeds), "pairs": list(ctx.pairs or []) or None},
                "seconds": round(self.seconds, 3), "rows": [r.to_dict() for r in self.rows],
                "versions": self.versions}

    def write(self, out: str | os.PathLike[str]) -> list[Path]:
        """Write ``<suite>.txt``, ``.csv``, ``.json`` and ``.png`` into ``out`` (atomically); return the paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        name = self.suite.name.replace(":", "_")
        paths = [out / f"{name}.txt", out / f"{name}.csv", out / f"{name}.json", out / f"{name}.png"]
        with atomic_open(paths[0], "w") as f:
            f.write(self.summary() + "\n")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        fields = [f for f in self.rows[0].to_dict()] if self.rows else list(HEADERS)
        writer.writerow(fields)
        for r in self.rows:
            writer.writerow(["" if v is None else v for v in r.to_dict().values()])
        with atomic_open(paths[1], "w") as f:
            f.write(buffer.getvalue())
        write_json(paths[2], self.to_json())
        self.figure(paths[3])
        return paths

    def figure(self, path: str | os.PathLike[str]) -> None:
        """Stitched / native ratio per method (bars, ± the noise floor), one series per direction and anchor
        count, the published ratio as a black tick across the bar it compares with."""
        from stitch.utils.plots import save_bars

        rows = [r for r in self.rows if r.method != "-"]
        methods = list(dict.fromkeys(r.method for r in rows))
        series: dict[str, tuple[list[float | None], list[float | None]]] = {}
        marks: dict[str, list[float | None]] = {}
        for r in rows:
            name = f"{r.dataset}: {r.direction}, {r.anchors} anchors"
            values, errors = series.setdefault(name, ([None] * len(methods), [None] * len(methods)))
            i = methods.index(r.method)
            values[i], errors[i] = r.ratio, r.ratio_std
            marks.setdefault(name, [None] * len(methods))[i] = r.published
        save_bars(methods, series, path, title=f"stitch bench {self.suite.name}", ylabel="stitched / native",
                  marks=marks, marks_label="published")
