"""Public lookups of everything plugins register: encoders, datasets, and the plugins themselves.

One naming scheme across every registry of the library:

* ``list_<things>(pattern="*")`` returns **names** (sorted, shell wildcards), like timm's ``list_models``;
* ``get_<thing>(name)`` / ``get_<thing>_spec(name)`` / ``get_<thing>_info(name)`` **looks up** what is
  registered, building and loading nothing;
* ``create_encoder(name, **options)`` **builds** an encoder (weights load on its first ``encode``), and
  ``load_dataset(name, data_root=..., **options)`` **loads** a dataset.

Lookups follow the rules of :class:`stitch.utils.names.NameTable`: exact name or alias, then ``plugin:name``,
then the ``stitch_resolve_encoder`` hook (``timm:<model>``, ``hf:<id>``, ...), else an error with close
matches. Similarity functions, anchor strategies, metrics, translators and decoders are looked up through
their own modules (:func:`stitch.get_similarity`, :func:`stitch.get_metric`, ...).
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import weakref
from typing import TYPE_CHECKING, Any

import pluggy

from stitch.utils.deprecation import deprecated_alias, renamed_kwargs
from stitch.utils.files import not_found
from stitch.utils.names import NameTable, check_options

#: encoder -> the (name, options) create_encoder built it from (weak: forgotten with the encoder)
_REFERENCES: weakref.WeakKeyDictionary[Any, tuple[str, dict[str, Any]]] = weakref.WeakKeyDictionary()

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.encoder import Encoder, EncoderSpec
    from stitch.registry import DatasetLoader, EncoderFamily, PluginRecord

__all__ = [
    "hookimpl",
    "create_encoder",
    "encoder_reference",
    "get_encoder_spec",
    "list_encoders",
    "get_encoder_family",
    "list_encoder_families",
    "load_dataset",
    "get_dataset_info",
    "list_datasets",
    "get_plugin",
    "list_plugins",
]

#: Decorator for plugin hook implementations (``@stitch.hookimpl``).
hookimpl = pluggy.HookimplMarker("stitch")


def _lookup(table: NameTable[Any], name: str) -> Any:
    from stitch.errors import UnknownNameError

    try:
        return table.get(name)
    except UnknownNameError as exc:
        from stitch.registry import ENCODERS, plugin_status

        message = str(exc)
        if table is ENCODERS and ":" not in name:
            # A bare model name often means one of the open families ("resnet18" -> "timm:resnet18").
            families = ", ".join(list_encoder_families())
            message += f" Prefixed families also resolve: {families}." if families else ""
        # The name may belong to a plugin that failed to load: say so instead of only "unknown".
        broken = [r.name for r in plugin_status() if r.status == "broken"]
        if broken:
            names = ", ".join(repr(b) for b in broken)
            message += f" Plugin(s) {names} failed to load; `stitch plugins` says why."
        if message == str(exc):
            raise
        raise UnknownNameError(message) from None


# -- encoders ---------------------------------------------------------------------------------------------------
def get_encoder_spec(name: str) -> EncoderSpec:
    """The :class:`~stitch.encoder.EncoderSpec` of encoder ``name``, without building it.

    Example:
        >>> get_encoder_spec("minilm").dim
        384
    """
    from stitch.registry import ENCODERS

    return _lookup(ENCODERS, name)[0]


def create_encoder(name: str, **options: Any) -> Encoder:
    """Build encoder ``name`` (weights load on its first ``encode``).

    Args:
        name: a registered name or alias, ``plugin:name``, or a prefixed name a plugin resolves
            (``timm:resnet18``).
        **options: passed to the encoder's factory (e.g. ``pretrained=False``).

    Shapes:
        ``create_encoder(name).encode(inputs)``: ``n`` inputs -> ``(n, dim)`` float32 on the CPU.

    Example:
        >>> enc = create_encoder("text-bag", dim=8)
        >>> enc.encode(["What is a cat?"]).shape
        torch.Size([1, 8])
    """
    from stitch.registry import ENCODERS

    spec, factory = _lookup(ENCODERS, name)
    check_options("encoder", spec.name, factory, options)
    encoder = factory(**options)
    try:
        _REFERENCES[encoder] = (name, dict(options))
    except TypeError:  # an object without weak references cannot be named back; it still works
        pass
    # getattr_static: a runtime isinstance(Protocol) check would read `dim`, which may load weights.
    missing = [a for a in ("name", "modality", "dim", "encode") if _missing_static(encoder, a)]
    if missing:
        raise TypeError(
            f"the factory of encoder {spec.name!r} (plugin {spec.plugin!r}) returned {type(encoder).__name__}, "
            f"which lacks {', '.join(missing)}; a factory must return a stitch.Encoder"
        )
    return encoder


def encoder_reference(encoder: Any) -> tuple[str, dict[str, Any]] | None:
    """``(name, options)`` that :func:`create_encoder` built ``encoder`` from (``None`` for one built otherwise):
    what rebuilds the same encoder later, e.g. when a saved stitched model is loaded.

    Example:
        >>> encoder_reference(create_encoder("text-bag", dim=8))
        ('text-bag', {'dim': 8})
    """
    try:
        return _REFERENCES.get(encoder)
    except TypeError:
        return None


def _missing_static(obj: object, attr: str) -> bool:
    try:
        inspect.getattr_static(obj, attr)
    except AttributeError:
        return True
    return False


def list_encoders(pattern: str = "*", modality: str | None = None) -> list[str]:
    """Names of registered encoders whose name, ``plugin:name`` or alias matches ``pattern`` (shell wildcards).

    Names served only by a resolver (any ``timm:<model>``) are not listed, there are too many; the families
    they belong to are, by :func:`list_encoder_families`.

    Example:
        >>> list_encoders("pyg:*")
        ['pyg:gat', 'pyg:gcn', 'pyg:gin', 'pyg:sage']
    """
    from stitch.registry import ENCODERS

    return sorted({e.name for e in ENCODERS.entries(pattern) if modality is None or e.obj[0].modality == modality})


def get_encoder_family(prefix: str) -> EncoderFamily:
    """The open family of encoder names served under ``prefix`` (``"timm"``, ``"hf"``, ...).

    Example:
        >>> get_encoder_family("timm").pattern
        'timm:<model>'
    """
    from stitch.registry import ENCODER_FAMILIES

    return _lookup(ENCODER_FAMILIES, prefix.rstrip(":"))


def list_encoder_families(pattern: str = "*", modality: str | None = None) -> list[str]:
    """Spellings of the open encoder families plugins resolve (``timm:<model>``, ``hf:<model id or dir>``).

    ``pattern`` (shell wildcards) matches the spelling or the prefix; a family of modality ``any`` matches
    every ``modality``.

    Example:
        >>> "timm:<model>" in list_encoder_families()
        True
    """
    from stitch.registry import ENCODER_FAMILIES

    return [
        e.obj.pattern for e in ENCODER_FAMILIES.entries()
        if any(fnmatch.fnmatchcase(c, pattern) for c in (e.obj.pattern, e.obj.prefix, f"{e.obj.prefix}:"))
        and (modality is None or e.obj.modality in (modality, "any"))
    ]


# -- datasets ---------------------------------------------------------------------------------------------------
def get_dataset_info(name: str) -> DatasetLoader:
    """The registered loader of dataset ``name`` (its modality, description and plugin), without loading.

    Example:
        >>> get_dataset_info("digits").modality
        'image'
    """
    from stitch.registry import DATASETS

    return _lookup(DATASETS, name)


def load_dataset(name: str, *, data_root: str | os.PathLike[str] | None = None, **options: Any) -> Dataset:
    """Load dataset ``name``.

    Args:
        name: a registered dataset name or ``plugin:name``.
        data_root: where its raw files live; defaults to ``$STITCH_DATA`` (the loader decides when unset).
        **options: passed to the loader (e.g. ``label="fine"`` for ``trec``).

    Example:
        >>> ds = load_dataset("digits")
        >>> ds
        Dataset('digits', modality='image', samples=1797, splits={'train': 1078, 'val': 360, 'test': 359}, classes=10)
    """
    from stitch.data import Dataset

    from stitch.utils.roots import data_root as resolve_data_root

    info = get_dataset_info(name)
    root = resolve_data_root(data_root)
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"data directory {not_found(root, 'directory')}; pass the directory holding the "
                                f"dataset's files (--data / data_root=), or leave it unset")
    # the loader hook's keyword is `root` (the plugin contract); users say data_root
    try:
        check_options("dataset", info.name, info.loader, {"root": root, **options})
    except TypeError as exc:
        if "needs the option" not in str(exc):
            raise
        raise TypeError(f"{exc} (stitch.load_dataset({info.name!r}, <option>=...), --dataset "
                        f"'{info.name}?<option>=...' on the command line, or dataset.options in a file)") from None
    ds = info(root=root, **options)
    if not isinstance(ds, Dataset):
        raise TypeError(
            f"the loader of dataset {info.name!r} (plugin {info.plugin!r}) returned {type(ds).__name__}; "
            "a dataset loader must return a stitch.Dataset"
        )
    return ds


def list_datasets(pattern: str = "*", modality: str | None = None) -> list[str]:
    """Names of registered datasets matching ``pattern`` (shell wildcards).

    Example:
        >>> list_datasets("c*")
        ['citeseer', 'cora']
    """
    from stitch.registry import DATASETS

    return [e.name for e in DATASETS.entries(pattern) if modality is None or e.obj.modality == modality]


# -- plugins ----------------------------------------------------------------------------------------------------
def get_plugin(name: str) -> PluginRecord:
    """The record of plugin ``name``: distribution, version, hooks, status, error, notes.

    Example:
        >>> get_plugin("timm").status
        'ok'
    """
    from stitch.errors import UnknownNameError
    from stitch.registry import plugin_status

    records = {r.name: r for r in plugin_status()}
    if name not in records:
        raise UnknownNameError(f"no plugin named {name!r}; installed: {', '.join(sorted(records)) or 'none'} "
                               "(run `stitch plugins`)")
    return records[name]


def list_plugins(pattern: str = "*") -> list[str]:
    """Names of the discovered plugins (loaded, broken or disabled) matching ``pattern``.

    Example:
        >>> "timm" in list_plugins()
        True
    """
    from stitch.registry import plugin_status

    return [r.name for r in plugin_status() if fnmatch.fnmatchcase(r.name, pattern)]


# -- deprecated spellings (removed in 0.3) ----------------------------------------------------------------------
get_encoder = deprecated_alias(create_encoder, "get_encoder")
get_dataset = deprecated_alias(renamed_kwargs(root="data_root")(load_dataset), "get_dataset")
