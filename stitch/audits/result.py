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

    def pair_values(self, metric: str) -> dict[str, float]:
        """``{"A vs B": value}`` of ``metric`` over the pairs of two different models, finite values only.

        In a square audit each unordered pair appears once (an asymmetric measure's two directions averaged,
        or the one defined); in a rectangular one (layers of A vs layers of B) every cell is a pair.

        Example:
            >>> r = AuditResult(["a", "b"], ["a", "b"], {"m": np.array([[1.0, 0.2], [0.4, 1.0]])}, {"m": {}},
            ...                 {"m": {}}, {"m": None})
            >>> r.pair_values("m")
            {'a vs b': 0.30000000000000004}
        """
        m = self.matrix(metric)
        out: dict[str, float] = {}
        if self.rows == self.cols:
            for i, r in enumerate(self.rows):
                for j in range(i + 1, len(self.cols)):
                    both = [v for v in (m[i, j], m[j, i]) if math.isfinite(v)]
                    if both:
                        out[f"{r} vs {self.cols[j]}"] = float(np.mean(both))
        else:
            for i, r in enumerate(self.rows):
                for j, c in enumerate(self.cols):
                    if r != c and math.isfinite(m[i, j]):
                        out[f"{r} vs {c}"] = float(m[i, j])
        return out

    def consensus(self) -> dict[str, Any]:
        """Which pairs of models the measures agree are most and least similar, and how much they agree.

        Every measure defined on at least two pairs ranks them in its own direction (higher scores, lower
        distances = more similar); a pair's ``consensus`` is its mean rank over those measures, scaled to
        ``[0, 1]`` (1: the most similar pair under every measure). ``first`` / ``last`` count the measures that
        put it at the top / the bottom. ``agreement`` is the mean Spearman correlation between the measures'
        rankings (pairs both define; at least three): near 1 the measures tell one story, near 0 or below they
        do not, and each measure's own table must be read. ``skipped`` names the measures left out and why;
        with a single pair of models there is nothing to rank (``pairs`` is empty, ``skipped`` holds every measure).

        Example:
            >>> v = {"m1": np.array([[1, .9, .1], [.9, 1, .5], [.1, .5, 1]]), "m2": np.array([[0, .2, .8],
            ...      [.2, 0, .3], [.8, .3, 0]])}
            >>> decl = {"m1": {"kind": "score"}, "m2": {"kind": "distance"}}
            >>> c = AuditResult(list("abc"), list("abc"), v, decl, {"m1": {}, "m2": {}}, {}).consensus()
            >>> c["pairs"][0]["pair"], c["pairs"][-1]["pair"], c["agreement"]
            ('a vs b', 'a vs c', 1.0)
        """
        from scipy.stats import rankdata, spearmanr

        ranks: dict[str, dict[str, float]] = {}
        skipped: dict[str, str] = {}
        for metric in self.values:
            values = self.pair_values(metric)
            if len(values) < 2:
                skipped[metric] = "undefined for every pair" if not values else "defined on one pair only"
                continue
            sign = 1.0 if self.declarations[metric].get("kind", "score") == "score" else -1.0
            r = rankdata([sign * v for v in values.values()])  # ties share their mean rank
            ranks[metric] = dict(zip(values, (r - 1) / (len(r) - 1)))
        pairs: dict[str, list[float]] = {}
        for per_pair in ranks.values():
            for pair, rank in per_pair.items():
                pairs.setdefault(pair, []).append(rank)
        rows = [{"pair": p, "consensus": float(np.mean(v)), "first": sum(x == 1.0 for x in v),
                 "last": sum(x == 0.0 for x in v), "measures": len(v)} for p, v in pairs.items()]
        rows.sort(key=lambda row: -row["consensus"])
        rhos = []
        names = list(ranks)
        for a, name in enumerate(names):
            for other in names[a + 1:]:
                shared = [p for p in ranks[name] if p in ranks[other]]
                x, y = [ranks[name][p] for p in shared], [ranks[other][p] for p in shared]
                if len(shared) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
                    rhos.append(float(spearmanr(x, y)[0]))
        return {"pairs": rows, "agreement": float(np.mean(rhos)) if rhos else None, "measures": names,
                "skipped": skipped}

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
