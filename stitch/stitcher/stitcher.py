"""The :class:`Stitcher`: latents of a new encoder, put where a decoder trained on another encoder reads them.

Two modes, chosen by ``method``:

* the decoder reads **absolute** latents of encoder A (a head that already exists): a translator
  (:data:`~stitch.core.translate.TRANSLATORS`) maps B's latents into A's space, fitted on the anchor pairs;
  ``method="auto"`` picks one by k-fold cross-validation inside the anchor pairs (no labels);
* the decoder reads a **relative or product space** (a "universal head"): ``method="relative:cosine"`` (any
  space spec of :mod:`stitch.spaces`); B's latents are put in the same space built on B's anchors.

Cross-validation (:mod:`stitch.core.selection`) scores a candidate on held-out anchor pairs: without a decoder
by the coefficient of determination of the translated latents (scale-free), with a decoder by its *agreement*
— how often the decoder's prediction on translated latents equals its prediction on the true ones. Every
candidate's fold scores, mean, spread and paired difference to the best are in :attr:`Stitcher.report_`, with
which candidates are tied with the best (within twice the standard error of the paired differences). A
classifier decoder's probabilities break such ties: the chosen candidate is the tied one the decoder is most
confident with (its mean probability, on translated latents, of the class it gives the true ones).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stitch.core.selection import (AUTO_CANDIDATES, Fitted, candidate_label, class_probabilities, compare,
                                   cross_validate, fit_translator, std)
from stitch.utils.checks import as_matrix, check_fitted, check_paired, check_positive_int, check_seed
from stitch.utils.estimator import Estimator, load_fitted_state, save_fitted

__all__ = ["Stitcher", "Forecast", "AUTO_CANDIDATES"]

#: two-sided 95 % Student t quantiles by degrees of freedom (the forecast's interval over folds)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True)
class Forecast:
    """A label-free forecast of how well a stitched model will work, from cross-validation on the anchors.

    Attributes:
        agreement: expected agreement of the decoder on stitched vs native latents (about stitched / native
            accuracy for a classifier).
        interval: a 95 % prediction interval for the agreement on new data of a fold's size (Student t over the
            folds, ``mean ± t s sqrt(1 + 1/k)``: the spread of one new sample, not only of the mean).
        verdict: ``"pass"`` (the interval's lower end reaches ``pass_at``), ``"fail"`` (the agreement is below
            ``fail_below``) or ``"warn"``.
        folds: the per-fold agreements it comes from.
    """

    agreement: float
    interval: tuple[float, float]
    verdict: str
    folds: tuple[float, ...]

    def __str__(self) -> str:
        return (f"forecast: agreement {self.agreement:.3f} (95 % interval {self.interval[0]:.3f}-"
                f"{self.interval[1]:.3f} over {len(self.folds)} folds): {self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {"agreement": self.agreement, "interval": list(self.interval), "verdict": self.verdict,
                "folds": list(self.folds)}


class Stitcher(Estimator):
    """Maps a new encoder's latents into the input space of a decoder trained on another encoder.

    Args:
        method: ``"auto"`` (the best of :data:`AUTO_CANDIDATES` by cross-validation), a translator name
            (``"procrustes"``, ``"affine"``, ``"linear"``, ``"ridge"``, ...) for a decoder on absolute
            latents, or a space spec (``"relative:cosine"``, ``"product:cosine,euclidean"``) for a decoder
            trained on that space.
        options: options of the translator or space ``method`` names.
        folds: cross-validation folds over the anchor pairs (report, auto choice and forecast); ``None`` fits a
            fixed method without them (cheaper), with no candidates table or forecast.
        seed: seeds the folds.

    Learned attributes: ``method_`` (the chosen method), ``options_``, ``report_`` (every candidate's fold
    scores), ``transform_`` (the fitted translator or spaces), ``anchors_`` (the pairs, for later forecasts),
    ``unpaired_`` (each side's unpaired latents, or ``None``), ``n_features_in_``.

    Shapes:
        fit: encoder anchors ``(n, d_enc)``, decoder anchors ``(n, d_dec)``; transform: ``(m, d_enc)`` ->
        ``(m, d_dec)`` (absolute) or the space's width

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(200, 8, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
        >>> s = Stitcher().fit(a @ q, a)          # the new encoder is a rotation of the decoder's
        >>> s.method_, torch.allclose(s.transform(a[:3] @ q), a[:3])
        ('procrustes', True)
    """

    _estimator_kind = "transformer"
    _fitted_attributes = ("transform_",)

    def __init__(self, method: str = "auto", *, options: dict[str, Any] | None = None, folds: int | None = 5,
                 seed: int = 0) -> None:
        self.method = method
        self.options = options
        self.folds = folds
        self.seed = seed

    # -- fitting --------------------------------------------------------------------------------------------------
    def _candidates(self, unpaired: bool) -> list[tuple[str, dict[str, Any]]]:
        if self.method == "auto":
            if self.options:
                raise ValueError(f"options={self.options!r} apply to one method; with method='auto' every candidate "
                                 "has its own (see stitch.stitcher.AUTO_CANDIDATES)")
            extra = [("procrustes", {"standardize": True})] if unpaired else []
            return [(n, dict(o)) for n, o in AUTO_CANDIDATES] + extra
        return [(self.method, dict(self.options or {}))]

    @staticmethod
    def _is_space(name: str) -> bool:
        from stitch.core.translate import TRANSLATORS

        return name not in TRANSLATORS

    def _fit_one(self, name: str, options: Mapping[str, Any], x: torch.Tensor, y: torch.Tensor) -> Any:
        """A fitted translator, or the pair of spaces (the new encoder's, the decoder's) for a space method."""
        if not self._is_space(name):
            return fit_translator(name, options, x, y, unpaired=self.unpaired_)
        from stitch.spaces import create_space

        space = create_space(name, **options)
        if not space.relative:
            raise ValueError(f"method {name!r} is not a translator or a relative / product space; use 'auto', a "
                             "translator (stitch translators list) or a space such as 'relative:cosine'")
        return (space.fit(x), space.fit(y))

    @staticmethod
    def _as_maps(fitted: Any) -> Fitted:
        """What the fitted map makes of encoder-side rows, and what the decoder reads for decoder-side rows."""
        return fitted if isinstance(fitted, tuple) else (fitted.transform, lambda y: y)

    def _fit_maps(self, name: str, options: Mapping[str, Any], x: torch.Tensor, y: torch.Tensor) -> Fitted:
        return self._as_maps(self._fit_one(name, options, x, y))

    def _check_cross_validated(self, what: str) -> None:
        check_fitted(self, self._fitted_attributes)
        if self.report_["folds"] is None:
            raise ValueError(f"{what} needs the cross-validation this Stitcher was fitted without (folds=None); fit it "
                             "with folds=5")

    def fit(self, encoder_anchors: Any, decoder_anchors: Any, *, decoder: Any = None, paired: bool = True,
            known: Sequence[tuple[int, int]] | None = None, encoder_unpaired: Any = None,
            decoder_unpaired: Any = None) -> Stitcher:
        """Choose (``method="auto"``) and fit the map from the anchor pairs: ``encoder_anchors[i]`` (the new
        encoder) and ``decoder_anchors[i]`` (the decoder's encoder) embed the same sample.

        ``paired=False``: the two sets hold the same samples in an unknown order (``decoder_anchors`` may hold
        more); the pairing is discovered first (:func:`~stitch.core.matching.match_anchors`, trusting the
        ``known`` ``(i, j)`` pairs, seeded by ``seed``), kept as ``matching_`` and summarised in the report.

        ``decoder`` (a fitted decoder with ``predict``) makes the cross-validation score its agreement instead
        of the label-free R²; with class probabilities (``predict_logits`` or ``predict_proba``) its confidence
        chooses among the candidates tied with the best agreement.

        ``encoder_unpaired`` / ``decoder_unpaired``: more latents of each side, unpaired and unlabelled (each
        model's own data, any number). Procrustes estimates its centring and scaling on them with the anchors,
        and ``auto`` also weighs Procrustes after LST's per-dimension scaling; with few anchors this is where
        the gain is (Fashion-MNIST, EfficientNet-Lite0 / Lite2, 25 anchors: 0.62 -> 0.76 of native for that
        map). They are kept (``unpaired_``) and saved, so later forecasts fit as this did.

        Draw the anchors from samples neither the decoder nor the encoders were trained on: on their training
        data both read more confidently than on new data, and the forecast comes out optimistic (digits, CNNs
        trained from scratch: 0.998 forecast from training anchors, 0.955 realised; 0.964 forecast from
        held-out anchors, 0.950 realised — ``benchmarks/bench_stitcher.py``).

        Shapes:
            encoder_anchors ``(n, d_enc)``, decoder_anchors ``(n, d_dec)``
        """
        check_seed(self.seed)
        if decoder is not None:
            _check_decoder(decoder)
        x = as_matrix(encoder_anchors, "encoder_anchors").detach().double().cpu()
        y = as_matrix(decoder_anchors, "decoder_anchors").detach().double().cpu()
        self.unpaired_ = _unpaired(encoder_unpaired, decoder_unpaired, x.shape[1], y.shape[1])
        if paired:
            if known is not None:
                raise ValueError("known pairs are for anchors whose pairing is discovered; pass paired=False with them")
            check_paired(x, y, ("encoder_anchors", "decoder_anchors"))
        else:
            from stitch.core.matching import match_anchors

            self.matching_ = match_anchors(x, y, known=known, seed=self.seed)
            y = y[self.matching_.target]
        candidates = self._candidates(self.unpaired_ is not None)
        if self.folds is None:
            if len(candidates) > 1:
                raise ValueError("method='auto' chooses by cross-validation; pass folds >= 2 (default 5), or a fixed "
                                 "method with folds=None")
            name, options = candidates[0]
            rows = [{"method": name, "options": options, "label": candidate_label(name, options)}]
            best = 0
        else:
            check_positive_int(self.folds, "folds")
            rows, best = compare(candidates, self._fit_maps, x, y, folds=self.folds, seed=self.seed, decoder=decoder)
        self.method_, self.options_ = rows[best]["method"], rows[best]["options"]
        self.transform_ = self._fit_one(self.method_, self.options_, x, y)
        self.n_features_in_ = x.shape[1]
        score = None if self.folds is None else "agreement" if decoder is not None else "r2"
        self.report_ = {"score": score, "folds": self.folds, "seed": self.seed,
                        "n_anchors": len(x), "choice": rows[best]["label"], "candidates": rows}
        if not paired:
            self.report_["pairing"] = {"discovered": True, "method": self.matching_.method,
                                       "known": len(self.matching_.known),
                                       "mean_confidence": float(self.matching_.confidence.mean()),
                                       "reliability": self.matching_.reliability}
        self.anchors_ = (x, y)  # kept: forecasts with a decoder given later cross-validate on them
        return self

    # -- using ----------------------------------------------------------------------------------------------------
    def transform(self, latents: Any) -> torch.Tensor:
        """The new encoder's latents where the decoder reads them (float32 unless float64 came in).

        Shapes:
            ``(m, d_enc)`` -> ``(m, d_dec)`` (a translator) or ``(m, width of the space)``
        """
        check_fitted(self, self._fitted_attributes)
        x = as_matrix(latents, "latents")
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"latents have {x.shape[1]} features but this Stitcher was fitted on "
                             f"{self.n_features_in_}; pass latents of the encoder it was fitted for")
        out = self._as_maps(self.transform_)[0](x.double())
        return out if x.dtype == torch.float64 else out.float()

    def reliability(self, latents: Any, decoder: Any) -> torch.Tensor:
        """How far to trust each stitched prediction: the classifier ``decoder``'s probability of the class it
        predicts on the stitched latents (softmax of its logits, or a scikit-learn classifier's
        ``predict_proba``), in ``[1 / classes, 1]``.

        Low values flag likely stitching errors. Of the signals measured on the real pairs (the decoder's
        confidence, disagreement between the best candidates, the cross-validated agreement of the nearest
        anchors), the decoder's confidence ranks errors best: AUROC 0.74 (TREC), 0.82 (Cora), 0.96 (digits) and
        0.84 (Fashion-MNIST) for a stitched prediction being wrong (``benchmarks/bench_stitcher.py --full``; the
        table is in the guide *Reuse a trained head with another model*).

        Shapes:
            latents ``(m, d_enc)`` -> ``(m,)``

        Example:
            >>> from stitch.experiment.decoders import LinearClassifier
            >>> a = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
            >>> head = LinearClassifier(epochs=20, lr=1e-2).fit(a, (a[:, 0] > 0).long())
            >>> r = Stitcher("affine").fit(a, a).reliability(a[:3], head)
            >>> r.shape, bool(((r >= 0.5) & (r <= 1)).all())
            (torch.Size([3]), True)
        """
        probabilities = class_probabilities(decoder, self.transform(latents))
        if probabilities is not None:
            return probabilities.amax(1).float()
        raise ValueError(f"reliability needs a classifier decoder (with predict_logits, or scikit-learn's "
                         f"predict_proba), got {type(decoder).__name__}; a regressor's outputs carry no confidence")

    def forecast(self, decoder: Any, *, pass_at: float = 0.9, fail_below: float = 0.7) -> Forecast:
        """How well ``decoder`` will read the stitched latents, forecast without labels from the anchors.

        The chosen method is cross-validated again with ``decoder``'s agreement as the score (the same
        folds); the verdict compares the result with the thresholds.

        Example:
            >>> from stitch.experiment.decoders import LinearClassifier
            >>> g = torch.Generator().manual_seed(0)
            >>> a = torch.randn(300, 6, generator=g)
            >>> head = LinearClassifier(epochs=30, lr=1e-2).fit(a, (a[:, 0] > 0).long())
            >>> f = Stitcher("procrustes").fit(a @ torch.linalg.qr(torch.randn(6, 6, generator=g))[0], a).forecast(head)
            >>> f.verdict, f.agreement > 0.95
            ('pass', True)
        """
        self._check_cross_validated("a forecast")
        _check_decoder(decoder)
        if not 0.0 <= fail_below <= pass_at <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= fail_below <= pass_at <= 1, got fail_below={fail_below}, "
                             f"pass_at={pass_at}")
        x, y = self.anchors_
        folds = cross_validate(lambda a, b: self._fit_maps(self.method_, self.options_, a, b), x, y,
                               folds=self.folds, seed=self.seed, decoder=decoder)
        mean = sum(folds) / len(folds)
        # a prediction interval: where the agreement on new data falls, not only where the mean of the folds is
        half = _T95.get(len(folds) - 1, 1.96) * std(folds) * math.sqrt(1 + 1 / len(folds))
        low, high = max(0.0, mean - half), min(1.0, mean + half)
        verdict = "pass" if low >= pass_at else "fail" if mean < fail_below else "warn"
        return Forecast(agreement=mean, interval=(low, high), verdict=verdict, folds=tuple(folds))

    # -- files ----------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the fitted stitcher (parameters, the chosen method, its map, the anchor pairs, the report) to a
        safetensors file; returns its sha256.

        Example:
            >>> import tempfile
            >>> a = torch.randn(60, 4, dtype=torch.float64)
            >>> s = Stitcher("affine").fit(a * 2 + 1, a)
            >>> p = tempfile.mkdtemp() + "/s.safetensors"
            >>> _ = s.save(p)
            >>> torch.equal(Stitcher.load(p).transform(a), s.transform(a))
            True
        """
        check_fitted(self, self._fitted_attributes)
        tensors = {"encoder_anchors": self.anchors_[0], "decoder_anchors": self.anchors_[1]}
        if self.unpaired_ is not None:
            tensors.update({"encoder_unpaired": self.unpaired_[0], "decoder_unpaired": self.unpaired_[1]})
        if not isinstance(self.transform_, tuple):  # the map itself: loading gives the same numbers, bit for bit
            tensors.update({"map." + k: v for k, v in self.transform_.state_tensors().items()})
        translator = None if isinstance(self.transform_, tuple) else self.transform_.get_params()
        return save_fitted(path, self, tensors, {"method": self.method_, "options": self.options_,
                                                 "translator": translator, "report": self.report_,
                                                 "n_features_in": self.n_features_in_})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, sha256: str | None = None) -> Stitcher:
        """A stitcher saved with :meth:`save` (everything verified against the file's sha256, and against
        ``sha256`` when a manifest gives one, in the read that loads it)."""
        params, tensors, fitted = load_fitted_state(path, cls, expected_sha256=sha256,
                                                   required=("encoder_anchors", "decoder_anchors"))
        s = cls(**params)
        s.method_, s.options_, s.report_ = fitted["method"], fitted["options"], fitted["report"]
        s.n_features_in_ = fitted["n_features_in"]
        s.anchors_ = (tensors["encoder_anchors"], tensors["decoder_anchors"])
        s.unpaired_ = ((tensors["encoder_unpaired"], tensors["decoder_unpaired"]) if "encoder_unpaired" in tensors
                       else None)
        if fitted["translator"] is not None:  # its parameters as fitted (a relative penalty resolved) and its map
            from stitch.core.translate import TRANSLATORS

            s.transform_ = TRANSLATORS.get(s.method_).from_state(
                fitted["translator"], {k[4:]: v for k, v in tensors.items() if k.startswith("map.")})
        else:
            s.transform_ = s._fit_one(s.method_, s.options_, tensors["encoder_anchors"], tensors["decoder_anchors"])
        return s

    def table(self) -> str:
        """The cross-validation report as a text table (candidates, mean ± std, difference to the best, whether
        tied with it, and the decoder's confidence where it breaks the ties); ``*`` marks the choice.

        Example:
            >>> a = torch.randn(50, 3, dtype=torch.float64)
            >>> print(Stitcher("linear").fit(a, a).table().splitlines()[0])
            | method | r2 (5 folds) | vs best | tied |
        """
        self._check_cross_validated("the candidates table")
        from stitch.utils.plots import markdown_table

        r = self.report_
        confident = all("confidence" in c for c in r["candidates"])
        rows = [[("*" if c["label"] == r["choice"] else "") + c["label"], f"{c['mean']:.4f} ± {c['std']:.4f}",
                 f"-{c['diff_to_best']:.4f} ± {c['diff_se']:.4f}", "yes" if c["tied"] else "no",
                 *([f"{c['confidence']:.4f}"] if confident else [])] for c in r["candidates"]]
        return markdown_table(["method", f"{r['score']} ({r['folds']} folds)", "vs best", "tied",
                               *(["confidence"] if confident else [])], rows)


def _check_decoder(decoder: Any) -> None:
    """A decoder is anything fitted with ``predict(z)`` (the library's decoders, or the user's own head)."""
    if not callable(getattr(decoder, "predict", None)):
        raise TypeError(f"decoder must be a fitted decoder with predict(z) (e.g. stitch.LinearClassifier), got "
                        f"{type(decoder).__name__} ({decoder!r:.60})")
    if getattr(decoder, "_fitted_attributes", None) is not None:
        check_fitted(decoder, decoder._fitted_attributes)


def _unpaired(encoder: Any, decoder: Any, d_enc: int, d_dec: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Both sides' unpaired latents checked against the anchors' widths (float64), or ``None`` without them."""
    if encoder is None and decoder is None:
        return None
    if encoder is None or decoder is None:
        given, missing = ("encoder_unpaired", "decoder_unpaired") if decoder is None else ("decoder_unpaired",
                                                                                          "encoder_unpaired")
        raise ValueError(f"{given} was given without {missing}: pass unpaired latents of both sides (each model's "
                         "own samples; they need not be the same samples) or of neither")
    out = []
    for value, name, width in ((encoder, "encoder_unpaired", d_enc), (decoder, "decoder_unpaired", d_dec)):
        value = as_matrix(value, name).detach().double().cpu()
        if value.shape[1] != width:
            raise ValueError(f"{name} has {value.shape[1]} features but its anchors have {width}; pass latents of the "
                             "same encoder as its anchors")
        out.append(value)
    return out[0], out[1]
