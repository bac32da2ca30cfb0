"""The one benchmark harness: methods interleaved round-robin in one process, min and median as ratios.

Why this shape: on a shared machine the load drifts over minutes. Timing each method in its own process,
one after the other, turns that drift into fake speed-ups and slow-downs; interleaving the methods round by
round (alternating the order, so no method always runs right after another) exposes them all to the same
load, and the *minimum* over rounds estimates the unloaded cost while the median shows the typical one.
Ratios are taken against a baseline measured in the same rounds.

Peak memory is measured apart, one method per short child process (``--memory-probe NAME``): the peak
resident set while the method runs once (Linux ``VmHWM``, reset after the inputs exist), minus the resident
set before it and its output's size — the temporaries it needs. In-process numbers would be polluted by the allocator's reuse of earlier rounds.

Each benchmark script defines ``cases(args) -> dict[name, callable]`` (inputs built once, callables take no
arguments and return the result) and calls :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Cases = Mapping[str, Callable[[], Any]]


def machine() -> str:
    """One line naming what the numbers were measured on."""
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    where = f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        where += f", GPU {torch.cuda.get_device_name()}"
    return where


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved(cases: Cases, rounds: int, *,
                budget_s: float | None = None) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Seconds per round for every case, run round-robin after one untimed warm-up call each; and each
    case's result (from its warm-up call).

    ``budget_s``: a case whose warm-up took longer than this is not run again: its warm-up is its one timing
    (compilation and first-touch costs are negligible at that size).
    """
    times: dict[str, list[float]] = {name: [] for name in cases}
    results: dict[str, Any] = {}
    slow = set()
    for name, fn in cases.items():  # warm-up: imports, JIT compilation, allocator growth
        t = time.perf_counter()
        results[name] = fn()
        _sync()
        took = time.perf_counter() - t
        if budget_s is not None and took > budget_s:
            slow.add(name)
            times[name].append(took)
    for r in range(rounds):
        order = list(cases) if r % 2 == 0 else list(reversed(list(cases)))
        for name in order:
            if name in slow and times[name]:
                continue
            t = time.perf_counter()
            cases[name]()
            _sync()
            times[name].append(time.perf_counter() - t)
    return times, results


def peak_extra_bytes(script: str, name: str, argv: Sequence[str]) -> int | None:
    """Run ``script --memory-probe name *argv`` in a child; its temporaries' peak in bytes (None if it failed)."""
    cmd = [sys.executable, script, "--memory-probe", name, *argv]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return int(json.loads(line)["extra_bytes"])
    return None


def _status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            line = next(line for line in f if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) * 1024


def _probe(cases: Cases, name: str) -> None:
    import torch

    fn = cases[name]
    try:  # reset the peak (VmHWM) to the current size, so building the inputs does not hide the method's peak
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        before, field = _status_bytes("VmRSS"), "VmHWM"
    except OSError:
        before, field = None, ""
    if before is None:  # not Linux: the peak so far, an overestimate of "before"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = fn()
    peak = _status_bytes(field) if field else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    size = out.numel() * out.element_size() if isinstance(out, torch.Tensor) else 0
    print(json.dumps({"extra_bytes": max(0, peak - before - size)}))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table of ``rows`` (dicts) in ``columns`` order."""
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    out += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def ratio_rows(times: Mapping[str, list[float]], baseline: str | Mapping[str, str], *,
               extra: Mapping[str, Mapping[str, Any]] | None = None,
               memory: Mapping[str, int | None] | None = None) -> list[dict[str, Any]]:
    """Rows of min / median seconds and their ratios to the baseline (one name, or one per case), plus extras."""
    rows = []
    for name, ts in times.items():
        base = baseline if isinstance(baseline, str) else baseline.get(name, name)
        bmin, bmed = min(times[base]), statistics.median(times[base])
        row: dict[str, Any] = {
            "method": name, "rounds": len(ts), "min s": f"{min(ts):.3f}", "median s": f"{statistics.median(ts):.3f}",
            "baseline": base, "min ratio": f"{min(ts) / bmin:.2f}x", "median ratio": f"{statistics.median(ts) / bmed:.2f}x",
        }
        if memory is not None:
            m = memory.get(name)
            row["peak extra MiB"] = "?" if m is None else f"{m / 2**20:.0f}"
        row.update((extra or {}).get(name, {}))
        rows.append(row)
    return rows


def parser(description: str) -> argparse.ArgumentParser:
    """The flags every benchmark shares: ``--full``, ``--rounds``, ``--no-memory``, ``--threads``."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="the large sizes (slow on 2 cores)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds (default 3)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-method peak-memory child processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)
    return p


def main(script: str, args: argparse.Namespace, build: Callable[[argparse.Namespace], Cases], *,
         title: str, argv: Sequence[str], baseline: str | Mapping[str, str] | None = None,
         extra: Callable[[Mapping[str, Any], Mapping[str, list[float]]], Mapping[str, Mapping[str, Any]]] | None
         = None,
         budget_s: float | None = None) -> str:
    """Build the cases, time them (or probe one's memory when run as a child) and print the table.

    ``baseline``: the case ratios are taken to (default: the first), or ``{case: its baseline}``;
    ``extra(results, times)``: more columns per case.
    """
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cases = build(args)
    if args.memory_probe:
        _probe(cases, args.memory_probe)
        return ""
    times, results = interleaved(cases, max(1, args.rounds), budget_s=budget_s)
    more = extra(results, times) if extra else None
    del results
    memory = None if args.no_memory else {name: peak_extra_bytes(script, name, argv) for name in cases}
    rows = ratio_rows(times, baseline or next(iter(cases)), extra=more, memory=memory)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    text = f"### {title}\n\n{machine()}; command: `python {os.path.relpath(script)} {' '.join(argv)}`\n\n"
    text += table(rows, columns)
    print(text, flush=True)
    return text
