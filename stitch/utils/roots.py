"""The three roots a user points the library at, resolved in one place each: where datasets' files are
(``data_root=`` / ``--data`` / ``$STITCH_DATA``), where local model weights are (``models_root=`` / ``--models`` /
``$STITCH_MODELS``) and where caches are written (``cache_root=`` / ``--cache`` / ``$STITCH_CACHE``, default
``~/.cache/latent-stitch``). An explicit root always wins over the environment.

The models root is read where encoders are built (adapters resolve ``timm:<model>`` and ``hf:<name>`` at
construction), so an explicit one is put in effect for a block with :func:`using_models_root`: a context
variable, not the process environment, so threads and other runs are not affected.

Example:
    >>> data_root("/data"), cache_root("/tmp/c")
    (PosixPath('/data'), PosixPath('/tmp/c'))
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["data_root", "models_root", "cache_root", "using_models_root"]

_MODELS_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("stitch_models_root", default=None)


def _from(root: str | os.PathLike[str] | None, variable: str) -> Path | None:
    if root is not None and os.fspath(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(variable)
    return Path(env).expanduser() if env else None


def data_root(root: str | os.PathLike[str] | None = None) -> Path | None:
    """``root`` if given, else ``$STITCH_DATA``, else ``None`` (a loader may then download).

    Example:
        >>> data_root("~/d").name
        'd'
    """
    return _from(root, "STITCH_DATA")


def models_root(root: str | os.PathLike[str] | None = None) -> Path | None:
    """``root`` if given, else the one :func:`using_models_root` put in effect, else ``$STITCH_MODELS``, else ``None``.

    Example:
        >>> with using_models_root("/models"):
        ...     models_root()
        PosixPath('/models')
        >>> models_root("/other")
        PosixPath('/other')
    """
    if root is None:
        root = _MODELS_ROOT.get()
    return _from(root, "STITCH_MODELS")


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root`` if given, else ``$STITCH_CACHE``, else ``~/.cache/latent-stitch`` (latents, downloads).

    Example:
        >>> isinstance(cache_root(), Path)
        True
    """
    return _from(root, "STITCH_CACHE") or Path.home() / ".cache" / "latent-stitch"


@contextlib.contextmanager
def using_models_root(root: str | os.PathLike[str] | None) -> Iterator[None]:
    """Encoders built inside the block find local weights under ``root`` (``None``: leave the root as it is).

    Example:
        >>> with using_models_root("/models"):
        ...     models_root()
        PosixPath('/models')
    """
    if root is None:
        yield
        return
    token = _MODELS_ROOT.set(Path(root).expanduser())
    try:
        yield
    finally:
        _MODELS_ROOT.reset(token)
