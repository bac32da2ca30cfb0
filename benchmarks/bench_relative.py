"""Relative projections against a bare GEMM of the same shape, and against the naive torch / faiss ways.

Run: ``python benchmarks/bench_relative.py`` (N=50,000, D=768, A=1,280 float32: about 10 minutes on 2 cores,
most of it in the slow peers, which run once (that run is their timing); ``--no-memory`` halves it;
``--full`` for N=200,000; ``--device cuda`` on a GPU machine).

Rows (all ``(N, A)`` float32 results from the same inputs):

* ``bare GEMM``: ``x @ anchors.T``, the floor for any cosine projection (the baseline of every ratio).
* ``cosine`` / ``euclidean`` / ``l1`` / ``linf``: :func:`stitch.relative_projection`.
* ``product x4``: ``ProductSpace(["cosine", "euclidean", "l1", "linf"], normalization=None)`` (concatenated).
* peers: ``torch.cdist`` with p = 1 / inf (what stitch used before), the naive four-function product built
  from ``F.normalize`` and ``cdist``, and ``faiss.pairwise_distances`` (METRIC_L1 / METRIC_Linf) when
  faiss is installed.

``max rel err`` is the largest ``|value - exact| / max|exact|`` over the first 2,000 rows against a float64
computation of the definition.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import _harness


def _inputs(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.d, generator=g)
    anchors = x[torch.randperm(args.n, generator=g)[: args.a]].clone()
    return x.to(args.device), anchors.to(args.device)


def _faiss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    try:
        import faiss
    except ImportError:
        return None
    metric = faiss.METRIC_L1 if kind == "l1" else faiss.METRIC_Linf

    def run(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        faiss.omp_set_num_threads(torch.get_num_threads())
        return torch.from_numpy(faiss.pairwise_distances(x.numpy(), a.numpy(), metric)).neg_()

    return run


def build(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    import stitch

    x, a = _inputs(args)
    space = stitch.ProductSpace(["cosine", "euclidean", "l1", "linf"], normalization=None).fit(a)
    cases: dict[str, Callable[[], Any]] = {
        "bare GEMM": lambda: x @ a.T,
        "cosine": lambda: stitch.relative_projection(x, a, "cosine"),
        "euclidean": lambda: stitch.relative_projection(x, a, "euclidean"),
        "l1": lambda: stitch.relative_projection(x, a, "l1"),
        "linf": lambda: stitch.relative_projection(x, a, "linf"),
        "product x4": lambda: space.transform(x),
        "peer: cdist l1": lambda: torch.cdist(x, a, p=1).neg_(),
        "peer: cdist linf": lambda: torch.cdist(x, a, p=math.inf).neg_(),
        "peer: naive product x4": lambda: torch.cat(
            [F.normalize(x, dim=1) @ F.normalize(a, dim=1).T, -torch.cdist(x, a), -torch.cdist(x, a, p=1),
             -torch.cdist(x, a, p=math.inf)], dim=1),
    }
    if args.device == "cpu":
        for kind in ("l1", "linf"):
            fn = _faiss(kind)
            if fn is not None:
                cases[f"peer: faiss {kind}"] = lambda fn=fn: fn(x, a)
    return cases


def accuracy(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Largest error of each method on the first 2,000 rows, relative to the exact values' scale."""
    x, a = _inputs(args)
    xs, ad = x[:2000].double(), a.double()
    exact = {
        "cosine": F.normalize(xs, dim=1) @ F.normalize(ad, dim=1).T,
        "euclidean": -torch.cdist(xs, ad),
        # the definition, 50 rows at a time so the (rows, A, D) float64 broadcast stays near 400 MB
        "l1": torch.cat([-(xs[s : s + 50, None] - ad[None]).abs().sum(-1) for s in range(0, len(xs), 50)]),
        "linf": torch.cat([-(xs[s : s + 50, None] - ad[None]).abs().amax(-1) for s in range(0, len(xs), 50)]),
    }
    exact["product x4"] = torch.cat([exact[k] for k in ("cosine", "euclidean", "l1", "linf")], dim=1)
    which = {"peer: cdist l1": "l1", "peer: cdist linf": "linf", "peer: faiss l1": "l1", "peer: faiss linf": "linf",
             "peer: naive product x4": "product x4", **{k: k for k in exact}}
    out = {}
    for name, result in results.items():
        ref = exact.get(which.get(name, ""))
        if ref is None:
            continue
        got = result[:2000].double().cpu()
        out[name] = {"max rel err": f"{float((got - ref).abs().max() / ref.abs().max()):.1e}"}
    return out


def main() -> None:
    p = _harness.parser(__doc__)
    p.add_argument("--n", type=int, default=None, help="rows (default 50,000; --full: 200,000)")
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--a", type=int, default=1280)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    args.n = args.n or (200_000 if args.full else 50_000)
    argv = [f"--n={args.n}", f"--d={args.d}", f"--a={args.a}", f"--device={args.device}", f"--rounds={args.rounds}"]
    if args.threads:
        argv.append(f"--threads={args.threads}")
    _harness.main(__file__, args, build, argv=argv,
                  title=f"Relative projections, N={args.n}, D={args.d}, A={args.a}, float32, {args.device}",
                  extra=lambda results, _: accuracy(args, results), budget_s=20)


if __name__ == "__main__":
    sys.exit(main())
