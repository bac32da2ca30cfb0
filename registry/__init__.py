"""The plugin host of latent-stitch: pluggy hookspecs, entry-point loading, the encoder and dataset tables.

Plugins are discovered through the ``stitch`` entry-point group and loaded lazily, on the first lookup
of any registry (``stitch/__init__`` installs :func:`load_plugins` as the loader of ``stitch.utils.names``).
Users rarely import this package: :mod:`stitch.plugins` is the public facade.

Example:
    >>> import stitch.registry as registry
    >>> registry.load_plugins()
    >>> all(r.status in {"ok", "broken", "disabled"} for r in registry.plugin_status())
    True
"""

from __future__ import annotations

from stitch.registry.hookspecs import PROJECT
from stitch.registry.manager import ENTRY_POINT_GROUP, HOST, PluginLoadWarning, PluginRecord
from stitch.registry.tables import DATASETS, ENCODER_FAMILIES, ENCODERS, DatasetLoader, EncoderFamily

__all__ = [
    "PROJECT",
    "ENTRY_POINT_GROUP",
    "ENCODERS",
    "ENCODER_FAMILIES",
    "EncoderFamily",
    "DATASETS",
    "DatasetLoader",
    "PluginRecord",
    "PluginLoadWarning",
    "load_plugins",
    "reload_plugins",
    "reset_plugins",
    "register_plugin",
    "plugin_status",
    "clashes",
]


def load_plugins() -> None:
    """Load every installed ``stitch`` plugin once; later calls do nothing (see :func:`reload_plugins`).

    Honours ``STITCH_DISABLE_PLUGINS``, ``STITCH_PLUGINS`` and ``STITCH_STRICT_PLUGINS`` (see
    :mod:`stitch.registry.manager`).

    Example:
        >>> load_plugins()
    """
    HOST.load()


def reset_plugins() -> None:
    """Forget every loaded plugin and what it registered; the next lookup loads them again.

    Example:
        >>> reset_plugins()
    """
    HOST.reset()


def reload_plugins() -> None:
    """Reset, then load the installed plugins again (picks up new installs and environment switches).

    Example:
        >>> reload_plugins()
    """
    HOST.reset()
    HOST.load()


def register_plugin(plugin: object, name: str) -> PluginRecord:
    """Register an already-imported plugin (a module or object with ``@stitch.hookimpl`` functions).

    For notebooks and tests; installed plugins are found through entry points. Raises
    :class:`~stitch.errors.PluginError` when the plugin is invalid or a hook raises.

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.encoder import EncoderSpec
        >>> class Mine:
        ...     @hookimpl
        ...     def stitch_register_encoders(self, register):
        ...         register(EncoderSpec("mine-doc", "tabular", "Example encoder", dim=2), lambda: None)
        >>> register_plugin(Mine(), "mine-doc").registered
        {'encoders': 1}
        >>> reset_plugins()
    """
    return HOST.register_plugin(plugin, name)


def plugin_status() -> list[PluginRecord]:
    """One :class:`PluginRecord` per plugin (``ok``, ``broken`` with its error, or ``disabled``), by name.

    Example:
        >>> isinstance(plugin_status(), list)
        True
    """
    return HOST.status()


def clashes() -> dict[str, dict[str, list[str]]]:
    """Names registered by several plugins: ``{table kind: {name: [plugin, ...]}}``.

    Example:
        >>> isinstance(clashes(), dict)
        True
    """
    return HOST.clashes()
