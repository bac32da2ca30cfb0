"""Train an encoder from scratch with a linear head, for a given seed, and save it as a named encoder.

Offline there are few pretrained models, and the stitching papers compare encoders that differ only by
their training seed. :func:`train_encoder` trains any adapter's ``torch.nn.Module`` (timm, PyG, the
from-scratch text encoders: anything with ``module``, ``_prepare`` and a differentiable ``forward``)
plus a linear classification head on a labelled :class:`~stitch.data.Dataset`, and writes a trained-encoder
file (:mod:`stitch.encoder.checkpoint`: weights, provenance, sha256) that ``trained:<path>`` loads back.

Everything random is seeded by ``seed``: the module's initialisation (the encoder is built with
``seed=seed``), the head, and the shuffling of mini-batches (a dedicated ``torch.Generator``).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from stitch.encoder.checkpoint import TRAINED_PREFIX, write_trained
from stitch.experiment.config import Schedule
from stitch.utils.checks import check_positive_int
from stitch.utils.deprecation import folded_kwargs
from stitch.utils.provenance import library_versions, utc_now

if TYPE_CHECKING:
    import torch

    from stitch.data import Dataset
    from stitch.encoder import Encoder

__all__ = ["TrainResult", "train_encoder", "fit_epochs", "SCHEDULE_KWARGS", "take_rows", "trainable_encoder",
           "shuffled_batches", "trained_provenance"]

#: the keywords the training functions took before they took a ``schedule`` (deprecated, one release)
SCHEDULE_KWARGS = ("epochs", "lr", "weight_decay", "batch_size", "patience")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_encoder` produced.

    Attributes:
        path: the safetensors file (load it with ``stitch.create_encoder(f"trained:{path}")``).
        encoder: name of the base encoder that was trained.
        seed: the training seed.
        metrics: ``train_accuracy``, ``val_accuracy`` (if a val split exists), ``test_accuracy`` (if a test
            split exists), ``best_epoch``, ``epochs_run``, ``seconds``.
        sha256: of the written file.
    """

    path: Path
    encoder: str
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)
    sha256: str = ""

    @property
    def name(self) -> str:
        """The registry name of the trained encoder: ``trained:<path>``."""
        return f"trained:{self.path}"

    def load(self, **options: Any) -> Encoder:
        """The trained encoder (``stitch.create_encoder(self.name)``)."""
        from stitch.plugins import create_encoder

        return create_encoder(self.name, **options)


