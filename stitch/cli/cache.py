"""``stitch cache list [PATTERN]`` and ``stitch cache clear [PATTERN]``: inspect and empty the latent cache."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch cache`` to the top-level parser."""
    p = subparsers.add_parser(
        "cache",
        help="list or clear cached latents",
        description="Cached encoder outputs live in $STITCH_CACHE (default ~/.cache/latent-stitch)/latents. "
        "PATTERN (shell wildcards) matches an entry's encoder name, dataset name or key.",
    )
    p.add_argument("--root", default=None, help="cache directory (default: $STITCH_CACHE or ~/.cache/latent-stitch)")
    sub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    ls = sub.add_parser("list", help="list entries (newest first)")
    ls.add_argument("pattern", nargs="?", default="*")
    ls.set_defaults(func=run_list)
    clear = sub.add_parser("clear", help="delete entries")
    clear.add_argument("pattern", nargs="?", default="*")
    clear.set_defaults(func=run_clear)
    p.set_defaults(func=run_list, pattern="*")


def run_list(args: argparse.Namespace) -> int:
    from stitch._report import markdown_table
    from stitch.cache import LatentCache

    cache = LatentCache(args.root)
    entries = cache.list(args.pattern)
    if not entries:
        print(f"no cached latents matching {args.pattern!r} in {cache.directory}")
        return 0
    rows = [[e.encoder, e.dataset, e.split or "(all)", f"{e.shape[0]}x{e.shape[1]}", f"{e.size_bytes / 1e6:.2f}",
             e.created, e.key[:12]] for e in entries]
    print(markdown_table(["encoder", "dataset", "split", "shape", "MB", "created", "key"], rows))
    total = sum(e.size_bytes for e in entries) / 1e6
    print(f"\n{len(entries)} entries, {total:.2f} MB in {cache.directory}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from stitch.cache import LatentCache

    cache = LatentCache(args.root)
    n = cache.clear(args.pattern)
    print(f"removed {n} cached entr{'y' if n == 1 else 'ies'} matching {args.pattern!r} from {cache.directory}")
    return 0
