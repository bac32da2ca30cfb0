"""The model pairs the reference suites run on, their data, and the heads they stitch.

A pair is two encoders of one dataset: frozen pretrained ones, or small ones trained from scratch (with a seed
and a schedule) into the cache on first use and reused while their recipe matches, so pairs can differ by seed
alone. :func:`load_pair` encodes a seeded stratified subset through the latent cache (once per model, then read
back verified, whichever suite asks) and splits the training rows into the head's rows and a pool the anchors
are drawn from, so neither the head nor the anchors see the test samples and the anchors are samples the head
did not learn from. Where the training split is small (Cora's 140 labelled nodes), the pool is another split.

Example:
    >>> [name for name in PAIRS if name.startswith("digits")]
    ['digits: ResNet s0 / s1', 'digits: ResNet / ConvNeXt']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stitch.encoder.refs import parse_encoder

__all__ = ["PAIRS", "BenchPair", "PairData", "load_pair", "user_pair", "linear_head", "accuracy"]


@dataclass(frozen=True)
class BenchPair:
    """Two encoders of one dataset, with the subset sizes a suite uses.

    ``sizes`` / ``full_sizes``: samples per split (``None``: the whole split); ``head``: how many of the training
    rows the head learns from (a fraction below 1: that share of them), the rest being the anchor pool;
    ``pool``: draw the anchors from this split instead (its labels unused), the head taking every training row;
    ``train``: per encoder, ``None`` (frozen as given) or how to train it from scratch first (``seed`` plus
    :class:`~stitch.experiment.config.Schedule` fields).

    Example:
        >>> PAIRS["trec: MiniLM-L6 / MiniLM-L3"].labels
        ('MiniLM-L6', 'MiniLM-L3')
        >>> PAIRS["cora: GCN s0 / s1"].pool, PAIRS["cora: GCN s0 / s1"].train[1]["seed"]
        ('val', 1)
    """

    dataset: str
    encoders: tuple[str, str]
    labels: tuple[str, str]
    sizes: dict[str, int] | None
    full_sizes: dict[str, int] | None
    head: int | float
    pool: str | None = None
    train: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)


_LITE = ("timm:tf_efficientnet_lite0?pretrained=true", "timm:tf_efficientnet_lite2?pretrained=true")
# the demo's digits models: timm's tiny test networks at digits' 8 px upscaled (ConvNeXt's stride 32 needs 32 px)
_RESNET = "timm:test_resnet?image_size=16&in_chans=1&crop_pct=1.0"
_CONVNEXT = "timm:test_convnext?image_size=32&in_chans=1&crop_pct=1.0"
_DIGITS_TRAIN = {"epochs": 10, "lr": 3e-3}
_GNN_TRAIN = {"epochs": 200, "lr": 1e-2}

#: the pairs: ImageNet backbones on Fashion-MNIST (and MNIST when its files are there), sentence encoders on
#: TREC, and encoders trained here from scratch on digits and Cora (CiteSeer when its files are there), across
#: seeds and across architectures; a pair whose data or model is missing is reported as skipped, with the reason
PAIRS: dict[str, BenchPair] = {
    "fashion-mnist: Lite0 / Lite2": BenchPair(
        "fashion-mnist", _LITE, ("Lite0", "Lite2"), {"train": 3000, "test": 1000}, {"train": 6000, "test": 2000},
        head=2000),
    "mnist: Lite0 / Lite2": BenchPair(
        "mnist", _LITE, ("Lite0", "Lite2"), {"train": 3000, "test": 1000}, {"train": 6000, "test": 2000}, head=2000),
    "trec: MiniLM-L6 / MiniLM-L3": BenchPair(
        "trec", ("minilm", "hf:paraphrase-MiniLM-L3-v2"), ("MiniLM-L6", "MiniLM-L3"),
        {"train": 3000, "test": 500}, None, head=2000),
    "digits: ResNet s0 / s1": BenchPair(
        "digits", (_RESNET, _RESNET), ("ResNet-s0", "ResNet-s1"), None, None, head=0.6,
        train=({"seed": 0, **_DIGITS_TRAIN}, {"seed": 1, **_DIGITS_TRAIN})),
    "digits: ResNet / ConvNeXt": BenchPair(
        "digits", (_RESNET, _CONVNEXT), ("ResNet-s0", "ConvNeXt-s0"), None, None, head=0.6,
        train=({"seed": 0, **_DIGITS_TRAIN}, {"seed": 0, **_DIGITS_TRAIN})),
    "cora: GCN s0 / s1": BenchPair(
        "cora", ("pyg:gcn?hidden_channels=64",) * 2, ("GCN-s0", "GCN-s1"), None, None, head=1.0, pool="val",
        train=({"seed": 0, **_GNN_TRAIN}, {"seed": 1, **_GNN_TRAIN})),
    "cora: GCN / SAGE": BenchPair(
        "cora", ("pyg:gcn?hidden_channels=64", "pyg:sage?hidden_channels=64"), ("GCN-s0", "SAGE-s0"), None, None,
        head=1.0, pool="val", train=({"seed": 0, **_GNN_TRAIN}, {"seed": 0, **_GNN_TRAIN})),
    "citeseer: GCN s0 / s1": BenchPair(
        "citeseer", ("pyg:gcn?hidden_channels=64",) * 2, ("GCN-s0", "GCN-s1"), None, None, head=1.0, pool="val",
        train=({"seed": 0, **_GNN_TRAIN}, {"seed": 1, **_GNN_TRAIN})),
}


@dataclass(frozen=True)
class PairData:
    """Both encoders' latents of one pair (float64), the labels, and which training rows are the head's.

    Shapes:
        train: two ``(n_train, d_a)`` / ``(n_train, d_b)``; test: ``(n_test, d_a)`` / ``(n_test, d_b)``;
        labels ``(n_train,)`` / ``(n_test,)``; ``head_rows`` and ``pool_rows`` index the training rows (where a
        pair draws its anchors from another split, that split's rows follow the training split's in ``train``
        and ``y_train``, and ``pool_rows`` index them).
    """

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    y_train: np.ndarray
    y_test: np.ndarray
    head_rows: np.ndarray
    pool_rows: np.ndarray


def load_pair(pair: BenchPair, context: Any) -> PairData:
    """Encode ``pair`` (through the latent cache) on its subset for ``context`` (``full`` picks the larger one),
    training its from-scratch encoders first where the cache holds none with the same recipe.

    Raises ``FileNotFoundError`` / ``OSError`` when a model or the data is not available here (the suites
    report such a pair as skipped, with the reason).
    """
    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.utils.roots import using_models_root

    with using_models_root(context.models_root):
        data = stitch.load_dataset(pair.dataset, data_root=context.data_root)
        sizes = pair.full_sizes if context.full else pair.sizes
        if sizes is not None:
            data = data.subsample(sizes, seed=0)
        cache = LatentCache(context.cache_root)
        splits = ("train", "test", *([pair.pool] if pair.pool else []))
        sides = []
        for ref, train in zip(pair.encoders, pair.train):
            if train is not None:
                ref = _trained(ref, train, data, cache.root / "bench-encoders", context.progress)
            name, options = parse_encoder(ref)
            encoder = stitch.create_encoder(name, **options)
            sides.append({split: cache.encode(encoder, data, split, progress=context.progress).double()
                          for split in splits})
    y_train, y_test = (np.asarray(data.split_labels(s)) for s in ("train", "test"))
    n_train = len(y_train)
    if pair.pool:  # the pool's rows follow the training rows; their labels are never read
        for side in sides:
            side["train"] = torch.cat([side["train"], side[pair.pool]])
        y_train = np.concatenate([y_train, np.asarray(data.split_labels(pair.pool))])
        return PairData((sides[0]["train"], sides[1]["train"]), (sides[0]["test"], sides[1]["test"]), y_train,
                        y_test, np.arange(n_train), np.arange(n_train, len(y_train)))
    rows = np.arange(n_train)
    n_head = pair.head if isinstance(pair.head, int) else round(pair.head * n_train)
    return PairData((sides[0]["train"], sides[1]["train"]), (sides[0]["test"], sides[1]["test"]), y_train, y_test,
                    rows[:n_head], rows[n_head:])


def _trained(ref: str, train: dict[str, Any], data: Any, directory: Path, progress: bool | None) -> str:
    """``trained:<file>`` for ``ref`` trained from scratch on ``data``'s training split as ``train`` says (seed
    and schedule), reused from ``directory`` while the recipe (encoder, options, schedule, data) matches."""
    from stitch.experiment.protocols.base import init_seed, reuse_or_train
    from stitch.experiment.training import train_encoder
    from stitch.utils.progress import phase

    name, options = parse_encoder(ref)
    seed, schedule = train["seed"], {k: v for k, v in train.items() if k != "seed"}
    recipe = {"encoder": name, "options": options, "train": train, "init_seed": init_seed(name, seed),
              "dataset": data.content_hash(), "split": "train"}

    def fit(path: Path, full_recipe: dict[str, Any]) -> Path:
        phase(f"training {name} (seed {seed}) on {data.name} from scratch", enabled=progress)
        # seeded by name and seed, as experiments do: two architectures never share their initial weights
        return train_encoder(name, data, out=path, schedule=schedule, seed=recipe["init_seed"],
                             encoder_options=options, progress=progress, recipe=full_recipe).path

    _, path = reuse_or_train(directory, f"{data.name}-{name}-s{seed}", recipe, load=lambda p: p, train=fit)
    return f"trained:{path}"


def user_pair(dataset: str, encoders: tuple[str, str] | list[str]) -> tuple[str, BenchPair]:
    """A pair the user names (``stitch bench --encoders A,B --dataset D``): whole splits, the head on 60 % of the
    training rows, the anchors drawn from the rest.

    Example:
        >>> name, pair = user_pair("digits", ["timm:resnet10t", "timm:resnet10t?seed=1"])
        >>> name, pair.head
        ('digits: timm:resnet10t / timm:resnet10t?seed=1', 0.6)
    """
    if len(encoders) != 2 or not all(isinstance(e, str) and e for e in encoders):
        raise ValueError(f"a pair is two encoders, got {list(encoders)!r}; name them as --encoders A,B")
    a, b = encoders
    return f"{dataset}: {a} / {b}", BenchPair(dataset, (a, b), (a, b), None, None, head=0.6)


def linear_head(x: torch.Tensor, y: np.ndarray, *, seed: int = 0) -> Any:
    """The protocol's head: logistic regression after per-dimension standardisation (scikit-learn), on ``x``.

    Shapes:
        x: ``(n, d)``; y: ``(n,)``

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(200, 4, generator=g, dtype=torch.float64)
        >>> head = linear_head(x, (x[:, 0] > 0).numpy().astype(int))
        >>> accuracy(head, x, (x[:, 0] > 0).numpy().astype(int)) > 0.95
        True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)).fit(x.numpy(), y)


def accuracy(head: Any, x: torch.Tensor, y: np.ndarray) -> float:
    """The head's accuracy on latents ``x`` against labels ``y``."""
    return float((np.asarray(head.predict(x.numpy())) == y).mean())
