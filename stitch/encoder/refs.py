"""Encoder references as users type them: ``name?option=value&option=value`` (CLI flags, audit files).

Example:
    >>> parse_encoder("minilm?layer=3&normalize=false")
    ('minilm', {'layer': 3, 'normalize': False})
    >>> format_encoder("minilm", {"layer": 3})
    'minilm?layer=3'
"""

from __future__ import annotations

from typing import Any

__all__ = ["parse_encoder", "parse_value", "format_encoder"]


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
