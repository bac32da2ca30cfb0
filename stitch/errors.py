"""Exceptions raised by latent-stitch.

Every error subclasses a builtin (``ValueError``, ``LookupError``, ...) so existing ``except`` clauses keep
working, and every message says what was received, what was expected and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "StitchError",
    "NotFittedError",
    "UnknownNameError",
    "AmbiguousNameError",
    "PluginError",
    "ConfigError",
    "InterpolationWarning",
    "MatchingWarning",
]


class StitchError(Exception):
    """Base class of every latent-stitch error."""


class UnknownNameError(StitchError, LookupError):
    """A registry name that nothing registered; the message lists close matches."""

    def __str__(self) -> str:  # LookupError/KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class AmbiguousNameError(StitchError, LookupError):
    """A bare registry name that two or more plugins registered; qualify it as ``plugin:name``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PluginError(StitchError, RuntimeError):
    """A plugin failed to load while ``STITCH_STRICT_PLUGINS=1``."""


class ConfigError(StitchError, ValueError):
    """An experiment or audit configuration is invalid; the message names the field path."""


class InterpolationWarning(UserWarning):
    """A least-squares map fitted from about as many anchor pairs as dimensions (the interpolation peak), where
    it fits the anchors' noise and generalises worst; ridge, or ``Stitcher(method="auto")``, avoids it."""


class MatchingWarning(UserWarning):
    """A discovered anchor matching failed its stability check (``Matching.reliability`` below
    ``stitch.core.matching.RELIABLE``): most of its matches are likely wrong; give more known pairs or pair the
    anchors."""


def _not_fitted_error() -> type:
    # A subclass of scikit-learn's own NotFittedError, so `except sklearn.exceptions.NotFittedError` and
    # sklearn's estimator checks recognise it; built on first use because importing sklearn takes ~1 s.
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(StitchError, SklearnNotFittedError):
        """An estimator was used before ``fit`` (a subclass of ``sklearn.exceptions.NotFittedError``)."""

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return NotFittedError


def __getattr__(name: str) -> type:
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
