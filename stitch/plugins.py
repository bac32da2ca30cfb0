"""Public lookups of everything plugins register: encoders, datasets, and the plugins themselves.

Lookups follow the rules of :class:`stitch._names.NameTable`: exact name or alias, then ``plugin:name``,
then the ``stitch_resolve_encoder`` hook (``timm:<model>``, ``hf:<id>``, ...), else an error with close
matches. Listing and building an encoder never load weights; they load on the first ``encode``.

Similarity functions, anchor strategies and metrics are looked up through their core modules
(:func:`stitch.get_similarity`, :func:`stitch.list_anchor_strategies`, :func:`stitch.get_metric`).
"""

from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from stitch._names import NameTable, check_options

if TYPE_CHECKING:
    from registry import DatasetLoader, EncoderFamily, PluginRecord
    from stitch.data import Dataset
    from stitch.encoder import Encoder, EncoderSpec

__all__ = [
    "hookimpl",
    "get_encoder",
    "get_encoder_spec",
    "list_encoders",
    "list_encoder_families",
    "get_dataset",
    "get_dataset_info",
    "list_datasets",
    "list_plugins",
]

#: Decorator for plugin hook implementations (``@stitch.hookimpl``).
hookimpl = pluggy.HookimplMarker("stitch")


def _lookup(table: NameTable[Any], name: str) -> Any:
    from stitch.errors import UnknownNameError

    try:
        return table.get(name)
    except UnknownNameError as exc:
        from registry import ENCODERS, plugin_status

        message = str(exc)
        if table is ENCODERS and ":" not in name:
            # A bare model name often means one of the open families ("resnet18" -> "timm:resnet18").
            families = ", ".join(f.pattern for f in list_encoder_families())
            message += f" Prefixed families also resolve: {families}." if families else ""
        # The name may belong to a plugin that failed to load: say so instead of only "unknown".
        broken = [r.name for r in plugin_status() if r.status == "broken"]
        if broken:
            names = ", ".join(repr(b) for b in broken)
            message += f" Plugin(s) {names} failed to load; `stitch plugins` says why."
        if message == str(exc):
            raise
        raise UnknownNameError(message) from None


def get_encoder_spec(name: str) -> EncoderSpec:
    """The :class:`~stitch.encoder.EncoderSpec` of encoder ``name``, without building it.

    Example:
        >>> get_encoder_spec("no-such-encoder")
        Traceback (most recent call last):
        ...
        stitch.errors.UnknownNameError: unknown encoder 'no-such-encoder'...
    """
    from registry import ENCODERS

    return _lookup(ENCODERS, name)[0]


def get_encoder(name: str, **options: Any) -> Encoder:
    """Build encoder ``name`` (weights load on its first ``encode``).

    Args:
        name: a registered name or alias, ``plugin:name``, or a prefixed name a plugin resolves
            (``timm:resnet18``).
        **options: passed to the encoder's factory (e.g. ``pretrained=False``).

    Shapes:
        ``get_encoder(name).encode(inputs)``: ``n`` inputs -> ``(n, dim)`` float32 on the CPU.

    Example:
        >>> get_encoder("no-such-encoder")
        Traceback (most recent call last):
        ...
        stitch.errors.UnknownNameError: unknown encoder 'no-such-encoder'...
    """
    from registry import ENCODERS

    spec, factory = _lookup(ENCODERS, name)
    check_options("encoder", spec.name, factory, options)
    encoder = factory(**options)
    # getattr_static: a runtime isinstance(Protocol) check would read `dim`, which may load weights.
    missing = [a for a in ("name", "modality", "dim", "encode") if _missing_static(encoder, a)]
    if missing:
        raise TypeError(
            f"the factory of encoder {spec.name!r} (plugin {spec.plugin!r}) returned {type(encoder).__name__}, "
            f"which lacks {', '.join(missing)}; a factory must return a stitch.Encoder"
        )
    return encoder


