"""``stitch pair`` and ``stitch predict``: stitch one encoder into another's head, forecast it, keep it, run it.

``stitch pair NEW OLD --dataset D`` draws ``--samples`` + ``--anchors`` samples of D's training split (seeded,
stratified), trains a linear head on OLD's latents of the first ``--samples`` (the head to be reused), fits a
:class:`~stitch.stitcher.Stitcher` from NEW to OLD on the other ``--anchors`` (samples the head did not see, so
the forecast is not flattered; the method chosen by the head's agreement), prints the candidates table and the
label-free forecast, and writes the stitched model (NEW -> stitcher -> head) to ``--out``. With
``--gate`` the exit code is the verdict, so a CI job can guard a model swap::

    stitch pair hf:paraphrase-MiniLM-L3-v2 minilm --dataset trec --data ../shared/data \\
        --models ../shared/models --out runs/l3-into-l6 --gate      # 0 pass, 1 warn, 2 fail
    stitch predict runs/l3-into-l6 "Who wrote Hamlet?" "How far away is the Moon?"
"""

from __future__ import annotations

import argparse
import json
import sys

from stitch.cli.cache import add_cache_flag
from stitch.cli.engine import add_threads_flag

#: ``--gate`` exit codes by verdict
GATE = {"pass": 0, "warn": 1, "fail": 2}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch pair`` and ``stitch predict`` to the top-level parser."""
    from stitch.cli import add_models_flag, plain

    p = subparsers.add_parser("pair", help="stitch an encoder into another's head, forecast it and save it",
                              description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("new", metavar="NEW", help="the encoder to stitch in (name, options after '?')")
    p.add_argument("old", metavar="OLD", help="the encoder whose head is reused")
    p.add_argument("--dataset", metavar="NAME", required=True, help="labelled dataset (options after '?')")
    p.add_argument("--data", metavar="DIR", help="directory holding the dataset's files (default: $STITCH_DATA)")
    add_models_flag(p)
    add_cache_flag(p)
    p.add_argument("--samples", type=int, default=2000, help="training samples for the head (default 2000)")
    p.add_argument("--anchors", type=int, default=1000,
                   help="further samples, the anchor pairs the stitcher is fitted on (default 1000)")
    p.add_argument("--method", default="auto", help="stitching method (default: auto, chosen by cross-validation)")
    p.add_argument("--pass-at", type=float, default=0.9, help="forecast agreement whose interval passes (0.9)")
    p.add_argument("--fail-below", type=float, default=0.7, help="forecast agreement below which it fails (0.7)")
    p.add_argument("--out", metavar="DIR", required=True, help="where the stitched model is written")
    p.add_argument("--gate", action="store_true", help="exit 0 / 1 / 2 for a pass / warn / fail forecast")
    p.add_argument("--json", action="store_true", help="print the report and forecast as JSON")
    add_threads_flag(p)
    p.set_defaults(func=run_pair)

    q = subparsers.add_parser("predict", help="run a stitched model on inputs",
                              description="Load a model `stitch pair` (or StitchedModel.save) wrote, verified, and "
                              "print its prediction for each input (text inputs as arguments): the label, its "
                              "reliability (the head's probability of it; low flags a likely stitching error) and "
                              "the input.")
    q.add_argument("model", metavar="DIR", help="the stitched model's directory")
    q.add_argument("inputs", metavar="INPUT", nargs="+", help="inputs (texts)")
    add_models_flag(q)
    q.set_defaults(func=run_predict)


def run_pair(args: argparse.Namespace) -> int:
    from stitch.encoder.cache import LatentCache
    from stitch.encoder.refs import DatasetRef, parse_encoder
    from stitch.experiment.decoders import LinearClassifier
    from stitch.plugins import create_encoder, load_dataset
    from stitch.stitcher import StitchedModel, Stitcher

    for flag, value in (("--samples", args.samples), ("--anchors", args.anchors)):
        if value < 1:
            raise ValueError(f"{flag} must be a positive number of samples, got {value}")
    ref = DatasetRef.model_validate(args.dataset)
    data = load_dataset(ref.name, data_root=args.data, **ref.options)
    n, wanted = args.samples, args.samples + args.anchors
    if len(data.indices("train")) < wanted:
        raise ValueError(f"dataset {ref.name!r} has {len(data.indices('train'))} training samples; --samples {n} + "
                         f"--anchors {args.anchors} need {wanted}: ask for fewer")
    data = data.subsample({"train": wanted}, seed=0)
    cache = LatentCache(args.cache)
    new, old = (create_encoder(name, **options) for name, options in map(parse_encoder, (args.new, args.old)))
    z_new, z_old = (cache.encode(e, data, "train", progress=False) for e in (new, old))
    head = LinearClassifier(epochs=200, lr=1e-2).fit(z_old[:n], data.split_labels("train")[:n])
    stitcher = Stitcher(args.method).fit(z_new[n:], z_old[n:], decoder=head)
    forecast = stitcher.forecast(head, pass_at=args.pass_at, fail_below=args.fail_below)
    StitchedModel(new, stitcher, head, forecast=forecast, class_names=data.class_names).save(args.out)
    if args.json:
        print(json.dumps({"report": stitcher.report_, "forecast": forecast.to_dict(), "out": args.out}, indent=2))
    else:
        print(stitcher.table())
        print(f"{forecast}\nstitched model -> {args.out}", file=sys.stderr)
    return GATE[forecast.verdict] if args.gate else 0


def run_predict(args: argparse.Namespace) -> int:
    from stitch.stitcher import load_stitched

    model = load_stitched(args.model)
    if callable(getattr(model.decoder, "predict_logits", None)):  # a classifier: each label with its reliability
        predictions, reliability = model.predict(list(args.inputs), reliability=True)
        names = model.class_names
        for text, pred, r in zip(args.inputs, predictions.tolist(), reliability.tolist()):
            print(f"{names[pred] if names else pred}\t{r:.2f}\t{text}")
    else:
        for text, pred in zip(args.inputs, model.predict(list(args.inputs)).tolist()):
            print(f"{pred}\t{text}")
    return 0
