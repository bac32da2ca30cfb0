"""Where long-running work runs: this process (the default) or a Ray cluster.

The three expensive loops — encoding a dataset with many encoders, the stitching matrix's decoders and an
audit's (pair, metric) cells — are written as pure functions of their inputs
(:meth:`LatentCache.encode <stitch.encoder.cache.LatentCache.encode>` with a ``run`` hook,
:func:`~stitch.experiment.matrix.compute_row`, :func:`~stitch.audits.compare.compute_cell`). The local
engine calls them in order; :class:`RayEngine` (``pip install latent-stitch[ray]``) runs them as Ray tasks
and actors and hands every result back to the same cache entry, ``cells.jsonl`` or audit matrix, so a run
can start on one engine and resume on the other, and the numbers do not depend on the engine.

Example:
    >>> create_engine("local") is None
    True
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENGINES", "create_engine", "EngineOptions"]

ENGINES = ("local", "ray")

from stitch.engine.options import EngineOptions  # noqa: E402  (a light pydantic model, no Ray import)


def create_engine(kind: str = "local", **options: Any) -> Any:
    """The engine ``kind`` names: ``None`` for ``"local"`` (work runs here), a started :class:`RayEngine` for ``"ray"``.

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
        return None
    from stitch.engine.ray_engine import RayEngine

    return RayEngine(EngineOptions(kind="ray", **options))
