"""Speed and agreement of ``stitch.metrics`` against installed peer libraries, measured in one run.

Each (metric, implementation, n) runs in its own subprocess on the same seeded data (X ~ N(0, 1) of shape
(n, d); Y = tanh(X W) + noise), so a peer that runs out of memory or time fails alone, and peak memory
(max RSS) is measured per job. Peers that build n x n matrices are skipped, with the reason, when their
estimated footprint exceeds the memory available.

Peers (PyPI), installed apart from the project so they cannot disturb it::

    pip install --no-deps --target /tmp/peers ckatorch pytorch-cka torch-cka rsatoolbox \\
        seaborn pandas h5py scikit-image imageio lazy_loader tifffile tzdata
    python benchmarks/bench_metrics.py --peers /tmp/peers            # n = 20,000 and 100,000, d = 768
    python benchmarks/bench_metrics.py --peers /tmp/peers --quick    # n = 2,000 and 5,000, d = 256

(``netrep`` is not on PyPI and ``similarity-repository`` depends on it through a git URL, so neither installs
from PyPI.) Definitions compared: linear CKA (ckatorch, biased HSIC); debiased CKA (ckatorch unbiased=True,
pytorch-cka ``cka_from_features``: both Song et al.'s estimator; torch-cka's ``_HSIC`` does not zero the Gram
diagonals, a different estimator, so its difference is reported, not expected to vanish); RBF CKA
(ckatorch, same median rule); RSA (rsatoolbox: Spearman on Euclidean RDMs — rsatoolbox squares distances,
which leaves ranks unchanged — and Pearson on correlation-distance RDMs); mutual k-NN Jaccard (no peer
on PyPI; scikit-learn's chunked brute-force ``NearestNeighbors`` stands in as the k-NN baseline).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# metric -> implementations ("ours" first), each with the bytes per n^2 it allocates (0: O(n d) memory),
# measured as (max RSS - baseline) / n^2 at n = 5,000; used to skip jobs that cannot fit.
JOBS: dict[str, list[tuple[str, float]]] = {
    "linear_cka": [("ours", 0), ("ckatorch", 44)],
    "debiased_cka": [("ours", 0), ("ckatorch", 44), ("pytorch-cka", 24), ("torch-cka", 40)],
    "rbf_cka": [("ours", 28), ("ckatorch", 44)],
    "rsa_spearman": [("ours", 43), ("rsatoolbox", 51)],
    "rsa_pearson_corr": [("ours", 24), ("rsatoolbox", 36)],
    "mutual_knn": [("ours", 0), ("sklearn", 0)],
}
# Gram/RDM metrics are O(n^2) by definition, ours included: run them only up to this n.
QUADRATIC_MAX_N = 20_000
# torch-cka multiplies two n x n matrices (O(n^3)); beyond this n it would run for hours.
CUBIC_MAX_N = 5_000


def _data(n: int, d: int, seed: int = 0):  # type: ignore[no-untyped-def]
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, d, generator=g) / math.sqrt(d)
    y = torch.tanh(x @ w) + 0.5 * torch.randn(n, d, generator=g)
    return x, y


def _run(metric: str, impl: str, x, y) -> float:  # type: ignore[no-untyped-def]
    from stitch import metrics as M

    if impl == "ours":
        if metric == "rsa_pearson_corr":
            return M.rsa_pearson(x, y, rdm_metric="correlation")
        return {"linear_cka": M.linear_cka, "debiased_cka": M.debiased_cka, "rbf_cka": M.rbf_cka,
                "rsa_spearman": M.rsa_spearman, "mutual_knn": lambda a, b: M.mutual_knn(a, b, k=10)}[metric](x, y)
    if impl == "ckatorch":
        from ckatorch import cka_base

        kernel = "rbf" if metric == "rbf_cka" else "linear"
        return float(cka_base(x, y, kernel=kernel, unbiased=metric == "debiased_cka"))
    if impl == "pytorch-cka":
        from cka.cka import cka_from_features

        return float(cka_from_features(x.double(), y.double()).squeeze())
    if impl == "torch-cka":
        from torch_cka.cka import CKA

        hsic = CKA._HSIC
        probe = object.__new__(CKA)
        probe.device = "cpu"
        k, l = x @ x.T, y @ y.T  # float32: its estimator builds float32 ones vectors
        return hsic(probe, k, l) / math.sqrt(hsic(probe, k, k) * hsic(probe, l, l))
    if impl == "rsatoolbox":
        import rsatoolbox

        method, cmp = ("euclidean", "spearman") if metric == "rsa_spearman" else ("correlation", "corr")
        rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x.double().numpy()), method=method)
        ry = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(y.double().numpy()), method=method)
        return float(rsatoolbox.rdm.compare(rx, ry, method=cmp)[0, 0])
    if impl == "sklearn":
        import numpy as np
        from sklearn.neighbors import NearestNeighbors

        k = 10
        nx = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x.numpy()).kneighbors(
            return_distance=False)[:, :k]
        ny = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(y.numpy()).kneighbors(
            return_distance=False)[:, :k]
        m = (nx[:, :, None] == ny[:, None, :]).any(-1).sum(-1).astype(np.float64)
        return float(np.mean(m / (2 * k - m)))
    raise ValueError(f"unknown implementation {impl!r}")


def worker(metric: str, impl: str, n: int, d: int) -> None:
    """Run one job and print a JSON line (time excludes data generation and imports; best of <= 3)."""
    x, y = _data(n, d)
    _run(metric, impl, x[:64], y[:64])  # imports and first-call initialisation
    # Best of up to 3 runs for quick jobs: a busy machine adds noise, never speed.
    elapsed = math.inf
    for _ in range(3):
        t = time.perf_counter()
        value = _run(metric, impl, x, y)
        elapsed = min(elapsed, time.perf_counter() - t)
        if elapsed > 5:
            break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"value": value, "seconds": elapsed, "max_rss_gib": rss}))


def _available_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return math.inf


def _skip_reason(metric: str, impl: str, per_n2: float, n: int) -> str | None:
    if per_n2 and n > QUADRATIC_MAX_N:
        return f"O(n^2) matrices: ~{per_n2 * n * n / 2**30:.0f} GiB"
    if impl == "torch-cka" and n > CUBIC_MAX_N:
        return "O(n^3) Gram product: hours"
    need = per_n2 * n * n / 2**30
    if need > 0.5 * _available_gib():  # the machine is shared: leave half of what is free
        return f"needs ~{need:.0f} GiB, {_available_gib():.0f} GiB free"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", help="directory the peers were pip-installed into (--target)")
    parser.add_argument("--quick", action="store_true", help="small sizes (n = 2,000 and 5,000, d = 256)")
    parser.add_argument("--sizes", help="comma-separated n values (default 20000,100000)")
    parser.add_argument("--d", type=int, help="latent width (default 768)")
    parser.add_argument("--metrics", help="comma-separated subset of " + ", ".join(JOBS))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per job (default 900)")
    parser.add_argument("--worker", nargs=4, metavar=("METRIC", "IMPL", "N", "D"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peers:
        sys.path.insert(0, args.peers)
    if args.worker:
        metric, impl, n, d = args.worker
        worker(metric, impl, int(n), int(d))
        return
    default_sizes = [2000, 5000] if args.quick else [20_000, 100_000]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else default_sizes
    d = args.d or (256 if args.quick else 768)
    metrics = args.metrics.split(",") if args.metrics else list(JOBS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [args.peers, str(ROOT)]))}
    print("| metric | n | d | ours s | peer | peer s | peer/ours | max abs diff | ours GiB | peer GiB |")
    print("| --- " * 10 + "|")
    for n in sizes:
        for metric in metrics:
            results: dict[str, dict[str, float] | str] = {}
            for impl, per_n2 in JOBS[metric]:
                reason = _skip_reason(metric, impl, per_n2, n)
                if reason:
                    results[impl] = f"skipped ({reason})"
                    continue
                cmd = [sys.executable, __file__, "--worker", metric, impl, str(n), str(d)]
                if args.peers:
                    cmd += ["--peers", args.peers]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
                except subprocess.TimeoutExpired:
                    results[impl] = f"timeout (> {args.timeout:.0f} s)"
                    continue
                if proc.returncode != 0:
                    last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
                    oom = proc.returncode in (-9, 137)
                    results[impl] = "out of memory (killed)" if oom else f"failed: {last[:80]}"
                    continue
                results[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
            ours = results.get("ours")
            for impl, _ in JOBS[metric][1:]:
                peer = results[impl]
                o = ours if isinstance(ours, dict) else None
                if isinstance(peer, dict) and o:
                    row = [f"{o['seconds']:.2f}", impl, f"{peer['seconds']:.2f}",
                           f"{peer['seconds'] / o['seconds']:.1f}x", f"{abs(peer['value'] - o['value']):.1e}",
                           f"{o['max_rss_gib']:.1f}", f"{peer['max_rss_gib']:.1f}"]
                else:
                    row = [f"{o['seconds']:.2f}" if o else str(ours), impl,
                           peer if isinstance(peer, str) else f"{peer['seconds']:.2f}", "-", "-",
                           f"{o['max_rss_gib']:.1f}" if o else "-",
                           "-" if isinstance(peer, str) else f"{peer['max_rss_gib']:.1f}"]
                print(f"| {metric} | {n} | {d} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
