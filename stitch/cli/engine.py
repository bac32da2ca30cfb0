"""The engine flags every long-running command shares: ``--engine local|ray`` and ``--ray-address``."""

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


def engine_from_args(args: argparse.Namespace) -> Any:
    """The engine the flags name (started or joined now), or ``None`` without ``--engine`` (the caller's
    default: the local engine, or an experiment file's ``[engine]`` table)."""
    if getattr(args, "engine", None) is None:
        return None
    from stitch.engine import create_engine

    return create_engine(args.engine, address=args.ray_address)
