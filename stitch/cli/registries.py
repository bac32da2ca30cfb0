"""``stitch <table> list|show`` for the core's registries: similarities, anchors, metrics, aggregations,
translators, decoders, spaces, protocols.

The tables come from :data:`stitch.utils.names.CORE_TABLES`, the same list the plugin host fills.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stitch.utils.names import CORE_TABLES

# command -> table key
_COMMANDS = {"similarities": "similarities", "anchors": "anchor strategies", "metrics": "metrics",
             "aggregations": "aggregations", "translators": "translators", "decoders": "decoders",
             "spaces": "spaces", "protocols": "protocols"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add one ``stitch <table>`` command (``list`` and ``show``) per core table."""
    for command, key in _COMMANDS.items():
        what = CORE_TABLES[key].what
        p = subparsers.add_parser(command, help=f"list or show {what}", description=f"Registered {what}.")
        p.set_defaults(func=lambda args, p=p: p.print_help())
        sub = p.add_subparsers(dest="action", metavar="ACTION")
        ls = sub.add_parser("list", help=f"table of {what} matching PATTERN",
                            description=f"List {what} whose name matches PATTERN (shell wildcards), with the "
                            "plugin that registered each ('builtin' for the core).")
        ls.add_argument("pattern", nargs="?", default="*", help="shell wildcards (default: all)")
        ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
        ls.set_defaults(func=run_list, table=command)
        show = sub.add_parser("show", help=f"everything about one of the {what} (JSON)",
                              description=f"Print what is registered as NAME among the {what}, as JSON.")
        show.add_argument("name", help="name, alias or plugin:name")
        show.set_defaults(func=run_show, table=command)


def _records(command: str, pattern: str) -> list[dict[str, Any]]:
    table = CORE_TABLES[_COMMANDS[command]].table()
    rows = [{"name": e.name, "plugin": e.source, "aliases": list(e.aliases), "description": e.description}
            for e in table.entries(pattern)]
    if command == "metrics":
        from stitch.metrics import describe_metrics

        decl = {(d["name"], d["source"]): d for d in describe_metrics(pattern)}
        rows = [{**decl[(r["name"], r["plugin"])], **r} for r in rows]
    if command == "similarities":
        from stitch.core.invariances import CENTERINGS

        for r in rows:
            sim = table.get(f"{r['plugin']}:{r['name']}" if r["plugin"] != "builtin" else r["name"])
            r["invariances"] = {str(c): sorted(sim.invariances[c]) for c in CENTERINGS}
    return rows


def _plain(text: str) -> str:
    """A docstring line as plain text for the terminal: no reStructuredText roles or literals, norms as ‖·‖
    (a markdown table would print ``|`` escaped)."""
    import re

    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "").replace("||", "‖")


def run_list(args: argparse.Namespace) -> int:
    from stitch.utils.plots import markdown_table

    rows = _records(args.table, args.pattern)
    what = CORE_TABLES[_COMMANDS[args.table]].what
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print(f"no {what} match {args.pattern!r}", file=sys.stderr)
    elif args.table == "metrics":
        cells = [[d["name"], d["plugin"], d["kind"], f"[{d['range'][0]:.3g}, {d['range'][1]:.3g}]",
                  "yes" if d["symmetric"] else "no", "yes" if d["needs_labels"] else "no",
                  ", ".join(d["invariances"]) or "-",
                  _plain(d["description"]) + (f" Caveat: {d['caveat']}." if d.get("caveat") else "")] for d in rows]
        print(markdown_table(["name", "plugin", "kind", "range", "symmetric", "labels", "invariances",
                              "description"], cells))
        from stitch.metrics import UNAVAILABLE_MEASURES

        print("\nNot provided (they need libraries latent-stitch does not use):")
        for name, why in UNAVAILABLE_MEASURES.items():
            print(f"  {name}: {why}")
    else:
        cells = [[r["name"], r["plugin"], ", ".join(r["aliases"]) or "-", _plain(r["description"])] for r in rows]
        print(markdown_table(["name", "plugin", "aliases", "description"], cells))
    return 0


def run_show(args: argparse.Namespace) -> int:
    table = CORE_TABLES[_COMMANDS[args.table]].table()
    entry = table.entry(args.name)  # unknown: a one-line error with close matches
    record = next(r for r in _records(args.table, "*") if r["name"] == entry.name and r["plugin"] == entry.source)
    print(json.dumps(record, indent=2, default=str))
    return 0
