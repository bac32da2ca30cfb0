"""Progress for long runs: one line per phase and tqdm bars, on stderr, only when someone is watching.

``enabled=None`` everywhere means "when stderr is a terminal": a run piped to a file or in CI stays quiet
unless asked, ``enabled=False`` (``--no-progress``) always silences it. Bars appear after one second
(tqdm's ``delay``), so quick steps stay silent; a terminal that reports a size of 0 (some ptys and IDE
consoles, where tqdm would draw nothing) gets an 80-column bar.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_bar", "phase", "watching", "short_label"]


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


def watching(enabled: bool | None) -> bool:
    """Whether progress output is on: ``enabled``, or (``None``) whether stderr is a terminal.

    Example:
        >>> watching(False), watching(True)
        (False, True)
    """
    if enabled is None:
        return sys.stderr.isatty()
    return bool(enabled)


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
    if not watching(enabled):
        yield _Silent()
        return
    from tqdm.auto import tqdm

    # whole counts (unit_scale would print 32.0/500), and a description that leaves room for the bar
    with tqdm(total=total, desc=short_label(desc), unit=unit, delay=1.0, leave=False, file=sys.stderr,
              **_terminal_size()) as bar:
        yield bar


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
    """Print one phase line (``stitch: training encoder 2/4: resnet-s1``) on stderr when progress is on.

    Example:
        >>> phase("encoding 1/2: minilm", enabled=False)
    """
    if watching(enabled):
        print(f"stitch: {message}", file=sys.stderr, flush=True)
