"""End-to-end relative training, the relative-representations paper's protocol, and stitching the trained models.

In the frozen protocol (:mod:`stitch.experiment.matrix`) a decoder is fitted afterwards on an encoder's fixed
latents. Here the space is a *layer*: :func:`train_end_to_end` trains ``encoder -> space -> decoder`` as one
model, where the space (absolute, ``relative:<sim>`` or ``product:<sims>``) is fitted at every step on the
anchors' latents **as the current encoder embeds them** (anchors and batch go through the encoder in one
forward pass, so gradients reach the encoder through both). :func:`stitch_end_to_end` then pairs the
encoder of model A with the decoder of model B: A embeds the test samples and the shared anchors, the space
is fitted on A's anchors, and B's decoder reads the result zero-shot.

Everything random is seeded: the encoder's initialisation (``seed``), the decoder (``seed + 1``), batch
order and dropout. A trained model is one trained-encoder file (:mod:`stitch.encoder.checkpoint`): the
encoder's weights under ``encoder.`` (so ``trained:<path>`` loads it like any trained encoder), the decoder
under ``head.``, and the space, anchors and decoder settings in its provenance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from stitch.encoder.checkpoint import TRAINED_PREFIX, read_provenance, write_trained
from stitch.experiment.config import DecoderConfig, Schedule, SpaceConfig
from stitch.experiment.training import (SCHEDULE_KWARGS, fit_epochs, shuffled_batches, take_rows, trained_provenance,
                                        trainable_encoder)
from stitch.utils.deprecation import folded_kwargs
from stitch.utils.files import load_tensors

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.encoder import Encoder
    from stitch.experiment.decoders import Decoder

__all__ = ["EndToEndModel", "split_targets", "train_end_to_end", "load_end_to_end", "stitch_end_to_end"]

def split_targets(dataset: Dataset, split: str, task: str) -> np.ndarray:
    """What a decoder predicts on ``dataset[split]``: labels, or the flattened inputs for ``"reconstruction"``.

    Integer images (``uint8``, 0..255) are scaled to 0..1, the scale encoders read images on.

    Shapes:
        ``(n,)`` labels, or ``(n, prod(input shape))`` float32

    Example:
        >>> import stitch
        >>> split_targets(stitch.load_dataset("digits"), "test", "reconstruction").shape
        (359, 64)
    """
    if task != "reconstruction":
        return dataset.split_labels(split)
    raw = np.asarray(dataset.split_inputs(split))
    inputs = raw.astype(np.float32) / 255.0 if np.issubdtype(raw.dtype, np.integer) else raw.astype(np.float32)
    return inputs.reshape(len(inputs), -1)


@dataclass
class EndToEndModel:
    """A model trained end to end: its encoder, its decoder, the space between them and the anchors.

    Attributes:
        path: the trained-encoder file (``trained:<path>`` loads the encoder alone).
        encoder: the trained encoder (eval mode).
        decoder: the trained decoder (a fitted :class:`~stitch.experiment.decoders.Decoder`).
        space: the space layer.
        anchor_rows: rows of the training split used as anchors, in the order the decoder reads them.
        metrics: ``val_score`` (accuracy, or minus the MSE), ``best_epoch``, ``epochs_run``, ``seconds``.
    """

    path: Path
    encoder: Encoder
    decoder: Decoder
    space: SpaceConfig
    anchor_rows: list[int]
    metrics: dict[str, float]


class _Embedder:
    """The dataset's splits prepared once for ``enc.forward``; latents of any rows of a split."""

    def __init__(self, enc: Any, dataset: Dataset, splits: Sequence[str]) -> None:
        self.enc, self.transductive = enc, dataset.transductive
        self.rows = {s: dataset.indices(s) for s in splits}
        if self.transductive:
            self.graph = enc._prepare(dataset.inputs)
        else:
            self.items = {s: enc._prepare(dataset.split_inputs(s)) for s in splits}

    def __call__(self, split: str, idx: np.ndarray) -> torch.Tensor:
        if self.transductive:
            return self.enc.forward(self.graph)[torch.as_tensor(self.rows[split][idx])]
        return self.enc.forward(take_rows(self.items[split], idx))

    def eval_latents(self, split: str, idx: np.ndarray, batch_size: int) -> torch.Tensor:
        with torch.no_grad():
            if self.transductive:
                return self(split, idx)
            return torch.cat([self(split, idx[s : s + batch_size]) for s in range(0, len(idx), batch_size)])


