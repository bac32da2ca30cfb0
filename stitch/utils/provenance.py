"""What every result and cache entry records about where it came from: library versions and a UTC time.

Example:
    >>> "torch" in library_versions() and "python" in library_versions()
    True
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform

__all__ = ["library_versions", "utc_now"]

#: distributions whose versions shape latents and results
_TRACKED = ("latent-stitch", "torch", "numpy", "scikit-learn", "timm", "transformers", "torch-geometric", "POT")


def library_versions() -> dict[str, str]:
    """Python's version and the installed versions of latent-stitch and the libraries that shape results."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in _TRACKED:
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (``2026-12-02T10:00:00+00:00``).

    Example:
        >>> utc_now().endswith("+00:00")
        True
    """
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
