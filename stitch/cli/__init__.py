"""The ``stitch`` command line.

Each sub-command lives in its own module of this package and exposes ``add_parser(subparsers)``; the
module imports only what it needs to build its parser, so ``stitch --help`` stays fast (it imports neither
torch nor any model library). Every error a user can fix (bad names, bad files, bad options) prints one line
``stitch: error: ...`` and exits 2 — an invalid configuration prints one line per problem, each with its
field path; ``stitch ... | head`` exits quietly; a bare ``stitch`` prints the help and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["main", "build_parser", "plain", "add_models_flag"]

# Sub-command modules, in the order ``stitch --help`` lists them.
_COMMANDS = ("plugins", "encoders", "datasets", "registries", "cache", "encode", "run", "demo", "audit", "pair",
             "bench")

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc):`~?([^`]+)`")


def add_models_flag(parser: argparse.ArgumentParser) -> None:
    """``--models DIR``: where local pretrained weights are looked up, the same flag on every command that builds
    encoders (``timm:<model>`` with ``pretrained=True`` reads ``DIR/<model>.safetensors``, ``hf:<name>`` reads
    ``DIR/<name>/``; default ``$STITCH_MODELS``)."""
    parser.add_argument("--models", metavar="DIR", default=None,
                        help="directory holding local model weights (default: $STITCH_MODELS)")


def plain(text: str | None) -> str:
    """Docstring text for a terminal: Sphinx roles and double backquotes removed.

    Example:
        >>> plain("Use :func:`stitch.audit` with ``n=500``.")
        'Use stitch.audit with n=500.'
    """
    return _ROLE.sub(r"\1", text or "").replace("``", "")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``stitch: error: audit: argument --n: ... (see `stitch audit --help`)``."""

    def error(self, message: str, *, prog: str | None = None) -> NoReturn:
        prog = prog or self.prog
        command = prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        print(f"stitch: error: {where}{message} (see `{prog} --help`)", file=sys.stderr)
        self.exit(2)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:
        # argparse reports leftovers from the top-level parser; name the sub-command they were given to.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            self.error(f"unrecognized arguments: {' '.join(extras)}",
                       prog=f"{self.prog} {command}" if command else None)
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one sub-parser per command module)."""
    from stitch import __version__

    parser = _Parser(
        prog="stitch", description="latent-stitch: zero-shot model stitching and latent-space audits."
    )
    parser.add_argument("--version", action="version", version=f"latent-stitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"stitch.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stitch`` console script; returns the exit code (also for ``--help`` and bad options).

    Example:
        >>> main(["--version"])  # doctest: +SKIP
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe (`stitch ... | head`) surfaces here, not at interpreter exit
    except BrokenPipeError:
        # Python docs, "Note on SIGPIPE": point stdout at devnull so the final flush at exit cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


def _main(argv: Sequence[str] | None) -> int:
    from stitch.errors import ConfigError, StitchError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (already printed as one line)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)  # like argparse tools given no command: usage, exit 2
        return 2
    with warnings.catch_warnings():  # restores showwarning, so in-process callers keep theirs
        warnings.showwarning = _one_line_warning
        from stitch.utils.interrupts import interruptible

        try:
            from stitch.utils.roots import using_models_root

            with interruptible(on_force=_report_interrupt), using_models_root(getattr(args, "models", None)), \
                    _threads(args):
                return int(args.func(args) or 0)
        except BrokenPipeError:
            raise
        except ConfigError as exc:
            # one problem per line, each with its field path: a run-on line hides the second problem
            print(f"stitch: error: {str(exc).strip()}", file=sys.stderr)
            return 2
        except (StitchError, ValueError, LookupError, TypeError, ImportError, OSError) as exc:
            print(f"stitch: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            _report_interrupt()
            return 130


def _threads(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    # long commands (those with --threads) run everything with one thread count: the flag, else the free cores
    if not hasattr(args, "threads"):
        return contextlib.nullcontext()
    from stitch.utils.threads import cpu_threads, free_cores

    return cpu_threads(args.threads or free_cores())


def _report_interrupt() -> None:
    from stitch.utils.interrupts import interrupted_at

    at = interrupted_at()
    print(f"stitch: interrupted{f' at: {at}' if at else ''}. What was finished is kept (trained encoders, cached "
          "latents, finished cells): run the same command again to resume", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        # "[Errno 2] No such file or directory: 'x'" -> "x: no such file or directory"
        return f"{exc.filename}: {exc.strerror[0].lower()}{exc.strerror[1:]}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    # On the command line a warning is one line, like errors; the source line Python adds means nothing to users.
    print(f"stitch: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
