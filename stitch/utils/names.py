"""Name tables: the in-process registries behind similarity functions, anchor strategies, metrics, ...

A :class:`NameTable` maps names to objects and remembers who registered each one (``builtin`` or a plugin
name). Core modules fill their table at import time; the plugin host (:mod:`stitch.registry`) adds plugin
entries through the same :meth:`NameTable.register`. The core never imports the plugin host:
``stitch/__init__`` installs a loader with :func:`set_plugin_loader`.

Lookup rules, shared by every table:

* a **built-in** name (or alias, or ``builtin:name``) resolves at once, without loading any plugin; a
  plugin that registers the same name never shadows it: its entry is reachable as ``plugin:name`` and the
  collision is reported (:meth:`NameTable.clashes`, ``stitch plugins``);
* anything else loads the plugins first (once per process), then: a bare name registered by one source
  resolves to it, by several sources it raises :class:`~stitch.errors.AmbiguousNameError` listing the
  qualified ``source:name`` spellings; ``source:name`` picks one source's entry; a source may register a
  name in its own namespace, ``source:name`` (plugin ``pyg`` registers ``pyg:gcn``), which is its own
  qualified spelling and never clashes;
* registered resolvers (e.g. the ``timm:<model>`` encoder resolver) get the remaining names in order;
* anything else raises :class:`~stitch.errors.UnknownNameError` with close matches ("did you mean").

Listings (:meth:`NameTable.entries`, :meth:`NameTable.names`) always load the plugins first.

:data:`CORE_TABLES` is the one catalogue of the core's tables (module, attribute, plugin hook), read by the
plugin host and by the CLI's listing commands.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from stitch.errors import AmbiguousNameError, UnknownNameError

__all__ = [
    "BUILTIN",
    "CORE_TABLES",
    "Entry",
    "NameTable",
    "TableRef",
    "check_options",
    "describe",
    "rearm_plugin_loader",
    "set_plugin_loader",
]

T = TypeVar("T")
#: the source recorded for names latent-stitch itself registers (plugins record their own name)
BUILTIN = "builtin"

_loader: Callable[[], None] | None = None
_loader_state = {"done": False, "running": False}
_loader_lock = threading.RLock()


def set_plugin_loader(loader: Callable[[], None] | None) -> Callable[[], None] | None:
    """Install the callable that loads plugins before a lookup needs them; returns the previous one.

    Installing a loader re-arms it, so the next lookup that needs plugins runs it once more.

    Example:
        >>> from stitch.utils.names import set_plugin_loader
        >>> previous = set_plugin_loader(None)     # lookups now see built-ins only
        >>> _ = set_plugin_loader(previous)        # put the plugin loader back
    """
    global _loader
    with _loader_lock:
        previous, _loader = _loader, loader
        _loader_state["done"] = False
        return previous


def rearm_plugin_loader() -> None:
    """Make the next lookup that needs plugins run the installed loader again (after the host was reset).

    Example:
        >>> from stitch.utils.names import rearm_plugin_loader
        >>> rearm_plugin_loader()
    """
    with _loader_lock:
        _loader_state["done"] = False


def _ensure_plugins_loaded() -> None:
    with _loader_lock:
        # "running" guards re-entry: a plugin's registration may itself look names up.
        if _loader_state["done"] or _loader_state["running"] or _loader is None:
            return
        _loader_state["running"] = True
        try:
            _loader()
            _loader_state["done"] = True
        finally:
            _loader_state["running"] = False


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registration: ``name`` -> ``obj``, registered by ``source``.

    Example:
        >>> Entry("cosine", object(), source="myplugin").qualified_name
        'myplugin:cosine'
        >>> Entry("myplugin:cosine", object(), source="myplugin").qualified_name
        'myplugin:cosine'
    """

    name: str
    obj: T
    source: str = BUILTIN
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def qualified_name(self) -> str:
        """``source:name``, the spelling that is unique even when names clash (a namespaced name is its own)."""
        return self.name if self.name.startswith(f"{self.source}:") else f"{self.source}:{self.name}"


