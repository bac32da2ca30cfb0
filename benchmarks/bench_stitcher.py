"""The Stitcher as its users meet it: speed of ``method="auto"``, the cost a StitchedModel adds to its encoder,
and on real pairs whether the auto choice and the label-free forecast hold on test data.

Run: ``python benchmarks/bench_stitcher.py [--data ../shared/data --models ../shared/models]`` (about 3 minutes
on 2 cores; ``--full`` adds Fashion-MNIST with EfficientNet-Lite0 -> Lite2, about 10 minutes more the first
time, most of it encoding into the latent cache).

* **speed**: ``Stitcher().fit`` (8 candidates, 5 folds) on 1,000 anchor pairs of 1,280-d latents against one
  fixed method, interleaved; ``StitchedModel.predict`` against the encoder's own ``encode`` on one batch.
* **quality**: per pair, a linear head (the library's ``LinearClassifier``) trained on the decoder side's
  absolute latents of 2,000 training samples; the other encoder stitched in through 1,000 of them. Columns:
  native test accuracy, stitched / native for ``auto`` (chosen by the head's agreement) and each fixed
  translator, the forecast (agreement and 95 % interval from the anchors, no labels) and the agreement realised
  on the test split (how often the head says the same on stitched and native latents), and whether the auto
  choice is within the noise floor of the best fixed method on test data (2 x the standard error of the paired
  per-sample differences).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import _harness

PAIRS = {
    "TREC: MiniLM-L3 -> MiniLM-L6 head": ("trec", "hf:paraphrase-MiniLM-L3-v2", "minilm"),
    "Fashion-MNIST: Lite2 -> Lite0 head": ("fashion-mnist", "timm:tf_efficientnet_lite2?pretrained=true",
                                           "timm:tf_efficientnet_lite0?pretrained=true"),
}
FIXED = ("procrustes", "affine", "linear", "ridge")


def speed_cases(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from stitch.stitcher import Stitcher

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 1280, generator=g)
    y = x @ torch.randn(1280, 1280, generator=g) / 40 + 0.1 * torch.randn(1000, 1280, generator=g)
    return {"procrustes (1 candidate x 5 folds)": lambda: Stitcher("procrustes", folds=5).fit(x, y),
            "auto (8 candidates x 5 folds)": lambda: Stitcher().fit(x, y)}


def predict_cases(args: argparse.Namespace) -> dict[str, Any]:
    import stitch
    from stitch.experiment.decoders import LinearClassifier
    from stitch.stitcher import Stitcher, StitchedModel

    ds = stitch.load_dataset("trec", data_root=args.data)
    texts = ds.split_inputs("train")[:512]
    l6 = stitch.create_encoder("minilm")
    z = l6.encode(texts)
    head = LinearClassifier(epochs=5).fit(z, ds.split_labels("train")[:512])
    model = StitchedModel(l6, Stitcher("affine").fit(z, z), head)
    batch = texts[:256]
    return {"encoder.encode": lambda: l6.encode(batch, progress=False),
            "StitchedModel.predict": lambda: model.predict(batch)}


def _latents(args: argparse.Namespace, dataset: str, ref: str, rows: dict[str, Any]) -> dict[str, Any]:
    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.encoder.refs import parse_encoder
    from stitch.utils.roots import using_models_root

    data = stitch.load_dataset(dataset, data_root=args.data).subsample(rows, seed=0)
    name, options = parse_encoder(ref)
    with using_models_root(args.models):
        enc = stitch.create_encoder(name, **options)
    cache = LatentCache(args.cache)
    return {split: cache.encode(enc, data, split, progress=False) for split in rows} | {"data": data}


def quality_row(args: argparse.Namespace, label: str) -> dict[str, Any]:
    import torch

    from stitch.experiment.decoders import LinearClassifier
    from stitch.stitcher import Stitcher

    dataset, new, old = PAIRS[label]
    sizes = {"train": 2000, "test": 1000 if dataset != "trec" else 500}
    a, b = _latents(args, dataset, new, sizes), _latents(args, dataset, old, sizes)
    data = b["data"]
    y_train, y_test = data.split_labels("train"), torch.as_tensor(data.split_labels("test"))
    head = LinearClassifier(epochs=200, lr=1e-2).fit(b["train"], y_train)
    native_pred = head.predict(b["test"])
    native = float((native_pred == y_test).double().mean())
    n = 1000
    auto = Stitcher().fit(a["train"][:n], b["train"][:n], decoder=head)
    forecast = auto.forecast(head)
    correct = {}
    for name, s in [("auto", auto)] + [(m, Stitcher(m).fit(a["train"][:n], b["train"][:n])) for m in FIXED]:
        pred = head.predict(s.transform(a["test"]))
        correct[name] = (pred == y_test).double()
        if name == "auto":
            realised = float((pred == native_pred).double().mean())
    best = max(FIXED, key=lambda m: float(correct[m].mean()))
    diff = correct[best] - correct["auto"]
    floor = 2 * float(diff.std()) / math.sqrt(len(diff))
    row = {"pair": label, "native": f"{native:.3f}", "auto": f"{float(correct['auto'].mean()) / native:.3f} "
           f"({auto.report_['choice']})"}
    row.update({m: f"{float(correct[m].mean()) / native:.3f}" for m in FIXED})
    low, high = forecast.interval
    row.update({"forecast": f"{forecast.agreement:.3f} [{low:.3f}, {high:.3f}]", "realised": f"{realised:.3f}",
                "covered": "yes" if low <= realised <= high else "no",
                "auto within noise of best": "yes" if float(diff.mean()) <= floor else "no"})
    return row


def main(argv: list[str]) -> None:
    p = _harness.parser(__doc__)
    p.add_argument("--data", default="../shared/data", help="data root (default ../shared/data)")
    p.add_argument("--models", default="../shared/models", help="models root (default ../shared/models)")
    p.add_argument("--cache", default=None, help="latent cache root (default $STITCH_CACHE)")
    p.add_argument("--section", choices=("speed", "predict", "quality", "all"), default="all")
    args = p.parse_args(argv)
    if args.section in ("speed", "all"):
        _harness.main(__file__, args, speed_cases, title="Stitcher.fit: auto vs one fixed method",
                      argv=[*argv, "--section", "speed"])
    if args.section in ("predict", "all"):
        _harness.main(__file__, args, predict_cases, title="StitchedModel.predict vs its encoder alone",
                      argv=[*argv, "--section", "predict"])
    if args.section in ("quality", "all") and not args.memory_probe:
        labels = list(PAIRS) if args.full else list(PAIRS)[:1]
        rows = [quality_row(args, label) for label in labels]
        print("### Stitching real pairs with a linear head on absolute latents (stitched / native accuracy)\n")
        print(_harness.table(rows, list(rows[0])), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
