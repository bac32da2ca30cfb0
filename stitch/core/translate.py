"""Latent translation: map encoder B's absolute space onto encoder A's, using anchors as parallel data.

Translators are scikit-learn style estimators: ``fit(x_src, y_tgt)`` learns a map from paired anchor rows,
``transform(x)`` sends new source latents into the target space, where A's frozen decoder reads them. Every translator
here but :class:`InverseRelative` is affine once fitted: ``transform(x) = x @ coef_ + intercept_``.

* :class:`Procrustes` — orthogonal map with centering and a global scale (spaces may differ in dimension);
* :class:`Affine` / :class:`Linear` — least squares with / without a bias;
* :class:`Ridge` — L2-regularised affine least squares (stable when anchors < dimension);
* :class:`InverseRelative` — relative -> absolute: the target latent whose similarities to the target's anchors
  match the source latent's to the source's (inverse relative projection);
* :class:`OTTranslator` — does not trust the anchor pairing: it *discovers* correspondences
  (:func:`~stitch.core.matching.match_anchors`), then fits a Procrustes map on the discovered pairs.

Methods are looked up by name in :data:`TRANSLATORS` (``translate:<method>`` in experiment files).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import torch

from stitch.core.linalg import min_norm_lstsq, ridge_solve, similarity_procrustes
from stitch.errors import InterpolationWarning
from stitch.utils.checks import as_matrix, check_fitted, check_paired, compute_dtype
from stitch.utils.deprecation import deprecated_alias
from stitch.utils.estimator import Estimator, load_fitted, save_fitted
from stitch.utils.names import BUILTIN, NameTable, describe
from stitch.utils.numerics import nonzero_scale

__all__ = [
    "Translator",
    "Procrustes",
    "Affine",
    "Linear",
    "Ridge",
    "InverseRelative",
    "OTTranslator",
    "TRANSLATORS",
    "create_translator",
    "register_translator",
    "list_translators",
]


class Translator(Estimator):
    """Base class: ``fit(x, y)`` on paired rows, ``transform(x)`` into the target space.

    Subclasses implement :meth:`_fit` on float64 tensors and set ``coef_`` ``(d_src, d_tgt)`` and
    ``intercept_`` ``(d_tgt,)``; the base class validates inputs and returns results in the inputs' compute
    dtype (float32 unless float64 came in).
    """

    _estimator_kind = "regressor"
    _fitted_attributes = ("coef_",)
    #: the fitted tensors that define the map (attribute names less the trailing ``_``): what a file keeps
    _state: ClassVar[tuple[str, ...]] = ("coef", "intercept")

    def fit(self, x: Any, y: Any) -> Translator:
        """Learn the map from paired rows: ``x[i]`` (source space) corresponds to ``y[i]`` (target space).

        Shapes:
            x: ``(n, d_src)``, y: ``(n, d_tgt)``
        """
        self._fit(*self._pairs(x, y))
        return self._fitted()

    def _pairs(self, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The checked anchor pairs as float64 CPU tensors (and the fitted widths recorded)."""
        x = as_matrix(x, "x (source anchors)")
        y = as_matrix(y, "y (target anchors)")
        check_paired(x, y, ("x (source anchors)", "y (target anchors)"))
        if len(x) < 2:  # every map from one pair sends everything to that pair's target
            raise ValueError(f"a {type(self).__name__} needs at least 2 anchor pairs to fit a map, got {len(x)}")
        self.n_features_in_, self.n_features_out_ = x.shape[1], y.shape[1]
        return x.detach().double().cpu(), y.detach().double().cpu()

    def _fitted(self) -> Translator:
        # one memory layout, so a saved and loaded map multiplies exactly as this one (BLAS paths differ by layout)
        for name in self._state:
            setattr(self, name + "_", getattr(self, name + "_").contiguous())
        return self

    def transform(self, x: Any) -> torch.Tensor:
        """Map source-space latents into the target space.

        Shapes:
            x: ``(m, d_src)``  ->  ``(m, d_tgt)``
        """
        check_fitted(self, self._fitted_attributes)
        x = as_matrix(x, "x")
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"x has {x.shape[1]} features but this {type(self).__name__} was fitted on {self.n_features_in_}; "
                "transform latents of the same source encoder it was fitted on"
            )
        return self._map(x.to(compute_dtype(x)))

    def _map(self, x: torch.Tensor) -> torch.Tensor:
        """The fitted map on checked rows in their compute dtype."""
        coef, bias = self.coef_.to(device=x.device, dtype=x.dtype), self.intercept_.to(device=x.device, dtype=x.dtype)
        return torch.addmm(bias, x, coef)

    def fit_transform(self, x: Any, y: Any) -> torch.Tensor:
        """``fit(x, y).transform(x)``."""
        return self.fit(x, y).transform(x)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the fitted map (parameters and :meth:`state_tensors`) to a safetensors file; returns its sha256.

        Example:
            >>> import tempfile
            >>> x = torch.randn(30, 4, dtype=torch.float64)
            >>> t = Ridge(alpha=0.1).fit(x, x @ torch.randn(4, 2, dtype=torch.float64))
            >>> p = tempfile.mkdtemp() + "/ridge.safetensors"
            >>> _ = t.save(p)
            >>> torch.equal(Ridge.load(p).transform(x), t.transform(x))
            True
        """
        return save_fitted(path, self, self.state_tensors())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Translator:
        """A translator saved with :meth:`save` (parameters and map verified against the file's sha256); it
        transforms as the saved one did (what only fitting records, e.g. ``matching_``, is not kept)."""
        return cls.from_state(*load_fitted(path, cls, required=cls._state))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The fitted tensors that define the map, by name (what :meth:`save` writes beside the parameters).

        Example:
            >>> sorted(Affine().fit(torch.randn(9, 2), torch.randn(9, 3)).state_tensors())
            ['coef', 'intercept']
        """
        check_fitted(self, self._fitted_attributes)
        return {name: getattr(self, name + "_") for name in self._state}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Translator:
        """A fitted translator from its parameters and :meth:`state_tensors` (as read from a file).

        Example:
            >>> t = Procrustes().fit(torch.randn(9, 2), torch.randn(9, 2))
            >>> torch.equal(Procrustes.from_state(t.get_params(), t.state_tensors()).coef_, t.coef_)
            True
        """
        missing = sorted(set(cls._state) - set(tensors))
        if missing:
            raise ValueError(f"a fitted {cls.__name__} needs the tensors {', '.join(cls._state)}; {', '.join(missing)} "
                             "missing (the file was written by another translator or is damaged): save it again")
        translator = cls(**params)
        for name in cls._state:
            setattr(translator, name + "_", tensors[name])
        translator.n_features_in_, translator.n_features_out_ = translator.coef_.shape
        return translator

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _warn_near_interpolation(name: str, n: int, d: int, *, depth: int) -> None:
    """Warn when unregularised least squares fits ``d`` dimensions from about as many pairs (``n / d`` in
    ``[1/2, 2]``): there it interpolates the anchors' noise (measured on EfficientNet-Lite, 1,280-d: 0.90 of
    native accuracy from 300 pairs, 0.65 from 1,000; ridge stays above 0.95)."""
    if d >= 8 and 0.5 * d <= n <= 2 * d:
        warnings.warn(f"{name}: {n} anchor pairs for {d} dimensions is near the interpolation peak (pairs about "
                      "equal to dimensions), where least squares fits the anchors' noise and generalises worst; use "
                      "ridge, or Stitcher(method='auto') to choose by cross-validation", InterpolationWarning,
                      stacklevel=depth + 1)  # the user's call of fit


class Procrustes(Translator):
    """Orthogonal Procrustes with centering and a global scale: ``y ≈ s (x - μx) Q + μy``.

    ``Q`` is ``(d_src, d_tgt)`` with orthonormal rows or columns (``U Vᵀ`` from the SVD of ``xcᵀ yc``),
    so spaces of different dimension are handled without padding.

    Args:
        center: subtract the anchor means before solving (and add the target mean back).
        scale: fit the least-squares global scale ``s`` (else ``s = 1``).
        standardize: Latent Space Translation's recipe (Maiorca et al., 2023): scale each dimension of either
            side to unit variance over the anchors before solving, and back after; dimensions whose spread is
            below float32's resolution are left unscaled (a near-dead unit must not amplify float noise). The
            map stays affine: ``coef_`` folds the scalings in.

    :meth:`fit` also takes each side's own unpaired latents, to estimate the centring and scaling from more
    samples than the anchors.

    Learned attributes: ``rotation_`` (``Q``), ``scale_``, ``mean_in_``, ``mean_out_``, ``coef_``, ``intercept_``,
    ``n_unpaired_`` (unpaired rows used per side).

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x = torch.randn(50, 4, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
        >>> y = 3 * x @ q + 1
        >>> t = Procrustes().fit(x, y)
        >>> bool(torch.allclose(t.transform(x), y)), round(t.scale_, 6)
        (True, 3.0)
    """

    def __init__(self, *, center: bool = True, scale: bool = True, standardize: bool = False) -> None:
        self.center = center
        self.scale = scale
        self.standardize = standardize

    def fit(self, x: Any, y: Any, *, x_unpaired: Any = None, y_unpaired: Any = None) -> Procrustes:
        """Learn the map from the anchor pairs ``(x[i], y[i])``.

        Args:
            x_unpaired, y_unpaired: more latents of either side, in any number and order, unpaired and
                unlabelled (each model's own data). The centring and, with ``standardize``, the per-dimension
                scaling are estimated on them together with the anchors; the rotation still comes from the
                anchors alone. With few anchors the statistics are the weak part: EfficientNet-Lite0 / Lite2 on
                Fashion-MNIST, 25 anchors, ``standardize=True``: a head reads the map at 0.62 of native with the
                anchors' statistics, 0.76 with 3,000 images of each side's; 300 anchors: 0.93 either way.

        Shapes:
            x: ``(n, d_src)``, y: ``(n, d_tgt)``; x_unpaired: ``(m_x, d_src)``, y_unpaired: ``(m_y, d_tgt)``

        Example:
            >>> g = torch.Generator().manual_seed(0)
            >>> data = torch.randn(500, 4, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2, 3, 4]) + 5
            >>> t = Procrustes(standardize=True).fit(data[:6], data[:6], x_unpaired=data[6:], y_unpaired=data[6:])
            >>> t.n_unpaired_, bool((t.mean_in_ - data.mean(0)).abs().max() < 1e-9)
            ((494, 494), True)
        """
        x, y = self._pairs(x, y)
        stats = []
        for anchors, more, name in ((x, x_unpaired, "x_unpaired"), (y, y_unpaired, "y_unpaired")):
            if more is None:
                stats.append(anchors)
                continue
            more = as_matrix(more, name).detach().double().cpu()
            if more.shape[1] != anchors.shape[1]:
                raise ValueError(f"{name} has {more.shape[1]} features but its anchors have {anchors.shape[1]}; pass "
                                 f"latents of the same encoder as {name[0]}")
            stats.append(torch.cat([anchors, more]))
        self.n_unpaired_ = (len(stats[0]) - len(x), len(stats[1]) - len(y))
        self._fit(x, y, *stats)
        return self._fitted()

    def _fit(self, x: torch.Tensor, y: torch.Tensor, x_stats: torch.Tensor, y_stats: torch.Tensor) -> None:
        """Solve on the anchor pairs with the centring and scaling estimated on ``x_stats`` / ``y_stats``."""
        self.mean_in_ = x_stats.mean(0) if self.center else torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
        self.mean_out_ = y_stats.mean(0) if self.center else torch.zeros(y.shape[1], dtype=y.dtype, device=y.device)
        sx = sy = None
        if self.standardize:  # y ≈ ((x - μx) / σx · s Q) σy + μy: per-dimension scalings folded into one affine map
            sx, sy = (nonzero_scale(v.std(0, correction=0), torch.float32) for v in (x_stats, y_stats))
        coef, _, self.rotation_, self.scale_ = similarity_procrustes(
            (x - self.mean_in_) / (1 if sx is None else sx), (y - self.mean_out_) / (1 if sy is None else sy),
            center=False, scale=self.scale)
        self.coef_ = coef if sx is None else coef / sx[:, None] * sy[None, :]
        self.intercept_ = self.mean_out_ - self.mean_in_ @ self.coef_


class Linear(Translator):
    """Least-squares linear map without bias: ``y ≈ x W`` (minimum-norm solution when under-determined).

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x, w = torch.randn(30, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        >>> bool(torch.allclose(Linear().fit(x, x @ w).coef_, w))
        True
    """

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        _warn_near_interpolation(type(self).__name__, *x.shape, depth=3)
        self.coef_ = min_norm_lstsq(x, y)
        self.intercept_ = torch.zeros(y.shape[1], dtype=y.dtype, device=y.device)


class Affine(Translator):
    """Least-squares affine map: ``y ≈ x W + b``.

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x, w = torch.randn(30, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        >>> t = Affine().fit(x, x @ w + 5)
        >>> bool(torch.allclose(t.intercept_, torch.full((2,), 5.0, dtype=torch.float64)))
        True
    """

    def _solve(self, xc: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
        _warn_near_interpolation(type(self).__name__, *xc.shape, depth=4)
        return min_norm_lstsq(xc, yc)

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        # Solving on centred data is the same least-squares problem as appending a ones column, better conditioned.
        mx, my = x.mean(0), y.mean(0)
        self.coef_ = self._solve(x - mx, y - my)
        self.intercept_ = my - mx @ self.coef_


class Ridge(Affine):
    """Affine least squares with an L2 penalty ``alpha ‖W‖²`` (bias not penalised).

    Args:
        alpha: regularisation strength, ``>= 0``; ``0`` is :class:`Affine`.

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, dtype=torch.float64)
        >>> bool(Ridge(alpha=1e6).fit(x, x + 1).coef_.abs().max() < 1e-3)
        True
    """

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def _solve(self, xc: torch.Tensor, yc: torch.Tensor) -> torch.Tensor:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha >= 0:
            raise ValueError(f"alpha must be a number >= 0, got {self.alpha!r}")
        return ridge_solve(xc, yc, float(self.alpha))


class InverseRelative(Translator):
    """Relative -> absolute (inverse relative projection): the target latent whose cosine similarities to the
    target's anchors match the source latent's similarities to the source's anchors.

    A source latent's relative representation ``r = cos(x - μx, X - μx)`` (one similarity per anchor) is sent
    back through the pseudo-inverse of the target's normalised centred anchors ``Ŷ``, and the direction found
    gets the target anchors' mean norm: ``y = s · normalize(Ŷ⁺ r) + μy``. Singular values of ``Ŷ`` below
    ``rcond`` times the largest are dropped: the two encoders' similarities differ by noise, and near-dead or
    weak target directions would amplify it (all-MiniLM-L6's three ~1e-9 dimensions alone make the plain
    pseudo-inverse useless). ``r`` is linear in the normalised ``x``, so the fitted map is ``x̂ @ coef_`` with
    ``coef_ = X̂ᵀ Ŷ⁺ᵀ``, followed by the normalisation and scale: not affine. It suits encoders related by
    an angle-preserving map whatever each sample's norm (Moschella et al., 2023; Maiorca et al., 2024).

    Args:
        rcond: relative cutoff of the target anchors' singular values, in ``[0, 1)``.
        center: measure similarities around each side's anchor mean (better on real encoders: 0.73 vs 0.72 of
            native accuracy on TREC, 0.90 vs 0.83 on Fashion-MNIST; see ``benchmarks/bench_stitcher.py``).

    Learned attributes: ``coef_``, ``intercept_`` (``μy``), ``mean_in_`` (``μx``), ``norm_`` (``s``, 0-d).

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> u = 2 * torch.nn.functional.normalize(torch.randn(100, 5, generator=g, dtype=torch.float64), dim=1)
        >>> q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
        >>> y, norms = torch.cat([u, -u]), torch.rand(100, 1, generator=g, dtype=torch.float64).repeat(2, 1) * 3
        >>> x = (y @ q) * norms                          # a rotation, each sample's norm scrambled
        >>> t = InverseRelative().fit(x, y)
        >>> bool(torch.allclose(t.transform(x), y))
        True
    """

    _state = ("coef", "intercept", "mean_in", "norm")

    def __init__(self, *, rcond: float = 0.1, center: bool = True) -> None:
        self.rcond = rcond
        self.center = center

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if isinstance(self.rcond, bool) or not isinstance(self.rcond, (int, float)) or not 0 <= self.rcond < 1:
            raise ValueError(f"rcond must be a number in [0, 1), got {self.rcond!r}")
        self.mean_in_, self.intercept_ = (x.mean(0), y.mean(0)) if self.center else (x[0] * 0, y[0] * 0)
        xn = torch.nn.functional.normalize(x - self.mean_in_, dim=1)
        yc = y - self.intercept_
        yn = torch.nn.functional.normalize(yc, dim=1)
        u, sv, vh = torch.linalg.svd(yn, full_matrices=False)
        keep = sv > max(float(self.rcond) * float(sv[0]), float(sv[0]) * torch.finfo(sv.dtype).eps * max(yn.shape))
        # Ŷ⁺ = V diag(1/σ) Uᵀ on the kept directions; coef = X̂ᵀ (Ŷ⁺)ᵀ = X̂ᵀ U diag(1/σ) Vᵀ
        self.coef_ = (xn.T @ u[:, keep]) / sv[keep] @ vh[keep]
        self.norm_ = yc.norm(dim=1).mean()

    def _map(self, x: torch.Tensor) -> torch.Tensor:
        t = {name: getattr(self, name + "_").to(device=x.device, dtype=x.dtype) for name in self._state}
        direction = torch.nn.functional.normalize(torch.nn.functional.normalize(x - t["mean_in"], dim=1) @ t["coef"],
                                                  dim=1)
        return direction * t["norm"] + t["intercept"]


class OTTranslator(Translator):
    """Procrustes on anchor correspondences *discovered* from geometry (see :func:`~stitch.core.matching.match_anchors`).

    ``fit(x, y)`` does not assume ``x[i] ↔ y[i]``: only the rows listed in ``known`` are trusted; the rest of
    the pairing is recovered from the geometry of the two sets. ``matching_`` holds the discovered pairs
    (compare them with the truth through ``matching_.n_correct``).

    Args:
        method: matching method of :func:`~stitch.core.matching.match_anchors` (``"auto"`` by default).
        reg: entropic regularisation of the transport solvers.
        refine: self-learning / Procrustes re-assignment rounds of the matching.
        seed: seed of the matching's stochastic routes.

    Shapes:
        fit: x ``(n, d_src)``, y ``(m, d_tgt)``; transform: ``(k, d_src)`` -> ``(k, d_tgt)``

    Example:
        >>> import torch
        >>> x = torch.randn(30, 4, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
        >>> t = OTTranslator().fit(x, x @ q, known=[(0, 0), (1, 1), (2, 2), (3, 3)])
        >>> bool(torch.allclose(t.transform(x), x @ q))
        True
    """

    _fitted_attributes = ("matching_", "coef_")

    def __init__(self, *, method: str = "auto", reg: float = 0.05, refine: int = 10, seed: int = 0) -> None:
        self.method = method
        self.reg = reg
        self.refine = refine
        self.seed = seed

    def fit(  # type: ignore[override]
        self, x: Any, y: Any, *, known: Sequence[tuple[int, int]] | None = None
    ) -> OTTranslator:
        """Discover correspondences between ``x`` and ``y`` (``known`` pairs trusted), then fit Procrustes.

        Shapes:
            x: ``(n, d_src)``, y: ``(m, d_tgt)`` with ``n <= m``
        """
        from stitch.core.matching import match_anchors

        x = as_matrix(x, "x (source anchors)").detach().double().cpu()
        y = as_matrix(y, "y (target anchors)").detach().double().cpu()
        self.n_features_in_, self.n_features_out_ = x.shape[1], y.shape[1]
        self.matching_ = match_anchors(
            x, y, known=known, method=self.method, reg=self.reg, refine=self.refine, seed=self.seed
        )
        procrustes = Procrustes().fit(x, y[self.matching_.target])
        self.coef_, self.intercept_ = procrustes.coef_, procrustes.intercept_
        return self


#: Translation methods by name (``translate:<method>`` in experiment files).
TRANSLATORS: NameTable[type[Translator]] = NameTable("translation method", list_command="stitch translators list")


def register_translator(name: str, cls: type[Translator], *, source: str = BUILTIN, description: str = "",
                        aliases: Iterable[str] = ()) -> None:
    """Register a translator class (``fit(x, y)``, ``transform(x)``) as ``translate:<name>``.

    Example:
        >>> register_translator("identity", Linear, source="doc", description="least squares again")
        >>> "doc:identity" in TRANSLATORS
        True
        >>> TRANSLATORS.unregister_source("doc")
    """
    if not (isinstance(cls, type) and callable(getattr(cls, "fit", None)) and callable(getattr(cls, "transform", None))):
        raise TypeError(f"translator {name!r} must be a class with fit(x, y) and transform(x), got {cls!r}")
    TRANSLATORS.register(name, cls, source=source, aliases=aliases, description=description or describe(cls))


register_translator("procrustes", Procrustes, aliases=("orthogonal",),
                    description="orthogonal map with centering and scale")
register_translator("affine", Affine, description="least squares with bias")
register_translator("linear", Linear, aliases=("lstsq",), description="least squares without bias")
register_translator("ridge", Ridge, description="L2-regularised affine least squares")
register_translator("inverse-relative", InverseRelative, aliases=("irp",),
                    description="relative -> absolute: match the similarities to the anchors (cosine)")
register_translator("ot", OTTranslator, aliases=("optimal-transport",),
                    description="discovered anchor pairs (optimal transport) + Procrustes")


def create_translator(name: str, **options: Any) -> Translator:
    """A new, unfitted translator by name (``"procrustes"``, ``"affine"``, ``"linear"``, ``"ridge"``, ``"ot"``).

    Example:
        >>> create_translator("ridge", alpha=0.1)
        Ridge(alpha=0.1)
    """
    return TRANSLATORS.build(name, **options)


def list_translators(pattern: str = "*") -> list[str]:
    """Registered translation method names matching a shell-style ``pattern``.

    Example:
        >>> "procrustes" in list_translators()
        True
    """
    return TRANSLATORS.names(pattern)


get_translator = deprecated_alias(create_translator, "get_translator")
