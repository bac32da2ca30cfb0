"""Local engine vs Ray on this machine: encoding throughput and the stitching matrix, interleaved in one process.

Run: ``python benchmarks/bench_engine.py --data ../shared/data`` (about 5 minutes on 2 cores; ``--full`` (about 10) encodes
all 5,952 TREC questions instead of 2,000).

Rows:

* ``encode local`` / ``encode ray xN``: MiniLM-L6 on TREC questions into an empty latent cache (the
  cache is cleared before every call, so each one encodes), locally and on Ray with N encoding actors
  sharing this machine's cores (cores / N CPUs, and as many torch threads, each). Overhead = Ray time /
  local time (goal <= 1.15x with one actor); scaling = how throughput grows with actors on these cores.
* ``matrix local`` / ``matrix ray``: the stitching rows of a reduced digits experiment (two random-init timm
  encoders, three spaces, two seeds: 12 decoder rows) from latents already cached; ``rows/s`` beside it.

Ray starts once (a local instance with this machine's CPUs) before the rounds; its start-up is not timed.
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


def build(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    import ray

    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.engine import create_engine
    from stitch.experiment import run_experiment

    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, ignore_reinit_error=True)
    trec = stitch.load_dataset("trec", data_root=args.data)
    n = len(trec.indices("train")) if args.full else 2000
    import dataclasses

    trec = dataclasses.replace(trec, splits={**trec.splits, "train": trec.indices("train")[:n]})
    tmp = Path(tempfile.mkdtemp())
    # the actors share this machine's CPUs as the local run uses them all: N actors of cores / N CPUs each
    cores = os.cpu_count() or 1
    engines = {f"ray x{c}": create_engine("ray", concurrency=c, num_cpus=max(1, cores // c)) for c in (1, 2)}

    def encode(engine: Any) -> Callable[[], Any]:
        def run() -> Any:
            root = tmp / "enc-cache"
            shutil.rmtree(root, ignore_errors=True)
            enc = stitch.create_encoder("minilm")
            if engine is None:
                return LatentCache(root).encode(enc, trec, "train", progress=False)
            return engine.encode_many({"m": enc}, trec, "train", cache=LatentCache(root), progress=False)["m"]
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

    return {"encode local": encode(None), **{f"encode {k}": encode(e) for k, e in engines.items()},
            "matrix local": matrix(None), "matrix ray": matrix(engines["ray x2"])}


def main() -> None:
    p = _harness.parser(__doc__)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = p.parse_args()
    args.no_memory = True  # Ray's memory lives in its worker processes, which ru_maxrss does not see
    argv = [f"--data={args.data}", f"--rounds={args.rounds}"] + (["--full"] if args.full else [])
    baseline = {"matrix local": "matrix local", "matrix ray": "matrix local"}

    def throughput(results: dict[str, Any], times: dict[str, list[float]]) -> dict[str, dict[str, str]]:
        out = {}
        for name, ts in times.items():
            n = len(results[name]) if name.startswith("encode") else MATRIX_ROWS
            unit = "rows/s" if name.startswith("matrix") else "samples/s"
            out[name] = {"throughput": f"{n / min(ts):.1f} {unit}"}
        return out

    _harness.main(__file__, args, build, argv=argv, title="Local engine vs Ray (this machine)",
                  baseline={name: baseline.get(name, "encode local") for name in
                            ("encode local", "encode ray x1", "encode ray x2", "matrix local", "matrix ray")},
                  extra=throughput)


if __name__ == "__main__":
    sys.exit(main())
