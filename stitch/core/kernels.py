"""The built-in similarity kernels: what each computes, as ``prepare(anchors)`` + ``apply(x, state, out)``.

``prepare`` computes everything that depends only on the (centred) anchors once; ``apply`` scores one chunk
of rows, writing into ``out`` when it is given. Every ``apply`` has two paths: the fast one (one GEMM, written
in place, for inputs that need no gradient) and a differentiable one (no ``out=`` and no in-place ops),
taken when autograd records the inputs or the anchors (end-to-end training through a relative layer).
Sign convention: higher means more similar, so distances come back negated.

All functions are module-level, so a fitted projection pickles (joblib, multiprocessing, Ray).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from stitch.core.pairwise import pairwise_distances, screen_squared_distances
from stitch.utils.numerics import TINY

__all__ = ["BUILTIN_KERNELS", "SELF_CHECKED", "Kernel", "ScoreOverflow", "needs_grad"]


def needs_grad(*tensors: Any) -> bool:
    """Whether autograd records an operation on any of ``tensors`` (then the differentiable path runs).

    Example:
        >>> needs_grad(torch.ones(2, requires_grad=True)), needs_grad(torch.ones(2))
        (True, False)
    """
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def _state_grad(x: torch.Tensor, state: dict[str, Any]) -> bool:
    return needs_grad(x, *state.values())


def _mm(x: torch.Tensor, anchors_t: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    if out is None or _state_grad(x, {"a": anchors_t}):
        return x @ anchors_t
    return torch.mm(x, anchors_t, out=out)


def _unit(x: torch.Tensor) -> torch.Tensor:
    # A zero vector stays zero (eps clamp), so it scores 0 against every anchor instead of NaN.
    return F.normalize(x, dim=1, eps=TINY)


# -- cosine and dot ----------------------------------------------------------------------------------------------
def prepare_cosine(anchors: torch.Tensor) -> dict[str, torch.Tensor]:
    """Unit-norm anchors, transposed for one GEMM."""
    return {"anchors_t": _unit(anchors).T.contiguous()}


def apply_cosine(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``<x, a> / (|x| |a|)``; a zero vector scores 0. Raises :class:`ScoreOverflow` if a norm overflows."""
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    # scores lie in [-1, 1] once the norms are finite: checking (n,) norms replaces a pass over (n, a) scores
    if not bool(torch.isfinite(norms).all()):
        raise ScoreOverflow("row norms overflowed")
    return _mm(x / norms.clamp_min(TINY), state["anchors_t"], out)


def prepare_dot(anchors: torch.Tensor) -> dict[str, Any]:
    """Anchors transposed for one GEMM."""
    return {"anchors_t": anchors.T.contiguous()}


