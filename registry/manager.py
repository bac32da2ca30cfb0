"""Plugin loading: ``stitch`` entry points -> pluggy -> name tables, one plugin at a time.

Each plugin is imported, validated and asked to register its things in isolation. A plugin that fails
(import error, ``sys.exit`` at import, invalid hook, a hook that raises, a bad ``register`` call) is rolled
back, recorded with its error and skipped; everything else keeps working. Whatever a plugin prints while it
imports or registers goes to stderr, so machine-readable output (``stitch plugins``, ``--json`` listings)
stays clean. What loads but deserves a look is recorded as a note and warned about once: a name registered
twice by the same plugin, a name that shadows a built-in (the built-in keeps it), an import slower than
:data:`SLOW_IMPORT_SECONDS`.

Environment switches, read at load time:

* ``STITCH_DISABLE_PLUGINS=1``: load no entry point (except those named in ``STITCH_PLUGINS``);
* ``STITCH_PLUGINS=a,b``: load only these entry points;
* ``STITCH_STRICT_PLUGINS=1``: a broken plugin raises :class:`~stitch.errors.PluginError` instead.

Code is only ever imported from installed entry points: no setting names a module to import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from stitch.encoder import EncoderSpec
from stitch.errors import PluginError
from stitch.registry import hookspecs
from stitch.registry.tables import DATASETS, ENCODER_FAMILIES, ENCODERS, DatasetLoader, EncoderFamily
from stitch.utils.names import BUILTIN, CORE_TABLES, NameTable, describe, rearm_plugin_loader

__all__ = [
    "ENTRY_POINT_GROUP",
    "SLOW_IMPORT_SECONDS",
    "PluginRecord",
    "PluginLoadWarning",
    "PluginHost",
    "HOST",
    "encoder_entry",
]

#: the entry-point group plugins register in (``[project.entry-points.stitch]``)
ENTRY_POINT_GROUP = hookspecs.PROJECT
#: An import slower than this is named, with its time, in the plugin's record and a warning.
SLOW_IMPORT_SECONDS = 2.0
_RESERVED = {BUILTIN, "resolver"}
_TRUE = {"1", "true", "yes", "on"}


class PluginLoadWarning(UserWarning):
    """A plugin failed to load and was skipped, or loaded with a note (``STITCH_STRICT_PLUGINS=1``: an error)."""


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
        notes: what loaded but deserves a look (duplicates, shadowed built-ins, a slow import).
        import_seconds: how long importing it took.

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
    notes: tuple[str, ...] = ()
    import_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``stitch plugins``)."""
        d = dataclasses.asdict(self)
        d["hooks"], d["notes"] = list(self.hooks), list(self.notes)
        d["import_seconds"] = round(self.import_seconds, 3)
        return d


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _env_names(name: str) -> list[str]:
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


