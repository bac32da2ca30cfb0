"""The hooks a latent-stitch plugin can implement (pluggy project ``"stitch"``).

A plugin is a module (or object) named by an entry point in the ``stitch`` group::

    [project.entry-points.stitch]
    myplugin = "my_pkg.plugin"

whose functions are decorated with :data:`stitch.hookimpl`. Every ``stitch_register_*`` hook receives a
``register`` callback; each call registers one named thing on behalf of the plugin, so the registry knows
who registered what and can report clashes. Registration must be cheap: no weights, no heavy imports, no
network (the contract kit in :mod:`stitch.testing` checks this).

Example:
    >>> from stitch import hookimpl
    >>> from stitch.encoder import EncoderSpec
    >>> @hookimpl
    ... def stitch_register_encoders(register):
    ...     register(EncoderSpec("toy", "tabular", "A toy encoder", dim=4), lambda **options: ...)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from stitch.utils.names import CORE_TABLES

if TYPE_CHECKING:
    from stitch.encoder import Encoder, EncoderSpec

__all__ = [
    "PROJECT",
    "hookspec",
    "REGISTER_HOOKS",
    "stitch_register_encoders",
    "stitch_register_encoder_families",
    "stitch_register_similarities",
    "stitch_register_anchor_strategies",
    "stitch_register_metrics",
    "stitch_register_datasets",
    "stitch_register_aggregations",
    "stitch_register_translators",
    "stitch_register_decoders",
    "stitch_register_spaces",
    "stitch_register_protocols",
    "stitch_resolve_encoder",
]

#: pluggy project name, also the entry-point group plugins are discovered in.
PROJECT = "stitch"

#: marks the hook specifications below (pluggy); plugins implement them with :data:`stitch.hookimpl`
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def stitch_register_encoders(register: Callable[..., None]) -> None:
    """Register encoders: ``register(spec, factory)``, ``register(EncoderClass)`` or ``register(encoder)``.

    * ``(spec, factory)``: an :class:`~stitch.encoder.EncoderSpec` and ``factory(**options)`` that builds the
      encoder without loading weights (they load on the first ``encode``);
    * an encoder **class**: its ``spec`` attribute, or its ``name``, ``modality`` (and optional int ``dim``)
      class attributes, describe it; the class is the factory;
    * an encoder **instance** (anything with ``name``, ``modality``, ``dim`` and ``encode``, as simonw/llm
      plugins register models): it is served as is and takes no options.

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.encoder import EncoderSpec
        >>> @hookimpl(specname="stitch_register_encoders")
        ... def my_encoders(register):
        ...     register(EncoderSpec("toy", "tabular", "A toy encoder", dim=4, license="MIT"), lambda **options: ...)
        >>> seen = []
        >>> my_encoders(lambda spec, factory: seen.append(spec.name)); seen
        ['toy']
    """


@hookspec
def stitch_register_similarities(register: Callable[..., None]) -> None:
    """Register similarity functions: ``register(name, fn, *, invariances=(), description="")``.

    ``fn(x, anchors) -> (n, k)`` relative representation; ``invariances`` names the transform classes of
    :mod:`stitch.core.transforms` the function is invariant to (the invariance tests check the claim).

    Example:
        >>> import torch
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_similarities")
        ... def my_similarities(register):
        ...     register("neg_l1", lambda x, a: -torch.cdist(x, a, p=1), invariances=("translation", "permutation"))
        >>> seen = []
        >>> my_similarities(lambda name, fn, **kw: seen.append((name, kw["invariances"]))); seen
        [('neg_l1', ('translation', 'permutation'))]
    """


@hookspec
def stitch_register_anchor_strategies(register: Callable[..., None]) -> None:
    """Register anchor selection strategies: ``register(name, fn, *, description="")``.

    ``fn(x, n, *, labels=None, seed=0, **options)`` returns ``n`` distinct row indices into ``x``.

    Example:
        >>> import torch
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_anchor_strategies")
        ... def my_strategies(register):
        ...     register("first", lambda x, n, *, labels=None, seed=0: torch.arange(n), description="the first n rows")
        >>> seen = []
        >>> my_strategies(lambda name, fn, **kw: seen.append(fn(torch.zeros(5, 2), 3).tolist())); seen
        [[0, 1, 2]]
    """


@hookspec
def stitch_register_metrics(register: Callable[..., None]) -> None:
    """Register latent-similarity metrics for audits: ``register(name, metric_or_fn, **meta)``.

    ``meta`` are the keywords of :func:`stitch.metrics.register_metric` (``kind``, ``range``, ``invariances``, ...).

    Example:
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_metrics")
        ... def my_metrics(register):
        ...     register("row_count_ratio", lambda x, y: len(x) / len(y), kind="score", range=(1.0, 1.0))
        >>> seen = []
        >>> my_metrics(lambda name, fn, **meta: seen.append((name, meta["range"]))); seen
        [('row_count_ratio', (1.0, 1.0))]
    """


@hookspec
def stitch_register_datasets(register: Callable[..., None]) -> None:
    """Register dataset loaders: ``register(name, loader, *, modality, description="")``.

    ``loader(*, root=None, **options)`` returns a :class:`stitch.data.Dataset`; ``root`` is where raw
    files live (``$STITCH_DATA`` when the user gives none).

    Example:
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_datasets")
        ... def my_datasets(register):
        ...     register("toy-digits", lambda *, root=None: ..., modality="image", description="8x8 digits")
        >>> seen = []
        >>> my_datasets(lambda name, loader, **kw: seen.append((name, kw["modality"]))); seen
        [('toy-digits', 'image')]
    """


@hookspec
def stitch_register_encoder_families(register: Callable[..., None]) -> None:
    """Declare the open name families your ``stitch_resolve_encoder`` serves, so listings can show them.

    ``register(prefix, description, *, placeholder="<name>", modality="any", extra=None)`` declares that
    ``prefix:<placeholder>`` names resolve, e.g. ``register("timm", "any timm model", placeholder="<model>",
    modality="image", extra="vision")``. A resolver's names cannot be enumerated (any timm model, any local
    directory); ``stitch encoders list`` prints one line per family under the table of registered encoders.

    Example:
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_encoder_families")
        ... def my_families(register):
        ...     register("onnx", "any local ONNX model", placeholder="<path>", modality="any")
        >>> seen = []
        >>> my_families(lambda prefix, description, **kw: seen.append(f"{prefix}:{kw['placeholder']}")); seen
        ['onnx:<path>']
    """


@hookspec(firstresult=True)
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Callable[..., Encoder]] | None:
    """Resolve a name no plugin registered, e.g. ``"timm:resnet18"`` or ``"hf:<model id or path>"``.

    Return ``(spec, factory)`` for names this plugin serves and ``None`` for the rest; the first
    non-``None`` answer wins. Resolution runs only after exact names, aliases and ``plugin:name`` failed.
    Resolving must stay cheap (no weights); raise :class:`~stitch.errors.UnknownNameError` for a name
    with your prefix that does not exist, so the user sees your "did you mean".

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.encoder import EncoderSpec
        >>> @hookimpl(specname="stitch_resolve_encoder")
        ... def my_resolver(name):
        ...     if not name.startswith("onnx:"):
        ...         return None
        ...     return EncoderSpec(name, "any", f"ONNX model {name[5:]}"), lambda **options: ...
        >>> my_resolver("timm:resnet18") is None, my_resolver("onnx:model.onnx")[0].description
        (True, 'ONNX model model.onnx')
    """


@hookspec
def stitch_register_aggregations(register: Callable[..., None]) -> None:
    """Register trainable product-space aggregations: ``register(name, factory, *, description="")``.

    ``factory(n_subspaces, dim, **options)`` returns a ``torch.nn.Module`` mapping ``(n, k, dim)`` to
    ``(n, out_dim)`` with an ``out_dim`` attribute (see :mod:`stitch.core.aggregation`).

    Example:
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_aggregations")
        ... def my_aggregations(register):
        ...     register("first", lambda k, dim: None, description="the first subspace")
        >>> seen = []
        >>> my_aggregations(lambda name, factory, **kw: seen.append(name)); seen
        ['first']
    """


@hookspec
def stitch_register_translators(register: Callable[..., None]) -> None:
    """Register translation methods (``translate:<name>`` spaces): ``register(name, cls, *, description="")``.

    ``cls(**options)`` is an estimator with ``fit(x_src, y_tgt)`` and ``transform(x)`` (see
    :class:`stitch.core.translate.Translator`).

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.core.translate import Linear
        >>> @hookimpl(specname="stitch_register_translators")
        ... def my_translators(register):
        ...     register("lsq", Linear, description="least squares")
        >>> seen = []
        >>> my_translators(lambda name, cls, **kw: seen.append((name, cls.__name__))); seen
        [('lsq', 'Linear')]
    """


@hookspec
def stitch_register_decoders(register: Callable[..., None]) -> None:
    """Register decoders for stitching experiments: ``register(name, cls, *, description="")``.

    ``cls(**options)`` follows :class:`stitch.experiment.decoders.Decoder` (``fit(z, y)``, ``score(z, y)``).

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.experiment.decoders import LinearClassifier
        >>> @hookimpl(specname="stitch_register_decoders")
        ... def my_decoders(register):
        ...     register("probe", LinearClassifier, description="a linear probe")
        >>> seen = []
        >>> my_decoders(lambda name, cls, **kw: seen.append(name)); seen
        ['probe']
    """


@hookspec
def stitch_register_spaces(register: Callable[..., None]) -> None:
    """Register space kinds (``<name>:<argument>`` in experiment files): ``register(name, cls, *, description="")``.

    ``cls`` subclasses :class:`stitch.spaces.Space`: its constructor parses the argument and options, ``fit``
    builds one encoder's transform from its anchors, ``stitch`` reads another encoder's latents where the
    decoder reads them.

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.spaces import RelativeSpace
        >>> @hookimpl(specname="stitch_register_spaces")
        ... def my_spaces(register):
        ...     register("rel", RelativeSpace, description="relative, shorter")
        >>> seen = []
        >>> my_spaces(lambda name, cls, **kw: seen.append(name)); seen
        ['rel']
    """


@hookspec
def stitch_register_protocols(register: Callable[..., None]) -> None:
    """Register stitching protocols (``protocol = "<name>"`` in experiment files): ``register(name, cls, *,
    description="")``.

    ``cls`` subclasses :class:`stitch.experiment.protocols.Protocol`: ``check(config)`` returns its rules'
    problems, ``run(context)`` returns the cells of the stitching matrix.

    Example:
        >>> from stitch import hookimpl
        >>> from stitch.experiment.protocols import FrozenProtocol
        >>> @hookimpl(specname="stitch_register_protocols")
        ... def my_protocols(register):
        ...     register("frozen-again", FrozenProtocol, description="the frozen protocol under a new name")
        >>> seen = []
        >>> my_protocols(lambda name, cls, **kw: seen.append(name)); seen
        ['frozen-again']
    """


@hookspec
def stitch_register_bench_suites(register: Callable[..., None]) -> None:
    """Register reference suites (``stitch bench --suite <name>``): ``register(name, run, *, description,
    protocol="", reference="")``.

    ``run(context)`` takes a :class:`stitch.bench.BenchContext` and returns :class:`stitch.bench.BenchRow` objects;
    ``protocol`` (what was measured) and ``reference`` (where the published numbers come from) are printed above
    the table. The suite shows up in ``stitch bench --list``.

    Example:
        >>> from stitch import hookimpl
        >>> @hookimpl(specname="stitch_register_bench_suites")
        ... def my_suites(register):
        ...     register("mine", lambda context: [], description="my models against the papers")
        >>> seen = []
        >>> my_suites(lambda name, run, **kw: seen.append(name)); seen
        ['mine']
    """


#: hook name -> the registry table kind its ``register`` callback fills (the core's tables: CORE_TABLES).
REGISTER_HOOKS: dict[str, str] = {
    "stitch_register_encoders": "encoders",
    "stitch_register_encoder_families": "encoder families",
    "stitch_register_datasets": "datasets",
    **{ref.hook: ref.key for ref in CORE_TABLES.values()},
}
