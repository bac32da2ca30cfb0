"""Similarity measures against naive references and peer libraries, interleaved in one process.

Run: ``python benchmarks/bench_metrics.py`` (about 5 minutes on 2 cores; ``--section cka|knn|mrr|audit`` for one
table; ``--full`` for n = 100,000). Inputs: X ~ N(0, 1) of shape (n, 768), Y = tanh(X W) + noise, float32.

Tables:

* ``cka`` (n = 20,000): ``stitch.metrics.linear_cka`` and ``debiased_cka`` against the naive float64
  reference (centre in float64, three full cross-products) and against ``ckatorch`` when installed and when
  its ``n x n`` Gram matrices fit in memory.
* ``knn`` (n = 10,000, k = 10): ``mutual_knn`` with its default backend (faiss when installed) and with the
  blocked torch backend, against faiss ``IndexFlatL2`` exact search of both spaces plus the same Jaccard (the
  floor for an exact euclidean mutual k-NN) and scikit-learn's brute-force ``NearestNeighbors``.
* ``mrr`` (n = 20,000, 300 anchors, a noisier Y): ``retrieval_mrr`` (float32 blocks, float64 recheck of near ties)
  against the float64 block loop it replaced.
* ``audit`` (n = 2,000, 6 models of d = 256): ``stitch.audits.compare`` with four measures that start from
  per-model statistics (``rsa_spearman``, ``mutual_knn``, ``distance_correlation``, ``uniformity_difference``)
  with each model's statistics shared across its pairs (the default) against recomputing them for every pair
  (a store of budget 0); ``value`` is the sum of every matrix entry.

Peers are installed apart from the project so they cannot disturb it, and found through ``--peers``::

    pip install --no-deps --target /tmp/peers ckatorch
    python benchmarks/bench_metrics.py --peers /tmp/peers

``value`` is each method's result; ``abs diff`` its distance to the baseline's.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import _harness


def _data(n: int, d: int, seed: int = 0, noise: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, d, generator=g) / math.sqrt(d)
    return x, torch.tanh(x @ w) + noise * torch.randn(n, d, generator=g)


def naive_linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    xc, yc = x.double() - x.double().mean(0), y.double() - y.double().mean(0)
    return float((xc.T @ yc).square().sum() / ((xc.T @ xc).norm() * (yc.T @ yc).norm()))


def _jaccard(nx: np.ndarray, ny: np.ndarray, k: int) -> float:
    m = (nx[:, :, None] == ny[:, None, :]).any(-1).sum(-1).astype(np.float64)
    return float(np.mean(m / (2 * k - m)))


def faiss_mutual_knn(x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    import faiss

    faiss.omp_set_num_threads(torch.get_num_threads())
    found = []
    for z in (x, y):
        z = (z - z.mean(0)).numpy()
        index = faiss.IndexFlatL2(z.shape[1])
        index.add(z)
        found.append(index.search(z, k + 1)[1][:, 1:])
    return _jaccard(found[0], found[1], k)


def sklearn_mutual_knn(x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    from sklearn.neighbors import NearestNeighbors

    nx, ny = (NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z.numpy()).kneighbors(return_distance=False)
              for z in (x, y))
    return _jaccard(nx, ny, k)


def naive_float64_mrr(x: torch.Tensor, y: torch.Tensor, n_anchors: int) -> float:
    from stitch.metrics.neighbors import relative_pair

    rx, ry = relative_pair(x, y, n_anchors=n_anchors)
    rx, ry = (r.double() / r.double().norm(dim=1, keepdim=True) for r in (rx, ry))
    total = 0.0
    for s in range(0, len(rx), 2048):
        sims = rx[s : s + 2048] @ ry.T
        own = sims[torch.arange(len(sims)), torch.arange(len(sims)) + s]
        total += float((1.0 / (1 + (sims > own[:, None]).sum(1)).double()).sum())
    return total / len(rx)


def build(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    from stitch import metrics as M

    if args.section == "cka":
        x, y = _data(args.n, 768)
        cases: dict[str, Callable[[], Any]] = {
            "naive float64": lambda: naive_linear_cka(x, y),
            "stitch linear_cka": lambda: M.linear_cka(x, y),
            "stitch debiased_cka (another estimator)": lambda: M.debiased_cka(x, y),
        }
        if _fits_grams(args.n, copies=6):
            try:
                from ckatorch import cka_base

                cases["peer: ckatorch cka_base"] = lambda: float(cka_base(x, y, kernel="linear"))
            except ImportError:
                pass
        return cases
    if args.section == "knn":
        x, y = _data(args.n, 768)
        cases = {}
        try:
            import faiss  # noqa: F401

            cases["peer: faiss IndexFlatL2"] = lambda: faiss_mutual_knn(x, y, 10)
            cases["stitch mutual_knn (faiss)"] = lambda: M.mutual_knn(x, y, k=10)
        except ImportError:
            pass
        cases["stitch mutual_knn (torch)"] = lambda: M.mutual_knn(x, y, k=10, backend="torch")
        if not args.full:
            cases["peer: sklearn brute"] = lambda: sklearn_mutual_knn(x, y, 10)
        return cases
    if args.section == "audit":
        from stitch.audits.compare import compare
        from stitch.metrics._shared import shared_statistics

        models = {f"m{i}": _data(args.n, 256, seed=i)[1] for i in range(6)}
        measures = ["rsa_spearman", "mutual_knn", "distance_correlation", "uniformity_difference"]

        def audit(budget: int | None) -> float:
            if budget is None:
                res = compare(models, metrics=measures)
            else:
                with shared_statistics(budget_bytes=budget):  # the audit's store joins this one
                    res = compare(models, metrics=measures)
            return float(sum(np.nansum(v) for v in res.values.values()))

        return {"per pair (statistics recomputed)": lambda: audit(0),
                "stitch compare (per-model statistics shared)": lambda: audit(None)}
    x, y = _data(args.n, 768, noise=4.0)  # noisy enough that own matches are not always ranked first
    return {
        "float64 blocks (before)": lambda: naive_float64_mrr(x, y, 300),
        "stitch retrieval_mrr": lambda: M.retrieval_mrr(x, y, n_anchors=300),
    }


def _fits_grams(n: int, copies: int) -> bool:
    import os

    avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return copies * 4 * n * n < 0.6 * avail


def values(results: dict[str, Any], _times: Any = None) -> dict[str, dict[str, str]]:
    got = {name: float(v) for name, v in results.items()}
    base = next(iter(got.values()))
    return {name: {"value": f"{v:.10f}", "abs diff": f"{abs(v - base):.1e}"} for name, v in got.items()}


SIZES = {"cka": (20_000, 100_000), "knn": (10_000, 100_000), "mrr": (20_000, 100_000), "audit": (2_000, 5_000)}
TITLES = {"cka": "Linear CKA, d=768", "knn": "Mutual k-NN (k=10, euclidean), d=768",
          "mrr": "Retrieval MRR over cosine relative representations (300 anchors), d=768",
          "audit": "Audit of 6 models x 4 measures, d=256"}


def main() -> None:
    p = _harness.parser(__doc__)
    p.add_argument("--section", choices=[*SIZES, "all"], default="all")
    p.add_argument("--n", type=int, default=None, help="samples (default per table; --full: 100,000)")
    p.add_argument("--peers", help="directory the peers were pip-installed into (--target)")
    args = p.parse_args()
    if args.peers:
        sys.path.append(args.peers)
    sections = list(SIZES) if args.section == "all" else [args.section]
    for section in sections:
        sub = argparse.Namespace(**{**vars(args), "section": section,
                                    "n": args.n or SIZES[section][1 if args.full else 0]})
        argv = [f"--section={section}", f"--n={sub.n}", f"--rounds={args.rounds}"]
        argv += [f"--threads={args.threads}"] if args.threads else []
        argv += [f"--peers={args.peers}"] if args.peers else []
        argv += ["--full"] if args.full else []
        _harness.main(__file__, sub, build, argv=argv, title=f"{TITLES[section]}, n={sub.n}",
                      extra=values, budget_s=120)


if __name__ == "__main__":
    sys.exit(main())
