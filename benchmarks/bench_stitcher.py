"""The Stitcher as its users meet it: speed of ``method="auto"``, the cost a StitchedModel adds to its encoder,
and on real pairs whether the auto choice and the label-free forecast hold on test data.

Run: ``python benchmarks/bench_stitcher.py [--data ../shared/data --models ../shared/models]`` (about 5 minutes
on 2 cores the first time, most of it training the from-scratch encoders once; ``--full`` adds Fashion-MNIST
with EfficientNet-Lite2 -> Lite0, about 10 minutes more the first time, most of it encoding into the latent
cache).

* **speed**: ``Stitcher().fit`` (9 candidates, 5 folds) on 1,000 anchor pairs of 1,280-d latents against one
  fixed method, interleaved; ``StitchedModel.predict`` against the encoder's own ``encode`` on one batch.
* **quality**: per pair (pretrained text and vision encoders; GNNs and CNNs trained from scratch here, seeded), a
  linear head (the library's ``LinearClassifier``) trained on the decoder side's absolute latents of training
  samples; the other encoder stitched in through anchor pairs from other samples (see ``PAIRS``: 1,000
  training samples the head did not see; Cora's 500 and digits' 360 validation samples). Columns: native test
  accuracy, stitched / native for ``auto`` (chosen by the head's agreement) and each fixed translator, the
  forecast (agreement and 95 % interval from the anchors, no labels) and the agreement realised on the test
  split (how often the head says the same on stitched and native latents), whether the auto choice is within the
  noise floor of the best fixed method on test data (2 x the standard error of the paired per-sample differences),
  and how well per-sample signals rank the stitched model's errors (AUROC; 0.5 is chance): ``confidence`` is what
  ``Stitcher.reliability`` ships (the head's probability of its prediction), ``disagreement`` the share of the three
  runner-up candidates that predict otherwise, ``anchors`` the held-out disagreement of the 20 nearest anchors.
* **choice** (``--section choice``): on every pair of ``stitch bench``'s suites (its protocol: a scikit-learn
  logistic-regression head, 300 anchors from its pool (``--anchors``), three anchor draws, each side's other
  training latents as unpaired latents), ``auto`` against each fixed map of the ``lst`` suite, judged per test
  sample: the paired difference to the best fixed map (correct or not, averaged over the draws) and its noise floor,
  2 x the standard error over the test samples; and the agreement with the head's native predictions on the test
  split, the label-free quantity ``auto`` maximises.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import _harness

#: real pairs: (dataset, the encoder stitched in, the encoder the head was trained on); an encoder is a registry
#: reference or a from-scratch recipe (trained here once, reused by its recipe hash). ``sizes``: samples per split
#: (None: all); ``head``: the training rows the head learns from; ``anchors``: the splits and rows the anchor
#: pairs come from — data neither the head nor (for from-scratch encoders) the encoders were trained on, as a
#: user should draw them; the last row draws them from the encoders' own training data, to show what that costs.
PAIRS: dict[str, dict[str, Any]] = {
    "TREC: MiniLM-L3 -> MiniLM-L6 head": {
        "dataset": "trec", "new": "hf:paraphrase-MiniLM-L3-v2", "old": "minilm",
        "sizes": {"train": 3000, "test": 500}, "head": 2000, "anchors": (("train",), 2000, 1000)},
    "Cora: GraphSAGE -> GCN head (from scratch)": {
        "dataset": "cora", "new": {"name": "pyg:sage", "seed": 1, "epochs": 200, "lr": 1e-2},
        "old": {"name": "pyg:gcn", "seed": 0, "epochs": 200, "lr": 1e-2},
        "sizes": None, "head": None, "anchors": (("val",), 0, 500)},
    "digits: ConvNeXt -> ResNet head (from scratch)": {
        "dataset": "digits", "new": {"name": "timm:test_convnext", "seed": 0, "epochs": 10, "lr": 3e-3,
                                     "options": {"image_size": 32, "in_chans": 1, "crop_pct": 1.0}},
        "old": {"name": "timm:test_resnet", "seed": 0, "epochs": 10, "lr": 3e-3,
                "options": {"image_size": 16, "in_chans": 1, "crop_pct": 1.0}},
        "sizes": None, "head": None, "anchors": (("val",), 0, 360)},
    "Fashion-MNIST: Lite2 -> Lite0 head": {
        "dataset": "fashion-mnist", "new": "timm:tf_efficientnet_lite2?pretrained=true",
        "old": "timm:tf_efficientnet_lite0?pretrained=true",
        "sizes": {"train": 3000, "test": 1000}, "head": 2000, "anchors": (("train",), 2000, 1000)},
}
PAIRS["digits, anchors from the training split"] = {**PAIRS["digits: ConvNeXt -> ResNet head (from scratch)"],
                                                     "anchors": (("train",), 0, 500)}
#: run by default; ``--full`` adds Fashion-MNIST
DEFAULT_PAIRS = ("TREC: MiniLM-L3 -> MiniLM-L6 head", "Cora: GraphSAGE -> GCN head (from scratch)",
                 "digits: ConvNeXt -> ResNet head (from scratch)", "digits, anchors from the training split")
FIXED = ("procrustes", "affine", "linear", "ridge", "inverse-relative")


def speed_cases(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from stitch.stitcher import Stitcher

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 1280, generator=g)
    y = x @ torch.randn(1280, 1280, generator=g) / 40 + 0.1 * torch.randn(1000, 1280, generator=g)
    return {"procrustes (1 candidate x 5 folds)": lambda: Stitcher("procrustes", folds=5).fit(x, y),
            "auto (9 candidates x 5 folds)": lambda: Stitcher().fit(x, y)}


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


def _encoder(args: argparse.Namespace, spec: str | dict[str, Any], data: Any) -> Any:
    """The encoder a pair names: built from the registry, or trained from scratch by its recipe (once)."""
    from pathlib import Path

    import stitch
    from stitch.encoder.refs import parse_encoder
    from stitch.experiment.protocols.base import reuse_or_train
    from stitch.experiment.training import train_encoder
    from stitch.utils.roots import cache_root, using_models_root

    if isinstance(spec, str):
        name, options = parse_encoder(spec)
        with using_models_root(args.models):
            return stitch.create_encoder(name, **options)
    recipe = {"bench": "stitcher", "dataset": data.name, **spec}
    schedule = {"epochs": spec["epochs"], "lr": spec["lr"]}

    def train(path: Path, rec: dict[str, Any]) -> Any:
        result = train_encoder(spec["name"], data, out=path, schedule=schedule, seed=spec["seed"],
                               encoder_options=spec.get("options"), progress=False, recipe=rec)
        return stitch.create_encoder(f"trained:{result.path}")

    directory = Path(args.cache or cache_root()) / "bench-stitcher"
    directory.mkdir(parents=True, exist_ok=True)
    return reuse_or_train(directory, f"{data.name}-{spec['name']}-s{spec['seed']}", recipe,
                          load=lambda path: stitch.create_encoder(f"trained:{path}"), train=train)[0]


def _auroc(errors: Any, scores: Any) -> float:
    """How often an error scores higher than a right answer (ties count half): the ranking's AUROC."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(errors.numpy(), scores.numpy())) if 0 < int(errors.sum()) < len(errors) else math.nan


