"""Decoders: metrics against scikit-learn, seeded training, early stopping, aggregation inside, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stitch.experiment.decoders import (
    LinearClassifier,
    MLPClassifier,
    ReconstructionDecoder,
    accuracy,
    create_decoder,
    list_decoders,
    macro_f1,
    mse,
)
from stitch.errors import NotFittedError, UnknownNameError


def _blobs(n: int = 400, d: int = 12, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = 4 * torch.randn(k, d, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


def test_metrics_agree_with_sklearn() -> None:
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    for _ in range(5):
        pred, target = rng.integers(0, 5, 50), rng.integers(0, 6, 50)
        assert accuracy(pred, target) == pytest.approx(accuracy_score(target, pred))
        assert macro_f1(pred, target) == pytest.approx(f1_score(target, pred, average="macro"))
    assert mse([[1.0, 3.0]], [[0.0, 0.0]]) == 5.0


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match=r"must be non-empty 1-D and of equal length, got \(2,\) and \(3,\)"):
        accuracy([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        mse(np.zeros((2, 2)), np.zeros((2, 3)))


def test_linear_and_mlp_learn_separable_blobs() -> None:
    z, y = _blobs()
    for cls in (LinearClassifier, MLPClassifier):
        dec = cls(epochs=30, lr=1e-2, hidden=32).fit(z[:300], y[:300])
        scores = dec.evaluate(z[300:], y[300:])
        assert scores["accuracy"] > 0.95 and scores["macro_f1"] > 0.95
        assert dec.score(z[300:], y[300:]) == scores["accuracy"]  # scikit-learn's score: the accuracy


def test_training_is_seeded() -> None:
    z, y = _blobs()
    a = MLPClassifier(epochs=5, hidden=16, seed=3).fit(z, y).predict_logits(z)
    b = MLPClassifier(epochs=5, hidden=16, seed=3).fit(z, y).predict_logits(z)
    c = MLPClassifier(epochs=5, hidden=16, seed=4).fit(z, y).predict_logits(z)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_training_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LinearClassifier(epochs=2).fit(*_blobs(50))
    assert torch.equal(torch.rand(3), expected)


def test_early_stopping_restores_best_epoch() -> None:
    g = torch.Generator().manual_seed(0)
    z, y = torch.randn(200, 8, generator=g), torch.randint(0, 3, (200,), generator=g)  # pure noise: overfits
    dec = MLPClassifier(epochs=400, lr=1e-2, patience=3, hidden=64).fit(z, y)
    assert len(dec.history_) < 400
    best = min(h["val_loss"] for h in dec.history_)
    assert dec.best_val_loss_ == pytest.approx(best)
    assert dec.history_[-1]["val_loss"] > best  # stopped after it got worse, and went back


def test_layernorm_makes_decoders_scale_invariant_and_its_absence_does_not() -> None:
    z, y = _blobs()
    dec = LinearClassifier(epochs=20, lr=1e-2).fit(z, y)
    assert torch.allclose(dec.predict_logits(z), dec.predict_logits(7.0 * z), atol=1e-4)
    raw = LinearClassifier(epochs=20, lr=1e-2, normalize=False).fit(z, y)
    assert not torch.allclose(raw.predict_logits(z), raw.predict_logits(7.0 * z), atol=1e-2)


def test_trainable_product_aggregation_inside_the_decoder() -> None:
    z, y = _blobs(300, 12)
    stacked = torch.stack([z, -z, 2 * z], dim=1)  # (n, k=3, a=12)
    dec = MLPClassifier(epochs=40, lr=1e-2, hidden=32, aggregation="attention").fit(stacked, y)
    assert dec.score(stacked, y) > 0.9
    assert dec.net_.aggregation is not None
    with pytest.raises(ValueError, match=r"expects \(n, k, a\) stacked product spaces, got shape \(300, 12\)"):
        MLPClassifier(aggregation="attention").fit(z, y)


def test_reconstruction_decoder_beats_the_mean() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(500, 4, 4, generator=g)
    z = x.reshape(500, -1) @ torch.randn(16, 24, generator=g)  # injective: the inputs are recoverable
    dec = ReconstructionDecoder(hidden=64, epochs=100, lr=5e-3).fit(z[:400], x[:400])
    baseline = mse(x[400:].reshape(100, -1).mean(0).expand(100, 16), x[400:].reshape(100, -1))
    scores = dec.evaluate(z[400:], x[400:])
    assert scores["mse"] < 0.5 * baseline and scores["r2"] > 0.5
    assert dec.score(z[400:], x[400:]) == scores["r2"]  # scikit-learn's score for regressors: R^2
    assert dec.predict(z[:3]).shape == (3, 16)


def test_decoder_errors() -> None:
    z, y = _blobs(50)
    with pytest.raises(NotFittedError, match="this MLPClassifier is not fitted yet"):
        MLPClassifier().predict(z)
    dec = LinearClassifier(epochs=1).fit(z, y)
    with pytest.raises(ValueError, match=r"per-sample shape \(5,\) but the decoder was trained on \(12,\)"):
        dec.predict(z[:, :5])
    with pytest.raises(ValueError, match="labels must be a 1-D array of non-negative integers"):
        LinearClassifier().fit(z, y.float())
    with pytest.raises(ValueError, match="z has 50 samples but y has 49"):
        LinearClassifier().fit(z, y[:49])
    with pytest.raises(ValueError, match="decoder inputs contain NaN or Inf"):
        LinearClassifier().fit(torch.full((4, 3), float("nan")), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1.5"):
        LinearClassifier(val_fraction=1.5).fit(z, y)  # parameters are validated in fit, as in scikit-learn
    with pytest.raises(ValueError, match=r"lr must be a finite positive number, got 0"):
        LinearClassifier(lr=0).fit(z, y)
    with pytest.raises(ValueError, match=r"lr must be a finite positive number, got inf"):
        LinearClassifier(lr=float("inf")).fit(z, y)  # would leave the random initialisation, silently
    with pytest.raises(ValueError, match=r"weight_decay must be a finite non-negative number, got inf"):
        LinearClassifier(weight_decay=float("inf")).fit(z, y)
    with pytest.raises(UnknownNameError, match="unknown decoder 'mpl'; did you mean 'mlp'"):
        create_decoder("mpl")
    assert list_decoders() == ["linear", "mlp", "reconstruction"]
