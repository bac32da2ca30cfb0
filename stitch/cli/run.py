"""``stitch run EXPERIMENT.toml``: run a zero-shot stitching experiment from a file (TOML, YAML or JSON).

The file is validated completely before any work starts (``--check`` stops there). Results go to the
file's ``output`` (or ``runs/<name>``; ``--out`` overrides): ``results.json``, ``results.csv``, one heatmap
per space, ``stitched_bars.png`` and ``report.md``. Re-running the same command reuses trained encoders,
the latent cache and finished matrix rows, so an interrupted run resumes.

Examples::

    stitch run examples/digits.toml
    stitch run examples/trec.toml --data ../shared/data      # data directory (default: $STITCH_DATA)
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch run`` to the top-level parser."""
    p = subparsers.add_parser(
        "run", help="run a stitching experiment from a TOML/YAML file",
        description="Train a decoder on every encoder's latent space and measure it zero-shot on every other "
        "encoder's space, for each space in the file; write the matrices and a report.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__,
    )
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment file (.toml, .yaml, .yml or .json)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: the file's 'output' or runs/<name>)")
    p.add_argument("--data", metavar="DIR", help="directory holding the dataset's files (default: $STITCH_DATA)")
    p.add_argument("--check", action="store_true", help="validate the file and print the plan; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from stitch.experiment import load_experiment, run_experiment
    from stitch.experiment.report import format_summary

    cfg = load_experiment(args.experiment)
    if args.check:
        cells = len(cfg.spaces) * len(cfg.seeds) * len(cfg.encoders) ** 2
        print(f"{args.experiment}: valid. {len(cfg.encoders)} encoders x {len(cfg.spaces)} spaces x "
              f"{len(cfg.seeds)} seed(s) = {cells} cells on {cfg.dataset.name!r}; output: {args.out or cfg.output_dir}")
        return 0
    result = run_experiment(cfg, output=args.out, data_root=args.data, progress=False if args.no_progress else None)
    print(format_summary(result))
    print(f"\nreport: {result.output_dir / 'report.md'}")
    return 0