def _other_signals(stitcher: Any, head: Any, x: Any, y: Any, test: Any, pred: Any) -> dict[str, Any]:
    """The per-sample signals the shipped reliability was chosen against (higher = more likely wrong)."""
    import torch

    from stitch.core.selection import fit_translator, fold_ids
    from stitch.stitcher import Stitcher

    rows = sorted(stitcher.report_["candidates"], key=lambda c: -c["mean"])[1:4]  # the runners-up
    others = torch.stack([head.predict(Stitcher(c["method"], options=c["options"], folds=None).fit(x, y)
                                       .transform(test)) for c in rows])
    disagreement = (others != pred).double().mean(0)
    # each anchor's held-out agreement under the chosen map, averaged over a test sample's 20 nearest anchors
    fold, held_out = fold_ids(len(x), 5, 0), torch.zeros(len(x), dtype=torch.float64)
    for k in range(5):
        t = fit_translator(stitcher.method_, stitcher.options_, x[fold != k], y[fold != k])
        held_out[fold == k] = (head.predict(t.transform(x[fold == k]).float()) ==
                               head.predict(y[fold == k].float())).double()
    unit = torch.nn.functional.normalize
    near = (unit(test - x.mean(0), dim=1) @ unit(x - x.mean(0), dim=1).T).topk(20, dim=1).indices
    return {"disagreement": disagreement, "anchors": 1 - held_out[near].mean(1)}


