"""Plugin loading: ``stitch`` entry points -> pluggy -> name tables, one plugin at a time.

Each plugin is imported, validated and asked to register its things in isolation. A plugin that fails
(import error, invalid hook, a hook that raises, a bad ``register`` call) is rolled back, recorded with
its error and skipped; everything else keeps working. Environment switches, read at load time:

* ``STITCH_DISABLE_PLUGINS=1``: load no entry point (except those named in ``STITCH_PLUGINS``);
* ``STITCH_PLUGINS=a,b``: load only these entry points;
* ``STITCH_STRICT_PLUGINS=1``: a broken plugin raises :class:`~stitch.errors.PluginError` instead.

Code is only ever imported from installed entry points: no setting names a module to import.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from registry import hookspecs
from registry.tables import DATASETS, ENCODER_FAMILIES, ENCODERS, DatasetLoader, EncoderFamily
from stitch._names import BUILTIN, NameTable, describe, rearm_plugin_loader
from stitch.encoder import EncoderSpec
from stitch.errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginRecord",
    "PluginLoadWarning",
    "PluginHost",
    "HOST",
]

ENTRY_POINT_GROUP = hookspecs.PROJECT
_RESERVED = {BUILTIN, "resolver"}
_TRUE = {"1", "true", "yes", "on"}

# table kind -> (core module, table attribute, register function): core modules own these tables and
# are imported only when a plugin registers into them (stitch.similarity imports torch).
_CORE_TABLES = {
    "similarities": ("stitch.similarity", "SIMILARITIES", "register_similarity"),
    "anchor strategies": ("stitch.anchors", "ANCHOR_STRATEGIES", "register_anchor_strategy"),
    "metrics": ("stitch.metrics", "METRICS", "register_metric"),
}


class PluginLoadWarning(UserWarning):
    """A plugin failed to load and was skipped (``STITCH_STRICT_PLUGINS=1`` makes it an error)."""


@dataclass(frozen=True)
class PluginRecord:
    """What happened to one plugin.

    Args:
        name: entry-point name, also the ``source`` of everything it registered.
        distribution: the installed distribution that declares it (``None`` for in-process plugins).
        version: that distribution's version.
        target: the entry point's ``module[:attr]``.
        hooks: hooks it implements.
        status: ``"ok"``, ``"broken"`` or ``"disabled"`` (filtered out by ``STITCH_PLUGINS`` /
            ``STITCH_DISABLE_PLUGINS``).
        error: why it is broken or disabled.
        registered: table kind -> number of names it registered.

    Example:
        >>> rec = PluginRecord("toy", None, None, "toy_plugin", hooks=("stitch_register_encoders",))
        >>> rec.ok, rec.to_dict()["hooks"]
        (True, ['stitch_register_encoders'])
    """

    name: str
    distribution: str | None
    version: str | None
    target: str
    hooks: tuple[str, ...] = ()
    status: str = "ok"
    error: str | None = None
    registered: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``stitch plugins``)."""
        d = dataclasses.asdict(self)
        d["hooks"] = list(self.hooks)
        return d


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _env_names(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


def _call_forwarding(fn: Callable[..., Any], *args: Any, optional: dict[str, Any], **kwargs: Any) -> Any:
    # Forward optional metadata (e.g. description) only to core register functions that accept it.
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    extra = {k: v for k, v in optional.items() if takes_any or k in params}
    return fn(*args, **kwargs, **extra)


class PluginHost:
    """The pluggy manager, the load state and the plugin records (one instance: :data:`HOST`).

    Example:
        >>> HOST.load()
        >>> HOST.loaded, all(isinstance(r, PluginRecord) for r in HOST.records.values())
        (True, True)
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loading = False
        self.loaded = False
        self.pm = self._new_manager()
        self.records: dict[str, PluginRecord] = {}
        self._touched: dict[str, list[NameTable[Any]]] = {}
        ENCODERS.add_resolver(self.resolve_encoder)

    @staticmethod
    def _new_manager() -> pluggy.PluginManager:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        return pm

    # -- loading ------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load every enabled entry point once (re-entrant and thread-safe; later calls do nothing)."""
        with self._lock:
            if self.loaded or self._loading:
                return
            self._loading = True
            try:
                self._load_entry_points()
                self.loaded = True
            finally:
                self._loading = False

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        only = _env_names("STITCH_PLUGINS")
        disabled = _env_flag("STITCH_DISABLE_PLUGINS")
        strict = _env_flag("STITCH_STRICT_PLUGINS")
        seen: dict[str, str | None] = {}  # plugin name -> distribution
        # sys.path order: the distribution Python would import first wins a plugin-name clash.
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            if ep.name in seen:
                record = PluginRecord(
                    ep.name, dist_name, version, ep.value, status="broken",
                    error=f"plugin name {ep.name!r} is already used by distribution {seen[ep.name]!r}; "
                    "rename one entry point in [project.entry-points.stitch]",
                )
                self._finish(record, strict, key=f"{ep.name} ({dist_name})")
                continue
            seen[ep.name] = dist_name
            if ep.name not in only and (only or disabled):
                why = "not listed in STITCH_PLUGINS" if only else "STITCH_DISABLE_PLUGINS is set"
                self.records[ep.name] = PluginRecord(
                    ep.name, dist_name, version, ep.value, status="disabled", error=why
                )
                continue
            try:
                obj = ep.load()
            except Exception as exc:
                record = PluginRecord(
                    ep.name, dist_name, version, ep.value, status="broken",
                    error=f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}",
                )
            else:
                record = self._activate(obj, ep.name, dist_name, version, ep.value)
            self._finish(record, strict)
        for name in only:
            if name not in seen:
                installed = ", ".join(sorted(seen)) or "none"
                record = PluginRecord(
                    name, None, None, "", status="broken",
                    error=f"STITCH_PLUGINS names {name!r} but no installed plugin has that name "
                    f"(installed: {installed})",
                )
                self._finish(record, strict)

    def _finish(self, record: PluginRecord, strict: bool, key: str | None = None) -> None:
        self.records[key or record.name] = record
        if record.ok:
            return
        where = f" from {record.distribution} {record.version}" if record.distribution else ""
        message = f"plugin {record.name!r}{where} failed to load: {record.error}"
        if strict:
            self.reset()
            raise PluginError(f"{message} (STITCH_STRICT_PLUGINS is set; unset it to skip broken plugins)")
        warnings.warn(f"{message}; it was skipped. Run `stitch plugins` for details.", PluginLoadWarning, stacklevel=2)

    def register_plugin(self, plugin: object, name: str) -> PluginRecord:
        """Register an already-imported plugin object in-process (notebooks, tests).

        Raises:
            PluginError: the plugin is invalid or a hook raised (nothing it registered is kept).
        """
        with self._lock:
            self.load()
            record = self._activate(plugin, name, None, None, getattr(plugin, "__name__", type(plugin).__name__))
            if not record.ok:
                raise PluginError(f"plugin {name!r} failed to load: {record.error}")
            self.records[name] = record
            return record

    def _activate(self, obj: object, name: str, dist: str | None, version: str | None, target: str) -> PluginRecord:
        def broken(error: str, hooks: Iterable[str] = ()) -> PluginRecord:
            return PluginRecord(name, dist, version, target, tuple(hooks), status="broken", error=error)

        if not name or ":" in name or name in _RESERVED:
            return broken(
                f"invalid plugin name {name!r}: use a non-empty name without ':' other than {sorted(_RESERVED)}"
            )
        if self.pm.has_plugin(name):
            return broken(f"a plugin named {name!r} is already loaded; give this one another name")
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # pluggy.PluginValidationError, ValueError (registered twice)
            return broken(f"invalid plugin: {exc}")
        hooks = sorted(caller.name for caller in self.pm.get_hookcallers(obj) or ())
        unknown = [h for h in hooks if not getattr(self.pm.hook, h).has_spec()]
        if unknown or not hooks:
            self.pm.unregister(obj)
            if not hooks:
                return broken("implements no hook: decorate its functions with @stitch.hookimpl")
            known = ", ".join(sorted(hookspecs.REGISTER_HOOKS) + ["stitch_resolve_encoder"])
            return broken(f"implements unknown hook(s) {', '.join(unknown)}; known hooks: {known}", hooks)
        counts: dict[str, int] = {}
        for hook_name, kind in hookspecs.REGISTER_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not obj:
                    continue
                try:
                    if impl.hookwrapper or impl.wrapper:
                        raise TypeError("hook wrappers are not supported for registration hooks")
                    register = self._register_callback(kind, name, counts)
                    impl.function(**{arg: register for arg in impl.argnames})
                except Exception as exc:
                    self._unregister_entries(name)
                    self.pm.unregister(obj)
                    return broken(f"hook {hook_name} raised {type(exc).__name__}: {exc}", hooks)
        return PluginRecord(name, dist, version, target, tuple(hooks), registered=counts)

    # -- register callbacks -------------------------------------------------------------------------
    def _touch(self, source: str, table: NameTable[Any]) -> None:
        tables = self._touched.setdefault(source, [])
        if not any(t is table for t in tables):
            tables.append(table)

    def _register_callback(self, kind: str, source: str, counts: dict[str, int]) -> Callable[..., None]:
        def counted(fn: Callable[..., None]) -> Callable[..., None]:
            def register(*args: Any, **kwargs: Any) -> None:
                fn(*args, **kwargs)
                counts[kind] = counts.get(kind, 0) + 1

            register.__doc__ = fn.__doc__
            return register

        if kind == "encoders":

            def register_encoder(spec: EncoderSpec, factory: Callable[..., Any]) -> None:
                """register(spec: EncoderSpec, factory) -- factory(**options) builds the encoder lazily."""
                if not isinstance(spec, EncoderSpec):
                    raise TypeError(f"register(spec, factory): spec must be a stitch.EncoderSpec, got {spec!r}")
                if not callable(factory):
                    raise TypeError(
                        f"register(spec, factory): factory for {spec.name!r} must be callable, got {factory!r}"
                    )
                spec = dataclasses.replace(spec, plugin=source)
                self._touch(source, ENCODERS)
                ENCODERS.register(spec.name, (spec, factory), source=source, aliases=spec.aliases,
                                  description=spec.description)

            return counted(register_encoder)
        if kind == "datasets":

            def register_dataset(
                name: str, loader: Callable[..., Any], *, modality: str, description: str = ""
            ) -> None:
                """register(name, loader, *, modality, description="") -- loader(*, root=None, **options)."""
                if not callable(loader):
                    raise TypeError(f"register(name, loader): loader for {name!r} must be callable, got {loader!r}")
                if not isinstance(modality, str) or not modality:
                    raise TypeError(
                        f"register(name, loader, modality=...): modality of {name!r} must be a non-empty string"
                    )
                desc = description or describe(loader)
                self._touch(source, DATASETS)
                entry = DatasetLoader(name, modality, desc, source, loader)
                DATASETS.register(name, entry, source=source, description=desc)

            return counted(register_dataset)
        if kind == "encoder families":

            def register_family(prefix: str, description: str, *, placeholder: str = "<name>", modality: str = "any",
                                extra: str | None = None) -> None:
                """register(prefix, description, *, placeholder="<name>", modality="any", extra=None)."""
                for what, value in (("description", description), ("placeholder", placeholder),
                                    ("modality", modality)):
                    if not isinstance(value, str) or not value.strip():
                        raise TypeError(f"register(prefix, description, ...): {what} of family {prefix!r} must be "
                                        f"a non-empty string, got {value!r}")
                self._touch(source, ENCODER_FAMILIES)
                family = EncoderFamily(prefix, placeholder, description, modality, extra, source)
                ENCODER_FAMILIES.register(prefix, family, source=source, description=description)

            return counted(register_family)
        module_name, table_attr, func_attr = _CORE_TABLES[kind]

        def register_core(name: str, obj: Any, *, description: str = "", **meta: Any) -> None:
            module = importlib.import_module(module_name)
            self._touch(source, getattr(module, table_attr))
            _call_forwarding(getattr(module, func_attr), name, obj, optional={"description": description},
                             source=source, **meta)

        register_core.__doc__ = f"register(name, obj, **meta) -> {module_name}.{func_attr}(..., source={source!r})"
        return counted(register_core)

    # -- resolution ---------------------------------------------------------------------------------
    def resolve_encoder(self, name: str) -> tuple[EncoderSpec, Callable[..., Any]] | None:
        """Ask ``stitch_resolve_encoder`` implementations in pluggy's call order; the first answer wins."""
        for impl in reversed(self.pm.hook.stitch_resolve_encoder.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            result = impl.function(**{arg: name for arg in impl.argnames})
            if result is None:
                continue
            if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], EncoderSpec)
                    and callable(result[1])):
                raise PluginError(
                    f"plugin {impl.plugin_name!r} resolved encoder {name!r} to {result!r}; "
                    "stitch_resolve_encoder must return (EncoderSpec, factory) or None"
                )
            spec, factory = result
            return dataclasses.replace(spec, plugin=spec.plugin or impl.plugin_name), factory
        return None

    # -- state --------------------------------------------------------------------------------------
    def _unregister_entries(self, source: str) -> None:
        for table in self._touched.pop(source, []):
            table.unregister_source(source)

    def reset(self) -> None:
        """Forget every plugin and its registrations; the next lookup loads plugins again."""
        with self._lock:
            for source in list(self._touched):
                self._unregister_entries(source)
            self.pm = self._new_manager()
            self.records = {}
            self.loaded = False
            rearm_plugin_loader()

    def status(self) -> list[PluginRecord]:
        """Every plugin record, sorted by name (loads plugins first)."""
        self.load()
        return sorted(self.records.values(), key=lambda r: (r.name, r.distribution or ""))

    def clashes(self) -> dict[str, dict[str, list[str]]]:
        """``{table kind: {name: [source, ...]}}`` for names registered by several sources."""
        self.load()
        tables: dict[str, NameTable[Any]] = {"encoders": ENCODERS, "encoder families": ENCODER_FAMILIES,
                                             "datasets": DATASETS}
        for kind, (module_name, table_attr, _) in _CORE_TABLES.items():
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, table_attr):
                tables[kind] = getattr(module, table_attr)
        return {kind: c for kind, table in tables.items() if (c := table.clashes())}


#: The process-wide plugin host.
HOST = PluginHost()
