"""``stitch run EXPERIMENT.toml``: run a zero-shot stitching experiment from a file (TOML, YAML or JSON).

Every check the run makes — the file's fields, registry names, the dataset and its splits, the anchor count
against the data — runs before any work starts; ``--check`` stops there and prints the plan. Results go to
the file's ``out`` (or ``runs/<name>``; ``--out`` overrides): ``results.json``, ``results.csv``, one heatmap
per space, ``stitched_bars.png`` and ``report.md``. Re-running the same command reuses trained encoders,
the latent cache and finished matrix rows, so an interrupted run resumes.

Examples::

    stitch run examples/digits.toml
    stitch run examples/trec.toml --data ../shared/data      # data directory (default: $STITCH_DATA)
    stitch run examples/fashion_pretrained.toml --data ../shared/data --models ../shared/models
"""

from __future__ import annotations

import argparse

from stitch.cli.cache import add_cache_flag
from stitch.cli.engine import add_engine_flags, add_threads_flag, engine_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch run`` to the top-level parser."""
    from stitch.cli import add_models_flag, plain

    p = subparsers.add_parser(
        "run", help="run a stitching experiment from a TOML/YAML file",
        description="Train a decoder on every encoder's latent space and measure it zero-shot on every other "
        "encoder's space, for each space in the file; write the matrices and a report.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=plain(__doc__),
    )
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment file (.toml, .yaml, .yml or .json)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: the file's 'out' or runs/<name>)")
    p.add_argument("--data", metavar="DIR", help="directory holding the dataset's files (default: $STITCH_DATA)")
    add_models_flag(p)
    add_cache_flag(p)
    add_engine_flags(p)
    add_threads_flag(p)
    p.add_argument("--full", action="store_true", help="run on the whole splits, ignoring the file's dataset.subset")
    p.add_argument("--check", action="store_true", help="run every check and print the plan; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no phase lines or progress bars")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from stitch.experiment import check_experiment, load_experiment, run_experiment
    from stitch.experiment.report import format_summary
    from stitch.experiment.runner import check_engine

    cfg = load_experiment(args.experiment)
    if args.check:
        plan, _ = check_experiment(cfg, data_root=args.data, models_root=args.models, full=args.full)
        print(f"{args.experiment}: {plan}; output: {args.out or cfg.output_dir}")
        return 0
    check_engine(cfg, args.engine or cfg.engine.kind)  # before a Ray engine starts, not after
    result = run_experiment(cfg, out=args.out, data_root=args.data, models_root=args.models, cache_root=args.cache,
                            threads=args.threads,
                            progress=False if args.no_progress else None,
                            engine=engine_from_args(args), full=args.full)
    print(format_summary(result))
    print(f"\nreport: {result.output_dir / 'report.md'}")
    return 0