def quality_row(args: argparse.Namespace, label: str) -> dict[str, Any]:
    import torch

    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.experiment.decoders import LinearClassifier
    from stitch.stitcher import Stitcher

    pair = PAIRS[label]
    data = stitch.load_dataset(pair["dataset"], data_root=args.data)
    if pair["sizes"]:
        data = data.subsample(pair["sizes"], seed=0)
    splits, start, n = pair["anchors"]
    cache = LatentCache(args.cache)
    a, b = ({split: cache.encode(_encoder(args, pair[side], data), data, split, progress=False).double()
             for split in {*splits, "train", "test"}} for side in ("new", "old"))
    y_test = torch.as_tensor(data.split_labels("test"))
    rows = slice(0, pair["head"])
    head = LinearClassifier(epochs=200, lr=1e-2).fit(b["train"][rows].float(), data.split_labels("train")[rows])
    native_pred = head.predict(b["test"].float())
    native = float((native_pred == y_test).double().mean())
    x, y = (torch.cat([side[s] for s in splits])[start:start + n] for side in (a, b))
    auto = Stitcher().fit(x, y, decoder=head)
    forecast = auto.forecast(head)
    correct = {}
    for name, s in [("auto", auto)] + [(m, Stitcher(m, folds=None).fit(x, y)) for m in FIXED]:
        pred = head.predict(s.transform(a["test"]).float())
        correct[name] = (pred == y_test).double()
        if name == "auto":
            realised, auto_pred = float((pred == native_pred).double().mean()), pred
    best = max(FIXED, key=lambda m: float(correct[m].mean()))
    diff = correct[best] - correct["auto"]
    floor = 2 * float(diff.std()) / math.sqrt(len(diff))
    errors = (auto_pred != y_test).long()
    signals = {"confidence": -auto.reliability(a["test"], head).double(),
               **_other_signals(auto, head, x, y, a["test"], auto_pred)}
    row = {"pair": label, "native": f"{native:.3f}", "auto": f"{float(correct['auto'].mean()) / native:.3f} "
           f"({auto.report_['choice']})"}
    row.update({m: f"{float(correct[m].mean()) / native:.3f}" for m in FIXED})
    low, high = forecast.interval
    row.update({"forecast": f"{forecast.agreement:.3f} [{low:.3f}, {high:.3f}]", "realised": f"{realised:.3f}",
                "covered": "yes" if low <= realised <= high else "no",
                "auto within noise of best": "yes" if float(diff.mean()) <= floor else "no"})
    row.update({f"AUROC {k}": f"{_auroc(errors, v):.2f}" for k, v in signals.items()})
    return row


