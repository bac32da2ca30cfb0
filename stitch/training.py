"""Train an encoder from scratch with a linear head, for a given seed, and save it as a named encoder.

Offline there are few pretrained models, and the stitching papers compare encoders that differ only by
their training seed. :func:`train_encoder` trains any adapter's ``torch.nn.Module`` (timm, PyG, the
from-scratch text encoders: anything with ``module``, ``_prepare`` and a differentiable ``forward``)
plus a linear classification head on a labelled :class:`~stitch.data.Dataset`, and writes:

* ``<out>`` — safetensors: the encoder's weights under ``encoder.``, the head under ``head.``, and
  metadata ``format`` and ``stitch`` (JSON: base encoder name and options, seed, dataset, metrics);
* ``<out>.json`` — the same provenance plus the sha256 of ``<out>``.

``stitch.get_encoder("trained:<out>")`` loads it back (after checking the sha256).

Everything random is seeded by ``seed``: the module's initialisation (the encoder is built with
``seed=seed``), the head, and the shuffling of mini-batches (a dedicated ``torch.Generator``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stitch._io import save_tensors, sha256_file, write_json

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.encoder import Encoder

__all__ = ["TrainResult", "train_encoder", "sidecar_path", "TRAINED_FORMAT", "TRAINED_PREFIX"]

#: ``metadata["format"]`` of the files :func:`train_encoder` writes.
TRAINED_FORMAT = "latent-stitch-trained-encoder/1"
#: Key prefix of the encoder's weights in those files (the linear head is under ``head.``).
TRAINED_PREFIX = "encoder."


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_encoder` produced.

    Attributes:
        path: the safetensors file (load it with ``stitch.get_encoder(f"trained:{path}")``).
        encoder: name of the base encoder that was trained.
        seed: the training seed.
        metrics: ``train_accuracy``, ``val_accuracy`` (if a val split exists), ``test_accuracy`` (if a test
            split exists), ``best_epoch``, ``epochs_run``, ``seconds``.
    """

    path: Path
    encoder: str
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The registry name of the trained encoder: ``trained:<path>``."""
        return f"trained:{self.path}"

    def load(self, **options: Any) -> Encoder:
        """The trained encoder (``stitch.get_encoder(self.name)``)."""
        from stitch.plugins import get_encoder

        return get_encoder(self.name, **options)


def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, list):
        return [items[i] for i in idx]
    return items[idx]


def train_encoder(
    encoder: str | Encoder,
    dataset: Dataset,
    *,
    out: str | os.PathLike[str],
    seed: int = 0,
    split: str = "train",
    val_split: str | None = "val",
    test_split: str | None = "test",
    epochs: int = 30,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    patience: int | None = 5,
    encoder_options: dict[str, Any] | None = None,
    num_threads: int | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``encoder``'s module and a linear head on ``dataset[split]``; save the best weights.

    Args:
        encoder: an encoder name (built with ``seed=seed`` plus ``encoder_options``) or an encoder
            instance exposing ``module``, ``_prepare`` and ``forward`` (its current weights are the start).
        dataset: labelled dataset; transductive datasets (one graph) train full-batch on the split's nodes.
        out: where to write the safetensors file (its provenance goes to ``<out>.json``).
        seed: seeds initialisation, head and shuffling; recorded in the file.
        split / val_split / test_split: splits to train on, to early-stop on (best val accuracy; skipped
            when the split is absent) and to report accuracy on.
        epochs, lr, weight_decay, batch_size: AdamW training schedule.
        patience: stop after this many epochs without val improvement (``None``: run all epochs).
        encoder_options: options for building ``encoder`` when it is a name.
        num_threads: torch CPU threads during training (restored afterwards); ``1`` is often fastest for
            small models on a busy machine, where threads wait on each other.
        progress: show a progress bar over epochs (default: on a TTY).

    Returns:
        :class:`TrainResult` with the file path and the accuracies.

    Shapes:
        the head maps ``(b, dim)`` latents to ``(b, dataset.num_classes)`` logits.

    Example:
        >>> import tempfile, stitch
        >>> ds = stitch.get_dataset("digits")
        >>> res = train_encoder("timm:resnet10t", ds, out=tempfile.mkdtemp() + "/r.safetensors",
        ...                     encoder_options={"image_size": 16}, epochs=1)  # doctest: +SKIP
        >>> stitch.get_encoder(res.name).encode(ds.split_inputs("test")).shape  # doctest: +SKIP
        torch.Size([360, 512])
    """
    import torch

    from stitch._checks import check_positive_int

    if num_threads is None:
        return _train(encoder, dataset, out=out, seed=seed, split=split, val_split=val_split, test_split=test_split,
                      epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size, patience=patience,
                      encoder_options=encoder_options, progress=progress)
    previous = torch.get_num_threads()
    torch.set_num_threads(check_positive_int(num_threads, "num_threads"))
    try:
        return _train(encoder, dataset, out=out, seed=seed, split=split, val_split=val_split, test_split=test_split,
                      epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size, patience=patience,
                      encoder_options=encoder_options, progress=progress)
    finally:
        torch.set_num_threads(previous)


