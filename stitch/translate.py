"""Latent translation: map encoder B's absolute space onto encoder A's, using anchors as parallel data.

Translators are scikit-learn style estimators: ``fit(x_src, y_tgt)`` learns a map from paired anchor rows,
``transform(x)`` sends new source latents into the target space, where A's frozen decoder reads them.

* :class:`Procrustes` — orthogonal map with centering and a global scale (spaces may differ in dimension);
* :class:`Affine` / :class:`Linear` — least squares with / without a bias;
* :class:`Ridge` — L2-regularised affine least squares (stable when anchors < dimension);
* :class:`OTTranslator` — does not trust the anchor pairing: it *discovers* correspondences with optimal
  transport (:func:`match_anchors`: Sinkhorn on relative spaces built from a few known pairs, or
  Gromov-Wasserstein from none), then fits a Procrustes map on the discovered pairs.

Methods are looked up by name in :data:`TRANSLATORS` (``translate:<method>`` in experiment files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stitch._checks import as_matrix, check_choice, check_fitted, check_paired, compute_dtype
from stitch._names import NameTable

__all__ = [
    "Translator",
    "Procrustes",
    "Affine",
    "Linear",
    "Ridge",
    "OTTranslator",
    "Matching",
    "match_anchors",
    "TRANSLATORS",
    "get_translator",
    "list_translators",
]


class Translator:
    """Base class: ``fit(x, y)`` on paired rows, ``transform(x)`` into the target space.

    Subclasses implement :meth:`_fit` and :meth:`_transform` on float64 tensors; the base class validates
    inputs and returns results in the inputs' compute dtype (float32 unless float64 came in).
    """

    _fitted_attrs: tuple[str, ...] = ()

    def fit(self, x: Any, y: Any) -> Translator:
        """Learn the map from paired rows: ``x[i]`` (source space) corresponds to ``y[i]`` (target space).

        Shapes:
            x: ``(n, d_src)``, y: ``(n, d_tgt)``
        """
        x = as_matrix(x, "x (source anchors)")
        y = as_matrix(y, "y (target anchors)")
        check_paired(x, y, ("x (source anchors)", "y (target anchors)"))
        self.dim_in_, self.dim_out_ = x.shape[1], y.shape[1]
        self._fit(x.double(), y.double())
        return self

    def transform(self, x: Any) -> torch.Tensor:
        """Map source-space latents into the target space.

        Shapes:
            x: ``(m, d_src)``  ->  ``(m, d_tgt)``
        """
        check_fitted(self, ("dim_in_", *self._fitted_attrs))
        x = as_matrix(x, "x")
        if x.shape[1] != self.dim_in_:
            raise ValueError(
                f"x has {x.shape[1]} features but this {type(self).__name__} was fitted on {self.dim_in_}; "
                "transform latents of the same source encoder it was fitted on"
            )
        return self._transform(x.double()).to(compute_dtype(x))

    def fit_transform(self, x: Any, y: Any) -> torch.Tensor:
        """``fit(x, y).transform(x)``."""
        return self.fit(x, y).transform(x)

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (recorded next to experiment results)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class Procrustes(Translator):
    """Orthogonal Procrustes with centering and a global scale: ``y ≈ s (x - μx) Q + μy``.

    ``Q`` is ``(d_src, d_tgt)`` with orthonormal rows or columns (``U Vᵀ`` from the SVD of ``xcᵀ yc``),
    so spaces of different dimension are handled without padding.

    Args:
        center: subtract the anchor means before solving (and add the target mean back).
        scale: fit the least-squares global scale ``s`` (else ``s = 1``).

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

    _fitted_attrs = ("rotation_", "scale_", "mean_in_", "mean_out_")

    def __init__(self, *, center: bool = True, scale: bool = True) -> None:
        self.center = center
        self.scale = scale

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.mean_in_ = x.mean(0) if self.center else torch.zeros(x.shape[1], dtype=x.dtype)
        self.mean_out_ = y.mean(0) if self.center else torch.zeros(y.shape[1], dtype=y.dtype)
        xc, yc = x - self.mean_in_, y - self.mean_out_
        u, s, vh = torch.linalg.svd(xc.T @ yc, full_matrices=False)
        self.rotation_ = u @ vh
        norm = float((xc**2).sum())
        self.scale_ = float(s.sum()) / norm if self.scale and norm > 0 else 1.0

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale_ * (x - self.mean_in_) @ self.rotation_ + self.mean_out_


class Linear(Translator):
    """Least-squares linear map without bias: ``y ≈ x W`` (minimum-norm solution when under-determined).

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x, w = torch.randn(30, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        >>> bool(torch.allclose(Linear().fit(x, x @ w).weight_, w))
        True
    """

    _fitted_attrs = ("weight_",)

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.weight_ = torch.linalg.lstsq(x, y, driver="gelsd").solution

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight_


