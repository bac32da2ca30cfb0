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

__version__ = "0.2.0"

# public name -> module that defines it, by layer.
_LAZY: dict[str, str] = {
    # core math: transforms, similarities, anchors, relative and product spaces, translators, probe
    "TRANSFORM_CLASSES": "stitch.core.transforms",
    "sample_transform": "stitch.core.transforms",
    "select_anchors": "stitch.core.anchors",
    "get_anchor_strategy": "stitch.core.anchors",
    "list_anchor_strategies": "stitch.core.anchors",
    "register_anchor_strategy": "stitch.core.anchors",
    "get_similarity": "stitch.core.similarity",
    "list_similarities": "stitch.core.similarity",
    "register_similarity": "stitch.core.similarity",
    "similarity_invariances": "stitch.core.similarity",
    "normalize_relative": "stitch.core.normalization",
    "relative_projection": "stitch.core.projection",
    "RelativeProjection": "stitch.core.projection",
    "ProductSpace": "stitch.core.product",
    "create_aggregation": "stitch.core.aggregation",
    "list_aggregations": "stitch.core.aggregation",
    "register_aggregation": "stitch.core.aggregation",
    "make_aggregation": "stitch.core.aggregation",  # deprecated
    "Procrustes": "stitch.core.translate",
    "Affine": "stitch.core.translate",
    "Linear": "stitch.core.translate",
    "Ridge": "stitch.core.translate",
    "OTTranslator": "stitch.core.translate",
    "create_translator": "stitch.core.translate",
    "list_translators": "stitch.core.translate",
    "register_translator": "stitch.core.translate",
    "match_anchors": "stitch.core.matching",
    "probe_invariance": "stitch.core.probe",
    # stitching you keep
    "Stitcher": "stitch.stitcher",
    "StitchedModel": "stitch.stitcher",
    "load_stitched": "stitch.stitcher",
    # spaces
    "create_space": "stitch.spaces",
    "list_spaces": "stitch.spaces",
    "register_space": "stitch.spaces",
    # encoders, datasets, plugins
    "Encoder": "stitch.encoder",
    "EncoderSpec": "stitch.encoder",
    "BaseEncoder": "stitch.encoder",
    "LatentCache": "stitch.encoder.cache",
    "encode": "stitch.encoder.cache",
    "Dataset": "stitch.data",
    "hookimpl": "stitch.plugins",
    "create_encoder": "stitch.plugins",
    "get_encoder_spec": "stitch.plugins",
    "list_encoders": "stitch.plugins",
    "get_encoder_family": "stitch.plugins",
    "list_encoder_families": "stitch.plugins",
    "load_dataset": "stitch.plugins",
    "get_dataset_info": "stitch.plugins",
    "list_datasets": "stitch.plugins",
    "get_plugin": "stitch.plugins",
    "list_plugins": "stitch.plugins",
    "get_encoder": "stitch.plugins",  # deprecated
    "get_dataset": "stitch.plugins",  # deprecated
    # experiments: decoders, training, the stitching matrix
    "LinearClassifier": "stitch.experiment.decoders",
    "MLPClassifier": "stitch.experiment.decoders",
    "ReconstructionDecoder": "stitch.experiment.decoders",
    "create_decoder": "stitch.experiment.decoders",
    "list_decoders": "stitch.experiment.decoders",
    "register_decoder": "stitch.experiment.decoders",
    "train_encoder": "stitch.experiment.training",
    "train_end_to_end": "stitch.experiment.endtoend",
    "stitch_end_to_end": "stitch.experiment.endtoend",
    "run_experiment": "stitch.experiment",
    "load_experiment": "stitch.experiment",
    "check_experiment": "stitch.experiment",
    # audits
    "audit": "stitch.audits",
    "audit_layers": "stitch.audits",
    "compare": "stitch.audits",
    "list_metrics": "stitch.metrics",
    "get_metric": "stitch.metrics",
    "register_metric": "stitch.metrics",
    # errors
    "NotFittedError": "stitch.errors",
    "UnknownNameError": "stitch.errors",
    "AmbiguousNameError": "stitch.errors",
    "ConfigError": "stitch.errors",
    "PluginError": "stitch.errors",
}

# sub-packages reachable as attributes without an import (``stitch.metrics.linear_cka(x, y)``)
_SUBPACKAGES = ("adapters", "audits", "cli", "core", "data", "encoder", "engine", "errors", "experiment", "metrics",
                "plugins", "registry", "spaces", "stitcher", "testing", "utils")

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBPACKAGES:
            return importlib.import_module(f"stitch.{name}")
        raise AttributeError(f"module 'stitch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


def _load_plugins() -> None:
    # The core math never imports the plugin host; this facade wires it in, lazily, for name lookups.
    from stitch.registry import load_plugins

    load_plugins()


def _install_plugin_loader() -> None:
    from stitch.utils.names import set_plugin_loader

    set_plugin_loader(_load_plugins)


_install_plugin_loader()

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from stitch.audits import audit, audit_layers, compare
    from stitch.core.aggregation import create_aggregation, list_aggregations, make_aggregation, register_aggregation
    from stitch.core.anchors import get_anchor_strategy, list_anchor_strategies, register_anchor_strategy, select_anchors
    from stitch.core.matching import match_anchors
    from stitch.core.normalization import normalize_relative
    from stitch.core.probe import probe_invariance
    from stitch.core.product import ProductSpace
    from stitch.core.projection import RelativeProjection, relative_projection
    from stitch.core.similarity import get_similarity, list_similarities, register_similarity, similarity_invariances
    from stitch.core.transforms import TRANSFORM_CLASSES, sample_transform
    from stitch.core.translate import (
        Affine, Linear, OTTranslator, Procrustes, Ridge, create_translator, list_translators, register_translator,
    )
    from stitch.data import Dataset
    from stitch.encoder import BaseEncoder, Encoder, EncoderSpec
    from stitch.encoder.cache import LatentCache, encode
    from stitch.errors import AmbiguousNameError, ConfigError, NotFittedError, PluginError, UnknownNameError
    from stitch.experiment import check_experiment, load_experiment, run_experiment
    from stitch.experiment.decoders import (
        LinearClassifier, MLPClassifier, ReconstructionDecoder, create_decoder, list_decoders, register_decoder,
    )
    from stitch.experiment.endtoend import stitch_end_to_end, train_end_to_end
    from stitch.experiment.training import train_encoder
    from stitch.metrics import get_metric, list_metrics, register_metric
    from stitch.spaces import create_space, list_spaces, register_space
    from stitch.stitcher import StitchedModel, Stitcher, load_stitched
    from stitch.plugins import (
        create_encoder, get_dataset, get_dataset_info, get_encoder, get_encoder_family, get_encoder_spec, get_plugin,
        hookimpl, list_datasets, list_encoder_families, list_encoders, list_plugins, load_dataset,
    )
