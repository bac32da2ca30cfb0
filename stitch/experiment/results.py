"""What a stitching experiment produces: finished matrix rows (resumable), summaries and the result record.

* :class:`CellStore` — the append-only ``cells.jsonl`` a run resumes from, keyed by a hash of everything
  that determines a row (one decoder, measured on every test encoder);
* :func:`summarize` — per space, the mean and spread over seeds of the non-stitched, stitched, same-group and
  cross-group scores, each over **all** the pairs of its group: a space that cannot apply to some pair of a
  group (absolute latents of different widths) reports ``None`` ("n/a") there, never a partial mean;
* :class:`ExperimentResult` — everything ``results.json`` records.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CellStore", "ExperimentResult", "summarize", "GROUPS", "record_hash"]

CELLS_FILE = "cells.jsonl"

def _cross(c: Mapping[str, Any]) -> bool:
    return bool(c["stitched"]) and c["decoder_group"] != c["test_group"]


def _train_seeds(c: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """The run seeds both encoders of a cell were trained with (``None`` when one was not trained here)."""
    seeds = (c.get("decoder_train_seed"), c.get("test_train_seed"))
    return None if None in seeds else seeds


#: summary groups: name -> which cells belong to it
GROUPS: dict[str, Any] = {
    "diagonal": lambda c: not c["stitched"],
    "stitched": lambda c: c["stitched"],
    "same_group": lambda c: c["stitched"] and c["decoder_group"] == c["test_group"],
    "cross_group": _cross,
    "cross_same_seed": lambda c: _cross(c) and (s := _train_seeds(c)) is not None and s[0] == s[1],
    "cross_other_seed": lambda c: _cross(c) and (s := _train_seeds(c)) is not None and s[0] != s[1],
}


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def record_hash(obj: Any) -> str:
    """A short, stable hash of a JSON-able record (resume keys, training recipes).

    Example:
        >>> record_hash({"b": 1, "a": 2}) == record_hash({"a": 2, "b": 1})
        True
    """
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_jsonable).encode()).hexdigest()[:24]


class CellStore:
    """Append-only JSONL of finished matrix rows, keyed by a hash of their configuration.

    A line torn by an interruption is ignored (that row is recomputed); a key written twice (two runs racing)
    keeps one value, so no cell is ever counted twice.

    Example:
        >>> import tempfile, pathlib
        >>> store = CellStore(pathlib.Path(tempfile.mkdtemp()) / "cells.jsonl")
        >>> store.add("k1", [{"accuracy": 1.0}])
        >>> CellStore(store.path).get("k1")
        [{'accuracy': 1.0}]
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._torn = False
        if self.path is not None and self.path.is_file():
            text = self.path.read_text(encoding="utf-8", errors="replace")
            self._torn = bool(text) and not text.endswith("\n")  # the next record must start on a new line
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                    self._rows.setdefault(record["key"], record["cells"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line torn by an interruption: that row is simply recomputed

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The stored cells of ``key``, or ``None``."""
        return self._rows.get(key)

    def add(self, key: str, cells: list[dict[str, Any]]) -> None:
        """Record a finished row (durably, before returning); a key already stored is not written again."""
        if key in self._rows:
            return
        self._rows[key] = cells
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": key, "cells": cells}, sort_keys=True, default=_jsonable) + "\n"
        if self._torn:
            line, self._torn = "\n" + line, False
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def __len__(self) -> int:
        return len(self._rows)


def summarize(cells: Sequence[Mapping[str, Any]], metric: str) -> dict[str, dict[str, Any]]:
    """Per space: mean and std over seeds of the diagonal (non-stitched), stitched, same- and cross-group means.

    A group's mean is ``None`` when the group is empty or when the space cannot apply to one of its pairs
    (then ``<group>_applicable`` says how many pairs it applies to, e.g. ``"4/12"``). The std over seeds is
    ``None`` with fewer than two seeds: one run has no spread to report.

    Example:
        >>> cells = [{"space": "s", "seed": 0, "decoder_encoder": a, "test_encoder": b, "stitched": a != b,
        ...           "decoder_group": "g", "test_group": "g", "accuracy": 1.0 if a == b else 0.5}
        ...          for a in "AB" for b in "AB"]
        >>> summary = summarize(cells, "accuracy")["s"]
        >>> summary["stitched_mean"], summary["stitched_std"]
        (0.5, None)
    """
    out: dict[str, dict[str, Any]] = {}
    for space in dict.fromkeys(c["space"] for c in cells):
        mine = [c for c in cells if c["space"] == space]
        seeds = sorted({c["seed"] for c in mine})
        summary: dict[str, Any] = {}
        for group, member in GROUPS.items():
            per_seed: list[float] = []
            applicable, total = 0, 0
            for seed in seeds:
                sel = [c for c in mine if c["seed"] == seed and member(c)]
                values = [c[metric] for c in sel if c.get(metric) is not None]
                applicable, total = applicable + len(values), total + len(sel)
                if values and len(values) == len(sel):
                    per_seed.append(float(np.mean(values)))
            complete = total > 0 and applicable == total
            # None, not NaN: results.json stays strict JSON
            summary[f"{group}_mean"] = float(np.mean(per_seed)) if complete else None
            summary[f"{group}_std"] = float(np.std(per_seed)) if complete and len(per_seed) > 1 else None
            if total and not complete:
                summary[f"{group}_applicable"] = f"{applicable // max(len(seeds), 1)}/{total // max(len(seeds), 1)}"
        recovered = [c["anchors_recovered"] / max(c["anchors_to_recover"], 1) for c in mine if "anchors_recovered" in c]
        if recovered:
            summary["anchors_recovered_fraction"] = float(np.mean(recovered))
        confidence = [c["match_confidence"] for c in mine if "match_confidence" in c]
        if confidence:
            summary["match_confidence"] = float(np.mean(confidence))
        reliability = [c["match_reliability"] for c in mine if "match_reliability" in c]
        if reliability:  # the weakest pair's: one unreliable matching is enough to distrust the row
            summary["match_reliability"] = float(np.min(reliability))
        out[space] = summary
    return out


@dataclass
class ExperimentResult:
    """Everything a run produced: cells, summary, anchors, config and versions (``results.json``)."""

    name: str
    task: str
    metric: str
    greater_is_better: bool
    encoders: list[str]
    spaces: list[str]
    seeds: list[int]
    cells: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]]
    anchors: dict[int, dict[str, Any]]
    chance: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    encoder_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_dir: Path | None = None

    def matrix(self, space: str, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` over seeds of the ``(decoder encoder, test encoder)`` matrix of ``space``.

        Cells that do not apply are NaN; with one seed the std is NaN too.

        Shapes:
            -> ``(k, k)``, ``(k, k)`` with rows = decoder's encoder, columns = test encoder (``encoders`` order)
        """
        metric = metric or self.metric
        if space not in self.spaces:
            raise ValueError(f"no space {space!r} in this result; available: {', '.join(map(repr, self.spaces))}")
        k = len(self.encoders)
        pos = {e: i for i, e in enumerate(self.encoders)}
        values: list[list[list[float]]] = [[[] for _ in range(k)] for _ in range(k)]
        for c in self.cells:
            if c["space"] == space and c.get(metric) is not None:
                values[pos[c["decoder_encoder"]]][pos[c["test_encoder"]]].append(c[metric])
        mean = np.array([[np.mean(v) if v else np.nan for v in row] for row in values])
        std = np.array([[np.std(v) if len(v) > 1 else np.nan for v in row] for row in values])
        return mean, std

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (what ``results.json`` holds)."""
        return {
            "name": self.name, "task": self.task, "metric": self.metric, "greater_is_better": self.greater_is_better,
            "encoders": self.encoders, "spaces": self.spaces, "seeds": self.seeds, "chance": self.chance,
            "summary": self.summary, "anchors": {str(k): v for k, v in self.anchors.items()},
            "encoder_info": self.encoder_info, "config": self.config, "versions": self.versions,
            "cells": self.cells,
        }
