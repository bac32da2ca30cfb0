"""Progress for long runs, on stderr: one line per phase, and the progress of each long step.

In a terminal, steps show tqdm bars (after one second, so quick steps stay silent; a terminal that reports a
size of 0, as some ptys and IDE consoles do, gets an 80-column bar). Elsewhere (a log file, ``nohup``, CI, a
notebook) bars would be carriage-return noise, so a step prints a plain line at most every
:data:`LINE_INTERVAL_S` seconds instead (``stitch: [14:02:31] encode minilm: 3200/5000 samples (64 %, 60 s,
about 34 s left)``), and phase lines carry the time too, so a log says when each step started. ``enabled=False`` (``--no-progress``) silences both; ``enabled=None`` follows
``$STITCH_PROGRESS`` (``bars``, ``lines`` or ``off``; default: bars in a terminal, lines elsewhere).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from typing import Any

from stitch.utils.interrupts import checkpoint

__all__ = ["progress_bar", "phase", "watching", "progress_mode", "short_label", "LINE_INTERVAL_S"]

#: seconds between two progress lines of one step outside a terminal
LINE_INTERVAL_S = 10.0


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


def progress_mode(enabled: bool | None) -> str:
    """``"off"``, ``"bars"`` (tqdm, in a terminal) or ``"lines"`` (plain periodic lines, elsewhere).

    Example:
        >>> progress_mode(False)
        'off'
    """
    if enabled is False:
        return "off"
    where = "bars" if sys.stderr.isatty() else "lines"
    if enabled is True:
        return where
    wanted = os.environ.get("STITCH_PROGRESS", "").strip().lower()
    if wanted in ("0", "off", "false", "no", "none"):
        return "off"
    return wanted if wanted in ("bars", "lines") else where


def watching(enabled: bool | None) -> bool:
    """Whether progress output is on (see :func:`progress_mode`).

    Example:
        >>> watching(False), watching(True)
        (False, True)
    """
    return progress_mode(enabled) != "off"


class _Lines:
    """A step's progress as a plain line every :data:`LINE_INTERVAL_S` seconds (for logs, not terminals)."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.start = self.last = _now()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = _now()
        if now - self.last >= LINE_INTERVAL_S:
            self.last = now
            elapsed = now - self.start
            share = f"{100 * self.n / self.total:.0f} %, " if self.total else ""
            left = f", about {_duration(elapsed * (self.total - self.n) / self.n)} left" \
                if self.total and 0 < self.n < self.total else ""
            print(f"stitch: [{_clock()}] {self.desc}: {self.n}/{self.total} {self.unit}s ({share}{elapsed:.0f} s{left})",
                  file=sys.stderr, flush=True)

    def set_postfix_str(self, s: str) -> None:
        pass


def _now() -> float:
    return time.monotonic()


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _terminal_size() -> dict[str, int]:
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return {}
    if size.columns > 0 and size.lines > 0:
        return {}  # tqdm follows the real size (and resizes)
    cols, rows = shutil.get_terminal_size(fallback=(80, 24))
    return {"ncols": cols or 80, "nrows": rows or 24}


@contextlib.contextmanager
def progress_bar(total: int, desc: str, *, enabled: bool | None = None, unit: str = "sample") -> Iterator[Any]:
    """Yield an object with ``update(n)``: a tqdm bar, or a silent stand-in.

    Example:
        >>> with progress_bar(10, "demo", enabled=False) as bar:
        ...     bar.update(10)
    """
    checkpoint()
    mode = progress_mode(enabled)
    if mode != "bars":
        yield _Silent() if mode == "off" else _Lines(total, short_label(desc), unit)
    else:
        from tqdm.auto import tqdm

        # whole counts (unit_scale would print 32.0/500), and a description that leaves room for the bar
        with tqdm(total=total, desc=short_label(desc), unit=unit, delay=1.0, leave=False, file=sys.stderr,
                  **_terminal_size()) as bar:
            yield bar
    checkpoint()


def short_label(text: str, width: int = 48) -> str:
    """``text`` for a progress bar's description: each path in it cut to its file name (``trained:/a/b/x`` ->
    ``trained:x``), then at most ``width`` characters (a full path pushed the bar off the line).

    Example:
        >>> short_label("encode trained:/home/me/runs/encoders/resnet-s0.safetensors")
        'encode trained:resnet-s0.safetensors'
    """
    def short(word: str) -> str:
        prefix, sep, rest = word.rpartition(":") if "/" in word.split(":", 1)[-1] else ("", "", word)
        return prefix + sep + os.path.basename(rest) if "/" in rest else word

    label = " ".join(short(w) for w in text.split(" "))
    return label if len(label) <= width else label[: width - 1] + "…"


def phase(message: str, *, enabled: bool | None = None) -> None:
    """Print one phase line (``stitch: training encoder 2/4: resnet-s1``; outside a terminal with the time,
    ``stitch: [14:02:31] training encoder 2/4: resnet-s1``) on stderr when progress is on.

    Every phase is also a :func:`~stitch.utils.interrupts.checkpoint`, printed or not: a Ctrl-C a library
    swallowed stops the run here, and an interrupted command names the phase it stopped in.

    Example:
        >>> phase("encoding 1/2: minilm", enabled=False)
    """
    checkpoint(message)
    mode = progress_mode(enabled)
    if mode != "off":  # a log line says when it was written; a terminal shows it as it happens
        print(f"stitch: [{_clock()}] {message}" if mode == "lines" else f"stitch: {message}", file=sys.stderr,
              flush=True)

