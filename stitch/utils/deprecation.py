"""Deprecated spellings kept for one release: old function names and old keyword names warn, then work.

Example:
    >>> import warnings
    >>> def area(*, width=1, height=1):
    ...     return width * height
    >>> old = deprecated_alias(area, "surface", removed_in="0.3")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old(width=2, height=3), str(caught[0].message)
    (6, 'surface() is deprecated and will be removed in latent-stitch 0.3; use area() instead')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["deprecated_alias", "renamed_kwargs", "folded_kwargs", "REMOVED_IN"]

F = TypeVar("F", bound=Callable[..., Any])

#: The release that drops the spellings deprecated in 0.2.
REMOVED_IN = "0.3"


def deprecated_alias(fn: F, old_name: str, *, removed_in: str = REMOVED_IN) -> F:
    """A copy of ``fn`` under ``old_name`` that emits a :class:`DeprecationWarning` naming ``fn``."""

    @functools.wraps(fn)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old_name}() is deprecated and will be removed in latent-stitch {removed_in}; "
                      f"use {fn.__name__}() instead", DeprecationWarning, stacklevel=2)
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{fn.__module__}.{fn.__name__}` (removed in {removed_in})."
    return alias  # type: ignore[return-value]


def renamed_kwargs(*, removed_in: str = REMOVED_IN, **renames: str) -> Callable[[F], F]:
    """Decorator: accept the old keyword names in ``renames`` (old -> new) with a :class:`DeprecationWarning`.

    Example:
        >>> import warnings
        >>> @renamed_kwargs(output="out")
        ... def run(*, out=None):
        ...     return out
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     run(output="runs/a")
        'runs/a'
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {old}= (deprecated) and {new}=; pass only {new}=")
                warnings.warn(f"{fn.__name__}({old}=...) is deprecated and will be removed in latent-stitch "
                              f"{removed_in}; use {new}=...", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def folded_kwargs(into: str, names: tuple[str, ...], *, key: str | None = None,
                  removed_in: str = REMOVED_IN) -> Callable[[F], F]:
    """Keywords that moved into one settings argument keep working for a release: ``fn(epochs=3)`` becomes
    ``fn(schedule={"epochs": 3})`` (merged into what ``into`` was given) with a :class:`DeprecationWarning`.

    ``into`` may be given as a mapping, a pydantic model (its fields are kept) or, with ``key``, a string that
    names that field (``decoder="mlp"`` is ``{"kind": "mlp"}`` for ``key="kind"``).

    Example:
        >>> import warnings
        >>> @folded_kwargs("schedule", ("epochs",))
        ... def train(*, schedule=None):
        ...     return schedule
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     train(epochs=3), str(caught[0].message)
        ({'epochs': 3}, "train(epochs=...) is deprecated and will be removed in latent-stitch 0.3; pass schedule={'epochs': ...} instead")
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old = {k: kwargs.pop(k) for k in names if k in kwargs}
            if old:
                spelled = ", ".join(f"{k}=..." for k in old)
                wanted = "{" + ", ".join(f"{k!r}: ..." for k in old) + "}"
                warnings.warn(f"{fn.__name__}({spelled}) is deprecated and will be removed in latent-stitch "
                              f"{removed_in}; pass {into}={wanted} instead", DeprecationWarning, stacklevel=2)
                given = kwargs.get(into)
                if given is None:
                    given = {}
                elif isinstance(given, str) and key is not None:
                    given = {key: given}
                elif hasattr(given, "model_dump"):
                    given = given.model_dump(exclude_unset=True)
                kwargs[into] = {**dict(given), **old}
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
