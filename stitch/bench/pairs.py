"""The model pairs the reference suites run on, their data, and the heads they stitch.

A pair is two frozen pretrained encoders of one dataset. :func:`load_pair` encodes a seeded stratified subset
through the latent cache (once per model, then read back verified, whichever suite asks) and splits the
training rows into the head's rows and a pool the anchors are drawn from, so neither the head nor the anchors
see the test samples and the anchors are samples the head did not learn from.

Example:
    >>> sorted(PAIRS)
    ['fashion-mnist: Lite0 / Lite2', 'trec: MiniLM-L6 / MiniLM-L3']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["PAIRS", "BenchPair", "PairData", "load_pair", "user_pair", "linear_head", "accuracy"]


@dataclass(frozen=True)
class BenchPair:
    """Two encoders of one dataset, with the subset sizes a suite uses.

    ``sizes`` / ``full_sizes``: samples per split (``None``: the whole split); ``head``: how many of the training
    rows the head learns from (a fraction below 1: that share of them), the rest being the anchor pool.

    Example:
        >>> PAIRS["trec: MiniLM-L6 / MiniLM-L3"].labels
        ('MiniLM-L6', 'MiniLM-L3')
    """

    dataset: str
    encoders: tuple[str, str]
    labels: tuple[str, str]
    sizes: dict[str, int]
    full_sizes: dict[str, int] | None
    head: int | float


#: the pairs available offline with ``../shared``: ImageNet backbones on Fashion-MNIST, sentence encoders on TREC
PAIRS: dict[str, BenchPair] = {
    "fashion-mnist: Lite0 / Lite2": BenchPair(
        "fashion-mnist", ("timm:tf_efficientnet_lite0?pretrained=true", "timm:tf_efficientnet_lite2?pretrained=true"),
        ("Lite0", "Lite2"), {"train": 3000, "test": 1000}, {"train": 6000, "test": 2000}, head=2000),
    "trec: MiniLM-L6 / MiniLM-L3": BenchPair(
        "trec", ("minilm", "hf:paraphrase-MiniLM-L3-v2"), ("MiniLM-L6", "MiniLM-L3"),
        {"train": 3000, "test": 500}, None, head=2000),
}


@dataclass(frozen=True)
class PairData:
    """Both encoders' latents of one pair (float64), the labels, and which training rows are the head's.

    Shapes:
        train: two ``(n_train, d_a)`` / ``(n_train, d_b)``; test: ``(n_test, d_a)`` / ``(n_test, d_b)``;
        labels ``(n_train,)`` / ``(n_test,)``; ``head_rows`` and ``pool_rows`` index the training rows.
    """

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    y_train: np.ndarray
    y_test: np.ndarray
    head_rows: np.ndarray
    pool_rows: np.ndarray


def load_pair(pair: BenchPair, context: Any) -> PairData:
    """Encode ``pair`` (through the latent cache) on its subset for ``context`` (``full`` picks the larger one).

    Raises ``FileNotFoundError`` / ``OSError`` when a model or the data is not available here (the suites
    report such a pair as skipped, with the reason).
    """
    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.encoder.refs import parse_encoder
    from stitch.utils.roots import using_models_root

    with using_models_root(context.models_root):
        data = stitch.load_dataset(pair.dataset, data_root=context.data_root)
        sizes = pair.full_sizes if context.full and pair.full_sizes else pair.sizes
        if sizes is not None:
            data = data.subsample(sizes, seed=0)
        cache = LatentCache(context.cache_root)
        sides = []
        for ref in pair.encoders:
            name, options = parse_encoder(ref)
            encoder = stitch.create_encoder(name, **options)
            sides.append({split: cache.encode(encoder, data, split, progress=context.progress).double()
                          for split in ("train", "test")})
    y_train, y_test = (np.asarray(data.split_labels(s)) for s in ("train", "test"))
    rows = np.arange(len(y_train))
    n_head = pair.head if isinstance(pair.head, int) else round(pair.head * len(rows))
    return PairData((sides[0]["train"], sides[1]["train"]), (sides[0]["test"], sides[1]["test"]), y_train, y_test,
                    rows[:n_head], rows[n_head:])


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
