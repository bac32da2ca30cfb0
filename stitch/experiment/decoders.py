"""Decoders trained on one latent space and reused, frozen, on others (the stitching step).

* :class:`LinearClassifier` / :class:`MLPClassifier` — classification heads (accuracy, macro-F1);
* :class:`ReconstructionDecoder` — an autoencoder-style decoder from a (relative) space back to inputs (MSE).

Every decoder normalises each input row (LayerNorm, no batch statistics, so a decoder carries nothing of
its training encoder's scale to another encoder), accepts either ``(n, d)`` latents or stacked product
spaces ``(n, k, a)`` with a trainable aggregation inside (``aggregation="attention"``, ...; see
:func:`stitch.core.aggregation.create_aggregation`), and trains with Adam, seeded, early-stopped on a validation split
carved from the training rows, restoring the best epoch. Built-in data trains in seconds on a CPU.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from stitch.utils.checks import check_fitted, check_positive_int, check_seed
from stitch.utils.deprecation import deprecated_alias
from stitch.utils.estimator import Estimator
from stitch.utils.names import BUILTIN, NameTable, describe
from stitch.utils.progress import progress_bar

__all__ = [
    "Decoder",
    "LinearClassifier",
    "MLPClassifier",
    "ReconstructionDecoder",
    "accuracy",
    "macro_f1",
    "mse",
    "r2",
    "DECODERS",
    "create_decoder",
    "register_decoder",
    "list_decoders",
]


# -- metrics (functional, torchmetrics style) ------------------------------------------------------------------
def accuracy(pred: Any, target: Any) -> float:
    """Fraction of equal labels.

    Shapes:
        pred, target: ``(n,)`` int

    Example:
        >>> accuracy([0, 1, 1], [0, 1, 0])
        0.6666666666666666
    """
    p, t = torch.as_tensor(np.asarray(pred)), torch.as_tensor(np.asarray(target))
    if p.shape != t.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(
            f"pred and target must be non-empty 1-D and of equal length, got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    return float((p == t).double().mean())


def macro_f1(pred: Any, target: Any, num_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``pred`` or ``target`` (sklearn's default).

    Shapes:
        pred, target: ``(n,)`` int

    Example:
        >>> round(macro_f1([0, 0, 1, 1], [0, 1, 1, 1]), 4)
        0.7333
    """
    p, t = torch.as_tensor(np.asarray(pred)).long(), torch.as_tensor(np.asarray(target)).long()
    accuracy(p, t)  # same shape checks
    k = int(max(int(p.max()), int(t.max())) + 1) if num_classes is None else int(num_classes)
    conf = torch.bincount(t * k + p, minlength=k * k).reshape(k, k).double()
    tp = conf.diag()
    support, predicted = conf.sum(1), conf.sum(0)
    present = (support + predicted) > 0
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    return float(f1[present].mean())


