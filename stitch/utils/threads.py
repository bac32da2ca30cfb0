"""Thread settings for a block of work: torch's pool and the BLAS / OpenMP pools under numpy and scipy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["cpu_threads"]


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` CPU threads in torch *and* in the BLAS / OpenMP pools numpy, scipy and
    scikit-learn call (through threadpoolctl), then restore the previous settings.

    Why both: torch's own count leaves OpenBLAS / OpenMP at one thread per core, and on a busy machine
    those pools' threads contend with torch's wherever numpy / scipy work runs inside the block (SVDs,
    assignments, scikit-learn). numba's kernels follow torch's count when they run. ``stitch demo --quick``
    spends its time in torch, so it shows no difference (2 cores, one busy process beside it: 31.7-33.2 s
    wall before, 30.7-39.6 s after, interleaved runs).

    Example:
        >>> import torch
        >>> with cpu_threads(1):
        ...     torch.get_num_threads()
        1
    """
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        torch.set_num_threads(previous)
