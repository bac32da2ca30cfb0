"""Configuration files (experiments, audits): one reader for TOML / YAML / JSON, one strict pydantic base, and
validation errors that name every bad field by its path with the fields allowed there.

Example:
    >>> class Box(StrictModel):
    ...     size: int = 1
    ...     label: str = ""
    >>> validate(Box, {"szie": 2, "label": 3}, what="box", source="config")
    Traceback (most recent call last):
    ...
    stitch.errors.ConfigError: invalid box config:
      label: Input should be a valid string
      szie: unknown field (did you mean 'size'?); allowed here: label, size
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from stitch.errors import ConfigError

__all__ = ["StrictModel", "read_table", "validate", "field_path", "ROOT_KEYS", "roots_relative_to"]

#: the keys of experiment and audit files that name directories (relative ones are relative to the file)
ROOT_KEYS = ("data_root", "models_root", "cache_root")

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A frozen pydantic model that refuses unknown fields (so a misspelt key is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a user writes it: ``encoders[0].train.epochs``.

    Example:
        >>> field_path(("encoders", 0, "train", "epochs")), field_path(())
        ('encoders[0].train.epochs', '(top level)')
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "model-")) or part in ("str", "dict[str,any]"):
            continue  # pydantic's validator-name segments mean nothing to a user
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _model_of(annotation: Any) -> Any:
    import typing

    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for inner in typing.get_args(arg):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names the model at ``loc`` (a path into ``root``) accepts."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int) or not isinstance(model, type) or not issubclass(model, BaseModel):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return []
        model = _model_of(info.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return sorted(model.model_fields)


def _message(exc: ValidationError, root: type[BaseModel], what: str, source: str) -> str:
    import difflib

    lines = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _fields_at(root, err["loc"])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "check its spelling"
            msg = f"unknown field ({hint}); allowed here: {', '.join(known)}" if known else f"unknown field ({hint})"
        elif err["type"] == "literal_error":
            msg = f"got {err['input']!r}; {msg[0].lower()}{msg[1:]}"
        lines.append(f"{field_path(err['loc'])}: {msg}")
    return f"invalid {what} {source}:\n  " + "\n  ".join(lines)


def validate(model: type[M], data: Any, *, what: str, source: str = "config") -> M:
    """``data`` (as read from a file) validated into ``model``; a :class:`~stitch.errors.ConfigError` names every
    bad field path and what is allowed there (see the module example)."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid {what} {source}: expected a table/mapping at the top level, got "
                          f"{type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_message(exc, model, what, source)) from None


def roots_relative_to(data: Any, base: str | os.PathLike[str]) -> Any:
    """``data`` (a file's table) with its relative :data:`ROOT_KEYS` (top level, and the old ``dataset.data_root``
    / ``dataset.root``) made relative to ``base``, the file's folder: a file means the same folders from any
    working directory.

    Example:
        >>> roots_relative_to({"models_root": "models", "cache_root": "/abs"}, "/exp")
        {'models_root': '/exp/models', 'cache_root': '/abs'}
    """
    if not isinstance(data, dict):
        return data

    def anchored(table: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        out = dict(table)
        for key in keys:
            value = out.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                out[key] = str(Path(base) / value)
        return out

    data = anchored(data, ROOT_KEYS)
    if isinstance(data.get("dataset"), dict):
        data["dataset"] = anchored(data["dataset"], ("data_root", "root"))
    return data


def _earlier_line(message: str, text: str) -> str:
    """A hint when a parser reports an error at the start of a line: what it tripped on began on the line
    before (an unclosed ``[`` or ``{``, a value cut short), so quote that line too."""
    import re

    found = re.search(r"line (\d+), column 1\b", message)
    lines = text.splitlines()
    if not found or not 1 < int(found.group(1)) <= len(lines) + 1:
        return ""
    before = int(found.group(1)) - 1
    return f"; the problem may be at the end of line {before}: {lines[before - 1].strip()!r}"


def read_table(path: str | os.PathLike[str], *, what: str) -> Any:
    """The contents of a ``.toml``, ``.yaml`` / ``.yml`` or ``.json`` file; errors name the file and the fix.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.toml"
        >>> _ = p.write_text('n = 3\\n')
        >>> read_table(p, what="audit")
        {'n': 3}
        >>> read_table(p.with_suffix(".ini"), what="audit")
        Traceback (most recent call last):
        ...
        FileNotFoundError: audit file '...a.ini' not found; pass the path of an existing .toml, .yaml or .json file
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} file {str(path)!r} is a directory; pass the path of a .toml, .yaml or .json "
                          "file (see examples/)")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative to the working directory {os.getcwd()})"
        raise FileNotFoundError(f"{what} file {str(path)!r} not found{where}; pass the path of an existing .toml, "
                                ".yaml or .json file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        if suffix == ".json":
            import json

            return json.loads(text)
    except Exception as exc:  # TOML/YAML/JSON syntax errors: name the file and keep the parser's position
        raise ConfigError(f"cannot parse {what} file {str(path)!r}: {exc}{_earlier_line(str(exc), text)}") from None
    raise ConfigError(f"cannot read {what} file {str(path)!r}: unknown extension {suffix!r}; expected '.toml', "
                      "'.yaml', '.yml' or '.json'")