@dataclass
class NameTable(Generic[T]):
    """A name -> object registry with aliases, clash tracking, wildcards and helpful errors.

    Args:
        kind: what the table holds, singular, for messages (``"similarity function"``).
        list_command: the CLI command that lists every name, quoted in "unknown name" errors.

    Example:
        >>> table = NameTable("colour", list_command="stitch colours list")
        >>> _ = table.register("red", (255, 0, 0), aliases=("rouge",))
        >>> table.get("rouge")
        (255, 0, 0)
        >>> table.names("r*")
        ['red']
    """

    kind: str
    list_command: str = ""
    _entries: dict[str, list[Entry[T]]] = field(default_factory=dict, repr=False)
    _aliases: dict[str, str] = field(default_factory=dict, repr=False)
    _resolvers: list[Callable[[str], T | None]] = field(default_factory=list, repr=False)

    # -- registration -------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        obj: T,
        *,
        source: str = BUILTIN,
        aliases: Iterable[str] = (),
        description: str = "",
    ) -> Entry[T]:
        """Register ``obj`` under ``name`` (and ``aliases``) on behalf of ``source``.

        ``name`` is a bare name, or ``source:rest`` in the source's own namespace (see the module doc).
        Registering a name that another source already registered keeps both (see :meth:`clashes`);
        the same source registering the same name again replaces its own entry, so reloading is safe.
        """
        prefix, colon, rest = name.partition(":") if isinstance(name, str) else ("", "", "")
        if not isinstance(name, str) or not name or (colon and (prefix != source or not rest or ":" in rest)):
            raise ValueError(
                f"cannot register {self.kind} {name!r}: a name is a non-empty string without ':', or "
                f"'{source}:name' in the registering source's own namespace (':' separates a plugin from a "
                "name, as in 'myplugin:name')"
            )
        aliases = tuple(aliases)
        bad_aliases = [a for a in aliases if not isinstance(a, str) or not a or ":" in a]
        if bad_aliases:
            raise ValueError(f"cannot register {self.kind} {name!r}: aliases {bad_aliases} must be names without ':'")
        entry = Entry(name=name, obj=obj, source=source, aliases=aliases, description=description)
        kept = [e for e in self._entries.get(name, []) if e.source != source]
        self._entries[name] = [*kept, entry]
        for alias in entry.aliases:
            self._aliases.setdefault(alias, name)
        return entry

    def add_resolver(self, resolver: Callable[[str], T | None]) -> None:
        """Add a function that resolves names no entry matches (returns ``None`` to pass)."""
        if resolver not in self._resolvers:
            self._resolvers.append(resolver)

    def unregister_source(self, source: str) -> None:
        """Drop every entry ``source`` registered (used when a plugin is unloaded)."""
        for name in list(self._entries):
            kept = [e for e in self._entries[name] if e.source != source]
            if kept:
                self._entries[name] = kept
            else:
                del self._entries[name]
        self._aliases = {a: n for a, n in self._aliases.items() if n in self._entries}

    def has_builtin(self, name: str) -> bool:
        """Whether ``name`` (or an alias of it) is a built-in entry (plugins then cannot shadow it).

        Example:
            >>> t = NameTable("shape"); _ = t.register("box", dict)
            >>> t.has_builtin("box"), t.has_builtin("ball")
            (True, False)
        """
        return self._builtin(name) is not None

    # -- lookup -------------------------------------------------------------------------------------
    def _builtin(self, name: str) -> Entry[T] | None:
        source, colon, rest = name.partition(":")
        bare = rest if colon and source == BUILTIN else name
        bare = self._aliases.get(bare, bare)
        return next((e for e in self._entries.get(bare, ()) if e.source == BUILTIN), None)

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` for ``name`` (bare, alias or ``source:name``); see the module doc."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__} ({name!r})")
        builtin = self._builtin(name)
        if builtin is not None:
            return builtin
        _ensure_plugins_loaded()
        bare = self._aliases.get(name, name)
        found = self._entries.get(bare)
        if found:
            if len(found) == 1:
                return found[0]
            options = ", ".join(repr(e.qualified_name) for e in found)
            raise AmbiguousNameError(
                f"{self.kind} {name!r} is registered by {len(found)} sources ({options}); "
                f"pick one by its qualified name, e.g. {found[0].qualified_name!r}"
            )
        if ":" in name:
            source, _, rest = name.partition(":")
            rest = self._aliases.get(rest, rest)
            for e in self._entries.get(rest, []):
                if e.source == source:
                    return e
        for resolver in self._resolvers:
            obj = resolver(name)
            if obj is not None:
                return Entry(name=name, obj=obj, source="resolver")
        raise UnknownNameError(self._unknown_message(name))

    def get(self, name: str) -> T:
        """The object registered as ``name``."""
        return self.entry(name).obj

    def build(self, name: str, /, *args: Any, **options: Any) -> Any:
        """Call the class or factory registered as ``name``; misspelt options are reported up front.

        Example:
            >>> table = NameTable("shape")
            >>> _ = table.register("box", dict)
            >>> table.build("box", width=2)
            {'width': 2}
        """
        entry = self.entry(name)
        check_options(self.kind, entry.name, entry.obj, options, args=args)
        return entry.obj(*args, **options)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.entry(name)
        except LookupError:
            return False
        return True

    def entries(self, pattern: str = "*") -> list[Entry[T]]:
        """Every entry whose name or an alias matches the shell-style ``pattern``, sorted by name; a pattern with
        a ``:`` matches qualified names (``myplugin:*``)."""
        _ensure_plugins_loaded()
        out = []
        for name in sorted(self._entries):
            for e in self._entries[name]:
                # "b*" must not match every built-in through its qualified name "builtin:<name>"
                candidates = (e.name, *e.aliases, *((e.qualified_name,) if ":" in pattern else ()))
                if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
                    out.append(e)
        return out

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching ``pattern`` (a clashing name appears once)."""
        return sorted({e.name for e in self.entries(pattern)})

    def clashes(self) -> dict[str, list[str]]:
        """``{name: [source, ...]}`` for every name registered by more than one source (built-in first)."""
        _ensure_plugins_loaded()
        return {n: sorted((e.source for e in es), key=lambda s: (s != BUILTIN, s))
                for n, es in sorted(self._entries.items()) if len(es) > 1}

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def _unknown_message(self, name: str) -> str:
        known = sorted({*self._entries, *self._aliases})
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
        listing = f" Run `{self.list_command}` to see them all." if self.list_command else ""
        shown = ", ".join(repr(k) for k in known[:12]) + (", ..." if len(known) > 12 else "")
        return f"unknown {self.kind} {name!r}{hint} Known: {shown or 'none'}.{listing}"


@dataclass(frozen=True)
class TableRef:
    """Where one of the core's name tables lives, and how plugins fill it.

    Args:
        key: the table's name in listings and in ``stitch <key> list``.
        module, attr: the module owning the table and its attribute (imported only when needed).
        register: the module's function that plugins' ``register`` callback forwards to.
        what: what the table holds, plural, for help texts.

    Example:
        >>> CORE_TABLES["similarities"].table().kind
        'similarity function'
    """

    key: str
    module: str
    attr: str
    register: str
    what: str

    @property
    def hook(self) -> str:
        """The plugin hook that fills this table (``stitch_register_<key>``)."""
        return f"stitch_register_{self.key.replace(' ', '_')}"

    def table(self) -> NameTable[Any]:
        """The table itself (imports its module)."""
        return getattr(importlib.import_module(self.module), self.attr)

    def register_function(self) -> Callable[..., Any]:
        """The registration function plugins' entries go through."""
        return getattr(importlib.import_module(self.module), self.register)


#: The core's name tables, by key: the single list the plugin host and the CLI both read.
CORE_TABLES: dict[str, TableRef] = {
    t.key: t
    for t in (
        TableRef("similarities", "stitch.core.similarity", "SIMILARITIES", "register_similarity",
                 "similarity functions"),
        TableRef("anchor strategies", "stitch.core.anchors", "ANCHOR_STRATEGIES", "register_anchor_strategy",
                 "anchor selection strategies"),
        TableRef("aggregations", "stitch.core.aggregation", "AGGREGATIONS", "register_aggregation",
                 "trainable product-space aggregations"),
        TableRef("translators", "stitch.core.translate", "TRANSLATORS", "register_translator",
                 "translation methods (translate:<method> spaces)"),
        TableRef("metrics", "stitch.metrics", "METRICS", "register_metric", "latent-similarity metrics"),
        TableRef("decoders", "stitch.experiment.decoders", "DECODERS", "register_decoder",
                 "decoders for stitching experiments"),
        TableRef("spaces", "stitch.spaces", "SPACES", "register_space",
                 "space kinds (absolute, relative:<sim>, product:<sims>, translate:<method>, ...)"),
        TableRef("protocols", "stitch.experiment.protocols", "PROTOCOLS", "register_protocol",
                 "stitching protocols (frozen, end-to-end, ...)"),
        TableRef("bench suites", "stitch.bench", "SUITES", "register_suite",
                 "reference benchmark suites (stitch bench)"),
    )
}


def _is_int(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Real) and not isinstance(v, bool)


#: annotations :func:`check_options` enforces (as written, or as strings under postponed annotations):
#: a string "false" is truthy, and a float count or a bool number is a slip, not a value
_SIMPLE_TYPES: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)), "bool": ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", _is_int), "int": ("an integer", _is_int),
    float: ("a number", _is_real), "float": ("a number", _is_real),
}


def check_options(
    what: str, name: str, fn: Callable[..., Any], options: dict[str, Any], *, args: tuple[Any, ...] = ()
) -> None:
    """Raise ``TypeError`` naming ``what`` ``name`` and its accepted options if ``fn`` cannot take ``options``,
    or if an option annotated ``bool``, ``int`` or ``float`` gets a value of another type (``"false"`` is truthy).

    Binding first reports a misspelt option against the user's call, not from deep inside the factory.

    Example:
        >>> check_options("decoder", "mlp", lambda *, k=8: None, {"n": 4})
        Traceback (most recent call last):
        ...
        TypeError: decoder 'mlp' got invalid options ['n'] (got an unexpected keyword argument 'n'); it accepts: k
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without a signature: the call itself reports
    try:
        sig.bind(*args, **options)
    except TypeError as exc:
        named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        accepted = ", ".join(p.name for p in sig.parameters.values() if p.kind in named) or "none"
        missing = [p.name for p in sig.parameters.values() if p.kind in named and p.default is p.empty
                   and p.name not in options][len(args):]
        if missing and set(options) <= set(sig.parameters):
            raise TypeError(f"{what} {name!r} needs the option(s) {', '.join(map(repr, missing))}, which were not "
                            f"given; it accepts: {accepted}") from None
        raise TypeError(
            f"{what} {name!r} got invalid options {sorted(options)} ({exc}); it accepts: {accepted}"
        ) from None
    for key, value in options.items():
        param = sig.parameters.get(key)
        expected = _SIMPLE_TYPES.get(param.annotation if param is not None else None)
        if expected is not None and not expected[1](value):
            hint = f" (write {value.strip().lower()} without quotes)" if isinstance(value, str) and \
                value.strip().lower() in ("true", "false") else ""
            raise TypeError(f"{what} {name!r}: option {key!r} must be {expected[0]}, got {value!r} "
                            f"({type(value).__name__}){hint}")


def describe(obj: Any) -> str:
    """First line of ``obj``'s docstring (used as a default description in listings).

    Example:
        >>> describe(describe)
        "First line of ``obj``'s docstring (used as a default description in listings)."
    """
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
