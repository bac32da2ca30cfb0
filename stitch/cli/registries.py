"""``stitch similarities|anchors|metrics|aggregations|translators|decoders list``: the core registries."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# command -> (module owning the table, table attribute, what it holds)
_TABLES = {
    "similarities": ("stitch.similarity", "SIMILARITIES", "similarity functions"),
    "anchors": ("stitch.anchors", "ANCHOR_STRATEGIES", "anchor selection strategies"),
    "metrics": ("stitch.metrics", "METRICS", "latent-similarity metrics"),
    "aggregations": ("stitch.product", "AGGREGATIONS", "trainable product-space aggregations"),
    "translators": ("stitch.translate", "TRANSLATORS", "translation methods (translate:<method> spaces)"),
    "decoders": ("stitch.decoders", "DECODERS", "decoders for stitching experiments"),
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add one ``stitch <table>`` command (each with ``list``) per table in ``_TABLES``."""
    for command, (_, _, what) in _TABLES.items():
        p = subparsers.add_parser(command, help=f"list {what}", description=f"Registered {what}.")
        p.set_defaults(func=lambda args, p=p: p.print_help())
        sub = p.add_subparsers(dest="action", metavar="ACTION")
        ls = sub.add_parser("list", help=f"table of {what} matching PATTERN",
                            description=f"List {what} whose name matches PATTERN (shell wildcards), with the "
                            "plugin that registered each ('builtin' for the core).")
        ls.add_argument("pattern", nargs="?", default="*", help="shell wildcards (default: all)")
        ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
        ls.set_defaults(func=run_list, table=command)


def run_list(args: argparse.Namespace) -> int:
    from stitch._report import markdown_table

    module_name, attr, what = _TABLES[args.table]
    table = getattr(importlib.import_module(module_name), attr)
    rows = [{"name": e.name, "plugin": e.source, "aliases": list(e.aliases), "description": e.description}
            for e in table.entries(args.pattern)]
    if args.table == "metrics":
        return _list_metrics(rows, args)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no {what} match {args.pattern!r}", file=sys.stderr)
    else:
        cells = [[r["name"], r["plugin"], ", ".join(r["aliases"]) or "-", r["description"]] for r in rows]
        print(markdown_table(["name", "plugin", "aliases", "description"], cells))
    return 0


def _list_metrics(rows: list[dict[str, object]], args: argparse.Namespace) -> int:
    # Metrics carry declarations (kind, range, invariances) that decide how to read an audit: show them.
    from stitch._report import markdown_table
    from stitch.metrics import describe_metrics

    decl = {(d["name"], d["source"]): d for d in describe_metrics(args.pattern)}
    full = [{**decl[(r["name"], r["plugin"])], **r} for r in rows]
    if args.json:
        print(json.dumps(full, indent=2, default=str))
    elif not full:
        print(f"no latent-similarity metrics match {args.pattern!r}", file=sys.stderr)
    else:
        cells = [[d["name"], d["plugin"], d["kind"], f"[{d['range'][0]:.3g}, {d['range'][1]:.3g}]",
                  "yes" if d["symmetric"] else "no", "yes" if d["needs_labels"] else "no",
                  ", ".join(d["invariances"]) or "-", d["description"]] for d in full]
        print(markdown_table(["name", "plugin", "kind", "range", "symmetric", "labels", "invariances",
                              "description"], cells))
    return 0
