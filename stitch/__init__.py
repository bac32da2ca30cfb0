"""latent-stitch: zero-shot model stitching with relative representations and products of invariances.

``import stitch`` is cheap: public names are resolved lazily (PEP 562), so torch, the plugin host and
the adapters load only when first used.

Example:
    >>> import torch, stitch
    >>> x, anchors = torch.randn(100, 16), torch.randn(10, 16)
    >>> stitch.relative_projection(x, anchors).shape
    torch.Size([100, 10])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it. Keep each issue's names together.
_LAZY: dict[str, str] = {
    # core math
    "select_anchors": "stitch.anchors",
    "list_anchor_strategies": "stitch.anchors",
    "relative_projection": "stitch.similarity",
    "RelativeProjection": "stitch.similarity",
    "list_similarities": "stitch.similarity",
    "get_similarity": "stitch.similarity",
    "similarity_invariances": "stitch.similarity",
    "register_similarity": "stitch.similarity",
    "normalize_relative": "stitch.similarity",
    "register_anchor_strategy": "stitch.anchors",
    "make_aggregation": "stitch.product",
    "ProductSpace": "stitch.product",
    "probe_invariance": "stitch.invariance",
    # encoders and plugins
    "Encoder": "stitch.encoder",
    "EncoderSpec": "stitch.encoder",
    "BaseEncoder": "stitch.encoder",
    "hookimpl": "stitch.plugins",
    "get_encoder": "stitch.plugins",
    "get_encoder_spec": "stitch.plugins",
    "list_encoders": "stitch.plugins",
    "list_encoder_families": "stitch.plugins",
    "get_dataset": "stitch.plugins",
    "get_dataset_info": "stitch.plugins",
    "list_datasets": "stitch.plugins",
    "list_plugins": "stitch.plugins",
    # data and cache
    "Dataset": "stitch.data",
    "LatentCache": "stitch.cache",
    "train_encoder": "stitch.training",
    # experiments
    "run_experiment": "stitch.experiment",
    "load_experiment": "stitch.experiment",
    # audits
    "audit": "stitch.audit",
    "list_metrics": "stitch.metrics",
    "get_metric": "stitch.metrics",
    # errors
    "NotFittedError": "stitch.errors",
    "UnknownNameError": "stitch.errors",
    "AmbiguousNameError": "stitch.errors",
    "ConfigError": "stitch.errors",
    "PluginError": "stitch.errors",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stitch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


def _load_plugins() -> None:
    # The core math never imports the plugin host; this facade wires it in, lazily, for name lookups.
    from registry import load_plugins

    load_plugins()


def _install_plugin_loader() -> None:
    from stitch._names import set_plugin_loader

    set_plugin_loader(_load_plugins)


_install_plugin_loader()

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from stitch.anchors import list_anchor_strategies, register_anchor_strategy, select_anchors
    from stitch.audit import audit
    from stitch.cache import LatentCache
    from stitch.data import Dataset
    from stitch.encoder import BaseEncoder, Encoder, EncoderSpec
    from stitch.errors import AmbiguousNameError, ConfigError, NotFittedError, PluginError, UnknownNameError
    from stitch.experiment import load_experiment, run_experiment
    from stitch.invariance import probe_invariance
    from stitch.metrics import get_metric, list_metrics
    from stitch.plugins import (
        get_dataset,
        get_dataset_info,
        get_encoder,
        get_encoder_spec,
        hookimpl,
        list_datasets,
        list_encoder_families,
        list_encoders,
        list_plugins,
    )
    from stitch.product import ProductSpace, make_aggregation
    from stitch.training import train_encoder
    from stitch.similarity import (
        RelativeProjection,
        get_similarity,
        list_similarities,
        normalize_relative,
        register_similarity,
        relative_projection,
        similarity_invariances,
    )
