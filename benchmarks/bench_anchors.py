"""Anchor discovery on real encoders: recovery, confidence and stitched accuracy vs how many pairs are known.

Run: ``python benchmarks/bench_anchors.py [--data ../shared/data --models ../shared/models]`` (about 10 minutes on
2 cores the first time, most of it encoding Fashion-MNIST and digits once into the latent cache, then about 8;
``--full`` matches 1,000 samples as well as 300, about 25 minutes more).

Four pairs of encoders that were never trained together:

* **TREC**: all-MiniLM-L6-v2 vs paraphrase-MiniLM-L3-v2 (mean-pooled, 384-d both);
* **Fashion-MNIST**: EfficientNet-Lite0 vs -Lite2 with ImageNet weights (1,280-d both);
* **Cora**: a GraphSAGE and a GCN trained from scratch here (``bench_stitcher``'s recipes, reused from its
  cache), the 1,000 test nodes as the pool and 500 validation nodes as the test samples;
* **digits** (scikit-learn's 8x8 digits, upsampled by timm's preprocessing): the same two backbones, far out
  of ImageNet's domain — 70 % of their features are exactly zero there, and even the true pairs identify only
  a quarter of the samples (``ceiling``): the pair where discovery must say it fails.

For each, ``n`` training samples are the unpaired pool: draw 0 takes the first ``n`` of a seeded
1,000-sample pool, draw ``r > 0`` a random ``n`` of it (at ``n = 1,000``, on digits' 1,078 training
images, the draws differ in the hidden permutation and the seed); the target encoder's latents are shuffled
with a seeded permutation, ``k`` of the true pairs are given (``known``) and the rest is discovered by
:func:`stitch.match_anchors`, with the default ``auto`` method and, on draw 0, the one-shot transport
solvers it replaced (``sinkhorn`` with known pairs, ``gromov`` without). Columns:

* ``ceiling``: fraction of the pool whose true partner is its nearest neighbour, relative to all the true pairs
  as the matching describes them (centred cosine) — what exact recovery can hope for; the issue's bar (recovery >= 50 % with no pair, >= 80 % with
  10) applies where it is >= 0.5;
* ``recovered``: fraction of the discovered pairs that are the true pair;
* ``same class``: fraction matched to a sample of the same class (a harmless mistake for stitching);
* ``reliability``: ``Matching.reliability`` (below ``RELIABLE`` the matching warns that it is unreliable);
* ``top half``: recovery among the 50 % surest discovered matches (``Matching.confident``);
* ``AUROC``: how well that order ranks right matches above wrong ones (n/a when all are right or all wrong);
* ``start``: the route of ``auto``'s matching (its start and the self-learning steps taken from it);
* ``stitched`` / ``true anchors``: test accuracy of a linear decoder trained on the source's relative
  (cosine) space w.r.t. the pool, read zero-shot from the target's relative space w.r.t. the discovered
  partners / the true partners (500 test samples; digits has 359).

The time column is one matching (the harness's min over rounds; matchings slower than 20 s run once).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness
import bench_stitcher

KNOWN = (0, 5, 10, 25)
POOL = 1000
LITE = ("timm:tf_efficientnet_lite0?pretrained=true", "timm:tf_efficientnet_lite2?pretrained=true")
#: dataset (name, options), the two encoders (registry references, or bench_stitcher's from-scratch recipes),
#: and the splits of the unpaired pool and of the test samples
PAIRS: dict[str, dict[str, Any]] = {
    "trec": {"dataset": ("trec", {"label": "coarse"}), "encoders": ("minilm", "hf:paraphrase-MiniLM-L3-v2"),
             "splits": ("train", "test")},
    "fashion": {"dataset": ("fashion-mnist", {}), "encoders": LITE, "splits": ("train", "test")},
    "digits": {"dataset": ("digits", {}), "encoders": LITE, "splits": ("train", "test")},
    # the two GNNs of bench_stitcher (trained on Cora's 140 labelled nodes): the pool is the test nodes
    "cora": {"dataset": ("cora", {}), "encoders": tuple(bench_stitcher.PAIRS[
        "Cora: GraphSAGE -> GCN head (from scratch)"][side] for side in ("old", "new")), "splits": ("test", "val")},
}


def _latents(args: argparse.Namespace, key: str) -> dict[str, Any]:
    """Pool (training) and test latents of both encoders, and the labels; cached across runs."""
    import numpy as np

    import stitch
    from stitch.encoder.cache import LatentCache

    pair = PAIRS[key]
    dataset, dataset_options = pair["dataset"]
    data = stitch.load_dataset(dataset, data_root=args.data, **dataset_options)
    rng = np.random.default_rng(0)
    # One seeded pool for every size and draw, encoded once (digits has 1,078 training images: all of them)
    encoders = [bench_stitcher._encoder(args, spec, data) for spec in pair["encoders"]]  # trained on `data`
    # the pool and the test samples, as this benchmark's own "train" and "test" splits
    pool, test = pair["splits"]
    rows = {"train": rng.permutation(data.indices(pool))[:POOL], "test": rng.permutation(data.indices(test))[:500]}
    data = dataclasses.replace(data, splits={**data.splits, **rows})
    cache = LatentCache(args.cache)
    out: dict[str, Any] = {"y_train": data.split_labels("train"), "y_test": data.split_labels("test")}
    for side, enc in zip("st", encoders):
        out[side] = tuple(cache.encode(enc, data, split, progress=False).double() for split in ("train", "test"))
    return out


def _stitched(z: dict[str, Any], rows: Any, tgt_rows: Any, seed: int) -> float:
    """Accuracy of a decoder on the source's relative space w.r.t. the pool rows ``rows``, read through the
    target's anchors ``tgt_rows`` (pool rows)."""
    from stitch.core.projection import RelativeProjection
    from stitch.experiment.decoders import create_decoder

    (src_pool, src_test), (tgt_pool, tgt_test) = z["s"], z["t"]
    src = RelativeProjection("cosine").fit(src_pool[rows])
    tgt = RelativeProjection("cosine").fit(tgt_pool[tgt_rows])
    dec = create_decoder("linear", epochs=100, lr=1e-2, seed=seed, progress=False)
    dec.fit(src.transform(src_pool[rows]), z["y_train"][rows])
    return float(dec.evaluate(tgt.transform(tgt_test), z["y_test"])["accuracy"])


