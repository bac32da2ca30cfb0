"""The result of an audit: one ``rows x cols`` matrix per metric, with its declarations and statistics.

Writers (JSON, CSV, LaTeX, heatmaps, ``report.md``) are in :mod:`stitch.audits.report`; ``AuditResult.save``
calls them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AuditResult", "nan_to_none"]


def nan_to_none(m: np.ndarray) -> list[list[float | None]]:
    """A matrix as nested lists with NaN written as ``None`` (strict JSON).

    Example:
        >>> nan_to_none(np.array([[1.0, np.nan]]))
        [[1.0, None]]
    """
    return [[float(v) if math.isfinite(v) else None for v in row] for row in np.asarray(m, dtype=float)]


@dataclass
class AuditResult:
    """Matrices of metric values between models (``values[metric][i][j]`` = metric(rows[i], cols[j])).

    ``p_values`` (one-sided permutation test against shuffled pairings) and ``ci_low``/``ci_high``
    (percentile bootstrap) hold ``NaN`` where not computed (diagonal, unpaired metrics, or not asked).
    A cell where the metric is undefined (it raised ``ValueError``) is ``NaN`` with its reason in
    ``errors[metric]["A vs B"]``. ``sanity`` holds the grounding tests' scores per metric, when run.

    Example:
        >>> r = AuditResult(["a"], ["a"], {"m": np.ones((1, 1))}, {"m": {}}, {"m": {}}, {"m": None})
        >>> r.matrix("m").tolist(), r.metrics
        ([[1.0]], ['m'])
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
    sanity: dict[str, Any] = field(default_factory=dict)

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
            "values": nan_to_none(self.values[metric]),
            "declaration": self.declarations[metric],
            "options": self.options[metric],
            "chance": self.chance[metric],
        }
        for key, table in (("p_values", self.p_values), ("ci_low", self.ci_low), ("ci_high", self.ci_high)):
            if metric in table:
                out[key] = nan_to_none(table[metric])
        if metric in self.errors:
            out["errors"] = self.errors[metric]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        out = {"config": self.config, "metrics": {m: self.metric_dict(m) for m in self.values}}
        if self.sanity:
            out["sanity"] = self.sanity
        return out

    def save(self, out: str | os.PathLike[str], **options: Any) -> Path:
        """Write every file of :func:`stitch.audits.report.write_audit` under ``out``; returns ``out``."""
        from stitch.audits.report import write_audit

        return write_audit(self, out, **options)

    def report(self) -> str:
        """The markdown report (see :func:`stitch.audits.report.audit_markdown`)."""
        from stitch.audits.report import audit_markdown

        return audit_markdown(self)
