"""Local engine vs Ray on this machine: encoding throughput and the stitching matrix, interleaved in one process.

Run: ``python benchmarks/bench_engine.py [--data ../shared/data --models ../shared/models]`` (about 15 minutes on
2 cores); ``--full`` (about 25) encodes all 5,952 TREC questions instead of 2,000 and 5,000 Fashion-MNIST images
instead of 1,000 (``--fashion N`` sets that size: the whole 60,000 take about 50 minutes a call here).

Rows:

* ``encode trec local`` / ``encode trec ray xN``: MiniLM-L6 on TREC questions into an empty latent cache (the
  cache is cleared before every call, so each one encodes; a fresh encoder every call, so each one loads the
  model), locally and on Ray with N encoding actors sharing this machine's cores (cores / N CPUs, and as many
  torch threads, each). Overhead = Ray time / local time (goal <= 1.15x with one actor); scaling = how
  throughput grows with actors on these cores.
* ``encode fashion ...``: the same with ``tf_efficientnet_lite0`` (ImageNet weights from the models root) on
  Fashion-MNIST training images. A call longer than 2 minutes is timed once (its warm-up call).
* ``matrix local`` / ``matrix ray``: the stitching rows of a reduced digits experiment (two random-init timm
  encoders, three spaces, two seeds: 12 decoder rows) from latents already cached; ``rows/s`` beside it.

Ray starts once (a local instance with this machine's CPUs) before the rounds; its start-up is not timed.
Every Ray call starts its actors (a process importing torch and the encoder's library, then loading the model):
that fixed cost is the overhead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _harness

MATRIX_ROWS = 3 * 2 * 2  # spaces x seeds x decoder encoders
#: the encoding rows: dataset and encoder
DATASETS = {"trec": ("trec", "minilm"), "fashion": ("fashion-mnist", "timm:tf_efficientnet_lite0?pretrained=true")}
SPLITS = {"trec": None, "fashion": "train"}  # the rows encoded come first from: every question, training images


def build(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    import dataclasses

    import ray

    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.encoder.refs import parse_encoder
    from stitch.utils.roots import using_models_root
    from stitch.engine import create_engine
    from stitch.experiment import run_experiment

    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
    tmp = Path(tempfile.mkdtemp())
    # the actors share this machine's CPUs as the local run uses them all: N actors of cores / N CPUs each
    cores = os.cpu_count() or 1
    engines = {f"ray x{c}": create_engine("ray", concurrency=c, num_cpus=max(1, cores // c)) for c in (1, 2)}
    sizes = {"trec": None if args.full else 2000,  # None: every question
             "fashion": args.fashion or (5000 if args.full else 1000)}

    def encode(key: str, engine: Any) -> Callable[[], Any]:
        dataset, ref = DATASETS[key]
        data = stitch.load_dataset(dataset, data_root=args.data)
        rows = data.indices(SPLITS[key])[: sizes[key]]
        data = dataclasses.replace(data, splits={**data.splits, "train": rows})
        name, options = parse_encoder(ref)

        def run() -> Any:
            root = tmp / "enc-cache"
            shutil.rmtree(root, ignore_errors=True)
            with using_models_root(args.models):
                enc = stitch.create_encoder(name, **options)
            if engine is None:
                return LatentCache(root).encode(enc, data, "train", progress=False)
            return engine.encode_many({"m": enc}, data, ["train"], cache=LatentCache(root), progress=False)["m"][0]
        return run

    enc = {"name": "timm:test_resnet", "options": {"image_size": 8, "in_chans": 1, "crop_pct": 1.0}}
    cfg = {"name": "bench-engine", "seeds": [0, 1], "dataset": {"name": "digits"},
           "spaces": ["absolute", "relative:cosine", "product:cosine,euclidean"], "anchors": {"n": 20},
           "encoders": [{**enc, "label": "A", "options": {**enc["options"], "seed": 0}},
                        {**enc, "label": "B", "options": {**enc["options"], "seed": 1}}],
           "decoder": {"kind": "mlp", "epochs": 20}}

    def matrix(engine: Any) -> Callable[[], Any]:
        def run() -> Any:
            out = tmp / "matrix"
            shutil.rmtree(out, ignore_errors=True)  # no finished rows to resume from
            return run_experiment(cfg, out=out, cache_root=tmp / "m-cache", progress=False, report=False,
                                  engine=engine or "local")
        return run

    cases: dict[str, Callable[[], Any]] = {}
    for key in DATASETS:
        cases[f"encode {key} local"] = encode(key, None)
        cases.update({f"encode {key} {k}": encode(key, e) for k, e in engines.items()})
    return {**cases, "matrix local": matrix(None), "matrix ray": matrix(engines["ray x2"])}


def main() -> None:
    p = _harness.parser(__doc__)
    shared = Path(__file__).resolve().parents[2] / "shared"
    p.add_argument("--data", default=str(shared / "data"))
    p.add_argument("--models", default=str(shared / "models"), help="models root (EfficientNet-Lite0 weights)")
    p.add_argument("--fashion", type=int, default=None, help="Fashion-MNIST training images to encode")
    args = p.parse_args()
    args.no_memory = True  # Ray's memory lives in its worker processes, which ru_maxrss does not see
    argv = [f"--data={args.data}", f"--models={args.models}", f"--rounds={args.rounds}"]
    argv += (["--full"] if args.full else []) + ([f"--fashion={args.fashion}"] if args.fashion else [])

    def throughput(results: dict[str, Any], times: dict[str, list[float]]) -> dict[str, dict[str, str]]:
        out = {}
        for name, ts in times.items():
            n = len(results[name]) if name.startswith("encode") else MATRIX_ROWS
            unit = "rows/s" if name.startswith("matrix") else "samples/s"
            out[name] = {"samples": str(n) if name.startswith("encode") else "",
                         "throughput": f"{n / min(ts):.1f} {unit}"}
        return out

    names = [f"encode {k} {m}" for k in DATASETS for m in ("local", "ray x1", "ray x2")]
    names += ["matrix local", "matrix ray"]
    _harness.main(__file__, args, build, argv=argv, title="Local engine vs Ray (this machine)",
                  baseline={n: " ".join(n.split()[:2]) + " local" if n.startswith("encode") else "matrix local"
                            for n in names},
                  extra=throughput, budget_s=120.0)


if __name__ == "__main__":
    sys.exit(main())