@contextlib.contextmanager
def _plugin_code() -> Iterator[None]:
    """Run plugin code with its prints on stderr: stdout belongs to the command's (JSON) output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _call_forwarding(fn: Callable[..., Any], *args: Any, optional: dict[str, Any], **kwargs: Any) -> Any:
    # Forward optional metadata (e.g. description) only to core register functions that accept it.
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    extra = {k: v for k, v in optional.items() if takes_any or k in params}
    return fn(*args, **kwargs, **extra)


def _static(obj: Any, attr: str) -> Any:
    """``obj.attr`` without running properties (reading ``dim`` must not load weights); ``None`` if absent."""
    try:
        value = inspect.getattr_static(obj, attr)
    except AttributeError:
        return None
    return None if isinstance(value, (property, staticmethod, classmethod)) else value


def encoder_entry(obj: Any, factory: Any = None, *, plugin: str = "") -> tuple[EncoderSpec, Callable[..., Any]]:
    """``(spec, factory)`` from what a plugin passed to ``register``: a spec and a factory, a class or an instance.

    Example:
        >>> import torch
        >>> class Ones:
        ...     "Encodes anything as ones."
        ...     name, modality, dim = "ones", "tabular", 2
        ...     def encode(self, inputs, *, batch_size=64, progress=None):
        ...         return torch.ones(len(inputs), 2)
        >>> spec, make = encoder_entry(Ones)
        >>> spec.name, spec.dim, spec.description, type(make()).__name__
        ('ones', 2, 'Encodes anything as ones.', 'Ones')
        >>> encoder_entry(Ones())[0].weights
        'a registered Ones instance'
    """
    accepted = ("register(spec, factory) with a stitch.EncoderSpec and a callable, register(EncoderClass) or "
                "register(encoder_instance)")
    who = f" (plugin {plugin!r})" if plugin else ""
    if isinstance(obj, EncoderSpec):
        if not callable(factory):
            raise TypeError(f"register(spec, factory): factory for {obj.name!r} must be callable, got {factory!r}"
                            f"{who}")
        return obj, factory
    if factory is not None:
        raise TypeError(f"register(spec, factory): spec must be a stitch.EncoderSpec, got {obj!r}{who}; accepted: "
                        f"{accepted}")
    spec = _static(obj, "spec")
    name, modality, dim = _static(obj, "name"), _static(obj, "modality"), _static(obj, "dim")
    encodes = callable(_static(obj, "encode"))
    if not isinstance(spec, EncoderSpec):
        if not (encodes and isinstance(name, str) and name and isinstance(modality, str) and modality):
            raise TypeError(f"register() got {obj!r}{who}, which is neither an EncoderSpec nor an encoder (a class "
                            f"or object with name, modality, dim and encode); accepted: {accepted}")
        what = obj.__name__ if isinstance(obj, type) else f"a registered {type(obj).__name__} instance"
        doc = describe(obj if isinstance(obj, type) else type(obj)) or f"{what} (no docstring)"
        spec = EncoderSpec(name, modality, doc, dim=dim if isinstance(dim, int) and not isinstance(dim, bool)
                           else None, weights=str(_static(obj, "weights") or what),
                           license=str(_static(obj, "license") or "unspecified"))
    if isinstance(obj, type):
        return spec, obj
    instance = obj

    def serve(**options: Any) -> Any:
        if options:
            raise TypeError(f"encoder {spec.name!r} was registered as a ready-made instance and takes no options; "
                            f"got {sorted(options)}")
        return instance

    return spec, serve


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
            self._finish(self._load_one(ep, dist_name, version), strict)
        for name in only:
            if name not in seen:
                installed = ", ".join(sorted(seen)) or "none"
                record = PluginRecord(
                    name, None, None, "", status="broken",
                    error=f"STITCH_PLUGINS names {name!r} but no installed plugin has that name "
                    f"(installed: {installed})",
                )
                self._finish(record, strict)

    def _load_one(self, ep: Any, dist: str | None, version: str | None) -> PluginRecord:
        start = time.perf_counter()
        try:
            with _plugin_code():
                obj = ep.load()
        except KeyboardInterrupt:
            raise
        except SystemExit as exc:  # a plugin must never end the host's process
            return PluginRecord(ep.name, dist, version, ep.value, status="broken",
                                error=f"import of {ep.value!r} called sys.exit({exc.code!r})",
                                import_seconds=time.perf_counter() - start)
        except BaseException as exc:
            return PluginRecord(ep.name, dist, version, ep.value, status="broken",
                                error=f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}",
                                import_seconds=time.perf_counter() - start)
        seconds = time.perf_counter() - start
        record = self._activate(obj, ep.name, dist, version, ep.value)
        notes = record.notes
        if seconds > SLOW_IMPORT_SECONDS:
            notes = (*notes, f"import took {seconds:.1f} s (slow imports delay every stitch command; import heavy "
                             "libraries inside functions)")
        return dataclasses.replace(record, notes=notes, import_seconds=seconds)

    def _finish(self, record: PluginRecord, strict: bool, key: str | None = None) -> None:
        self.records[key or record.name] = record
        where = f" from {record.distribution} {record.version}" if record.distribution else ""
        if record.ok:
            for note in record.notes:
                warnings.warn(f"plugin {record.name!r}{where}: {note}", PluginLoadWarning, stacklevel=2)
            return
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
            self._finish(record, strict=False)
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
        notes: list[str] = []
        for hook_name, kind in hookspecs.REGISTER_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not obj:
                    continue
                try:
                    if impl.hookwrapper or impl.wrapper:
                        raise TypeError("hook wrappers are not supported for registration hooks")
                    register = self._register_callback(kind, name, counts, notes)
                    with _plugin_code():
                        impl.function(**{arg: register for arg in impl.argnames})
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    self._unregister_entries(name)
                    self.pm.unregister(obj)
                    what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else \
                        f"raised {type(exc).__name__}: {exc}"
                    return broken(f"hook {hook_name} {what}", hooks)
        return PluginRecord(name, dist, version, target, tuple(hooks), registered=counts, notes=tuple(notes))

    # -- register callbacks -------------------------------------------------------------------------
    def _touch(self, source: str, table: NameTable[Any]) -> None:
        tables = self._touched.setdefault(source, [])
        if not any(t is table for t in tables):
            tables.append(table)

    def _register_callback(self, kind: str, source: str, counts: dict[str, int], notes: list[str]
                           ) -> Callable[..., None]:
        names: set[str] = set()

        def noted(name: str, table: NameTable[Any]) -> None:
            # What a user would otherwise discover by surprise: a duplicate, or a built-in that keeps its name.
            if name in names:
                notes.append(f"registers {kind} name {name!r} twice; the last registration is kept")
            names.add(name)
            if table.has_builtin(name):
                notes.append(f"registers {kind} name {name!r}, which is built in: the built-in keeps the bare name; "
                             f"this plugin's is reachable as {source + ':' + name!r}")
            self._touch(source, table)
            counts[kind] = counts.get(kind, 0) + 1

        if kind == "encoders":

            def register_encoder(obj: Any, factory: Any = None) -> None:
                """register(spec, factory), register(EncoderClass) or register(encoder_instance)."""
                spec, make = encoder_entry(obj, factory, plugin=source)
                spec = dataclasses.replace(spec, plugin=source)
                ENCODERS.register(spec.name, (spec, make), source=source, aliases=spec.aliases,
                                  description=spec.description)
                noted(spec.name, ENCODERS)

            return register_encoder
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
                DATASETS.register(name, DatasetLoader(name, modality, desc, source, loader), source=source,
                                  description=desc)
                noted(name, DATASETS)

            return register_dataset
        if kind == "encoder families":

            def register_family(prefix: str, description: str, *, placeholder: str = "<name>", modality: str = "any",
                                extra: str | None = None) -> None:
                """register(prefix, description, *, placeholder="<name>", modality="any", extra=None)."""
                for what, value in (("description", description), ("placeholder", placeholder),
                                    ("modality", modality)):
                    if not isinstance(value, str) or not value.strip():
                        raise TypeError(f"register(prefix, description, ...): {what} of family {prefix!r} must be "
                                        f"a non-empty string, got {value!r}")
                family = EncoderFamily(prefix, placeholder, description, modality, extra, source)
                ENCODER_FAMILIES.register(prefix, family, source=source, description=description)
                noted(prefix, ENCODER_FAMILIES)

            return register_family
        ref = CORE_TABLES[kind]

        def register_core(name: str, obj: Any, *, description: str = "", **meta: Any) -> None:
            _call_forwarding(ref.register_function(), name, obj, optional={"description": description},
                             source=source, **meta)
            noted(name, ref.table())

        register_core.__doc__ = f"register(name, obj, **meta) -> {ref.module}.{ref.register}(..., source={source!r})"
        return register_core

    # -- resolution ---------------------------------------------------------------------------------
    def resolve_encoder(self, name: str) -> tuple[EncoderSpec, Callable[..., Any]] | None:
        """Ask ``stitch_resolve_encoder`` implementations in pluggy's call order; the first answer wins."""
        for impl in reversed(self.pm.hook.stitch_resolve_encoder.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            with _plugin_code():
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
        """``{table kind: {name: [source, ...]}}`` for names registered by several sources (built-ins first)."""
        self.load()
        tables: dict[str, NameTable[Any]] = {"encoders": ENCODERS, "encoder families": ENCODER_FAMILIES,
                                             "datasets": DATASETS}
        for kind, ref in CORE_TABLES.items():
            if ref.module in sys.modules:  # a table nobody imported has no plugin entries to clash with
                tables[kind] = ref.table()
        return {kind: c for kind, table in tables.items() if (c := table.clashes())}


#: The process-wide plugin host.
HOST = PluginHost()
