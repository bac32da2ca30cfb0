"""Choosing a stitching map by cross-validation on the anchor pairs alone (no labels).

One implementation of the choice, used by :class:`stitch.stitcher.Stitcher` (``method="auto"``, forecasts) and
by ``translate:auto`` in experiment files. A candidate is fitted on k-1 folds of the pairs and scored on the
held-out fold: without a decoder by the coefficient of determination of its output (scale-free), with one by
the decoder's *agreement* — how often it predicts the same on mapped and on true decoder-side latents. The
report keeps every fold score, and each candidate's paired difference to the best with its standard error, so
ties are visible: a candidate within twice that standard error is tied with the best.

Agreement moves in steps of one held-out pair, so on easy pairs several candidates tie at the top (digits: all
nine within 0.02 of 0.99). A classifier decoder with probabilities then breaks the tie by its *confidence*: its
mean probability, on the mapped latents, of the class it predicts on the true ones — the same question asked
without rounding each answer to right or wrong. Among the candidates tied with the best agreement, the most
confident one is chosen (digits, ConvNeXt -> a ResNet head: 0.963 -> 0.982 of native in ``stitch bench``).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stitch.core.translate import Translator, create_translator
from stitch.errors import InterpolationWarning

__all__ = ["AUTO_CANDIDATES", "candidate_label", "fit_translator", "fold_ids", "class_probabilities", "cross_validate",
           "compare", "select_translator"]

#: the translators ``method="auto"`` compares (given each side's unpaired latents, Procrustes after LST's
#: per-dimension scaling as well: estimated on them, it gains most where anchors are few); ridge's
#: ``relative_alpha`` is its penalty as a fraction of the fitted anchors' mean eigenvalue (``trace(Xcᵀ Xc) / d``),
#: so one grid fits latents of any scale; ``inverse-relative`` goes through the relative space (relative ->
#: absolute)
AUTO_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("procrustes", {}), ("affine", {}), ("linear", {}),
    *(("ridge", {"relative_alpha": r}) for r in (0.001, 0.01, 0.1, 1.0, 10.0)),
    ("inverse-relative", {}),
)

#: a fitted candidate: what it makes of encoder-side rows, and what the decoder reads for decoder-side rows
Fitted = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def candidate_label(name: str, options: Mapping[str, Any]) -> str:
    """A candidate's name with its options, as tables show it.

    Example:
        >>> candidate_label("ridge", {"relative_alpha": 0.1})
        'ridge(relative_alpha=0.1)'
    """
    return name + ("(" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in options.items()) + ")" if options else "")


def fit_translator(name: str, options: Mapping[str, Any], x: torch.Tensor, y: torch.Tensor, *,
                   unpaired: tuple[torch.Tensor, torch.Tensor] | None = None) -> Translator:
    """A translator fitted on the pairs ``(x[i], y[i])``; a ``relative_alpha`` option becomes ridge's ``alpha``
    on the scale of ``x`` (that fraction of the centred rows' mean eigenvalue). ``unpaired``: each side's own
    unpaired latents, for the translators whose ``fit`` takes them (``x_unpaired`` / ``y_unpaired``: Procrustes'
    centring and scaling); the others ignore them.

    Shapes:
        x ``(n, d_enc)``, y ``(n, d_dec)``

    Example:
        >>> x = torch.randn(50, 4, dtype=torch.float64)
        >>> t = fit_translator("ridge", {"relative_alpha": 1.0}, x, x)
        >>> round(t.alpha / float(((x - x.mean(0)) ** 2).sum() / 4), 6)
        1.0
    """
    options = dict(options)
    if "relative_alpha" in options:  # a penalty on the scale of the rows it is fitted on
        xc = x - x.mean(0)
        options["alpha"] = float(options.pop("relative_alpha")) * float((xc * xc).sum()) / x.shape[1]
    translator = create_translator(name, **options)
    extra = {}
    if unpaired is not None and "x_unpaired" in inspect.signature(translator.fit).parameters:
        extra = {"x_unpaired": unpaired[0], "y_unpaired": unpaired[1]}
    with warnings.catch_warnings():  # the choice measures what the warning guesses: the scores say it
        warnings.simplefilter("ignore", InterpolationWarning)
        return translator.fit(x, y, **extra)


def fold_ids(n: int, folds: int, seed: int) -> torch.Tensor:
    """Each of ``n`` rows' fold, seeded and balanced (sizes differ by at most one).

    Example:
        >>> torch.bincount(fold_ids(10, 3, seed=0)).tolist()
        [4, 3, 3]
    """
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)) % folds


def _r2(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Coefficient of determination over all coordinates (scale-free; 1 is exact, 0 the mean's error)."""
    sst = float(((true - true.mean(0)) ** 2).sum())
    return 1.0 - float(((pred - true) ** 2).sum()) / sst if sst > 0 else float("nan")


def class_probabilities(decoder: Any, z: torch.Tensor) -> torch.Tensor | None:
    """A classifier's class probabilities on ``z`` (float64): the softmax of ``predict_logits`` (the library's
    classifiers), or scikit-learn's ``predict_proba``; ``None`` for a decoder with neither (a regressor).

    Shapes:
        z ``(n, d)`` -> ``(n, classes)``

    Example:
        >>> from stitch.experiment.decoders import LinearClassifier
        >>> a = torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
        >>> head = LinearClassifier(epochs=5).fit(a, (a[:, 0] > 0).long())
        >>> p = class_probabilities(head, a[:4])
        >>> p.shape, bool(torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64)))
        (torch.Size([4, 2]), True)
    """
    if getattr(decoder, "task", "classification") != "classification":
        return None
    if callable(getattr(decoder, "predict_logits", None)):
        return decoder.predict_logits(z.float()).double().softmax(1)
    if callable(getattr(decoder, "predict_proba", None)):
        return torch.as_tensor(np.asarray(decoder.predict_proba(z.float().numpy()), dtype=np.float64))
    return None


def _agreement(decoder: Any, pred: torch.Tensor, true: torch.Tensor) -> tuple[float, float | None]:
    """How often ``decoder`` says the same on mapped and true latents (R² of its outputs for regressors), and
    its confidence: the mean probability, on the mapped latents, of the class it gives the true ones (``None``
    without probabilities). ``decoder.predict`` may return a tensor or an array (a scikit-learn head)."""
    mapped, native = class_probabilities(decoder, pred), class_probabilities(decoder, true)
    if mapped is not None:  # the labels are the probabilities' argmax: one pass per side, not two
        given = native.argmax(1)
        return float((mapped.argmax(1) == given).double().mean()), float(mapped.gather(1, given[:, None]).mean())
    a, b = (torch.as_tensor(np.asarray(decoder.predict(z.float()))) for z in (pred, true))
    if getattr(decoder, "task", "classification") != "classification":
        return _r2(a.double(), b.double()), None
    return float((a == b).double().mean()), None


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (``n - 1``); 0 for fewer than two values.

    Example:
        >>> std([1.0, 2.0, 3.0])
        1.0
    """
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def cross_validate(fit: Callable[[torch.Tensor, torch.Tensor], Fitted], x: torch.Tensor, y: torch.Tensor, *,
                   folds: int, seed: int, decoder: Any = None) -> list[float]:
    """One score per held-out fold of ``fit``, trained on the other folds' pairs.

    Shapes:
        x ``(n, d_enc)``, y ``(n, d_dec)``

    Example:
        >>> x = torch.randn(40, 3, dtype=torch.float64)
        >>> fit = lambda a, b: (fit_translator("affine", {}, a, b).transform, lambda v: v)
        >>> [round(s, 6) for s in cross_validate(fit, x, 2 * x + 1, folds=4, seed=0)]
        [1.0, 1.0, 1.0, 1.0]
    """
    return _folds(fit, x, y, folds=folds, seed=seed, decoder=decoder)[0]


def _folds(fit: Callable[[torch.Tensor, torch.Tensor], Fitted], x: torch.Tensor, y: torch.Tensor, *, folds: int,
           seed: int, decoder: Any) -> tuple[list[float], list[float] | None]:
    """Each fold's score, and each fold's confidence where a classifier decoder gives probabilities."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2 or len(x) < 2 * folds:
        raise ValueError(f"cross-validation needs folds >= 2 and at least 2 anchor pairs per fold; got folds={folds!r} "
                         f"for {len(x)} pairs (use more anchor pairs, or fewer folds)")
    fold = fold_ids(len(x), folds, seed)
    scores, confidences = [], []
    for k in range(folds):
        train, test = fold != k, fold == k
        to_decoder, target = fit(x[train], y[train])
        pred, true = to_decoder(x[test]), target(y[test])
        score, confidence = (_agreement(decoder, pred, true) if decoder is not None
                             else (_r2(pred.double(), true.double()), None))
        scores.append(score)
        confidences.append(confidence)
    return scores, None if None in confidences else confidences


def compare(candidates: Sequence[tuple[str, Mapping[str, Any]]],
            fit: Callable[[str, Mapping[str, Any], torch.Tensor, torch.Tensor], Fitted], x: torch.Tensor,
            y: torch.Tensor, *, folds: int, seed: int, decoder: Any = None) -> tuple[list[dict[str, Any]], int]:
    """Every candidate's fold scores (the same folds for all), mean, spread and paired difference to the best;
    the report rows and the chosen one's index: the best, or, where the decoder gives probabilities, the most
    confident of the candidates tied with the best (rows then carry ``confidence``, the mean over folds).

    Example:
        >>> x = torch.randn(60, 3, dtype=torch.float64)
        >>> fit = lambda n, o, a, b: (fit_translator(n, o, a, b).transform, lambda v: v)
        >>> rows, best = compare([("procrustes", {}), ("affine", {})], fit, x, x @ torch.diag(torch.tensor(
        ...     [1.0, 2.0, 3.0], dtype=torch.float64)), folds=3, seed=0)
        >>> rows[best]["label"], rows[0]["tied"]
        ('affine', False)
    """
    if not candidates:
        raise ValueError("no candidates to compare; pass at least one (name, options) pair, e.g. AUTO_CANDIDATES")
    rows = []
    for name, options in candidates:
        scores, confidences = _folds(lambda a, b: fit(name, options, a, b), x, y, folds=folds, seed=seed,
                                     decoder=decoder)
        rows.append({"method": name, "options": dict(options), "label": candidate_label(name, options),
                     "scores": scores, "mean": sum(scores) / len(scores), "std": std(scores)})
        if confidences is not None:
            rows[-1]["confidence"] = sum(confidences) / len(confidences)
    best = max(range(len(rows)), key=lambda i: rows[i]["mean"] if math.isfinite(rows[i]["mean"]) else -math.inf)
    for row in rows:
        diffs = [b - s for s, b in zip(row["scores"], rows[best]["scores"])]
        row["diff_to_best"] = sum(diffs) / len(diffs)
        row["diff_se"] = std(diffs) / math.sqrt(len(diffs))
        row["tied"] = row["diff_to_best"] <= 2 * row["diff_se"]
    if all("confidence" in row for row in rows):  # agreement cannot tell the tied apart; the probabilities can
        best = max((i for i, row in enumerate(rows) if row["tied"]), key=lambda i: rows[i]["confidence"])
    return rows, best


def select_translator(x: torch.Tensor, y: torch.Tensor, *, folds: int = 5, seed: int = 0, decoder: Any = None,
                      candidates: Sequence[tuple[str, Mapping[str, Any]]] = AUTO_CANDIDATES
                      ) -> tuple[Translator, list[dict[str, Any]], int]:
    """The best translator of ``candidates`` by cross-validation, refitted on every pair; the report rows and the
    best one's index (see :func:`compare`).

    Shapes:
        x ``(n, d_enc)``, y ``(n, d_dec)`` (float64 recommended: the maps are solved in it)

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.randn(100, 4, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
        >>> t, rows, best = select_translator(y @ q, y)
        >>> rows[best]["label"], torch.allclose(t.transform(y @ q), y)
        ('procrustes', True)
    """
    rows, best = compare(candidates, lambda n, o, a, b: (fit_translator(n, o, a, b).transform, lambda v: v), x, y,
                         folds=folds, seed=seed, decoder=decoder)
    return fit_translator(rows[best]["method"], rows[best]["options"], x, y), rows, best
