"""``stitch encoders list|show``: the registered encoders, without loading any weights."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch encoders`` (``list``, ``show``) to the top-level parser."""
    p = subparsers.add_parser("encoders", help="list encoders or show one encoder's spec",
                              description="Registered encoders (no weights are loaded).")
    p.set_defaults(func=lambda args: p.print_help())
    sub = p.add_subparsers(dest="action", metavar="ACTION")

    ls = sub.add_parser("list", help="table of encoders matching PATTERN",
                        description="List registered encoders whose name, plugin:name or alias matches PATTERN, "
                        "then the open families that plugins resolve (timm:<model>, hf:<model id or dir>, ...): "
                        "any name of such a family works although it is not listed.")
    ls.add_argument("pattern", nargs="?", default="*", help="shell wildcards, e.g. 'timm*' (default: all)")
    ls.add_argument("--modality", metavar="M", help="only encoders of this modality (image, text, graph, ...)")
    ls.add_argument("--json", action="store_true", help="print the specs as JSON instead of a table")
    ls.set_defaults(func=run_list)

    show = sub.add_parser("show", help="the spec of one encoder (JSON)",
                          description="Print the spec of encoder NAME as JSON (name, aliases, modality, dim, "
                          "description, extra to install, weights, licence, plugin).")
    show.add_argument("name", help="encoder name, alias, plugin:name or prefixed name (timm:resnet18)")
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    from stitch.plugins import get_encoder_family, list_encoder_families
    from stitch.registry import ENCODERS
    from stitch.utils.plots import markdown_table

    specs = [e.obj[0] for e in ENCODERS.entries(args.pattern)
             if args.modality is None or e.obj[0].modality == args.modality]
    families = [get_encoder_family(p.partition(":")[0])
                for p in list_encoder_families(args.pattern, modality=args.modality)]
    if args.json:
        print(json.dumps({"encoders": [s.to_dict() for s in specs], "families": [f.to_dict() for f in families]},
                         indent=2, default=str))
        return 0
    if not specs and not families:
        which = f" of modality {args.modality!r}" if args.modality else ""
        print(f"no encoders{which} match {args.pattern!r}; run `stitch plugins` to see what is installed",
              file=sys.stderr)
        return 0
    missing = [s for s in specs if not s.available]
    if specs:
        rows = [[s.name, s.modality, "?" if s.dim is None else s.dim, s.plugin,
                 (s.extra or "-") + ("" if s.available else " (not installed)"), s.description] for s in specs]
        print(markdown_table(["name", "modality", "dim", "plugin", "extra", "description"], rows))
    if families:
        width = max(len(f.pattern) for f in families)
        print("\nAlso resolved, not listed (any name of these families):" if specs else
              "Resolved, not listed (any name of these families):")
        for f in families:
            hint = "" if not f.extra else f" ({f.install_hint}{'' if f.available else ': not installed'})"
            print(f"  {f.pattern:<{width}}  {f.description}{hint}")
    for extra in sorted({s.extra for s in missing if s.extra}):
        print(f"\nnot installed: encoders of the {extra!r} extra need `pip install latent-stitch[{extra}]`",
              file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from stitch.plugins import get_encoder_spec, get_plugin

    spec = get_encoder_spec(args.name)
    record = spec.to_dict()
    try:
        dist = get_plugin(spec.plugin).distribution if spec.plugin else "latent-stitch"
    except LookupError:
        dist = None
    if dist != "latent-stitch":  # a third-party plugin: its own package, not ours, provides the encoder
        needs = f" (needs {spec.install_hint})" if spec.extra else ""
        record["install"] = (f"pip install {dist}" if dist else
                             f"registered in this process by plugin {spec.plugin!r}") + needs
    print(json.dumps(record, indent=2, default=str))
    return 0
