"""Thread settings for a block of work: torch's pool and the BLAS / OpenMP pools under numpy and scipy, and how
many threads a run gets by default (:func:`free_cores`)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["cpu_threads", "free_cores", "usable_cores"]


def usable_cores() -> int:
    """The CPU cores this process may run on: its affinity mask, capped by a cgroup (v2) CPU quota (a container
    given 1.5 CPUs of a 64-core host has 2 usable cores, not 64).

    Example:
        >>> usable_cores() >= 1
        True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def free_cores() -> int:
    """The usable cores other processes are not busy on: :func:`usable_cores` minus the one-minute load average
    (rounded), at least 1. The default thread count of every long command: on a shared machine, threads beyond
    the free cores only wait on each other (the demo on 2 cores with one busy process beside it), while an idle
    machine's cores are all used (the demo, idle: 33-39 s with 2 threads against 48-56 s with 1).

    Example:
        >>> 1 <= free_cores() <= usable_cores()
        True
    """
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        load = 0.0
    return max(1, min(cores, cores - round(load)))


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
