"""``stitch plugins``: every discovered plugin as JSON (name, distribution, version, hooks, status, notes)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch plugins`` to the top-level parser."""
    p = subparsers.add_parser(
        "plugins",
        help="list installed plugins and whether they loaded (JSON)",
        description="Print every plugin found in the 'stitch' entry-point group as JSON: name, distribution, "
        "version, hooks it implements, status (ok / broken / disabled) with the error, notes (duplicates, "
        "shadowed built-ins, slow imports), import time, and names that several plugins register (clashes).",
    )
    p.add_argument("pattern", nargs="?", default="*", help="only plugins whose name matches (shell wildcards)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when any plugin is broken")
    p.add_argument("--check", dest="strict", action="store_true", help=argparse.SUPPRESS)  # deprecated: --strict
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    import stitch.registry as registry
    from stitch.plugins import get_plugin, list_plugins

    # The report below says which plugins broke; the load-time warnings would only repeat it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", registry.PluginLoadWarning)
        records = [get_plugin(name) for name in list_plugins(args.pattern)]
        clashes = registry.clashes()
    print(json.dumps({"plugins": [r.to_dict() for r in records], "clashes": clashes}, indent=2))
    return 1 if args.strict and any(r.status == "broken" for r in records) else 0
