"""Engine settings: the ``[engine]`` table of an experiment file and the keywords of ``create_engine``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EngineOptions", "EncoderResources"]


class EngineOptions(BaseModel):
    """Where work runs and with what resources (Ray only; the local engine ignores them).

    Args:
        kind: ``"local"`` (this process) or ``"ray"``.
        address: a Ray cluster to join (``host:port`` or ``ray://host:port``); ``None`` uses ``$RAY_ADDRESS``,
            else starts a local Ray with this machine's CPUs.
        num_cpus, num_gpus: resources of each encoding actor and of each task.
        batch_size: rows per encoding call (default: each encoder's own).
        concurrency: encoding actors per encoder (each loads the model once).
        max_retries: retries of a failed task (encoding actors are restarted by Ray Data as often as needed).

    Example:
        >>> EngineOptions(kind="ray", concurrency=2).num_cpus
        1.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    num_cpus: float = Field(1.0, gt=0)
    num_gpus: float = Field(0.0, ge=0)
    batch_size: int | None = Field(None, ge=1)
    concurrency: int = Field(1, ge=1)
    max_retries: int = Field(3, ge=0)


class EncoderResources(BaseModel):
    """One encoder's encoding resources on Ray, overriding the ``[engine]`` table's for that encoder only
    (``resources = { num_gpus = 1, concurrency = 2 }`` in an ``[[encoders]]`` entry; unset fields keep the
    engine's). The local engine ignores them.

    Example:
        >>> opts = EngineOptions(kind="ray", concurrency=2).model_copy(update=EncoderResources(num_gpus=1).overrides())
        >>> opts.num_gpus, opts.concurrency
        (1.0, 2)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_cpus: float | None = Field(None, gt=0)
    num_gpus: float | None = Field(None, ge=0)
    batch_size: int | None = Field(None, ge=1)
    concurrency: int | None = Field(None, ge=1)

    def overrides(self) -> dict[str, float | int]:
        """The fields that are set, as ``EngineOptions`` updates."""
        return {k: v for k, v in self.model_dump().items() if v is not None}