def _missing_static(obj: object, attr: str) -> bool:
    try:
        inspect.getattr_static(obj, attr)
    except AttributeError:
        return True
    return False


def list_encoders(pattern: str = "*", modality: str | None = None) -> list[EncoderSpec]:
    """Specs of registered encoders whose name, ``plugin:name`` or alias matches ``pattern`` (shell wildcards).

    Names served only by a resolver (any ``timm:<model>``) are not listed, there are too many; the families
    they belong to are, by :func:`list_encoder_families`.

    Example:
        >>> [s.name for s in list_encoders("no-such-*")]
        []
    """
    from registry import ENCODERS

    specs = [e.obj[0] for e in ENCODERS.entries(pattern)]
    return [s for s in specs if modality is None or s.modality == modality]


def list_encoder_families(pattern: str = "*", modality: str | None = None) -> list[EncoderFamily]:
    """Open families of encoder names that plugins' resolvers serve (``timm:<model>``, ``hf:<id or dir>``), by prefix.

    ``pattern`` (shell wildcards) matches the family's spelling (``timm:<model>``) or its prefix; a family of
    modality ``any`` matches every ``modality``.

    Example:
        >>> [f.pattern for f in list_encoder_families("no-such-*")]
        []
    """
    from registry import ENCODER_FAMILIES

    return [
        e.obj for e in ENCODER_FAMILIES.entries()
        if any(fnmatch.fnmatchcase(c, pattern) for c in (e.obj.pattern, e.obj.prefix, f"{e.obj.prefix}:"))
        and (modality is None or e.obj.modality in (modality, "any"))
    ]


def get_dataset_info(name: str) -> DatasetLoader:
    """The registered loader of dataset ``name`` (its modality, description and plugin), without loading.

    Example:
        >>> get_dataset_info("no-such-dataset")
        Traceback (most recent call last):
        ...
        stitch.errors.UnknownNameError: unknown dataset 'no-such-dataset'...
    """
    from registry import DATASETS

    return _lookup(DATASETS, name)


def get_dataset(name: str, *, root: str | os.PathLike[str] | None = None, **options: Any) -> Dataset:
    """Load dataset ``name``.

    Args:
        name: a registered dataset name or ``plugin:name``.
        root: where its raw files live; defaults to ``$STITCH_DATA`` (the loader decides when unset).
        **options: passed to the loader (e.g. ``split_seed=0``).

    Example:
        >>> get_dataset("no-such-dataset")
        Traceback (most recent call last):
        ...
        stitch.errors.UnknownNameError: unknown dataset 'no-such-dataset'...
    """
    from stitch.data import Dataset

    info = get_dataset_info(name)
    if root is None and os.environ.get("STITCH_DATA"):
        root = os.environ["STITCH_DATA"]
    check_options("dataset", info.name, info.loader, {"root": root, **options})
    ds = info(root=None if root is None else Path(root), **options)
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"the loader of dataset {info.name!r} (plugin {info.plugin!r}) returned {type(ds).__name__}; "
            "a dataset loader must return a stitch.Dataset"
        )
    return ds


def list_datasets(pattern: str = "*", modality: str | None = None) -> list[DatasetLoader]:
    """Registered dataset loaders whose name matches ``pattern`` (shell wildcards), by name.

    Example:
        >>> [d.name for d in list_datasets("no-such-*")]
        []
    """
    from registry import DATASETS

    return [e.obj for e in DATASETS.entries(pattern) if modality is None or e.obj.modality == modality]


def list_plugins(pattern: str = "*") -> list[PluginRecord]:
    """One record per discovered plugin: name, distribution, version, hooks, status (``ok``/``broken``/``disabled``).

    Example:
        >>> all(r.status in {"ok", "broken", "disabled"} for r in list_plugins())
        True
    """
    from registry import plugin_status

    return [r for r in plugin_status() if fnmatch.fnmatchcase(r.name, pattern)]
