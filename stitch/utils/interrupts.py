"""Ctrl-C that is never lost, and a report of where it stopped.

Python turns SIGINT into ``KeyboardInterrupt`` in whatever Python code runs next. When that code is a
callback a C library called (numba compiles its kernels through llvmlite, whose ctypes callbacks print and
drop exceptions), the interrupt is swallowed: the run went on for another stitching pass and ended with exit
status 0. :func:`interruptible` remembers every request, and :func:`checkpoint` (called by every progress
phase line and bar) raises it again, so a dropped interrupt stops the run at the next step; the checkpoints
also record where the run is, for the message an interrupted command prints (:func:`interrupted_at`). A
request still pending after :data:`NOTICE_S` seconds says so, and a second Ctrl-C while one is pending ends the
process at once (exit status 130): every file is written atomically, so what was finished is kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["interruptible", "checkpoint", "interrupted_at", "NOTICE_S"]

#: seconds a Ctrl-C may stay pending (a library busy in native code) before the user is told
NOTICE_S = 2.0

_requested = threading.Event()
_where: list[str] = []  # the latest step a checkpoint named inside interruptible()
_on_force: list[Callable[[], None]] = []


def _handler(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set():  # the second Ctrl-C while the first is still on its way: stop now
        for report in _on_force:
            report()
        sys.stderr.flush()
        os._exit(130)
    _requested.set()
    timer = threading.Timer(NOTICE_S, _notice)
    timer.daemon = True
    timer.start()
    raise KeyboardInterrupt


def _notice() -> None:
    if _requested.is_set():
        print("stitch: stopping at the end of the current step (a library is busy); press Ctrl-C again to stop now",
              file=sys.stderr, flush=True)


@contextlib.contextmanager
def interruptible(on_force: Callable[[], None] | None = None) -> Iterator[None]:
    """Within the block, Ctrl-C raises ``KeyboardInterrupt`` as usual and is also remembered for
    :func:`checkpoint`; a second Ctrl-C while the first is pending calls ``on_force`` (the command's last
    words) and exits with status 130. Outside the main thread, or where someone else handles SIGINT (a
    notebook kernel, a parent that ignores it), nothing changes.

    Example:
        >>> with interruptible():
        ...     checkpoint()  # no Ctrl-C pressed: returns
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _requested.clear()
    _where.clear()
    _on_force[:] = [on_force] if on_force is not None else []
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _requested.clear()
        _on_force.clear()


def checkpoint(where: str | None = None) -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed inside :func:`interruptible` since the last
    checkpoint, whether or not its exception reached this far; then remember ``where`` (the step starting).

    Example:
        >>> checkpoint("encoding 1/2: minilm")  # no Ctrl-C pressed: returns
    """
    if _requested.is_set():
        _requested.clear()
        raise KeyboardInterrupt
    if where is not None:
        _where[:] = [where]


def interrupted_at() -> str | None:
    """The step the latest :func:`checkpoint` named inside the current (or last) :func:`interruptible` block.

    Example:
        >>> with interruptible():
        ...     checkpoint("space 2/5 (relative:cosine), 6/20 done")
        >>> interrupted_at()
        'space 2/5 (relative:cosine), 6/20 done'
    """
    return _where[0] if _where else None