def choice_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    import warnings

    import numpy as np

    from stitch.bench import BenchContext
    from stitch.bench.pairs import PAIRS, linear_head, load_pair
    from stitch.bench.suites import _TRANSLATORS  # the lst suite's fixed maps, as its rows run them
    from stitch.core.translate import create_translator
    from stitch.errors import InterpolationWarning
    from stitch.stitcher import Stitcher

    warnings.simplefilter("ignore", InterpolationWarning)  # the lst suite's notes say which maps are near the peak
    context = BenchContext(data_root=args.data, models_root=args.models, cache_root=args.cache, progress=False)
    rows = []
    for name, pair in PAIRS.items():
        try:
            data = load_pair(pair, context)
        except OSError as exc:  # a pair whose files are not here (MNIST, CiteSeer): the suites skip it too
            print(f"skipped {name}: {str(exc)[:80]}", file=sys.stderr)
            continue
        heads = [linear_head(data.train[s][data.head_rows], data.y_train[data.head_rows]) for s in (0, 1)]
        for new, side in ((1, 0), (0, 1)):
            head, y_test = heads[side], data.y_test
            native = head.predict(data.test[side].numpy())
            correct: dict[str, list[np.ndarray]] = {}
            agree: dict[str, list[float]] = {}
            chosen = []
            for seed in range(3):
                anchors = np.sort(np.random.default_rng(seed).choice(data.pool_rows, args.anchors, replace=False))
                rest = np.setdiff1d(np.arange(len(data.y_train)), anchors)
                x, y = data.train[new][anchors], data.train[side][anchors]
                unpaired = (data.train[new][rest], data.train[side][rest])
                auto = Stitcher().fit(x, y, decoder=head, encoder_unpaired=unpaired[0], decoder_unpaired=unpaired[1])
                chosen.append(auto.report_["choice"])
                mapped = {"auto": auto.transform(data.test[new])}
                for label, (translator, options) in _TRANSLATORS.items():
                    options = dict(options)
                    extra = {"x_unpaired": unpaired[0], "y_unpaired": unpaired[1]} if options.pop("unpaired", False) \
                        else {}
                    mapped[label] = create_translator(translator, **options).fit(x, y, **extra).transform(
                        data.test[new])
                for label, z in mapped.items():
                    pred = head.predict(z.float().numpy())
                    correct.setdefault(label, []).append(pred == y_test)
                    agree.setdefault(label, []).append(float((pred == native).mean()))
            per_sample = {k: np.mean(v, axis=0) for k, v in correct.items()}  # each test sample, over the draws
            own = float((native == y_test).mean())
            best = max(_TRANSLATORS, key=lambda k: per_sample[k].mean())
            diff = per_sample[best] - per_sample["auto"]
            floor = 2 * float(diff.std(ddof=1)) / np.sqrt(len(diff))
            rows.append({"pair: stitched into -> head": f"{pair.dataset}: {pair.labels[new]} -> {pair.labels[side]}",
                         "auto": f"{per_sample['auto'].mean() / own:.3f}", "best fixed map": best,
                         "its ratio": f"{per_sample[best].mean() / own:.3f}",
                         "best - auto": f"{float(diff.mean()) / own:+.3f}", "noise floor": f"{floor / own:.3f}",
                         "auto within it": "yes" if float(diff.mean()) <= floor else "no",
                         "agreement: auto": f"{np.mean(agree['auto']):.3f}",
                         "agreement: best map": f"{np.mean(agree[best]):.3f}",
                         "auto's choices": ", ".join(sorted(set(chosen)))})
            print(f"choice: {rows[-1]['pair: stitched into -> head']} done", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str]) -> None:
    p = _harness.parser(__doc__)
    p.add_argument("--data", default="../shared/data", help="data root (default ../shared/data)")
    p.add_argument("--models", default="../shared/models", help="models root (default ../shared/models)")
    p.add_argument("--cache", default=None, help="latent cache root (default $STITCH_CACHE)")
    p.add_argument("--section", choices=("speed", "predict", "quality", "choice", "all"), default="all")
    p.add_argument("--anchors", type=int, default=300, help="anchor pairs per draw in the choice section (default 300)")
    args = p.parse_args(argv)
    if args.section in ("speed", "all"):
        _harness.main(__file__, args, speed_cases, title="Stitcher.fit: auto vs one fixed method",
                      argv=[*argv, "--section", "speed"])
    if args.section in ("predict", "all"):
        _harness.main(__file__, args, predict_cases, title="StitchedModel.predict vs its encoder alone",
                      argv=[*argv, "--section", "predict"])
    if args.section in ("quality", "all") and not args.memory_probe:
        labels = list(PAIRS) if args.full else list(DEFAULT_PAIRS)
        rows = [quality_row(args, label) for label in labels]
        print("### Stitching real pairs with a linear head on absolute latents (stitched / native accuracy)\n")
        print(_harness.table(rows, list(rows[0])), flush=True)
    if args.section in ("choice", "all") and not args.memory_probe:
        rows = choice_rows(args)
        print("\n### auto against the lst suite's fixed maps, per test sample (stitched / native accuracy)\n")
        print(_harness.table(rows, list(rows[0])), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