def _train(encoder: str | Encoder, dataset: Dataset, *, out: str | os.PathLike[str], seed: int, split: str,
           val_split: str | None, test_split: str | None, epochs: int, lr: float, weight_decay: float,
           batch_size: int, patience: int | None, encoder_options: dict[str, Any] | None,
           progress: bool | None) -> TrainResult:
    import torch

    from stitch._checks import check_positive_int
    from stitch._progress import progress_bar

    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
    if isinstance(encoder, str):
        from stitch.plugins import get_encoder

        base_name = encoder
        options = {**(encoder_options or {}), "seed": seed}
        try:
            enc = get_encoder(encoder, **options)
        except TypeError as exc:
            if "seed" not in str(exc):
                raise
            raise TypeError(f"encoder {encoder!r} cannot be trained from scratch: it takes no 'seed' option (its "
                            "weights are pretrained); trainable encoders are timm:*, pyg:*, text-bag") from None
    else:
        if encoder_options:
            raise ValueError("encoder_options only apply when encoder is a name; this encoder is already built")
        enc = encoder
        base_name = enc.name
        options = dict(getattr(getattr(enc, "spec", None), "options", {}))
    for attr in ("module", "_prepare", "forward"):
        if not hasattr(type(enc), attr):  # on the class: `module` is a property that would build the model
            raise TypeError(
                f"encoder {base_name!r} ({type(enc).__name__}) cannot be trained: it has no {attr!r}; trainable "
                "encoders expose module, _prepare(inputs) and a differentiable forward(batch)"
            )
    if getattr(enc, "modality", dataset.modality) != dataset.modality:
        raise ValueError(f"encoder {base_name!r} takes {enc.modality} inputs but dataset {dataset.name!r} is "
                         f"{dataset.modality}")
    train_idx = dataset.indices(split)
    if len(train_idx) == 0:
        raise ValueError(f"split {split!r} of dataset {dataset.name!r} is empty; nothing to train on")
    val_idx = dataset.indices(val_split) if val_split and val_split in dataset.splits else None
    test_idx = dataset.indices(test_split) if test_split and test_split in dataset.splits else None
    labels = torch.as_tensor(np.asarray(dataset.labels), dtype=torch.long)

    transductive = dataset.transductive
    if transductive:
        graph = enc._prepare(dataset.inputs)
        rows = {"train": train_idx, "val": val_idx, "test": test_idx}
    else:
        prepared = {"train": enc._prepare(dataset.split_inputs(split))}
        if val_idx is not None:
            prepared["val"] = enc._prepare(dataset.split_inputs(val_split))
        if test_idx is not None:
            prepared["test"] = enc._prepare(dataset.split_inputs(test_split))
        part_labels = {"train": labels[train_idx],
                       "val": labels[val_idx] if val_idx is not None else None,
                       "test": labels[test_idx] if test_idx is not None else None}

    module = enc.module  # after _prepare: some modules size themselves from the data (GNN in_channels)
    # The head is seeded separately from the module, so the same seed gives the same run either way.
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        head = torch.nn.Linear(enc.dim, dataset.num_classes)
    device = next(module.parameters()).device
    head = head.to(device)
    params = [p for p in module.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()

    def accuracy(part: str) -> float:
        module.eval()
        with torch.no_grad():
            if transductive:
                logits = head(enc.forward(graph))[torch.as_tensor(rows[part])]
                y = labels[rows[part]]
            else:
                items, y = prepared[part], part_labels[part]
                logits = torch.cat([head(enc.forward(_take(items, np.arange(s, min(s + batch_size, len(items))))))
                                    for s in range(0, len(items), batch_size)])
        return float((logits.argmax(1).cpu() == y).double().mean())

    start = time.perf_counter()
    best = (-1.0, 0)
    best_state: tuple[dict[str, Any], dict[str, Any]] | None = None
    epochs_run = 0
    with torch.random.fork_rng(devices=[]), progress_bar(epochs, f"train {base_name}", enabled=progress,
                                                         unit="epoch") as bar:
        torch.manual_seed(seed + 2)  # dropout / stochastic depth inside the module
        for epoch in range(epochs):
            module.train()
            head.train()
            if transductive:
                opt.zero_grad()
                logits = head(enc.forward(graph))
                loss = loss_fn(logits[torch.as_tensor(train_idx)], labels[train_idx].to(device))
                loss.backward()
                opt.step()
            else:
                items, y = prepared["train"], part_labels["train"]
                order = torch.randperm(len(items), generator=gen).numpy()
                for s in range(0, len(order), batch_size):
                    idx = order[s : s + batch_size]
                    if len(idx) < 2 and len(order) > 1:
                        continue  # a 1-sample batch breaks batch norm
                    opt.zero_grad()
                    loss = loss_fn(head(enc.forward(_take(items, idx))), y[idx].to(device))
                    loss.backward()
                    opt.step()
            epochs_run = epoch + 1
            bar.update(1)
            score = accuracy("val") if val_idx is not None else -float(loss.detach())
            if score > best[0] or best_state is None:
                best = (score, epoch)
                best_state = (copy.deepcopy(module.state_dict()), copy.deepcopy(head.state_dict()))
            elif patience is not None and epoch - best[1] >= patience:
                break
    module.load_state_dict(best_state[0])
    head.load_state_dict(best_state[1])
    module.eval()
    metrics: dict[str, float] = {"train_accuracy": accuracy("train"), "best_epoch": best[1] + 1,
                                 "epochs_run": epochs_run}
    if val_idx is not None:
        metrics["val_accuracy"] = accuracy("val")
    if test_idx is not None:
        metrics["test_accuracy"] = accuracy("test")
    metrics["seconds"] = round(time.perf_counter() - start, 3)

    out = Path(out).expanduser()
    from stitch.cache import library_versions

    provenance = {
        "base_encoder": base_name,
        # the built encoder's options are complete (defaults, values inferred from the data such as in_channels)
        "options": {k: v for k, v in {**options, **getattr(getattr(enc, "spec", None), "options", {})}.items()
                    if k not in ("checkpoint", "batch_size", "device")},
        "modality": dataset.modality,
        "seed": seed,
        "dataset": {"name": dataset.name, "content_sha256": dataset.content_hash(), "split": split,
                    "val_split": val_split if val_idx is not None else None, "class_names": list(dataset.class_names)},
        "training": {"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size,
                     "patience": patience, "optimizer": "AdamW"},
        "metrics": metrics,
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    tensors = {f"{TRAINED_PREFIX}{k}": v for k, v in module.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
    save_tensors(out, tensors, {"format": TRAINED_FORMAT, "stitch": json.dumps(provenance, sort_keys=True,
                                                                              default=str)})
    write_json(sidecar_path(out),
               {**provenance, "format": TRAINED_FORMAT, "file": out.name, "sha256": sha256_file(out)})
    return TrainResult(path=out, encoder=base_name, seed=seed, metrics=metrics)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<path>.json``: the provenance file next to a trained encoder.

    Example:
        >>> sidecar_path("runs/a.safetensors").name
        'a.safetensors.json'
    """
    path = Path(path)
    return path.with_name(path.name + ".json")
