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

__all__ = ["TINY", "RESOLUTION_ULPS", "MEMORY_BUDGET_BYTES", "rows_per_chunk", "nonzero_scale", "available_memory",
           "check_fits"]

#: relative floor below which a scale or norm counts as zero (of its largest entry)
TINY = 1e-12
#: how many ulps of its dtype a coordinate's spread must span, relative to the largest one, to be standardised
RESOLUTION_ULPS = 16
#: bytes of temporaries a chunked computation may hold at once (relative projections, k-NN blocks, RDMs)
MEMORY_BUDGET_BYTES = 256 * 2**20


def rows_per_chunk(n: int, bytes_per_row: int, *, budget: int = MEMORY_BUDGET_BYTES) -> int:
    """How many of ``n`` rows fit in ``budget`` bytes of temporaries at ``bytes_per_row`` each (at least 1).

    Example:
        >>> rows_per_chunk(10, bytes_per_row=8, budget=32)
        4
    """
    return max(1, min(int(n), int(budget) // max(1, int(bytes_per_row))))


def nonzero_scale(scale: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``scale`` with entries too small to divide by replaced by 1: below ``TINY`` times its largest entry, or,
    for data that came in ``dtype``, below :data:`RESOLUTION_ULPS` of that dtype's epsilon times it.

    A coordinate constant over the reference samples carries no scale; one whose spread is a few float32 ulps
    of the largest coordinate's (all-MiniLM-L6-v2's final LayerNorm leaves three such dimensions, std about
    1e-9 against 0.05) is rounding noise, and standardising it would amplify that noise ~1e7 times into the
    rest. Dividing such a coordinate by 1 keeps it as it is.

    Shapes:
        scale: ``(d,)`` -> ``(d,)``

    Example:
        >>> import torch
        >>> nonzero_scale(torch.tensor([0.0, 0.0])).tolist()
        [1.0, 1.0]
        >>> nonzero_scale(torch.tensor([0.05, 1e-9], dtype=torch.float64), torch.float32).tolist()
        [0.05, 1.0]
    """
    import torch

    relative = TINY if dtype is None or not dtype.is_floating_point else max(TINY, RESOLUTION_ULPS *
                                                                               torch.finfo(dtype).eps)
    floor = relative * scale.max().clamp(min=torch.finfo(scale.dtype).tiny)
    return torch.where(scale > floor, scale, torch.ones_like(scale))


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``; else free physical pages), or
    ``None`` when the platform does not say.

    Example:
        >>> m = available_memory()
        >>> m is None or m > 0
        True
    """
    import os

    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(need: int, what: str, fix: str) -> None:
    """Raise ``MemoryError`` before a computation that needs ``need`` bytes when less is available, saying how
    much it needs, how much there is and ``fix`` (rather than failing inside torch half-way through).

    Example:
        >>> check_fits(1 << 70, "matching 1e10 x 1e10 rows", "match fewer rows")
        Traceback (most recent call last):
        ...
        MemoryError: matching 1e10 x 1e10 rows needs about 1180591620717.4 GB, more than the ... GB available; match fewer rows
    """
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(f"{what} needs about {need / 1e9:.1f} GB, more than the {have / 1e9:.1f} GB available; {fix}")
