"""``stitch datasets list|show``: the registered dataset loaders."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch datasets`` (``list``, ``show``) to the top-level parser."""
    p = subparsers.add_parser("datasets", help="list datasets or show one dataset",
                              description="Registered dataset loaders.")
    p.set_defaults(func=lambda args: p.print_help())
    sub = p.add_subparsers(dest="action", metavar="ACTION")

    ls = sub.add_parser("list", help="table of datasets matching PATTERN",
                        description="List registered datasets whose name matches PATTERN (shell wildcards).")
    ls.add_argument("pattern", nargs="?", default="*", help="shell wildcards (default: all)")
    ls.add_argument("--modality", metavar="M", help="only datasets of this modality")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run_list)

    show = sub.add_parser("show", help="what is known about one dataset (JSON)",
                          description="Print dataset NAME's modality, description and plugin as JSON; with "
                          "--load, also load it and add its size, classes and splits.")
    show.add_argument("name", help="dataset name or plugin:name")
    show.add_argument("--load", action="store_true", help="load the dataset and summarise its content")
    show.add_argument("--data", metavar="DIR", dest="root",
                      help="directory holding the dataset's files (default: $STITCH_DATA)")
    show.add_argument("--root", dest="root", help=argparse.SUPPRESS)  # earlier spelling of --data
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    from stitch.registry import DATASETS
    from stitch.utils.plots import markdown_table

    infos = [e.obj for e in DATASETS.entries(args.pattern) if args.modality is None or e.obj.modality == args.modality]
    if args.json:
        print(json.dumps([d.to_dict() for d in infos], indent=2))
        return 0
    if not infos:
        print(f"no datasets match {args.pattern!r}; run `stitch plugins` to see what is installed", file=sys.stderr)
        return 0
    print(markdown_table(["name", "modality", "plugin", "description"],
                         [[d.name, d.modality, d.plugin, d.description] for d in infos]))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from stitch.plugins import get_dataset_info, load_dataset

    out = get_dataset_info(args.name).to_dict()
    if args.load:
        ds = load_dataset(args.name, data_root=args.root)
        out.update(
            samples=len(ds),
            classes=list(ds.class_names),
            splits={k: len(v) for k, v in ds.splits.items()},
            transductive=ds.transductive,
            content_hash=ds.content_hash(),
        )
    print(json.dumps(out, indent=2))
    return 0
