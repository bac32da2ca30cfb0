"""Thread settings for a block of work: torch's pool and the BLAS / OpenMP pools under numpy and scipy, and how
many threads a run gets by default (:func:`free_cores`)."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["cpu_threads", "free_cores", "usable_cores", "busy_elsewhere"]


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


def busy_elsewhere(samples: int = 5, interval_s: float = 0.01) -> int:
    """How many other tasks are running on the CPUs now: the kernel's count of runnable tasks
    (``procs_running`` in ``/proc/stat``) minus this process, the median of ``samples`` readings. Tasks waiting
    on disk are not counted (the load average counts them, and read 0.6 on an idle machine here); without
    ``/proc``, the one-minute load average.

    Example:
        >>> busy_elsewhere() >= 0
        True
    """
    readings = []
    for i in range(samples):
        try:
            text = Path("/proc/stat").read_text()
            readings.append(int(next(line.split()[1] for line in text.splitlines()
                                     if line.startswith("procs_running"))))
        except (OSError, StopIteration, ValueError, IndexError):
            break
        if i + 1 < samples:
            time.sleep(interval_s)
    if readings:
        return max(0, sorted(readings)[len(readings) // 2] - 1)
    try:
        return round(os.getloadavg()[0])
    except (AttributeError, OSError):  # no load average on this platform
        return 0


def free_cores() -> int:
    """The usable cores no other task is running on: :func:`usable_cores` minus :func:`busy_elsewhere`, at
    least 1. The default thread count of every long command: on a shared machine, threads beyond the free cores
    only wait on each other, while an idle machine's cores are all used (the demo on 2 idle cores: 33-39 s with 2
    threads against 48-56 s with 1).

    Example:
        >>> 1 <= free_cores() <= usable_cores()
        True
    """
    cores = usable_cores()
    return max(1, min(cores, cores - busy_elsewhere()))


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
