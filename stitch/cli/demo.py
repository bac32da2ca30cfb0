"""``stitch demo``: the main job end to end, offline, in a few minutes on two CPU cores.

Trains small timm encoders on ``digits`` from scratch (a ResNet and a ConvNeXt, two seeds each), then compares
``absolute``, ``relative:cosine``, ``relative:euclidean``, a product space and ``translate:procrustes``:
a decoder trained on each encoder's space is measured zero-shot on every encoder's space. Prints the
summary and writes the report (same configuration as ``examples/digits.toml``).

Expected picture: absolute stitching near chance (~0.1); relative stitching across seeds of one
architecture close to the non-stitched accuracy, across architectures lower; the product space at least
as good as the best single similarity on average. The demo uses 64 anchors, the narrowest encoder's
latent width: with many more anchors than latent dimensions (e.g. 256) every relative space describes its
latents completely and all pairs stitch at about the non-stitched accuracy, hiding the differences.
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

from stitch.cli.engine import add_threads_flag

#: The demo's experiment (``examples/digits.toml`` holds the same).
DEMO: dict[str, Any] = {
    "name": "digits-demo",
    "seeds": [0, 1, 2],
    # One thread, whatever the machine has free: the demo's numbers are README's on every machine. Another
    # count changes float summation order, and training amplifies it (same-group absolute 0.080 with 1
    # thread, 0.094 with 2). 2 idle cores would save 8 s of 66 (`stitch demo --threads 2`).
    "threads": 1,
    "dataset": {"name": "digits"},
    "encoders": [
        # timm's tiny test_* architectures, trained here from scratch: labelled by what they are
        {"name": f"timm:{arch}", "group": label, "label": f"{label}-seed{seed}", "options": options,
         "train": {"seed": seed, **train}}
        for arch, label, options, train in (
            ("test_resnet", "ResNet", {"image_size": 16, "in_chans": 1, "crop_pct": 1.0}, {"epochs": 10, "lr": 3e-3}),
            # ConvNeXt needs 32 px: its stride-32 downsampling shrinks 16 px to 1x1 before the last stage
            ("test_convnext", "ConvNeXt", {"image_size": 32, "in_chans": 1, "crop_pct": 1.0},
             {"epochs": 10, "lr": 3e-3}),
        )
        for seed in (0, 1)
    ],
    # 64 anchors = the narrowest latent width (test_convnext: 64; test_resnet: 96): with more anchors than latent
    # dimensions the relative space is over-complete and every pair stitches at the non-stitched level.
    "anchors": {"strategy": "random", "n": 64, "seed": 0},
    "spaces": [
        "absolute",
        "relative:cosine",
        "relative:euclidean",
        "product:cosine,euclidean,l1,linf",
        "translate:procrustes",
    ],
    "decoder": {"kind": "mlp", "hidden": 256, "epochs": 60, "lr": 1e-3, "patience": 8},
}


def demo_config(*, quick: bool = False) -> dict[str, Any]:
    """The demo's experiment as a dict; ``quick`` shrinks training to seconds (for tests, not for conclusions).

    Example:
        >>> demo_config(quick=True)["seeds"]
        [0]
    """
    cfg = copy.deepcopy(DEMO)
    if quick:
        cfg["name"] = "digits-demo-quick"
        cfg["seeds"] = [0]
        for enc in cfg["encoders"]:
            enc["train"]["epochs"] = 3
        cfg["decoder"].update(epochs=15, hidden=64)
    return cfg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch demo`` to the top-level parser."""
    from stitch.cli import plain

    p = subparsers.add_parser(
        "demo", help="train small encoders on digits and show zero-shot stitching (offline, minutes)",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="tiny settings that finish in seconds (smoke test)")
    p.add_argument("--no-progress", action="store_true", help="no phase lines or progress bars")
    add_threads_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from stitch.experiment import parse_experiment, run_experiment
    from stitch.experiment.report import format_summary

    cfg = parse_experiment(demo_config(quick=args.quick), source="demo")
    start = time.perf_counter()
    print(f"stitch demo: {len(cfg.encoders)} encoders trained on digits, {len(cfg.spaces)} spaces, "
          f"{len(cfg.seeds)} seed{'s' if len(cfg.seeds) != 1 else ''} -> {args.out}", flush=True)
    result = run_experiment(cfg, out=args.out, threads=args.threads, progress=False if args.no_progress else None)
    print()
    print(format_summary(result))
    print(f"\nwall time {time.perf_counter() - start:.0f} s; report: {result.output_dir / 'report.md'}")
    return 0
