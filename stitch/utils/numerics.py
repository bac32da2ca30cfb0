"""Numerical constants and helpers shared by the core math and the metrics (one definition each).

* :data:`TINY` — a scale below ``TINY`` times the largest one counts as zero (constant coordinates, null
  singular directions); also the norm floor that keeps a zero vector zero instead of NaN when normalised.
* :data:`MEMORY_BUDGET_BYTES` — what chunked computations (relative projections, k-NN blocks, RDMs,
  cross-products) may allocate in temporaries beyond their inputs and outputs.

Example:
    >>> import torch
    >>> nonzero_scale(torch.tensor([2.0, 0.0])).tolist()
    [2.0, 1.0]
    >>> rows_per_chunk(1_000_000, bytes_per_row=1024) == MEMORY_BUDGET_BYTES // 1024
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["TINY", "MEMORY_BUDGET_BYTES", "rows_per_chunk", "nonzero_scale"]

TINY = 1e-12
MEMORY_BUDGET_BYTES = 256 * 2**20


def rows_per_chunk(n: int, bytes_per_row: int, *, budget: int = MEMORY_BUDGET_BYTES) -> int:
    """How many of ``n`` rows fit in ``budget`` bytes of temporaries at ``bytes_per_row`` each (at least 1).

    Example:
        >>> rows_per_chunk(10, bytes_per_row=8, budget=32)
        4
    """
    return max(1, min(int(n), int(budget) // max(1, int(bytes_per_row))))


def nonzero_scale(scale: torch.Tensor) -> torch.Tensor:
    """``scale`` with entries below ``TINY`` times its largest entry replaced by 1 (nothing to divide by).

    A coordinate constant over the reference samples carries no scale; dividing it by 1 keeps it finite.

    Shapes:
        scale: ``(d,)`` -> ``(d,)``

    Example:
        >>> import torch
        >>> nonzero_scale(torch.tensor([0.0, 0.0])).tolist()
        [1.0, 1.0]
    """
    import torch

    floor = TINY * scale.max().clamp(min=torch.finfo(scale.dtype).tiny)
    return torch.where(scale > floor, scale, torch.ones_like(scale))
