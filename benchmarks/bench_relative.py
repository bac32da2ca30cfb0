"""Relative projection speed and memory: stitch vs a bare GEMM and vs the naive reference.

Run: ``python benchmarks/bench_relative.py`` (about 3 minutes on 2 CPU cores at the default size;
``--n 5000`` for a quick look, ``--device cuda`` on a GPU machine).

Rows:

* ``bare GEMM``: ``x @ anchors.T`` of the same shape, the floor for any cosine projection.
* ``cosine`` / ``euclidean``: :func:`stitch.relative_projection` (normalise + one GEMM; norms + one GEMM).
* ``naive cosine``: ``F.normalize(x) @ F.normalize(anchors).T`` in one piece.
* ``product x4``: ``ProductSpace(["cosine", "euclidean", "l1", "linf"], normalization=None)`` (concat).
* ``naive product x4``: ``F.normalize`` + ``torch.cdist`` (p = 2, 1, inf), concatenated.

Time is the best of ``--repeats`` runs. Memory is measured honestly per method in a fresh subprocess:
on CPU the growth of the process's peak resident set (``resource.getrusage().ru_maxrss``) during the
first run, after the inputs exist, minus the output's own size ("extra" = temporaries beyond inputs and
output); on CUDA ``torch.cuda.max_memory_allocated`` the same way. tracemalloc would not see torch's
allocations, so it is not used.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

METHODS = ["bare GEMM", "cosine", "naive cosine", "euclidean", "product x4", "naive product x4"]


def _inputs(n: int, d: int, a: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g).to(device)
    anchors = x[torch.randperm(n, generator=g)[:a]].clone()
    return x, anchors


def _method(name: str):  # noqa: ANN202 - returns a closure over (x, anchors)
    import stitch

    if name == "bare GEMM":
        return lambda x, a: x @ a.T
    if name == "cosine":
        return lambda x, a: stitch.relative_projection(x, a, "cosine")
    if name == "naive cosine":
        return lambda x, a: F.normalize(x, dim=1) @ F.normalize(a, dim=1).T
    if name == "euclidean":
        return lambda x, a: stitch.relative_projection(x, a, "euclidean")
    if name == "product x4":
        space = stitch.ProductSpace(["cosine", "euclidean", "l1", "linf"], normalization=None)
        return lambda x, a: space.fit(a).transform(x)
    if name == "naive product x4":
        return lambda x, a: torch.cat(
            [F.normalize(x, dim=1) @ F.normalize(a, dim=1).T, -torch.cdist(x, a), -torch.cdist(x, a, p=1),
             -torch.cdist(x, a, p=float("inf"))], dim=1)
    raise ValueError(name)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_one(name: str, n: int, d: int, a: int, repeats: int, device: str) -> dict[str, float]:
    """Time and measure one method in this (fresh) process."""
    x, anchors = _inputs(n, d, a, device)
    fn = _method(name)
    _sync(device)
    before = _peak_bytes(device)
    start = time.perf_counter()
    out = fn(x, anchors)
    _sync(device)
    times = [time.perf_counter() - start]
    extra = _peak_bytes(device) - before - out.numel() * out.element_size()
    result = (out.shape[0], out.shape[1])
    del out
    for _ in range(repeats - 1):
        start = time.perf_counter()
        fn(x, anchors)
        _sync(device)
        times.append(time.perf_counter() - start)
    return {"time": min(times), "extra_mib": max(extra, 0) / 2**20, "shape": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--a", type=int, default=1_280)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.n, args.d, args.a, args.repeats, args.device)))
        return
    rows = {}
    for name in METHODS:
        repeats = 1 if "product" in name else args.repeats  # the cdist products take tens of seconds each
        cmd = [sys.executable, __file__, "--one", name, "--n", str(args.n), "--d", str(args.d), "--a", str(args.a),
               "--repeats", str(repeats), "--device", args.device]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  measured {name}: {rows[name]['time']:.3f} s", file=sys.stderr, flush=True)
    gemm, naive = rows["bare GEMM"]["time"], rows["naive product x4"]["time"]
    threads = torch.get_num_threads() if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"\nN={args.n}, D={args.d}, A={args.a}, float32, device={args.device} ({threads} threads/device), "
          f"best of {args.repeats} (products: 1 run)\n")
    print(f"| {'method':<18} | {'shape':>14} | {'time (s)':>9} | {'vs bare GEMM':>12} | {'vs naive x4':>11} "
          f"| {'peak extra (MiB)':>16} |")
    print(f"|{'-' * 20}|{'-' * 16}|{'-' * 11}|{'-' * 14}|{'-' * 13}|{'-' * 18}|")
    for name, r in rows.items():
        vs_naive = f"{r['time'] / naive:.2f}x" if "product" in name else ""
        shape = "x".join(map(str, r["shape"]))
        print(f"| {name:<18} | {shape:>14} | {r['time']:>9.3f} | {r['time'] / gemm:>11.2f}x | {vs_naive:>11} "
              f"| {r['extra_mib']:>16.1f} |")
    ratio = rows["cosine"]["time"] / gemm
    print(f"\ncosine projection / bare GEMM = {ratio:.2f}x (target <= 1.3x): {'OK' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
