"""The flags long-running commands share: ``--engine local|ray``, ``--ray-address`` and ``--threads``."""

from __future__ import annotations

import argparse
from typing import Any


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine`` and ``--ray-address`` to a command."""
    parser.add_argument("--engine", choices=("local", "ray"), default=None,
                        help="where the work runs: this process (default; an experiment file's [engine] table "
                        "may say otherwise) or a Ray cluster (pip install latent-stitch[ray])")
    parser.add_argument("--ray-address", metavar="ADDR", default=None,
                        help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray on this machine's CPUs)")


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N``: CPU threads for everything the command runs (``stitch.cli`` applies it)."""
    parser.add_argument("--threads", type=_positive_int, metavar="N", default=None,
                        help="CPU threads for torch and the BLAS / OpenMP / numba pools: training, decoders, encoding, "
                        "kernels (default: the free cores, i.e. the usable cores minus the tasks running elsewhere; an "
                        "experiment file's 'threads' wins over the default)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number of threads, got {text!r}")
    return value


def engine_from_args(args: argparse.Namespace) -> Any:
    """The engine the flags name (started or joined now), or ``None`` without ``--engine`` (the caller's
    default: the local engine, or an experiment file's ``[engine]`` table)."""
    if getattr(args, "engine", None) is None:
        return None
    from stitch.engine import create_engine

    return create_engine(args.engine, address=args.ray_address)
