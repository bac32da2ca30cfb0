"""The ``stitch`` command line.

Each sub-command lives in its own module of this package and exposes ``add_parser(subparsers)``; the
module imports only what it needs to build its parser, so ``stitch --help`` stays fast. Errors users can
fix (bad names, bad files, bad configs) print one line ``stitch: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

__all__ = ["main"]

# Sub-command modules, in the order ``stitch --help`` lists them.
_COMMANDS = ("plugins", "encoders", "datasets", "registries", "cache", "run", "demo", "audit")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one sub-parser per command module)."""
    from stitch import __version__

    parser = argparse.ArgumentParser(
        prog="stitch", description="latent-stitch: zero-shot model stitching and latent-space audits."
    )
    parser.add_argument("--version", action="version", version=f"latent-stitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"stitch.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"stitch.cli.{name}":
                raise
            continue  # command not built yet in this checkout
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stitch`` console script; returns the exit code.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
    """
    from stitch.errors import StitchError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    with warnings.catch_warnings():  # restores showwarning, so in-process callers keep theirs
        warnings.showwarning = _one_line_warning
        try:
            return int(args.func(args) or 0)
        except (StitchError, ValueError, LookupError, TypeError, FileNotFoundError, NotADirectoryError) as exc:
            print(f"stitch: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("stitch: interrupted", file=sys.stderr)
            return 130


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    # On the command line a warning is one line, like errors; the source line Python adds means nothing to users.
    print(f"stitch: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