class Affine(Translator):
    """Least-squares affine map: ``y ≈ x W + b``.

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x, w = torch.randn(30, 3, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        >>> t = Affine().fit(x, x @ w + 5)
        >>> bool(torch.allclose(t.bias_, torch.full((2,), 5.0, dtype=torch.float64)))
        True
    """

    _fitted_attrs = ("weight_", "bias_")

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        # Solving on centred data is the same least-squares problem as appending a ones column, better conditioned.
        mx, my = x.mean(0), y.mean(0)
        self.weight_ = torch.linalg.lstsq(x - mx, y - my, driver="gelsd").solution
        self.bias_ = my - mx @ self.weight_

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight_ + self.bias_


class Ridge(Affine):
    """Affine least squares with an L2 penalty ``alpha ‖W‖²`` (bias not penalised).

    Args:
        alpha: regularisation strength, ``>= 0``; ``0`` is :class:`Affine`.

    Shapes:
        fit: x ``(n, d_src)``, y ``(n, d_tgt)``; transform: ``(m, d_src)`` -> ``(m, d_tgt)``

    Example:
        >>> import torch
        >>> x = torch.randn(20, 3, dtype=torch.float64)
        >>> Ridge(alpha=1e6).fit(x, x + 1).weight_.abs().max() < 1e-3
        tensor(True)
    """

    def __init__(self, *, alpha: float = 1.0) -> None:
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")
        self.alpha = float(alpha)

    def _fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
        mx, my = x.mean(0), y.mean(0)
        xc, yc = x - mx, y - my
        d = x.shape[1]
        if d <= x.shape[0]:
            gram = xc.T @ xc + self.alpha * torch.eye(d, dtype=x.dtype)
            self.weight_ = torch.linalg.lstsq(gram, xc.T @ yc, driver="gelsd").solution
        else:  # dual form: an (n, n) system instead of (d, d) when there are fewer anchors than features
            gram = xc @ xc.T + self.alpha * torch.eye(x.shape[0], dtype=x.dtype)
            self.weight_ = xc.T @ torch.linalg.lstsq(gram, yc, driver="gelsd").solution
        self.bias_ = my - mx @ self.weight_


# -------------------------------------------------------------------------------------------------------------
# Optimal-transport anchor discovery
# -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matching:
    """Correspondences discovered between two sets of points.

    Attributes:
        target: ``(n,)`` int64; source row ``i`` matches target row ``target[i]``.
        plan: ``(n, m)`` float64 transport plan the matching was read from.
        method: ``"sinkhorn"`` or ``"gromov"``.
        known: the ``(i, j)`` pairs that were given, not discovered.
    """

    target: torch.Tensor
    plan: torch.Tensor
    method: str
    known: tuple[tuple[int, int], ...]

    def n_correct(self, truth: Any) -> int:
        """How many source rows match their true target (``truth[i]``), known pairs excluded.

        Example:
            >>> m = Matching(torch.tensor([0, 2, 1]), torch.eye(3), "sinkhorn", ((0, 0),))
            >>> m.n_correct([0, 1, 2])
            0
        """
        truth = torch.as_tensor(np.asarray(truth), dtype=torch.int64)
        hit = self.target == truth
        for i, _ in self.known:
            hit[i] = False
        return int(hit.sum())


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