def apply_dot(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``<x, a>``."""
    return _mm(x, state["anchors_t"], out)


# -- Euclidean family ----------------------------------------------------------------------------------------------
def prepare_euclidean(anchors: torch.Tensor) -> dict[str, Any]:
    """Anchors shifted by their mean, their squared norms and the augmented GEMM operand."""
    # Shifting by the anchors' mean (exact for a translation-invariant distance) shrinks the norms and
    # with them the cancellation error of |x|^2 + |a|^2 - 2<x, a>.
    shift = anchors.mean(dim=0, dtype=torch.float64).to(anchors.dtype)
    a = anchors - shift
    sq = a.pow(2).sum(1, dtype=torch.float64).to(a.dtype)
    # [-2a, |a|^2, 1] against [x, 1, |x|^2]: one GEMM yields the whole |x|^2 + |a|^2 - 2<x, a> (exact scaling
    # by a power of two), with no elementwise passes over the (n, a) output.
    augmented = torch.cat([-2.0 * a, sq[:, None], torch.ones_like(sq)[:, None]], dim=1)
    return {"anchors": a, "augmented_t": augmented.T.contiguous(), "sq": sq, "shift": shift}


class ScoreOverflow(ValueError):
    """Raised by a built-in kernel whose scores overflowed to Inf/NaN (the projection names the similarity)."""


def squared_distances(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None, *,
                      root: bool = False) -> torch.Tensor:
    """``|x - a|^2`` for every row and anchor, from a :func:`prepare_euclidean` state (never negative).

    With ``root`` the result is ``-|x - a|`` instead (the Euclidean score), finished in the same pass.
    Raises :class:`ScoreOverflow` when the values overflow.
    """
    if _state_grad(x, state):
        xs = x - state["shift"]
        d2 = ((xs * xs).sum(1, keepdim=True) + state["sq"] - 2.0 * (xs @ state["anchors"].T)).clamp_min(0.0)
        return -d2.clamp_min(torch.finfo(d2.dtype).tiny).sqrt() if root else d2
    n, d = x.shape
    x_aug = torch.empty(n, d + 2, dtype=x.dtype, device=x.device)
    xs = torch.sub(x, state["shift"], out=x_aug[:, :d])
    # torch's cascaded reduction keeps |x|^2 to a few ulps without a float64 copy of the chunk
    x_sq = torch.linalg.vector_norm(xs, dim=1).square_()
    x_aug[:, d] = 1.0
    x_aug[:, d + 1] = x_sq
    d2 = _mm(x_aug, state["augmented_t"], out)
    # Where cancellation ate most of the digits (near-duplicates, tiny negatives), recompute the difference
    # directly: a sample's distance to itself becomes exactly 0 and nothing stays negative.
    rel = 1e-3 if x.dtype != torch.float64 else 1e-7
    a = state["anchors"]
    screened = screen_squared_distances(d2, x_sq, state["sq"], rel, root=root)
    if screened is not None:  # one fused pass (numba): overflow count, near pairs marked NaN, roots taken
        bad, near_rows = screened
        if bad:
            raise ScoreOverflow(f"{bad} squared distances overflowed")
        if len(near_rows):
            rows, cols = torch.nonzero(torch.isnan(d2[near_rows]), as_tuple=True)
            rows = near_rows[rows]
            exact = ((xs[rows].double() - a[cols].double()) ** 2).sum(1)
            d2[rows, cols] = (-exact.sqrt() if root else exact).to(d2.dtype)
        return d2
    if not bool(torch.isfinite(d2.amax())):  # NaN propagates through amax, as Inf does
        raise ScoreOverflow("squared distances overflowed")
    bound = rel * float(x_sq.max() + state["sq"].max())
    if float(d2.min()) <= bound:
        rows, cols = torch.nonzero(d2 <= bound, as_tuple=True)  # candidates, then the per-pair test
        keep = d2[rows, cols] <= rel * (x_sq[rows] + state["sq"][cols])
        rows, cols = rows[keep], cols[keep]
        for start in range(0, rows.numel(), 16384):
            r, c = rows[start : start + 16384], cols[start : start + 16384]
            d2[r, c] = ((xs[r].double() - a[c].double()) ** 2).sum(1).to(d2.dtype)
    return d2.sqrt_().neg_() if root else d2


def apply_euclidean(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``-|x - a|_2``."""
    return squared_distances(x, state, out, root=True)


def median_bandwidth(anchors: torch.Tensor) -> float:
    """Median (the lower middle value for an even count) of the non-zero pairwise anchor distances; 1.0 if none.

    Example:
        >>> median_bandwidth(torch.tensor([[0.0], [1.0], [3.0]]))
        2.0
    """
    a = anchors.detach().double()
    d = torch.cdist(a, a)
    iu = torch.triu_indices(len(a), len(a), offset=1)
    pairs = d[iu[0], iu[1]]
    pairs = pairs[pairs > 0]
    return float(pairs.median()) if pairs.numel() else 1.0


def prepare_rbf(anchors: torch.Tensor) -> dict[str, Any]:
    """The Euclidean state plus ``gamma = 1 / (2 sigma^2)`` from the median anchor distance.

    The bandwidth is a statistic of the anchors held constant under differentiation (a median has no useful
    gradient): gradients flow through the distances.
    """
    state = prepare_euclidean(anchors)
    state["gamma"] = 1.0 / (2.0 * median_bandwidth(anchors) ** 2)
    return state


def apply_rbf(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``exp(-gamma |x - a|^2)``."""
    d2 = squared_distances(x, state, out)
    return (d2 * -state["gamma"]).exp() if d2.requires_grad else d2.mul_(-state["gamma"]).exp_()


def ledoit_wolf(centered: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Ledoit-Wolf shrunk covariance of already-centred rows and the shrinkage used (float64 in, float64 out).

    The shrunk covariance is differentiable in the rows (the shrinkage intensity included), so a Mahalanobis
    relative layer trains end to end.

    Example:
        >>> cov, shrinkage = ledoit_wolf(torch.randn(50, 3, dtype=torch.float64))
        >>> cov.shape, 0.0 <= shrinkage <= 1.0
        (torch.Size([3, 3]), True)
    """
    n, d = centered.shape
    cov = centered.T @ centered / n
    mu = torch.trace(cov) / d
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
    delta = ((cov - mu * eye) ** 2).sum() / d
    # beta: how noisy cov is as an estimate, from the spread of the rank-one terms x x^T around it.
    beta = (((centered**2).sum(1) ** 2).sum() - n * (cov**2).sum()) / (n * n * d)
    if float(delta.detach()) <= 0:
        shrinkage = torch.ones((), dtype=cov.dtype, device=cov.device)
    else:
        shrinkage = torch.minimum(beta.clamp(min=0.0), delta) / delta
    return (1 - shrinkage) * cov + shrinkage * mu * eye, float(shrinkage.detach())


def prepare_mahalanobis(anchors: torch.Tensor) -> dict[str, Any]:
    """A whitening ``W`` with ``W W^T = S^{-1}`` for the anchors' shrunk covariance ``S``, then the Euclidean state
    of the whitened anchors.

    ``W`` is the inverse transpose of the Cholesky factor of ``S`` (any factor gives the same distances); unlike
    an eigendecomposition its gradient stays finite when eigenvalues coincide (full shrinkage gives ``S = mu I``).
    A singular ``S`` (no shrinkage, fewer anchors than dimensions) falls back to the eigenvalue route with a floor.
    """
    a64 = anchors.double()
    mean = a64.mean(0)
    cov, shrinkage = ledoit_wolf(a64 - mean)
    eye = torch.eye(anchors.shape[1], dtype=torch.float64, device=anchors.device)
    if float(torch.trace(cov).detach()) <= 0:  # a single anchor (or identical ones): no spread to whiten by
        cov = eye
    factor, info = torch.linalg.cholesky_ex(cov)
    if int(info) == 0:
        whiten = torch.linalg.solve_triangular(factor, eye, upper=False).T
    else:
        evals, evecs = torch.linalg.eigh(cov)
        floor = float(evals.max().detach()) * TINY
        whiten = (evecs * evals.clamp(min=floor).rsqrt()) @ evecs.T
    whiten = whiten.to(anchors.dtype)
    state = prepare_euclidean((anchors - mean.to(anchors.dtype)) @ whiten)
    state.update(whiten=whiten, mean=mean.to(anchors.dtype), shrinkage=shrinkage)
    return state


def apply_mahalanobis(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``-|W (x - a)|_2``."""
    return apply_euclidean((x - state["mean"]) @ state["whiten"], state, out)


# -- L1 and L-infinity ---------------------------------------------------------------------------------------------
def prepare_identity(anchors: torch.Tensor) -> dict[str, Any]:
    """The anchors as they are."""
    return {"anchors": anchors}


def apply_l1(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``-|x - a|_1`` (the blocked kernel of :mod:`stitch.core.pairwise`)."""
    return pairwise_distances(x, state["anchors"], "l1", out)


def apply_linf(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    """``-max_k |x_k - a_k|`` (the blocked kernel of :mod:`stitch.core.pairwise`)."""
    return pairwise_distances(x, state["anchors"], "linf", out)


# -- the table of built-ins ----------------------------------------------------------------------------------------
class Kernel:
    """``fn(x, anchors)`` from a ``prepare`` / ``apply`` pair: the plain-function form of a built-in kernel.

    Example:
        >>> k = Kernel(prepare_dot, apply_dot)
        >>> k(torch.eye(2), torch.tensor([[1.0, 2.0]])).tolist()
        [[1.0], [2.0]]
    """

    def __init__(self, prepare: Any, apply: Any) -> None:
        self.prepare, self.apply = prepare, apply
        self.__doc__ = apply.__doc__

    def __call__(self, x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.prepare(anchors), None)


#: kernels whose ``apply`` raises :class:`ScoreOverflow` itself (the projection skips its own pass over the scores)
SELF_CHECKED = frozenset({"cosine", "euclidean", "rbf", "mahalanobis"})

#: name -> (prepare, apply, invariances without centering, homogeneous, aliases, description)
BUILTIN_KERNELS: dict[str, tuple[Any, Any, frozenset[str], bool, tuple[str, ...], str]] = {
    "cosine": (prepare_cosine, apply_cosine, frozenset({"orthogonal", "isotropic_scaling"}), False, (),
               "cosine similarity; a zero vector scores 0 against every anchor"),
    "dot": (prepare_dot, apply_dot, frozenset({"orthogonal"}), True, (), "inner product"),
    "euclidean": (prepare_euclidean, apply_euclidean, frozenset({"orthogonal", "translation"}), True, (),
                  "negated Euclidean distance"),
    "l1": (prepare_identity, apply_l1, frozenset({"signed_permutation", "translation"}), True, ("manhattan",),
           "negated L1 (Manhattan) distance"),
    "linf": (prepare_identity, apply_linf, frozenset({"signed_permutation", "translation"}), True, ("chebyshev",),
             "negated L-infinity (Chebyshev) distance"),
    "rbf": (prepare_rbf, apply_rbf, frozenset({"orthogonal", "isotropic_scaling", "translation"}), False, (),
            "Gaussian kernel, bandwidth = median pairwise anchor distance"),
    "mahalanobis": (prepare_mahalanobis, apply_mahalanobis,
                    frozenset({"orthogonal", "isotropic_scaling", "translation"}), True, (),
                    "negated Mahalanobis distance, anchors' covariance with Ledoit-Wolf shrinkage"),
}