def take_rows(items: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of prepared inputs: a list (texts, graphs) or an array / tensor.

    Example:
        >>> take_rows(["a", "b", "c"], np.array([2, 0])), take_rows(np.arange(3), np.array([1])).tolist()
        (['c', 'a'], [1])
    """
    if isinstance(items, list):
        return [items[i] for i in idx]
    return items[idx]


def trainable_encoder(encoder: str | Encoder, seed: int, encoder_options: dict[str, Any] | None
                      ) -> tuple[Any, str, dict[str, Any]]:
    """``(encoder, base name, options)``: built with ``seed`` when given by name, checked to be trainable.

    Example:
        >>> trainable_encoder("minilm", 0, None)
        Traceback (most recent call last):
        ...
        TypeError: encoder 'minilm' cannot be trained from scratch: it takes no 'seed' option (its weights are pretrained); trainable encoders are timm:*, pyg:*, text-bag
    """
    if isinstance(encoder, str):
        from stitch.plugins import create_encoder

        options = {**(encoder_options or {}), "seed": seed}
        try:
            enc = create_encoder(encoder, **options)
        except TypeError as exc:
            if "seed" not in str(exc):
                raise
            raise TypeError(f"encoder {encoder!r} cannot be trained from scratch: it takes no 'seed' option (its "
                            "weights are pretrained); trainable encoders are timm:*, pyg:*, text-bag") from None
        base_name = encoder
    else:
        if encoder_options:
            raise ValueError("encoder_options only apply when encoder is a name; this encoder is already built")
        enc, base_name = encoder, encoder.name
        options = dict(getattr(getattr(enc, "spec", None), "options", {}))
    for attr in ("module", "_prepare", "forward"):
        if not hasattr(type(enc), attr):  # on the class: `module` is a property that would build the model
            raise TypeError(
                f"encoder {base_name!r} ({type(enc).__name__}) cannot be trained: it has no {attr!r}; trainable "
                "encoders expose module, _prepare(inputs) and a differentiable forward(batch)"
            )
    return enc, base_name, options


class _Parts:
    """The dataset's train / val / test parts, prepared once for ``enc.forward``; ``logits(part)`` in eval mode."""

    def __init__(self, enc: Any, dataset: Dataset, splits: dict[str, str | None]) -> None:
        import torch

        self.enc = enc
        self.transductive = dataset.transductive
        labels = torch.as_tensor(np.asarray(dataset.labels), dtype=torch.long)
        self.rows = {part: dataset.indices(split) for part, split in splits.items() if split is not None}
        self.labels = {part: labels[idx] for part, idx in self.rows.items()}
        present = torch.unique(self.labels["train"]).tolist()
        if len(present) < 2:  # the loss reaches 0 at once and chance is 1.0: nothing would be learned
            raise ValueError(f"the training split {splits['train']!r} of dataset {dataset.name!r} holds one class "
                             f"({present}); training a classifier needs at least two")
        if self.transductive:
            self.graph = enc._prepare(dataset.inputs)
        else:
            self.items = {part: enc._prepare(dataset.split_inputs(splits[part])) for part in self.rows}

    def __contains__(self, part: str) -> bool:
        return part in self.rows

    def forward(self, part: str, idx: np.ndarray | None, head: torch.nn.Module) -> torch.Tensor:
        """Logits of ``part`` (rows ``idx`` of it for inductive data; the whole graph's rows when transductive)."""
        import torch

        if self.transductive:
            logits = head(self.enc.forward(self.graph))[torch.as_tensor(self.rows[part])]
            return logits if idx is None else logits[torch.as_tensor(idx)]
        items = self.items[part]
        return head(self.enc.forward(items if idx is None else take_rows(items, idx)))

    def accuracy(self, part: str, head: torch.nn.Module, batch_size: int) -> float:
        import torch

        self.enc.module.eval()
        with torch.no_grad():
            if self.transductive:
                logits = self.forward(part, None, head)
            else:
                n = len(self.items[part])
                logits = torch.cat([self.forward(part, np.arange(s, min(s + batch_size, n)), head)
                                    for s in range(0, n, batch_size)])
        return float((logits.argmax(1).cpu() == self.labels[part]).double().mean())


def shuffled_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[np.ndarray]:
    """One epoch's mini-batches of ``range(n)`` in a seeded random order (1-sample batches skipped: batch norm).

    Example:
        >>> import torch
        >>> [len(b) for b in shuffled_batches(7, 3, torch.Generator().manual_seed(0))]
        [3, 3]
    """
    import torch

    order = torch.randperm(n, generator=gen).numpy()
    for s in range(0, n, batch_size):
        idx = order[s : s + batch_size]
        if len(idx) < 2 and n > 1:
            continue
        yield idx


def fit_epochs(modules: Sequence[torch.nn.Module], run_epoch: Callable[[], float],
               score: Callable[[], float] | None, *, epochs: int, patience: int | None, seed: int,
               progress: bool | None, label: str) -> tuple[int, int, float]:
    """Run epochs with early stopping on ``score()`` (higher is better; minus the epoch loss when ``None``).

    ``run_epoch()`` trains one epoch (the modules are in train mode) and returns its mean loss. The modules'
    state at the best epoch is restored at the end, in eval mode. Dropout and stochastic depth draw from
    ``seed + 2`` (the global generator is forked, so the caller's stream is untouched).

    Returns ``(best epoch, 1-based; epochs run; best score)``.

    Example:
        >>> import torch
        >>> m = torch.nn.Linear(1, 1)
        >>> losses = iter([3.0, 1.0, 2.0, 2.5, 4.0])
        >>> fit_epochs([m], lambda: next(losses), None, epochs=5, patience=2, seed=0, progress=False, label="m")
        (2, 4, -1.0)
    """
    import torch

    from stitch.utils.progress import progress_bar

    best, best_epoch, best_state, epochs_run = -float("inf"), 0, None, 0
    with torch.random.fork_rng(devices=[]), progress_bar(epochs, f"train {label}", enabled=progress,
                                                         unit="epoch") as bar:
        torch.manual_seed(seed + 2)  # dropout / stochastic depth inside the module
        for epoch in range(epochs):
            for m in modules:
                m.train()
            loss = run_epoch()
            epochs_run = epoch + 1
            bar.update(1)
            current = score() if score is not None else -loss
            if current > best or best_state is None:
                best, best_epoch = current, epoch
                best_state = [copy.deepcopy(m.state_dict()) for m in modules]
            elif patience is not None and epoch - best_epoch >= patience:
                break
    for m, state in zip(modules, best_state):
        m.load_state_dict(state)
        m.eval()
    return best_epoch + 1, epochs_run, best


def _fit(parts: _Parts, module: torch.nn.Module, head: torch.nn.Module, *, seed: int, schedule: Schedule,
         progress: bool | None, label: str) -> tuple[int, int]:
    """AdamW on cross-entropy with early stopping on val accuracy; restores the best epoch. ``(best, run)``."""
    import torch

    device = next(module.parameters()).device
    params = [p for p in module.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    y_train = parts.labels["train"].to(device)

    def step(idx: np.ndarray | None) -> torch.Tensor:
        opt.zero_grad()
        target = y_train if idx is None else y_train[torch.as_tensor(idx)]
        loss = loss_fn(parts.forward("train", idx, head), target)
        loss.backward()
        opt.step()
        return loss.detach()

    def run_epoch() -> float:
        if parts.transductive:
            return float(step(None))
        loss = torch.zeros(())
        for idx in shuffled_batches(len(parts.labels["train"]), schedule.batch_size, gen):
            loss = step(idx)
        return float(loss)  # the last batch's loss, as before: only read without a val split

    score = (lambda: parts.accuracy("val", head, schedule.batch_size)) if "val" in parts else None
    best_epoch, epochs_run, _ = fit_epochs([module, head], run_epoch, score, epochs=schedule.epochs,
                                           patience=schedule.patience, seed=seed, progress=progress, label=label)
    return best_epoch, epochs_run


@folded_kwargs("schedule", SCHEDULE_KWARGS)
def train_encoder(
    encoder: str | Encoder,
    dataset: Dataset,
    *,
    out: str | os.PathLike[str],
    schedule: Schedule | Mapping[str, Any] | None = None,
    seed: int = 0,
    split: str = "train",
    val_split: str | None = "val",
    test_split: str | None = "test",
    encoder_options: dict[str, Any] | None = None,
    num_threads: int | None = None,
    progress: bool | None = None,
    recipe: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``encoder``'s module and a linear head on ``dataset[split]``; save the best weights.

    Args:
        encoder: an encoder name (built with ``seed=seed`` plus ``encoder_options``) or an encoder
            instance exposing ``module``, ``_prepare`` and ``forward`` (its current weights are the start).
        dataset: labelled dataset; transductive datasets (one graph) train full-batch on the split's nodes.
        out: where to write the safetensors file (its provenance goes to ``<out>.json``).
        schedule: a :class:`~stitch.experiment.config.Schedule` or a mapping of its fields (``epochs``, ``lr``,
            ``weight_decay``, ``batch_size``, ``patience``: AdamW, early stopping on val accuracy after
            ``patience`` epochs without improvement, ``None`` runs every epoch); the epochs actually run are in
            ``metrics["epochs_run"]``.
        seed: seeds initialisation, head and shuffling; recorded in the file.
        split / val_split / test_split: splits to train on, to early-stop on (best val accuracy; skipped
            when the split is absent) and to report accuracy on.
        encoder_options: options for building ``encoder`` when it is a name.
        num_threads: torch CPU threads during training (restored afterwards); ``1`` is often fastest for
            small models on a busy machine, where threads wait on each other.
        progress: show a progress bar over epochs (default: on a TTY).
        recipe: an identity of everything that produced this file (an experiment's hash), recorded so a
            later run can tell whether the file is still what it would train.

    Returns:
        :class:`TrainResult` with the file path, the accuracies and the file's sha256.

    Shapes:
        the head maps ``(b, dim)`` latents to ``(b, dataset.num_classes)`` logits.

    Example:
        >>> import tempfile, stitch
        >>> ds = stitch.load_dataset("digits")
        >>> res = train_encoder("timm:resnet10t", ds, out=tempfile.mkdtemp() + "/r.safetensors",
        ...                     encoder_options={"image_size": 16}, schedule={"epochs": 1})  # doctest: +SKIP
        >>> stitch.create_encoder(res.name).encode(ds.split_inputs("test")).shape  # doctest: +SKIP
        torch.Size([360, 512])
    """
    import torch

    plan = Schedule.of(schedule)
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(check_positive_int(num_threads, "num_threads"))
    try:
        enc, base_name, options = trainable_encoder(encoder, seed, encoder_options)
        if getattr(enc, "modality", dataset.modality) != dataset.modality:
            raise ValueError(f"encoder {base_name!r} takes {enc.modality} inputs but dataset {dataset.name!r} is "
                             f"{dataset.modality}")
        if len(dataset.indices(split)) == 0:
            raise ValueError(f"split {split!r} of dataset {dataset.name!r} is empty; nothing to train on")
        splits = {"train": split, "val": val_split if val_split in dataset.splits else None,
                  "test": test_split if test_split in dataset.splits else None}
        parts = _Parts(enc, dataset, splits)
        module = enc.module  # after _prepare: some modules size themselves from the data (GNN in_channels)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)  # the head is seeded apart from the module: same run either way
            head = torch.nn.Linear(enc.dim, dataset.num_classes).to(next(module.parameters()).device)
        start = time.perf_counter()
        best_epoch, epochs_run = _fit(parts, module, head, seed=seed, schedule=plan, progress=progress,
                                      label=base_name)
        metrics: dict[str, float] = {"train_accuracy": parts.accuracy("train", head, plan.batch_size),
                                     "best_epoch": best_epoch, "epochs_run": epochs_run}
        for part in ("val", "test"):
            if part in parts:
                metrics[f"{part}_accuracy"] = parts.accuracy(part, head, plan.batch_size)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
    finally:
        torch.set_num_threads(previous)
    provenance = trained_provenance(enc, base_name, options, dataset, seed, splits, metrics, recipe,
                                    training={**plan.model_dump(), "optimizer": "AdamW"})
    tensors = {f"{TRAINED_PREFIX}{k}": v for k, v in module.state_dict().items()}
    tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
    out = Path(out).expanduser()
    digest = write_trained(out, tensors, provenance)
    return TrainResult(path=out, encoder=base_name, seed=seed, metrics=metrics, sha256=digest)


def trained_provenance(enc: Any, base_name: str, options: dict[str, Any], dataset: Dataset, seed: int,
                       splits: dict[str, str | None], metrics: dict[str, float], recipe: dict[str, Any] | None,
                       training: dict[str, Any]) -> dict[str, Any]:
    """What a trained-encoder file records of its making (the sidecar of :mod:`stitch.encoder.checkpoint`).

    Example:
        >>> import stitch
        >>> ds = stitch.load_dataset("digits")
        >>> enc = stitch.create_encoder("timm:test_resnet", seed=0, in_chans=1, image_size=8)
        >>> p = trained_provenance(enc, "timm:test_resnet", {}, ds, 0, {"train": "train", "val": None},
        ...                        {"best_epoch": 1}, None, training={"epochs": 1})
        >>> p["base_encoder"], p["seed"], p["dataset"]["split"], p["training"]
        ('timm:test_resnet', 0, 'train', {'epochs': 1})
    """
    # the built encoder's options are complete (defaults, values inferred from the data such as in_channels)
    built = getattr(getattr(enc, "spec", None), "options", {})
    runtime = ("checkpoint", "batch_size", "device")
    return {
        "base_encoder": base_name,
        "options": {k: v for k, v in {**options, **built}.items() if k not in runtime},
        "modality": dataset.modality,
        "seed": seed,
        "dataset": {"name": dataset.name, "content_sha256": dataset.content_hash(), "split": splits["train"],
                    "val_split": splits["val"], "class_names": list(dataset.class_names)},
        "training": training,
        "recipe": recipe,
        "metrics": metrics,
        "versions": library_versions(),
        "created": utc_now(),
    }
