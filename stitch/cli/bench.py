"""``stitch bench``: run a reference suite and print its table beside the published numbers.

Examples::

    stitch bench --list
    stitch bench --suite lst --data ../shared/data --models ../shared/models --out runs/bench
    stitch bench --suite bricks --pairs 'trec*' --seeds 0,1
    stitch bench --suite relreps --engine ray --fresh
"""

from __future__ import annotations

import argparse
import json

from stitch.cli.cache import add_cache_flag
from stitch.cli.engine import add_engine_flags, add_threads_flag, engine_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch bench``."""
    from stitch.cli import add_models_flag

    p = subparsers.add_parser(
        "bench", help="run a reference suite: ours beside the papers' published numbers",
        description="Run a reference suite (the papers' protocols on the model pairs available here) and print "
        "its table: stitched / native accuracy per method, the noise floor over anchor draws, the published ratio "
        "and the gap to it, time per row. Latents are cached once per model and shared by every suite.")
    p.add_argument("--suite", metavar="NAME", help="the suite to run (see --list)")
    p.add_argument("--list", action="store_true", help="list the registered suites (plugins' included) and exit")
    p.add_argument("--pairs", metavar="PATTERN,...", help="run only the pairs whose name matches (shell wildcards)")
    p.add_argument("--encoders", metavar="A,B", help="run the suite on these two encoders instead of its own pairs "
                   "(with --dataset; options after '?', as everywhere)")
    p.add_argument("--dataset", metavar="NAME", help="the dataset of --encoders (a labelled, registered dataset)")
    p.add_argument("--seeds", metavar="S,...", default="0,1,2", help="anchor draws per row (default: 0,1,2)")
    p.add_argument("--anchors", metavar="N,...", help="anchor counts (default: 300; with --full, 300 and 1000)")
    p.add_argument("--full", action="store_true", help="larger subsets and 1,000 anchors as well as 300")
    p.add_argument("--data", metavar="DIR", help="directory holding the datasets' files (default: $STITCH_DATA)")
    p.add_argument("--out", metavar="DIR", help="also write <suite>.txt, .csv, .json and .png there")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of the table")
    p.add_argument("--fresh", action="store_true", help="recompute every anchor draw (by default draws stored by "
                   "earlier runs with the same data, settings and method code are read back: a changed method "
                   "recomputes only its rows)")
    p.add_argument("--no-progress", action="store_true", help="no phase lines or progress bars")
    add_models_flag(p)
    add_cache_flag(p)
    add_threads_flag(p)
    add_engine_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command."""
    from stitch.bench import SUITES, BenchContext, run_suite

    if args.list:
        for entry in SUITES.entries():
            source = "" if entry.source == "builtin" else f" (plugin {entry.source})"
            print(f"{entry.name}{source}: {entry.description}")
        return 0
    if not args.suite:
        raise ValueError("no suite: pass --suite NAME (one of " + ", ".join(SUITES.names()) +
                         "; `stitch bench --list` describes them)")
    seeds = _numbers(args.seeds, "--seeds", minimum=0)
    anchors = _numbers(args.anchors, "--anchors", minimum=2) if args.anchors else None
    pairs = tuple(p.strip() for p in args.pairs.split(",") if p.strip()) if args.pairs else None
    user_pairs = ()
    if args.encoders or args.dataset:
        if not (args.encoders and args.dataset):
            raise ValueError("--encoders and --dataset go together: name two encoders and the dataset they share, "
                             "e.g. --encoders minilm,hf:paraphrase-MiniLM-L3-v2 --dataset trec")
        from stitch.bench.pairs import user_pair

        user_pairs = (user_pair(args.dataset, [e.strip() for e in args.encoders.split(",") if e.strip()]),)
    context = BenchContext(data_root=args.data, models_root=args.models, cache_root=args.cache, full=args.full,
                           seeds=seeds, anchors=anchors, pairs=pairs, user_pairs=user_pairs,
                           progress=False if args.no_progress else None, engine=engine_from_args(args),
                           reuse=not args.fresh)
    result = run_suite(args.suite, context)
    if not result.rows:
        raise LookupError(f"suite {args.suite!r} ran no pair: --pairs {args.pairs!r} matches none of its pairs")
    print(json.dumps(result.to_json(), indent=2) if args.json else result.summary())
    if args.out:
        paths = result.write(args.out)
        if not args.json:
            print(f"\nwritten: {', '.join(str(p) for p in paths)}")
    return 0


def _numbers(text: str, flag: str, *, minimum: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < minimum:
        raise ValueError(f"{flag} takes comma-separated whole numbers of at least {minimum}, got {text!r}")
    return values
