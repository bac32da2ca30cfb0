"""Audits from encoders and data: encode through the latent cache, subsample, compare, save.

* :func:`audit` — obtains the latents (from ``latents=`` or by encoding ``dataset`` with each encoder through
  :class:`~stitch.encoder.cache.LatentCache`), subsamples ``n`` rows (seeded, the same rows for every model)
  and calls :func:`~stitch.audits.compare.compare`;
* :func:`audit_layers` — the same for every layer of two encoders (adapters that take ``layer=``), as a
  layer x layer result.

Each encoder's latents are computed once, whatever the number of metrics and pairs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stitch.audits.compare import as_latents, common_rows, compare
from stitch.audits.result import AuditResult
from stitch.audits.statistics import subsample_rows
from stitch.encoder.refs import format_encoder, parse_encoder
from stitch.utils.deprecation import renamed_kwargs

__all__ = ["audit", "audit_layers", "encode_all"]

_MODALITIES = ("image", "text", "graph")


def _check_modality(label: str, encoder: Any, ds: Any) -> None:
    # Only the core modalities are compared: "any", "tabular" or a plugin's own may legitimately mix.
    enc_mod, ds_mod = getattr(encoder, "modality", None), getattr(ds, "modality", None)
    if enc_mod in _MODALITIES and ds_mod in _MODALITIES and enc_mod != ds_mod:
        raise ValueError(f"encoder {label!r} takes {enc_mod} inputs but dataset {ds.name!r} holds {ds_mod}; pick "
                         f"an encoder from `stitch encoders list --modality {ds_mod}` or a {enc_mod} dataset")


def _check_metric_names(metrics: Sequence[str] | None) -> None:
    # Before any encoding: an unknown metric name must not cost a full encoding pass to discover.
    from stitch.metrics import get_metric

    for name in metrics or ():
        get_metric(name)


def _as_encoder_map(encoders: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(encoders, Mapping):
        return dict(encoders)
    out = {}
    for enc in encoders:
        label = enc if isinstance(enc, str) else getattr(enc, "name", repr(enc))
        if label in out:
            raise ValueError(f"encoder {label!r} is listed twice")
        out[label] = enc
    return out


def encode_all(encoders: Mapping[str, Any], dataset: Any, split: str | None, *, cache_root: Any = None,
               data_root: Any = None, progress: bool | None = None, engine: Any = None
               ) -> tuple[dict[str, torch.Tensor], Any]:
    """``({label: latents}, dataset)``: every encoder built and checked first, then each encoded once (cached).

    ``encoders`` maps labels to references (``"name?opt=value"``) or encoder objects; ``engine`` (from
    :mod:`stitch.engine`) encodes elsewhere into the same cache.
    """
    from stitch.encoder.cache import LatentCache
    from stitch.engine import as_engine
    from stitch.plugins import create_encoder, load_dataset

    ds = load_dataset(dataset, data_root=data_root) if isinstance(dataset, str) else dataset
    cache = LatentCache(cache_root)
    built = {}
    for label, enc in encoders.items():
        if isinstance(enc, str):
            name, opts = parse_encoder(enc)
            enc = create_encoder(name, **opts)
        _check_modality(label, enc, ds)
        built[label] = enc
    # Every encoder is built and checked before any is run, so a typo in the last name fails in seconds.
    return {k: z for k, (z,) in as_engine(engine).encode_many(built, ds, [split], cache=cache,
                                                                progress=progress).items()}, ds


def _align_ids(latents: dict[str, Any], ids: Mapping[str, Sequence[str]]) -> list[str]:
    from stitch.metrics._base import align_by_ids

    missing = [k for k in latents if k not in ids]
    if missing:
        raise ValueError(f"ids given for some models but not for {missing}; give ids for every model or none")
    first = next(iter(latents))
    ref = [str(i) for i in ids[first]]
    for k in latents:
        latents[k] = align_by_ids(ref, ids[k], latents[k], align=True, n=len(latents[first]))
    return ref


@renamed_kwargs(dataset_root="data_root")
def audit(
    latents: Mapping[str, Any] | None = None,
    *,
    encoders: Sequence[Any] | Mapping[str, Any] | None = None,
    dataset: Any = None,
    split: str | None = "test",
    ids: Mapping[str, Sequence[str]] | None = None,
    labels: Any = None,
    metrics: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    permutations: int = 0,
    bootstrap: int = 0,
    confidence: float = 0.95,
    out: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    engine: Any = None,
) -> AuditResult:
    """Audit how similar several models' latent spaces are, pair by pair, under many metrics.

    Give either ``latents`` (``{model: (n, d)}``, optionally with ``ids={model: sample ids}``, which are
    then aligned to the first model's order) or ``encoders`` (names — ``"name?opt=value"`` — or
    :class:`~stitch.Encoder` objects) and ``dataset`` (name or :class:`~stitch.Dataset`), encoded through
    the latent cache. ``n`` rows are kept (a seeded random subset shared by all models). With ``out``,
    the result is also saved there (see :meth:`AuditResult.save`). ``engine`` runs the encoding and the cells
    elsewhere (``stitch.engine.RayEngine``); the numbers are the same.

    Shapes:
        latents: ``{model: (n, d_model)}``  ->  per metric a ``(models, models)`` matrix

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(80, 6, generator=g)
        >>> res = audit({"a": x, "b": x @ torch.randn(6, 6, generator=g)}, metrics=["mean_cca", "linear_cka"])
        >>> round(float(res.matrix("mean_cca")[0, 1]), 6)
        1.0
    """
    config: dict[str, Any] = {}
    if (latents is None) == (encoders is None):
        raise ValueError("pass either latents={model: tensor} or encoders=[...] with dataset=..., not both or neither")
    if encoders is not None:
        if dataset is None:
            raise ValueError("encoders need a dataset to encode: pass dataset='name' or a stitch.Dataset")
        enc_map = _as_encoder_map(encoders)
        _check_metric_names(metrics)
        latents, ds = encode_all(enc_map, dataset, split, cache_root=cache_root, data_root=data_root,
                                 progress=progress, engine=engine)
        sample_ids = ds.split_ids(split)
        if labels is None:
            labels = ds.split_labels(split)
        config.update(dataset=ds.name, split=split, encoders={k: v if isinstance(v, str) else repr(v)
                                                              for k, v in enc_map.items()})
    else:
        if not latents:
            raise ValueError("latents is empty; pass at least one {model: tensor}")
        latents = as_latents(latents)
        sample_ids = _align_ids(latents, ids) if ids is not None else None
    n_total = common_rows(latents)
    idx = subsample_rows(n_total, n, seed)
    if idx is not None:
        t = torch.from_numpy(idx)
        latents = {k: v[t] for k, v in latents.items()}
        labels = None if labels is None else np.asarray(labels)[idx]
        sample_ids = None if sample_ids is None else [sample_ids[i] for i in idx]
    res = compare(latents, metrics=metrics, labels=labels, metric_options=metric_options,
                  permutations=permutations, bootstrap=bootstrap, confidence=confidence, seed=seed,
                  progress=progress, engine=engine)
    res.config.update(config, n_requested=n, n_available=n_total)
    if sample_ids is not None:
        res.config["sample_ids_sha256"] = hashlib.sha256("\x1f".join(map(str, sample_ids)).encode()).hexdigest()
    if out is not None:
        res.save(out)
    return res


def layer_refs(encoder: str, layers: Sequence[int]) -> dict[str, str]:
    """``{"<encoder>@<layer>": reference with layer=<layer>}`` for every layer.

    Example:
        >>> layer_refs("minilm?pooling=cls", [1, 2])
        {'minilm?pooling=cls@1': 'minilm?pooling=cls&layer=1', 'minilm?pooling=cls@2': 'minilm?pooling=cls&layer=2'}
    """
    name, opts = parse_encoder(encoder)
    return {f"{encoder}@{layer}": format_encoder(name, {**opts, "layer": int(layer)}) for layer in layers}


def _check_takes_layer(encoder: str, layer: int) -> None:
    """Refuse, before any encoding, an encoder whose adapter has no ``layer=`` to choose."""
    from stitch.plugins import create_encoder

    name, opts = parse_encoder(encoder)
    try:
        create_encoder(name, **opts, layer=int(layer))  # builds lazily: no weights are read here
    except TypeError as exc:
        if "layer" not in str(exc):
            raise
        raise ValueError(f"encoder {name!r} has no layers to choose (its adapter does not take layer=); audit the "
                         "layers of one that does, e.g. 'minilm' or 'hf:<model>'") from None


@renamed_kwargs(dataset_root="data_root")
def audit_layers(
    encoder_a: str,
    encoder_b: str,
    dataset: Any,
    layers: Sequence[int],
    *,
    layers_b: Sequence[int] | None = None,
    split: str | None = "test",
    metrics: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    out: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    engine: Any = None,
) -> AuditResult:
    """Layer x layer audit of two encoders whose adapters take a ``layer=`` option (e.g. transformers).

    Rows are ``encoder_a`` at each of ``layers``, columns ``encoder_b`` at each of ``layers_b``
    (default: the same layers). Encoder names may carry other options (``"hf:bert?pooling=cls"``).

    Shapes:
        per metric a ``(len(layers), len(layers_b))`` matrix

    Example:
        >>> audit_layers("hf:a", "hf:b", "trec", [])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: audit_layers needs at least one layer...
    """
    layers_b = list(layers if layers_b is None else layers_b)
    if not layers or not layers_b:
        raise ValueError("audit_layers needs at least one layer on each side, e.g. layers=[0, 6, 12]")
    for encoder, first in ((encoder_a, layers[0]), (encoder_b, layers_b[0])):
        _check_takes_layer(encoder, first)
    row_encs, col_encs = layer_refs(encoder_a, layers), layer_refs(encoder_b, layers_b)
    _check_metric_names(metrics)
    latents, ds = encode_all({**row_encs, **col_encs}, dataset, split, cache_root=cache_root, data_root=data_root,
                             progress=progress, engine=engine)
    n_total = common_rows(latents)
    idx = subsample_rows(n_total, n, seed)
    if idx is not None:
        latents = {k: v[torch.from_numpy(idx)] for k, v in latents.items()}
    labels = ds.split_labels(split)
    labels = labels if idx is None else labels[idx]
    res = compare({k: latents[k] for k in row_encs}, {k: latents[k] for k in col_encs}, metrics=metrics,
                  labels=labels, metric_options=metric_options, seed=seed, progress=progress, engine=engine)
    res.config.update(dataset=ds.name, split=split, layers=list(layers), layers_b=layers_b,
                      encoder_a=encoder_a, encoder_b=encoder_b, n_requested=n, n_available=n_total)
    if out is not None:
        res.save(out)
    return res
