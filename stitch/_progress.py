"""A progress bar that appears only when work takes more than a moment and stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_bar"]


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int, desc: str, *, enabled: bool | None = None, unit: str = "sample") -> Iterator[Any]:
    """Yield an object with ``update(n)``: a tqdm bar, or a silent stand-in.

    ``enabled=None`` means "if stderr is a TTY"; the bar shows up only after one second (tqdm's
    ``delay``), so quick calls stay silent. ``enabled=False`` always silences it.

    Example:
        >>> with progress_bar(10, "demo", enabled=False) as bar:
        ...     bar.update(10)
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, delay=1.0, leave=False, file=sys.stderr) as bar:
        yield bar
