"""``stitch cache list|clear [PATTERN]``: inspect and empty the latent cache."""

from __future__ import annotations

import argparse
import json
import sys


def add_cache_flag(parser: argparse.ArgumentParser) -> None:
    """``--cache DIR``: the latent cache root, the same flag on every command that reads or writes it."""
    parser.add_argument("--cache", metavar="DIR", default=None,
                        help="latent cache directory (default: $STITCH_CACHE or ~/.cache/latent-stitch)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch cache`` to the top-level parser."""
    p = subparsers.add_parser(
        "cache",
        help="list or clear cached latents",
        description="Cached encoder outputs live in $STITCH_CACHE (default ~/.cache/latent-stitch)/latents. "
        "PATTERN (shell wildcards) matches an entry's encoder name, dataset name or key.",
    )
    add_cache_flag(p)
    p.add_argument("--root", dest="cache", help=argparse.SUPPRESS)  # deprecated spelling of --cache
    sub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    ls = sub.add_parser("list", help="list entries (newest first)")
    ls.add_argument("pattern", nargs="?", default="*", help="shell wildcards (default: all)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run_list)
    clear = sub.add_parser("clear", help="delete entries")
    clear.add_argument("pattern", nargs="?", default="*", help="shell wildcards (default: all, damaged ones too)")
    clear.set_defaults(func=run_clear)
    p.set_defaults(func=run_list, pattern="*", json=False)


def run_list(args: argparse.Namespace) -> int:
    from stitch.encoder.cache import LatentCache
    from stitch.utils.plots import markdown_table

    cache = LatentCache(args.cache)
    entries = cache.list(args.pattern)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no cached latents matching {args.pattern!r} in {cache.directory}", file=sys.stderr)
        return 0
    rows = [[e.encoder, e.dataset, e.split or "(all)", f"{e.shape[0]}x{e.shape[1]}", f"{e.size_bytes / 1e6:.2f}",
             e.created, e.key[:12]] for e in entries]
    print(markdown_table(["encoder", "dataset", "split", "shape", "MB", "created", "key"], rows))
    total = sum(e.size_bytes for e in entries) / 1e6
    print(f"\n{len(entries)} entries, {total:.2f} MB in {cache.directory}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from stitch.encoder.cache import LatentCache

    cache = LatentCache(args.cache)
    n = cache.clear(args.pattern)
    print(f"removed {n} cached entr{'y' if n == 1 else 'ies'} matching {args.pattern!r} from {cache.directory}")
    return 0
