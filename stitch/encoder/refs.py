"""Encoder and dataset references as users type them: ``name?option=value&option=value`` (CLI flags) or tables
(experiment and audit files), and local model weights named under the models root (:mod:`stitch.utils.roots`).

Example:
    >>> parse_encoder("minilm?layer=3&normalize=false")
    ('minilm', {'layer': 3, 'normalize': False})
    >>> format_encoder("minilm", {"layer": 3})
    'minilm?layer=3'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from stitch.utils.configfiles import StrictModel
from stitch.utils.roots import models_root

__all__ = ["parse_encoder", "parse_value", "format_encoder", "local_model", "refuse_hub_fallback", "EncoderRef",
           "DatasetRef", "hub_cached", "hub_unreachable"]


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


def local_model(name: str, *, file_suffix: str | None = None) -> Path | None:
    """Where the models root (:func:`stitch.utils.roots.models_root`) holds model ``name``:
    ``<root>/<name><file_suffix>`` (a weights file, e.g.
    ``tf_efficientnet_lite0.safetensors``) or ``<root>/<name>/`` (a model folder); ``None`` when neither exists
    or no root is set. Lets experiment files say ``timm:tf_efficientnet_lite0`` and ``--models ../shared/models``
    instead of a path.

    Example:
        >>> import tempfile, pathlib
        >>> from stitch.utils.roots import using_models_root
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "net.safetensors").write_bytes(b"")
        >>> with using_models_root(d):
        ...     local_model("net", file_suffix=".safetensors").name, local_model("other")
        ('net.safetensors', None)
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


def refuse_hub_fallback(name: str, expected: Sequence[str], root: Path | None) -> None:
    """Raise ``FileNotFoundError`` at once, naming where model ``name`` was looked for (``expected``: paths under
    the models root), when a models ``root`` was in effect when the encoder was built, or the hub is switched
    off (``HF_HUB_OFFLINE``); otherwise return and let the caller download. Without this the hub client retries
    for about 40 s before failing offline.

    Example:
        >>> refuse_hub_fallback("net", ["net.safetensors"], Path("/no/such/root"))
        Traceback (most recent call last):
        ...
        FileNotFoundError: model 'net' is not in the models root /no/such/root (it does not exist): looked for /no/such/root/net.safetensors; put it there, or unset the models root (--models / $STITCH_MODELS) to download it from the hub
    """
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if root is None:
        if offline:
            raise FileNotFoundError(f"model {name!r} is not a local folder or file and the hub is off "
                                    f"(HF_HUB_OFFLINE); pass a models root holding {' or '.join(expected)} "
                                    "(--models DIR or $STITCH_MODELS)")
        return
    state = "" if root.is_dir() else " (it is not a directory)" if root.exists() else " (it does not exist)"
    raise FileNotFoundError(f"model {name!r} is not in the models root {root}{state}: looked for "
                            f"{', '.join(str(root / e) for e in expected)}; put it there, or unset the models root "
                            "(--models / $STITCH_MODELS) to download it from the hub")


def hub_cached(repo_id: str, filename: str = "config.json", revision: str | None = None) -> bool:
    """Whether the Hugging Face hub cache on this machine already holds ``filename`` of ``repo_id`` (a download
    made once, online): then loading works offline.

    Example:
        >>> hub_cached("no-such-user/no-such-model-3f2a")
        False
    """
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(repo_id, filename, revision=revision), str)


def hub_unreachable(timeout: float = 5.0) -> str | None:
    """Why the Hugging Face hub (``$HF_ENDPOINT``, else huggingface.co) cannot be reached now, or ``None`` when it
    answers. Any HTTP answer counts as reachable; a DNS failure, a refused connection or a timeout does not.

    Example:
        >>> os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: nothing listens there
        >>> hub_unreachable(timeout=1.0).startswith("http://127.0.0.1:9 ")
        True
        >>> del os.environ["HF_ENDPOINT"]
    """
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        with urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{endpoint} does not answer ({reason})"


class EncoderRef(StrictModel):
    """An encoder as files name it: a registry name, options, and an optional label for tables.

    The CLI's ``"name?key=value&..."`` string is accepted wherever a table is, so experiment files, audit files
    and ``--encoders`` share one syntax.

    Example:
        >>> ref = EncoderRef.model_validate("hf:bert?layer=3")
        >>> ref.name, ref.options, ref.reference, ref.display
        ('hf:bert', {'layer': 3}, 'hf:bert?layer=3', 'hf:bert?layer=3')
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            name, options = parse_encoder(data)
            return {"name": name, "options": options}
        return data

    @property
    def reference(self) -> str:
        """``name?key=value&...`` (what :func:`parse_encoder` reads back)."""
        return format_encoder(self.name, self.options)

    @property
    def display(self) -> str:
        """The label used in tables (default: the reference)."""
        return self.label or self.reference


class DatasetRef(StrictModel):
    """A dataset by registry name, with loader options: ``{ name = "text-folder", options = { path = "docs" } }`` or
    the CLI's ``"text-folder?path=docs"``.

    Example:
        >>> DatasetRef.model_validate("trec?label=fine")
        DatasetRef(name='trec', options={'label': 'fine'})
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            name, options = parse_encoder(data)  # the same `name?key=value` syntax as encoders
            return {"name": name, "options": options}
        return data
