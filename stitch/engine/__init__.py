"""Where long-running work runs: this process (the default) or a Ray cluster.

An engine (:class:`Engine`) does two things: encode datasets through the latent cache
(:meth:`~Engine.encode_many`) and map a pure function over tasks (:meth:`~Engine.map`). The stitching matrix
(:func:`~stitch.experiment.matrix.compute_row`) and the audits (:func:`~stitch.audits.compare.cell_value`)
are written as such functions and hand them to the engine, which knows nothing of either.
:class:`LocalEngine` runs them here, in order; :class:`RayEngine` (``pip install latent-stitch[ray]``) runs
them as Ray tasks and actors. Every result goes back to the same cache entry, ``cells.jsonl`` or audit
matrix, so a run can start on one engine and resume on the other, and the numbers do not depend on the engine.

Example:
    >>> create_engine("local").kind
    'local'
"""

from __future__ import annotations

from typing import Any

from stitch.engine.base import Engine, LocalEngine, as_engine
from stitch.engine.options import EngineOptions

__all__ = ["ENGINES", "Engine", "LocalEngine", "as_engine", "create_engine", "EngineOptions"]

#: the engine kinds :func:`create_engine` builds
ENGINES = ("local", "ray")


def create_engine(kind: str = "local", **options: Any) -> Engine:
    """The engine ``kind`` names: a :class:`LocalEngine` for ``"local"``, a started :class:`RayEngine` for ``"ray"``.

    Args:
        kind: ``"local"`` or ``"ray"``.
        options: for Ray, :class:`EngineOptions` fields (``address``, ``num_cpus``, ``num_gpus``,
            ``batch_size``, ``concurrency``, ``max_retries``).

    Example:
        >>> create_engine("spark")
        Traceback (most recent call last):
        ...
        ValueError: unknown engine 'spark'; expected one of 'local', 'ray'.
    """
    from stitch.utils.checks import check_choice

    check_choice(kind, ENGINES, "engine")
    if kind == "local":
        return LocalEngine()
    from stitch.engine.ray_engine import RayEngine

    return RayEngine(EngineOptions(kind="ray", **options))