def _ceiling(x: Any, y: Any) -> float:
    """Fraction of rows of ``x`` whose nearest row of ``y`` (paired row by row) is their own partner, both
    described as the matching describes them (its own helpers: centred, relative (cosine) to all the true pairs,
    rows centred and scaled to unit length). What exact recovery can hope for."""
    import torch

    from stitch.core.matching import _relative, _unit_rows

    rows = range(len(x))
    s = _relative(_unit_rows(x), rows) @ _relative(_unit_rows(y), rows).T
    return float((s.argmax(1) == torch.arange(len(x))).double().mean())


def _sizes(args: argparse.Namespace) -> tuple[int, ...]:
    return (300, 1000) if args.full else (300,)


def _methods(k: int, draw: int) -> tuple[str, ...]:
    """``auto``, and on draw 0 the one-shot solver it replaced (Sinkhorn needs known pairs, Gromov-Wasserstein
    none)."""
    return ("auto", "sinkhorn" if k else "gromov") if draw == 0 else ("auto",)


def _case(key: str, n: int, k: int, draw: int, method: str) -> str:
    return f"{key} n={n} known={k} draw={draw} {method}"


def build(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    import warnings

    import torch

    from stitch.core.matching import match_anchors
    from stitch.errors import MatchingWarning

    warnings.simplefilter("ignore", MatchingWarning)  # the reliability column says it, row by row

    cases: dict[str, Callable[[], Any]] = {}
    for key in args.datasets:
        z = _latents(args, key)
        pool = len(z["s"][0])
        for n in _sizes(args):
            n = min(n, pool)
            for draw in range(args.draws):
                g = torch.Generator().manual_seed(args.seed + draw)
                rows = torch.arange(n) if draw == 0 else torch.randperm(pool, generator=g)[:n]
                perm = torch.randperm(n, generator=g)
                truth = torch.argsort(perm)  # source row i is shuffled target row truth[i]
                x, y = z["s"][0][rows], z["t"][0][rows][perm]
                for k in KNOWN:
                    known = [(i, int(truth[i])) for i in range(k)]
                    for method in _methods(k, draw):
                        # each case returns its matching with what scoring it needs
                        cases[_case(key, n, k, draw, method)] = (
                            lambda x=x, y=y, known=known, method=method, seed=args.seed + draw,
                            info=(z, rows, perm, truth): (match_anchors(x, y, known=known, method=method,
                                                                        seed=seed), info))
    return cases


def extra(results: dict[str, Any], times: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    import numpy as np
    import torch

    from sklearn.metrics import roc_auc_score

    out: dict[str, dict[str, Any]] = {}
    for name, (m, (z, rows, perm, truth)) in results.items():
        n = len(rows)
        discovered = np.array(sorted(set(range(n)) - {i for i, _ in m.known}), dtype=int)
        y = z["y_train"][rows.numpy()]
        same = y[perm.numpy()][m.target.numpy()] == y
        order = m.confident(1.0)
        top = order[len(m.known):][: len(discovered) // 2]
        # the surest first: a match's score is minus its place in that order
        rank = torch.empty(n, dtype=torch.float64)
        rank[order] = -torch.arange(n, dtype=torch.float64)
        hit = (m.target == truth).numpy()[discovered]
        out[name] = {
            "ceiling": f"{_ceiling(z['s'][0][rows], z['t'][0][rows]):.3f}",
            "recovered": f"{m.recovery(truth):.3f}",
            "same class": f"{same[discovered].mean():.3f}",
            "reliability": f"{m.reliability:.2f}",
            "top half": f"{float((m.target[top] == truth[top]).double().mean()):.3f}",
            "AUROC": f"{roc_auc_score(hit, rank.numpy()[discovered]):.2f}" if 0 < hit.mean() < 1 else "n/a",
            "start": m.start,
            # discovered partners, in the original (unshuffled) pool order, vs the true ones
            "stitched": f"{_stitched(z, rows, rows[perm[m.target]], 0):.3f}",
            "true anchors": f"{_stitched(z, rows, rows, 0):.3f}",
        }
    return out


def main() -> None:
    p = _harness.parser(__doc__)
    shared = Path(__file__).resolve().parents[2] / "shared"
    p.add_argument("--data", default=str(shared / "data"),
                   help="datasets root (TREC, Fashion-MNIST, Cora; digits ships with scikit-learn)")
    p.add_argument("--models", default=str(shared / "models"),
                   help="models root (EfficientNet-Lite weights, paraphrase-MiniLM-L3)")
    p.add_argument("--cache", default=None, help="latent cache root (default: the user cache)")
    p.add_argument("--datasets", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--seed", type=int, default=0, help="seed of the hidden permutation (draw r adds r)")
    p.add_argument("--draws", type=int, default=2, help="sample draws per size (draw 0: the pool's first n)")
    p.set_defaults(rounds=1, no_memory=True)
    args = p.parse_args()
    # every solver's time as a ratio to auto's on the same matching problem
    baseline = {_case(key, n, k, d, method): _case(key, n, k, d, "auto") for key in args.datasets
                for n in _sizes(args) for k in KNOWN for d in range(args.draws) for method in _methods(k, d)}
    _harness.main(__file__, args, build, title="Anchor discovery vs known pairs", argv=sys.argv[1:],
                  baseline=baseline, extra=extra, budget_s=20.0)


if __name__ == "__main__":
    main()
