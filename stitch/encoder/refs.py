"""Encoder references as users type them: ``name?option=value&option=value`` (CLI flags, audit files), and
local model weights named under a models root (``--models DIR`` / ``$STITCH_MODELS``).

Example:
    >>> parse_encoder("minilm?layer=3&normalize=false")
    ('minilm', {'layer': 3, 'normalize': False})
    >>> format_encoder("minilm", {"layer": 3})
    'minilm?layer=3'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["parse_encoder", "parse_value", "format_encoder", "models_root", "local_model", "using_models_root"]


def parse_value(value: str) -> Any:
    """A CLI value as the JSON-ish type it spells: ``true``/``false``, an int, a float, else the string.

    Example:
        >>> parse_value("3"), parse_value("0.5"), parse_value("True"), parse_value("cls")
        (3, 0.5, True, 'cls')
    """
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_encoder(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name?key=value&key=value"`` into the encoder name and its options (ints, floats, bools parsed).

    Example:
        >>> parse_encoder("hf:bert-base-uncased?layer=3&pooling=cls")
        ('hf:bert-base-uncased', {'layer': 3, 'pooling': 'cls'})
    """
    name, _, query = text.strip().partition("?")
    if not name:
        raise ValueError(f"encoder {text!r} has no name; expected 'name' or 'name?option=value&...'")
    options: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"encoder option {part!r} in {text!r} is not of the form key=value")
        options[key] = parse_value(value)
    return name, options


def format_encoder(name: str, options: dict[str, Any]) -> str:
    """The reference :func:`parse_encoder` reads back as ``(name, options)``.

    Example:
        >>> parse_encoder(format_encoder("hf:x", {"layer": 2, "pooling": "cls"}))
        ('hf:x', {'layer': 2, 'pooling': 'cls'})
    """
    query = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())
    return f"{name}?{query}" if query else name


def models_root() -> Path | None:
    """The directory holding local model weights: ``$STITCH_MODELS`` (set by ``--models DIR``), else ``None``.

    Example:
        >>> import os; os.environ["STITCH_MODELS"] = "/models"; models_root()
        PosixPath('/models')
        >>> del os.environ["STITCH_MODELS"]; models_root() is None
        True
    """
    root = os.environ.get("STITCH_MODELS")
    return Path(root).expanduser() if root else None


def local_model(name: str, *, file_suffix: str | None = None) -> Path | None:
    """Where the models root holds model ``name``: ``<root>/<name><file_suffix>`` (a weights file, e.g.
    ``tf_efficientnet_lite0.safetensors``) or ``<root>/<name>/`` (a model folder); ``None`` when neither exists
    or no root is set. Lets experiment files say ``timm:tf_efficientnet_lite0`` and ``--models ../shared/models``
    instead of a path.

    Example:
        >>> import os, tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "net.safetensors").write_bytes(b"")
        >>> os.environ["STITCH_MODELS"] = str(d)
        >>> local_model("net", file_suffix=".safetensors").name, local_model("other")
        ('net.safetensors', None)
        >>> del os.environ["STITCH_MODELS"]
    """
    root = models_root()
    if root is None or not name:
        return None
    if file_suffix is not None:
        for candidate in (root / f"{name}{file_suffix}", root / name / f"model{file_suffix}"):
            if candidate.is_file():
                return candidate
        return None
    return root / name if (root / name).is_dir() else None


@contextlib.contextmanager
def using_models_root(root: str | os.PathLike[str] | None) -> Iterator[None]:
    """Encoders created inside the block find local weights under ``root`` (``None``: leave the root as it is).

    Example:
        >>> with using_models_root("/models"):
        ...     models_root()
        PosixPath('/models')
    """
    if root is None:
        yield
        return
    previous = os.environ.get("STITCH_MODELS")
    os.environ["STITCH_MODELS"] = os.fspath(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("STITCH_MODELS", None)
        else:
            os.environ["STITCH_MODELS"] = previous