def r2(pred: Any, target: Any) -> float:
    """Coefficient of determination over every output: ``1 - SSE / SST`` (sklearn's ``variance_weighted``).

    Shapes:
        pred, target: ``(n, d)``

    Example:
        >>> r2([[1.0], [2.0]], [[1.0], [3.0]])
        0.5
    """
    p = torch.as_tensor(np.asarray(pred), dtype=torch.float64)
    t = torch.as_tensor(np.asarray(target), dtype=torch.float64)
    if p.shape != t.shape or p.ndim != 2 or len(p) < 2:
        raise ValueError(f"pred and target must be (n, d) with n >= 2 and equal shapes, got {tuple(p.shape)} and "
                         f"{tuple(t.shape)}")
    sst = float(((t - t.mean(0)) ** 2).sum())
    sse = float(((p - t) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else float(sse == 0)


def mse(pred: Any, target: Any) -> float:
    """Mean squared error over every element, accumulated in float64.

    Shapes:
        pred, target: ``(n, d)``

    Example:
        >>> mse([[0.0, 2.0]], [[0.0, 0.0]])
        2.0
    """
    p = torch.as_tensor(np.asarray(pred), dtype=torch.float64)
    t = torch.as_tensor(np.asarray(target), dtype=torch.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(p.shape)} and {tuple(t.shape)}")
    return float(((p - t) ** 2).mean())


# -- modules -----------------------------------------------------------------------------------------------------
class _Net(nn.Module):
    """[aggregation] -> LayerNorm -> body."""

    def __init__(self, aggregation: nn.Module | None, norm: nn.Module, body: nn.Module) -> None:
        super().__init__()
        self.aggregation = aggregation
        self.norm = norm
        self.body = body

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self.norm(z)  # per row (per subspace for stacked inputs): no statistics of the training encoder
        return self.body(z if self.aggregation is None else self.aggregation(z))


class Decoder(Estimator):
    """Base class of the trainable decoders (scikit-learn estimators: ``fit`` returns ``self``, ``clone`` works).

    Args:
        hidden: hidden width (MLP and reconstruction decoders).
        epochs: maximum training epochs.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: mini-batch size.
        patience: stop after this many epochs without validation improvement (best epoch restored).
        val_fraction: share of the training rows held out for early stopping.
        seed: seeds initialisation, the validation split and batch order.
        aggregation: a trainable product-space aggregation name (inputs must then be ``(n, k, a)``).
        aggregation_options: keyword arguments of that aggregation.
        normalize: LayerNorm each input row (each subspace of stacked inputs) first; keep it on for
            stitching, so the decoder does not depend on an encoder's scale.
        progress: show a progress bar (``None``: when stderr is a terminal).
    """

    task = "classification"
    metric = "accuracy"
    metrics: tuple[str, ...] = ("accuracy", "macro_f1")
    greater_is_better = True
    _estimator_kind = "classifier"
    _fitted_attributes = ("net_",)

    def __init__(
        self,
        *,
        hidden: int = 256,
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 256,
        patience: int = 10,
        val_fraction: float = 0.1,
        seed: int = 0,
        aggregation: str | None = None,
        aggregation_options: dict[str, Any] | None = None,
        normalize: bool = True,
        progress: bool | None = None,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.aggregation = aggregation
        self.aggregation_options = aggregation_options
        self.normalize = normalize
        self.progress = progress

    def _check_params(self) -> None:
        for name in ("hidden", "epochs", "batch_size", "patience"):
            check_positive_int(getattr(self, name), name)
        check_seed(self.seed)
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (name == "lr" and not value > 0):
                raise ValueError(f"{name} must be a finite {'positive' if name == 'lr' else 'non-negative'} number, "
                                 f"got {value!r}")
        if isinstance(self.val_fraction, bool) or not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")

    # subclasses say what the body is and how targets/outputs are handled
    def _body(self, dim: int, out: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _targets(self, y: Any) -> tuple[torch.Tensor, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inputs(self, z: Any) -> torch.Tensor:
        z = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z)
        if not z.is_floating_point() or z.dtype in (torch.float16, torch.bfloat16):
            z = z.float()
        want = 3 if self.aggregation else 2
        if z.ndim != want:
            shape = "(n, k, a) stacked product spaces" if want == 3 else "(n, d) latents"
            fix = (
                "pass ProductSpace.transform(x, stacked=True)" if want == 3
                else "use aggregation=... for stacked (n, k, a) inputs, or flatten them"
            )
            raise ValueError(f"{type(self).__name__} expects {shape}, got shape {tuple(z.shape)}; {fix}")
        if len(z) == 0:
            raise ValueError(f"{type(self).__name__} got no samples (shape {tuple(z.shape)})")
        if not bool(torch.isfinite(z).all()):
            raise ValueError("decoder inputs contain NaN or Inf; check the latents and the anchors")
        return z.float()

    def _build(self, z: torch.Tensor, out: int) -> nn.Module:
        aggregation = None
        if self.aggregation:
            from stitch.core.aggregation import create_aggregation

            aggregation = create_aggregation(self.aggregation, z.shape[1], z.shape[2],
                                             **(self.aggregation_options or {}))
            dim = aggregation.out_dim
        else:
            dim = z.shape[-1]
        norm = nn.LayerNorm(z.shape[-1]) if self.normalize else nn.Identity()
        return _Net(aggregation, norm, self._body(dim, out))

    def start_joint(self, z: Any, y: Any) -> tuple[nn.Module, torch.Tensor, Callable[..., torch.Tensor]]:
        """Build the (seeded) network for inputs shaped like ``z``, to be trained jointly with an encoder.

        The decoder counts as fitted from here on: ``net_`` *is* the returned network, so the caller's
        optimiser steps train it in place (end-to-end training, :mod:`stitch.experiment.endtoend`) and
        :meth:`evaluate` reads it. Returns ``(net, targets, loss)``: ``y`` as training targets and the loss
        :meth:`fit` would minimise.

        Shapes:
            z: ``(n, d)`` (or ``(n, k, a)`` with ``aggregation``), y: as for :meth:`fit`

        Example:
            >>> import torch
            >>> dec = LinearClassifier(seed=0)
            >>> net, y, loss = dec.start_joint(torch.randn(4, 3), [0, 1, 0, 1])
            >>> net is dec.net_, float(loss(net(torch.randn(4, 3)), y).detach()) > 0
            (True, True)
        """
        self._check_params()
        z = self._inputs(z)
        targets, out = self._targets(y)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net_ = self._build(z, out)
        self.history_, self.best_val_loss_, self.input_shape_ = [], float("nan"), tuple(z.shape[1:])
        return self.net_, targets, self._loss

    def fit(self, z: Any, y: Any) -> Decoder:
        """Train on latents ``z`` with targets ``y`` (labels, or inputs to reconstruct).

        Shapes:
            z: ``(n, d)`` or ``(n, k, a)`` with ``aggregation``; y: ``(n,)`` labels or ``(n, d_out)`` targets
        """
        self._check_params()
        z = self._inputs(z)
        y, out = self._targets(y)
        if len(y) != len(z):
            raise ValueError(f"z has {len(z)} samples but y has {len(y)}; pass one target per latent row")
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(z), generator=gen)
        n_val = int(round(self.val_fraction * len(z))) if len(z) >= 10 else 0
        val, train = order[:n_val], order[n_val:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = self._build(z, out)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best, best_state, stale, history = float("inf"), copy.deepcopy(net.state_dict()), 0, []
        with progress_bar(self.epochs, f"train {type(self).__name__}", enabled=self.progress, unit="epoch") as bar:
            for epoch in range(self.epochs):
                net.train()
                perm = train[torch.randperm(len(train), generator=gen)]
                total = 0.0
                for start in range(0, len(perm), self.batch_size):
                    idx = perm[start : start + self.batch_size]
                    opt.zero_grad()
                    loss = self._loss(net(z[idx]), y[idx])
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                net.eval()
                with torch.no_grad():
                    check = val if n_val else train
                    val_loss = float(self._loss(net(z[check]), y[check]))
                history.append({"epoch": epoch, "train_loss": total / max(len(train), 1), "val_loss": val_loss})
                bar.update(1)
                if val_loss < best - 1e-7:
                    best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if not math.isfinite(best):  # the random initialisation would be served as if trained
            raise ValueError(f"training {type(self).__name__} never reached a finite loss in {len(history)} epochs "
                             f"(lr={self.lr}, weight_decay={self.weight_decay}); lower lr, or check the latents' "
                             f"scale (max |z| = {float(z.abs().max()):.3g})")
        net.load_state_dict(best_state)
        net.eval()
        self.net_, self.history_, self.best_val_loss_ = net, history, best
        self.input_shape_ = tuple(z.shape[1:])
        return self

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the fitted decoder (parameters, network weights, input shape) to a safetensors file; returns its
        sha256. :meth:`load` gives predictions equal to this decoder's, bit for bit.

        Example:
            >>> import tempfile
            >>> z, y = torch.randn(40, 5), torch.arange(40) % 3
            >>> dec = LinearClassifier(epochs=3, seed=0).fit(z, y)
            >>> p = tempfile.mkdtemp() + "/head.safetensors"
            >>> _ = dec.save(p)
            >>> torch.equal(LinearClassifier.load(p).predict_logits(z), dec.predict_logits(z))
            True
        """
        from stitch.utils.estimator import save_fitted

        check_fitted(self, ("net_",))
        tensors = {f"net.{k}": v for k, v in self.net_.state_dict().items()}
        tensors["input_shape"] = torch.tensor(self.input_shape_, dtype=torch.int64)
        tensors["out_dim"] = torch.tensor(self._out_dim(), dtype=torch.int64)
        return save_fitted(path, self, tensors)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, sha256: str | None = None) -> Decoder:
        """A decoder saved with :meth:`save` (parameters and weights verified against the file's sha256, and
        against ``sha256`` when a manifest gives one, in the read that loads it)."""
        from stitch.utils.estimator import load_fitted

        params, tensors = load_fitted(path, cls, expected_sha256=sha256, required=("input_shape", "out_dim"))
        dec = cls(**params)
        shape, out = tuple(int(v) for v in tensors["input_shape"].tolist()), int(tensors["out_dim"])
        dec._set_out_dim(out)
        dec.net_ = dec._build(torch.zeros((1, *shape)), out)
        dec.net_.load_state_dict({k[len("net."):]: v for k, v in tensors.items() if k.startswith("net.")})
        dec.net_.eval()
        dec.input_shape_, dec.history_, dec.best_val_loss_ = shape, [], float("nan")
        return dec

    def _out_dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_out_dim(self, out: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, z: Any) -> torch.Tensor:
        check_fitted(self, ("net_",))
        z = self._inputs(z)
        if tuple(z.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"latents have per-sample shape {tuple(z.shape[1:])} but the decoder was trained on "
                f"{self.input_shape_}; stitching needs the same space layout (same anchors, same similarities)"
            )
        with torch.no_grad():
            return torch.cat([self.net_(z[s : s + 4096]) for s in range(0, len(z), 4096)])


class _Classifier(Decoder):
    def _targets(self, y: Any) -> tuple[torch.Tensor, int]:
        y = torch.as_tensor(np.asarray(y))
        if y.ndim != 1 or y.is_floating_point() or (len(y) and int(y.min()) < 0):
            raise ValueError(
                f"labels must be a 1-D array of non-negative integers, got shape {tuple(y.shape)}, dtype {y.dtype}"
            )
        y = y.long()
        present = torch.unique(y).tolist()
        if len(present) < 2:  # the loss reaches 0 at once and chance is 1.0: nothing would be learned
            raise ValueError(f"labels hold one class ({present}); a classifier needs at least two to learn from")
        self.num_classes_ = int(y.max()) + 1
        return y, self.num_classes_

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, y)

    def _out_dim(self) -> int:
        return self.num_classes_

    def _set_out_dim(self, out: int) -> None:
        self.num_classes_ = out

    def predict_logits(self, z: Any) -> torch.Tensor:
        """Class scores. Shapes: ``(n, d)`` or ``(n, k, a)`` -> ``(n, num_classes)``."""
        return self._forward(z)

    def predict(self, z: Any) -> torch.Tensor:
        """Predicted labels. Shapes: ``(n, d)`` or ``(n, k, a)`` -> ``(n,)`` int64."""
        return self._forward(z).argmax(1)

    def evaluate(self, z: Any, y: Any) -> dict[str, float]:
        """``{"accuracy", "macro_f1"}`` of the predictions on ``(z, y)``."""
        pred = self.predict(z)
        y = np.asarray(y)
        return {"accuracy": accuracy(pred, y), "macro_f1": macro_f1(pred, y)}

    def score(self, z: Any, y: Any) -> float:
        """Accuracy on ``(z, y)`` (scikit-learn's ``score``; :meth:`evaluate` gives every metric)."""
        return accuracy(self.predict(z), np.asarray(y))


class LinearClassifier(_Classifier):
    """LayerNorm + one linear layer (``hidden`` is unused).

    Shapes:
        fit: z ``(n, d)`` (or ``(n, k, a)`` with ``aggregation``), y ``(n,)``; predict -> ``(n,)``

    Example:
        >>> import torch
        >>> z = torch.randn(200, 5, generator=torch.Generator().manual_seed(0)); y = (z[:, 0] > 0).long()
        >>> LinearClassifier(epochs=100, lr=0.05, normalize=False).fit(z, y).score(z, y) > 0.95
        True
    """

    def _body(self, dim: int, out: int) -> nn.Module:
        return nn.Linear(dim, out)


class MLPClassifier(_Classifier):
    """LayerNorm + ``Linear -> SiLU -> Linear`` head.

    Shapes:
        fit: z ``(n, d)`` (or ``(n, k, a)`` with ``aggregation``), y ``(n,)``; predict -> ``(n,)``

    Example:
        >>> import torch
        >>> z = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
        >>> y = ((z[:, 0] * z[:, 1]) > 0).long()   # XOR: not linearly separable
        >>> MLPClassifier(hidden=32, epochs=200, lr=1e-2, normalize=False).fit(z, y).score(z, y) > 0.9
        True
    """

    def _body(self, dim: int, out: int) -> nn.Module:
        return nn.Sequential(nn.Linear(dim, self.hidden), nn.SiLU(), nn.Linear(self.hidden, out))


class ReconstructionDecoder(Decoder):
    """Autoencoder-style decoder: latents (typically a relative space) -> inputs, trained with MSE.

    Shapes:
        fit: z ``(n, d)``, y ``(n, d_in)`` (inputs flattened); predict -> ``(n, d_in)``

    Example:
        >>> import torch
        >>> x = torch.randn(200, 6); z = x @ torch.randn(6, 4)
        >>> ReconstructionDecoder(hidden=32, epochs=30, lr=1e-2).fit(z, x).evaluate(z, x)["mse"] < 1.0
        True
    """

    task = "reconstruction"
    metric = "mse"
    metrics = ("mse", "r2")
    greater_is_better = False
    _estimator_kind = "regressor"

    def _targets(self, y: Any) -> tuple[torch.Tensor, int]:
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        y = y.reshape(len(y), -1).float()
        self.output_dim_ = y.shape[1]
        return y, self.output_dim_

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(out, y)

    def _out_dim(self) -> int:
        return self.output_dim_

    def _set_out_dim(self, out: int) -> None:
        self.output_dim_ = out

    def _body(self, dim: int, out: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(dim, self.hidden), nn.SiLU(), nn.Linear(self.hidden, self.hidden), nn.SiLU(),
            nn.Linear(self.hidden, out),
        )

    def predict(self, z: Any) -> torch.Tensor:
        """Reconstructed (flattened) inputs. Shapes: ``(n, d)`` -> ``(n, d_in)``."""
        return self._forward(z)

    def evaluate(self, z: Any, y: Any) -> dict[str, float]:
        """``{"mse", "r2"}`` between reconstructions and the (flattened) inputs ``y``."""
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        pred, target = self.predict(z), y.reshape(len(y), -1)
        return {"mse": mse(pred, target), "r2": r2(pred, target)}

    def score(self, z: Any, y: Any) -> float:
        """R² of the reconstructions (scikit-learn's ``score``: higher is better; :meth:`evaluate` adds MSE)."""
        return self.evaluate(z, y)["r2"]


#: Decoders by name (``[decoder] kind = ...`` in experiment files).
DECODERS: NameTable[type[Decoder]] = NameTable("decoder", list_command="stitch decoders list")


def register_decoder(name: str, cls: type[Decoder], *, source: str = BUILTIN, description: str = "",
                     aliases: Any = ()) -> None:
    """Register a decoder class (``fit(z, y)``, ``evaluate(z, y)``, ``metric``, ``task``) under ``name``.

    Example:
        >>> register_decoder("probe", LinearClassifier, source="doc")
        >>> create_decoder("doc:probe", epochs=5).epochs
        5
        >>> DECODERS.unregister_source("doc")
    """
    if not (isinstance(cls, type) and all(callable(getattr(cls, m, None)) for m in ("fit", "evaluate"))):
        raise TypeError(f"decoder {name!r} must be a class with fit(z, y) and evaluate(z, y), got {cls!r}")
    DECODERS.register(name, cls, source=source, aliases=aliases, description=description or describe(cls))


register_decoder("linear", LinearClassifier, description="LayerNorm + linear classification head")
register_decoder("mlp", MLPClassifier, description="LayerNorm + MLP classification head")
register_decoder("reconstruction", ReconstructionDecoder, aliases=("autoencoder",),
                 description="MLP back to inputs (MSE)")


def create_decoder(name: str, **options: Any) -> Decoder:
    """A new, untrained decoder by name (``"linear"``, ``"mlp"``, ``"reconstruction"``).

    Example:
        >>> create_decoder("mlp", hidden=64).hidden
        64
    """
    return DECODERS.build(name, **options)


def list_decoders(pattern: str = "*") -> list[str]:
    """Registered decoder names matching a shell-style ``pattern``.

    Example:
        >>> list_decoders()
        ['linear', 'mlp', 'reconstruction']
    """
    return DECODERS.names(pattern)


get_decoder = deprecated_alias(create_decoder, "get_decoder")
