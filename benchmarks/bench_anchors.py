"""Anchor discovery on real encoders: recovery, confidence and stitched accuracy vs how many pairs are known.

Run: ``python benchmarks/bench_anchors.py [--data ../shared/data --models ../shared/models]`` (about 5 minutes on
2 cores the first time, most of it encoding Fashion-MNIST once into the latent cache; ``--full`` matches
1,000 samples as well as 300, about 10 minutes more).

Two pairs of pretrained encoders that were never trained together:

* **TREC**: all-MiniLM-L6-v2 vs paraphrase-MiniLM-L3-v2 (mean-pooled, 384-d both);
* **Fashion-MNIST**: EfficientNet-Lite0 vs -Lite2 with ImageNet weights (1,280-d both).

For each, ``n`` training samples are the unpaired pool: the target encoder's latents are shuffled with a seeded
permutation, ``k`` of the true pairs are given (``known``) and the rest is discovered by
:func:`stitch.match_anchors`, with the default ``auto`` method and the one-shot transport solvers it replaced
(``sinkhorn`` with known pairs, ``gromov`` without). Columns:

* ``recovered``: fraction of the discovered pairs that are the true pair;
* ``same class``: fraction matched to a sample of the same class (a harmless mistake for stitching);
* ``top half``: recovery among the 50 % most confident discovered matches (``Matching.confident``);
* ``start``: the route of ``auto``'s matching (its start and the self-learning steps taken from it);
* ``stitched`` / ``true anchors``: test accuracy of a linear decoder trained on the source's relative
  (cosine) space w.r.t. the pool, read zero-shot from the target's relative space w.r.t. the discovered
  partners / the true partners (500 test samples).

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

KNOWN = (0, 5, 10, 25)
PAIRS = {
    "trec": ("trec", {"label": "coarse"}, "minilm", "hf:paraphrase-MiniLM-L3-v2"),
    "fashion": ("fashion-mnist", {}, "timm:tf_efficientnet_lite0?pretrained=true",
                "timm:tf_efficientnet_lite2?pretrained=true"),
}


def _latents(args: argparse.Namespace, key: str, n_pool: int) -> dict[str, Any]:
    """Pool (training) and test latents of both encoders, and the labels; cached across runs."""
    import numpy as np

    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.encoder.refs import parse_encoder
    from stitch.utils.roots import using_models_root

    dataset, dataset_options, *encoders = PAIRS[key]
    data = stitch.load_dataset(dataset, data_root=args.data, **dataset_options)
    rng = np.random.default_rng(0)
    # The same seeded samples at every size: the 300-sample pool is the first 300 of the 1,000-sample one.
    train = rng.permutation(data.indices("train"))[: max(n_pool, 1000 if args.full else n_pool)]
    test = rng.permutation(data.indices("test"))[:500]
    data = dataclasses.replace(data, splits={**data.splits, "train": train, "test": test})
    cache = LatentCache(args.cache)
    out: dict[str, Any] = {"y_train": data.split_labels("train"), "y_test": data.split_labels("test")}
    with using_models_root(args.models):
        for side, ref in zip("st", encoders):
            name, options = parse_encoder(ref)
            enc = stitch.create_encoder(name, **options)
            out[side] = tuple(cache.encode(enc, data, split, progress=False).double() for split in ("train", "test"))
    return out


def _stitched(z: dict[str, Any], n: int, tgt_rows: Any, seed: int) -> float:
    """Accuracy of a decoder on the source's relative space, read through the target's anchors ``tgt_rows``."""
    from stitch.core.projection import RelativeProjection
    from stitch.experiment.decoders import create_decoder

    (src_pool, src_test), (tgt_pool, tgt_test) = z["s"], z["t"]
    src = RelativeProjection("cosine").fit(src_pool[:n])
    tgt = RelativeProjection("cosine").fit(tgt_pool[tgt_rows])
    dec = create_decoder("linear", epochs=100, lr=1e-2, seed=seed, progress=False)
    dec.fit(src.transform(src_pool[:n]), z["y_train"][:n])
    return float(dec.evaluate(tgt.transform(tgt_test), z["y_test"])["accuracy"])


def _sizes(args: argparse.Namespace) -> tuple[int, ...]:
    return (300, 1000) if args.full else (300,)


def _methods(k: int) -> tuple[str, str]:
    """``auto`` and the one-shot solver it replaced (Sinkhorn needs known pairs, Gromov-Wasserstein none)."""
    return ("auto", "sinkhorn" if k else "gromov")


def build(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    import torch

    from stitch.core.matching import match_anchors

    sizes = _sizes(args)
    cases: dict[str, Callable[[], Any]] = {}
    for key in args.datasets:
        z = _latents(args, key, max(sizes))
        for n in sizes:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))
            truth = torch.argsort(perm)  # source row i is shuffled target row truth[i]
            x, y = z["s"][0][:n], z["t"][0][:n][perm]
            for k in KNOWN:
                known = [(i, int(truth[i])) for i in range(k)]
                for method in _methods(k):
                    name = f"{key} n={n} known={k} {method}"
                    # each case returns its matching with what scoring it needs
                    cases[name] = (lambda x=x, y=y, known=known, method=method, info=(z, n, perm, truth):
                                   (match_anchors(x, y, known=known, method=method, seed=args.seed), info))
    return cases


def extra(results: dict[str, Any], times: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    import numpy as np
    import torch

    rows: dict[str, dict[str, Any]] = {}
    for name, (m, (z, n, perm, truth)) in results.items():
        discovered = np.array(sorted(set(range(n)) - {i for i, _ in m.known}), dtype=int)
        y = z["y_train"][:n]
        same = y[perm.numpy()][m.target.numpy()] == y
        top = m.confident(0.5)[len(m.known):]
        rows[name] = {
            "recovered": f"{m.recovery(truth):.3f}",
            "same class": f"{same[discovered].mean():.3f}",
            "top half": f"{float((m.target[top] == truth[top]).double().mean()):.3f}",
            "start": m.start,
            # discovered partners, in the original (unshuffled) target order, vs the true ones
            "stitched": f"{_stitched(z, n, perm[m.target], 0):.3f}",
            "true anchors": f"{_stitched(z, n, torch.arange(n), 0):.3f}",
        }
    return rows


def main() -> None:
    p = _harness.parser(__doc__)
    shared = Path(__file__).resolve().parents[2] / "shared"
    p.add_argument("--data", default=str(shared / "data"), help="datasets root (TREC, Fashion-MNIST)")
    p.add_argument("--models", default=str(shared / "models"),
                   help="models root (EfficientNet-Lite weights, paraphrase-MiniLM-L3)")
    p.add_argument("--cache", default=None, help="latent cache root (default: the user cache)")
    p.add_argument("--datasets", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--seed", type=int, default=0, help="seed of the hidden permutation")
    p.set_defaults(rounds=1, no_memory=True)
    args = p.parse_args()
    # every solver's time as a ratio to auto's on the same matching problem
    baseline = {f"{key} n={n} known={k} {method}": f"{key} n={n} known={k} auto"
                for key in args.datasets for n in _sizes(args) for k in KNOWN for method in _methods(k)}
    _harness.main(__file__, args, build, title="Anchor discovery vs known pairs", argv=sys.argv[1:],
                  baseline=baseline, extra=extra, budget_s=20.0)


if __name__ == "__main__":
    main()