def _cosine_relative(x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    an = anchors / anchors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return xn @ an.T


def _assign(score: torch.Tensor, known: Sequence[tuple[int, int]]) -> torch.Tensor:
    """One-to-one assignment maximising ``score`` with the known pairs forced."""
    from scipy.optimize import linear_sum_assignment

    s = score.clone()
    big = float(s.abs().max()) * 10 + 1.0
    for i, j in known:
        s[i, :] = -big
        s[:, j] = -big
        s[i, j] = big
    rows, cols = linear_sum_assignment(s.numpy(), maximize=True)
    target = torch.full((score.shape[0],), -1, dtype=torch.int64)
    target[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.int64)
    return target


def match_anchors(
    x: Any,
    y: Any,
    *,
    known: Sequence[tuple[int, int]] | None = None,
    method: str = "auto",
    reg: float = 0.05,
    refine: int = 10,
    seed: int = 0,
) -> Matching:
    """Discover which row of ``y`` corresponds to each row of ``x`` (two encoders' latents of shuffled samples).

    * ``method="sinkhorn"`` (default when ``known`` pairs are given): both sets are re-described relative to
      their known pairs (cosine relative representation, comparable across spaces), and entropic OT
      (Sinkhorn) on the distances between those descriptions gives the plan.
    * ``method="gromov"`` (default with no known pairs): Gromov-Wasserstein matches the two intra-space
      distance matrices, so no cross-space comparison is needed at all.

    The plan's one-to-one rounding is then refined ``refine`` times: fit :class:`Procrustes` on the current
    matches, translate ``x``, re-assign by distance (Wasserstein-Procrustes), until the matching is stable.

    Args:
        x, y: the two point sets; ``len(x) <= len(y)``.
        known: ``(i, j)`` pairs known to correspond (kept fixed).
        method: ``"auto"``, ``"sinkhorn"`` or ``"gromov"``.
        reg: entropic regularisation relative to the cost scale (Sinkhorn / entropic GW).
        refine: maximum Procrustes re-assignment rounds (0 disables).
        seed: seed of POT's randomised steps (recorded for reproducibility).

    Shapes:
        x: ``(n, d_x)``, y: ``(m, d_y)`` with ``n <= m``  ->  ``Matching.target``: ``(n,)``

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(40, 5, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
        >>> perm = torch.randperm(40, generator=g)
        >>> y = (x @ q)[perm]              # y[k] is x[perm[k]] rotated
        >>> truth = torch.argsort(perm)    # x[i] is y[truth[i]]
        >>> m = match_anchors(x, y, known=[(int(i), int(truth[i])) for i in range(5)])
        >>> m.n_correct(truth)
        35
    """
    import ot

    x = as_matrix(x, "x").double()
    y = as_matrix(y, "y").double()
    n, m = len(x), len(y)
    if n > m:
        raise ValueError(f"x has {n} rows but y only {m}; every row of x needs its own match, pass the larger set as y")
    check_choice(method, ("auto", "sinkhorn", "gromov"), "matching method")
    known = tuple((int(i), int(j)) for i, j in (known or ()))
    for i, j in known:
        if not (0 <= i < n and 0 <= j < m):
            raise ValueError(f"known pair ({i}, {j}) is out of range for x with {n} rows and y with {m} rows")
    if method == "auto":
        method = "sinkhorn" if known else "gromov"
    if method == "sinkhorn" and not known:
        raise ValueError(
            "method='sinkhorn' compares relative spaces built from known pairs, but known is empty; "
            "pass a few known (i, j) pairs or use method='gromov'"
        )
    p, q = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    np.random.seed(seed)  # POT draws from numpy's global generator in some solvers
    if method == "sinkhorn":
        ki, kj = [i for i, _ in known], [j for _, j in known]
        cost = _sq_dists(_cosine_relative(x, x[ki]), _cosine_relative(y, y[kj]))
        cost = cost / cost.max().clamp_min(1e-12)
        plan = ot.sinkhorn(p, q, cost.numpy(), reg, numItermax=5000)
    else:
        cx = _sq_dists(x, x).sqrt()
        cy = _sq_dists(y, y).sqrt()
        cx, cy = cx / cx.max().clamp_min(1e-12), cy / cy.max().clamp_min(1e-12)
        plan = ot.gromov.gromov_wasserstein(cx.numpy(), cy.numpy(), p, q, loss_fun="square_loss")
    plan_t = torch.as_tensor(np.asarray(plan), dtype=torch.float64)
    target = _assign(plan_t, known)
    for _ in range(refine):
        fitted = Procrustes().fit(x, y[target])
        new = _assign(-_sq_dists(fitted.transform(x), y), known)
        if torch.equal(new, target):
            break
        target = new
    return Matching(target=target, plan=plan_t, method=method, known=known)


class OTTranslator(Translator):
    """Procrustes on anchor correspondences *discovered* by optimal transport (see :func:`match_anchors`).

    ``fit(x, y)`` does not assume ``x[i] ↔ y[i]``: only the rows listed in ``known`` are trusted; the rest of
    the pairing is recovered from the geometry of the two sets. ``matching_`` holds the discovered pairs
    (compare them with the truth through ``matching_.n_correct``).

    Args:
        method: ``"auto"``, ``"sinkhorn"`` (relative spaces from known pairs) or ``"gromov"`` (no pairs needed).
        reg: entropic regularisation for Sinkhorn.
        refine: Procrustes re-assignment rounds.
        seed: recorded seed for POT's randomised steps.

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

    _fitted_attrs = ("matching_", "procrustes_")

    def __init__(self, *, method: str = "auto", reg: float = 0.05, refine: int = 10, seed: int = 0) -> None:
        check_choice(method, ("auto", "sinkhorn", "gromov"), "matching method")
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
        x = as_matrix(x, "x (source anchors)").double()
        y = as_matrix(y, "y (target anchors)").double()
        self.dim_in_, self.dim_out_ = x.shape[1], y.shape[1]
        self.matching_ = match_anchors(
            x, y, known=known, method=self.method, reg=self.reg, refine=self.refine, seed=self.seed
        )
        self.procrustes_ = Procrustes().fit(x, y[self.matching_.target])
        return self

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.procrustes_.transform(x)


#: Translation methods by name (``translate:<method>`` in experiment files).
TRANSLATORS: NameTable[type[Translator]] = NameTable(
    "translation method", list_command="stitch translators list"
)
TRANSLATORS.register(
    "procrustes", Procrustes, aliases=("orthogonal",), description="orthogonal map with centering and scale"
)
TRANSLATORS.register("affine", Affine, description="least squares with bias")
TRANSLATORS.register("linear", Linear, aliases=("lstsq",), description="least squares without bias")
TRANSLATORS.register("ridge", Ridge, description="L2-regularised affine least squares")
TRANSLATORS.register(
    "ot", OTTranslator, aliases=("optimal-transport",), description="OT-discovered anchor pairs + Procrustes"
)


def get_translator(name: str, **options: Any) -> Translator:
    """A new, unfitted translator by name (``"procrustes"``, ``"affine"``, ``"linear"``, ``"ridge"``, ``"ot"``).

    Example:
        >>> get_translator("ridge", alpha=0.1)
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