def _space_fn(space: SpaceConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn(latents, anchor latents) -> representation`` of a space layer."""
    return lambda z, anchors: space.space.fit(anchors)(z)


def _new_decoder(space: SpaceConfig, kind: str, hidden: int, normalize: bool, seed: int) -> Decoder:
    from stitch.experiment.decoders import create_decoder

    agg, agg_opts = space.space.decoder_aggregation()
    return create_decoder(kind, seed=seed, hidden=hidden, normalize=normalize, aggregation=agg,
                          aggregation_options=agg_opts)


def _head(decoder: str | DecoderConfig | Mapping[str, Any]) -> DecoderConfig:
    """The head's settings: a kind, a DecoderConfig, or a mapping of its fields (``kind`` defaults to linear)."""
    if isinstance(decoder, DecoderConfig):
        return decoder
    if isinstance(decoder, str):
        return DecoderConfig(kind=decoder)
    if not isinstance(decoder, Mapping):
        raise TypeError(f"decoder must be a decoder kind ('linear', 'mlp', 'reconstruction'), a DecoderConfig or a "
                        f"mapping of its fields, got {type(decoder).__name__}")
    from stitch.utils.configfiles import validate

    return validate(DecoderConfig, {"kind": "linear", **decoder}, what="decoder", source="argument")


def _check_space(space: SpaceConfig | str) -> SpaceConfig:
    space = space if isinstance(space, SpaceConfig) else SpaceConfig.model_validate(space)
    if not space.space.end_to_end:
        from stitch.spaces import end_to_end_kinds

        raise ValueError(f"space {space.name!r} cannot be trained end to end: a {space.kind!r} space maps between "
                         f"two models; use one of {', '.join(end_to_end_kinds())}")
    return space


@folded_kwargs("schedule", SCHEDULE_KWARGS)
@folded_kwargs("decoder", ("hidden", "normalize"), key="kind")
def train_end_to_end(
    encoder: str | Encoder,
    dataset: Dataset,
    *,
    space: SpaceConfig | str,
    anchor_rows: Sequence[int],
    out: str | os.PathLike[str],
    schedule: Schedule | Mapping[str, Any] | None = None,
    decoder: str | DecoderConfig | Mapping[str, Any] = "linear",
    seed: int = 0,
    split: str = "train",
    val_split: str | None = "val",
    encoder_options: dict[str, Any] | None = None,
    progress: bool | None = None,
    recipe: dict[str, Any] | None = None,
) -> EndToEndModel:
    """Train ``encoder -> space -> decoder`` as one model (AdamW), the space refitted on the anchors every step.

    Args:
        encoder: a trainable encoder name (built with ``seed=seed`` plus ``encoder_options``) or instance.
        dataset: the data; ``decoder="reconstruction"`` rebuilds the inputs (inductive datasets only).
        space: ``"absolute"``, ``"relative:<sim>"`` or ``"product:<sims>"`` (a spec or :class:`SpaceConfig`).
        anchor_rows: rows of ``split`` used as anchors (the same rows for every model that is to be stitched).
        out: the model file (its provenance goes to ``<out>.json``).
        schedule: a :class:`~stitch.experiment.config.Schedule` or a mapping of its fields (``epochs``, ``lr``,
            ``weight_decay``, ``batch_size``, ``patience``; ``patience=None`` runs every epoch).
        decoder: a decoder kind (``linear``, ``mlp``, ``reconstruction``) or a
            :class:`~stitch.experiment.config.DecoderConfig` / mapping whose ``kind``, ``hidden`` and ``normalize``
            shape the head (``kind`` defaults to ``linear``).
        seed: encoder initialisation, batch order and dropout; the decoder is seeded with ``seed + 1``.
        split / val_split: train on ``split``; keep the epoch with the best score on ``val_split``
            (accuracy, or minus the MSE; the training loss when the split is absent).
        recipe: an identity of everything that produced the file, recorded in its provenance.

    Returns the trained :class:`EndToEndModel` (loaded back from the written file, so a reused file and a
    fresh one behave the same).

    Shapes:
        a batch of ``b`` inputs and the ``a`` anchors -> latents ``(b + a, d)`` -> the space ``(b, a)``
        (relative), ``(b, k * a)`` (product) or ``(b, d)`` (absolute) -> logits ``(b, classes)`` or ``(b, d_in)``

    Example:
        >>> import tempfile, stitch
        >>> ds = stitch.load_dataset("digits")
        >>> m = train_end_to_end("timm:test_resnet", ds, space="relative:cosine", anchor_rows=range(20),
        ...                      out=tempfile.mkdtemp() + "/m.safetensors", schedule={"epochs": 1},
        ...                      encoder_options={"image_size": 16, "in_chans": 1})  # doctest: +SKIP
        >>> m.metrics["val_score"] > 0.5  # doctest: +SKIP
        True
    """
    space = _check_space(space)
    plan, head = Schedule.of(schedule), _head(decoder)
    batch_size = plan.batch_size
    task = head.task
    if task == "reconstruction" and dataset.transductive:
        raise ValueError(f"decoder 'reconstruction' rebuilds each sample's input, but dataset {dataset.name!r} is "
                         "transductive (one graph); use 'linear' or 'mlp'")
    n_train = len(dataset.indices(split))
    anchors = np.asarray(list(anchor_rows), dtype=np.int64)
    if anchors.ndim != 1 or len(anchors) == 0 or anchors.min() < 0 or anchors.max() >= n_train:
        raise ValueError(f"anchor_rows must be a non-empty list of rows of split {split!r} (0..{n_train - 1}), "
                         f"got {len(anchors)} rows in {anchors.min() if len(anchors) else '-'}.."
                         f"{anchors.max() if len(anchors) else '-'}")
    enc, base_name, options = trainable_encoder(encoder, seed, encoder_options)
    val = val_split if val_split in dataset.splits and len(dataset.indices(val_split)) else None
    embed = _Embedder(enc, dataset, [split] + ([val] if val else []))
    module = enc.module  # after _prepare: some modules size themselves from the data
    rep = _space_fn(space)
    y_train = torch.as_tensor(split_targets(dataset, split, task))
    dec = _new_decoder(space, head.kind, head.hidden, head.normalize, seed + 1)
    module.eval()
    z_a = embed.eval_latents(split, anchors, batch_size)  # sizes the decoder for this space's width
    net, y_train, loss_fn = dec.start_joint(rep(z_a, z_a), y_train)
    params = [p for p in module.parameters() if p.requires_grad] + list(net.parameters())
    opt = torch.optim.AdamW(params, lr=plan.lr, weight_decay=plan.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    y_val = split_targets(dataset, val, task) if val else None

    def score() -> float:
        module.eval()
        net.eval()
        z_anchor = embed.eval_latents(split, anchors, batch_size)
        z_val = embed.eval_latents(val, np.arange(len(y_val)), batch_size)
        with torch.no_grad():
            scores = dec.evaluate(rep(z_val, z_anchor), y_val)
        return scores["accuracy"] if task == "classification" else -scores["mse"]

    def run_epoch() -> float:
        total, seen = 0.0, 0
        for idx in shuffled_batches(n_train, batch_size, gen):
            opt.zero_grad()
            if embed.transductive:
                z = embed.enc.forward(embed.graph)
                rows = torch.as_tensor(embed.rows[split])
                zb, za = z[rows[torch.as_tensor(idx)]], z[rows[torch.as_tensor(anchors)]]
            else:  # batch and anchors in one pass: the anchors are embedded by this step's encoder
                z = embed(split, np.concatenate([idx, anchors]))
                zb, za = z[: len(idx)], z[len(idx):]
            loss = loss_fn(net(rep(zb, za)), y_train[torch.as_tensor(idx)])
            loss.backward()
            opt.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
        return total / max(seen, 1)

    start = time.perf_counter()
    best_epoch, epochs_run, best = fit_epochs([module, net], run_epoch, score if val else None, epochs=plan.epochs,
                                              patience=plan.patience, seed=seed, progress=progress,
                                              label=f"{base_name} [{space.display}]")
    metrics = {"val_score": best, "best_epoch": best_epoch, "epochs_run": epochs_run,
               "seconds": round(time.perf_counter() - start, 3)}
    provenance = trained_provenance(enc, base_name, options, dataset, seed, {"train": split, "val": val}, metrics,
                                    recipe, training={**plan.model_dump(), "optimizer": "AdamW"})
    provenance["end_to_end"] = {"space": space.model_dump(), "anchor_rows": anchors.tolist(), "decoder": head.kind,
                                "hidden": head.hidden, "normalize": head.normalize, "decoder_seed": seed + 1}
    tensors = {f"{TRAINED_PREFIX}{k}": v for k, v in module.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in net.state_dict().items()})
    write_trained(Path(out).expanduser(), tensors, provenance)
    return load_end_to_end(out, dataset)


def load_end_to_end(path: str | os.PathLike[str], dataset: Dataset) -> EndToEndModel:
    """Load a model :func:`train_end_to_end` wrote (weights verified against the recorded sha256).

    ``dataset`` is the data it was trained on (the decoder's network is sized from the anchors' space).

    Example:
        >>> load_end_to_end("/no/such.safetensors", None)
        Traceback (most recent call last):
        ...
        FileNotFoundError: trained encoder file '/no/such.safetensors' does not exist; pass the path stitch.train_encoder wrote
    """
    from stitch.plugins import create_encoder

    path = Path(path).expanduser()
    meta = read_provenance(path)
    info = meta.get("end_to_end")
    if not isinstance(info, dict):
        raise ValueError(f"{path} is a trained encoder without a decoder (not written by train_end_to_end); load "
                         f"it with stitch.create_encoder('trained:{path}')")
    tensors, _, _ = load_tensors(path, expected_sha256=meta["sha256"], what="end-to-end model")
    encoder = create_encoder(f"trained:{path}")
    space = SpaceConfig.model_validate(info["space"])
    split = meta["dataset"]["split"]
    anchors = np.asarray(info["anchor_rows"], dtype=np.int64)
    z_a = _split_latents(encoder, dataset, split, anchors)
    task = DecoderConfig(kind=info["decoder"]).task
    dec = _new_decoder(space, info["decoder"], info["hidden"], info["normalize"], info["decoder_seed"])
    net, _, _ = dec.start_joint(_space_fn(space)(z_a, z_a), split_targets(dataset, split, task))
    net.load_state_dict({k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")})
    net.eval()
    return EndToEndModel(path=path, encoder=encoder, decoder=dec, space=space, anchor_rows=anchors.tolist(),
                         metrics=dict(meta.get("metrics", {})))


def _split_latents(encoder: Encoder, dataset: Dataset, split: str, rows: Any = None) -> torch.Tensor:
    """Latents of ``dataset[split]`` (only its ``rows`` when given: the anchors need not encode the split)."""
    idx = np.arange(len(dataset.indices(split))) if rows is None else np.asarray(rows, dtype=np.int64)
    if dataset.transductive:  # the graph is encoded whole either way
        return encoder.encode(dataset.inputs)[torch.as_tensor(dataset.indices(split)[idx])]
    inputs = dataset.split_inputs(split)
    return encoder.encode(inputs if rows is None else take_rows(inputs, idx))


def stitch_end_to_end(models: Mapping[str, EndToEndModel], dataset: Dataset, *, split: str = "train",
                      test_split: str = "test", groups: Mapping[str, str] | None = None, seed: int = 0,
                      anchor_seed: int = 0) -> list[dict[str, Any]]:
    """Score every model's decoder on every model's encoder (same space, same anchors): the stitching cells.

    Cell ``(B, A)`` embeds ``test_split`` and the anchors with A's encoder, fits the space on A's anchors and
    decodes with B's decoder; ``A == B`` is the model itself. Absolute decoders cannot read encoders of a
    different width: those cells carry ``None`` scores and a ``skipped`` reason.

    Returns one dict per (decoder model, encoder model), in the frozen matrix's cell format.

    Example:
        >>> stitch_end_to_end({}, None)
        Traceback (most recent call last):
        ...
        ValueError: stitch_end_to_end needs at least one trained model, got none
    """
    if not models:
        raise ValueError("stitch_end_to_end needs at least one trained model, got none")
    spaces = {m.space.model_dump_json() for m in models.values()}
    anchor_sets = {tuple(m.anchor_rows) for m in models.values()}
    if len(spaces) > 1 or len(anchor_sets) > 1:
        raise ValueError("models stitched together must share their space and anchors; got "
                         f"{len(spaces)} spaces and {len(anchor_sets)} anchor sets")
    first = next(iter(models.values()))
    space, anchors = first.space, torch.as_tensor(first.anchor_rows)
    task = first.decoder.task
    y_test = split_targets(dataset, test_split, task)
    rep = _space_fn(space)
    reps = {}
    for label, m in models.items():
        z_anchor = _split_latents(m.encoder, dataset, split, anchors.numpy())
        reps[label] = rep(_split_latents(m.encoder, dataset, test_split), z_anchor)
    groups = dict(groups or {})
    cells = []
    for src, m in models.items():
        for tgt, z in reps.items():
            extra: dict[str, Any] = {}
            if tuple(z.shape[1:]) == m.decoder.input_shape_:
                scores = m.decoder.evaluate(z, y_test)
            else:
                scores = dict.fromkeys(m.decoder.metrics)
                extra["skipped"] = (f"{tgt} latents have shape {tuple(z.shape[1:])}, the decoder takes "
                                    f"{m.decoder.input_shape_}")
            cells.append({
                "space": space.display, "space_spec": space.name, "space_options": dict(space.options),
                "seed": seed, "anchor_seed": anchor_seed, "decoder_seed": int(m.decoder.seed),
                "decoder_encoder": src, "test_encoder": tgt, "stitched": src != tgt,
                "decoder_group": groups.get(src, src), "test_group": groups.get(tgt, tgt),
                "epochs_trained": m.metrics.get("epochs_run"), **scores, **extra,
            })
    return cells
