"""Product of invariances (Cannistraci et al., ICLR 2024): several relative spaces, aggregated.

:class:`ProductSpace` projects samples onto the same anchors with several similarity functions, each
invariant to a different transform class, and aggregates the subspaces:

* training-free (``ProductSpace(aggregation=...)``): ``concat``, ``mean``, ``sum``;
* trainable :class:`torch.nn.Module` s for use inside decoders (:func:`make_aggregation`, fed the stacked
  ``(n, k, a)`` tensor from ``ProductSpace.transform(x, stacked=True)``): ``linear_sum``, ``mlp_sum``
  (DeepSet-style), ``weighted_mean`` (softmax weights over subspaces), ``attention`` (single-head
  self-attention across subspaces).

Each subspace is normalised before aggregation (``normalization``, default ``"standardize"``: every column
standardised with statistics fitted on the anchors' own relative representation), because the raw scales of
cosine similarities and negated distances are not comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from stitch._checks import as_matrix, check_choice, check_fitted, check_positive_int, check_same_dim, compute_dtype
from stitch._names import BUILTIN, NameTable, describe
from stitch.similarity import RelativeProjection, normalize_relative

__all__ = [
    "TRAINING_FREE_AGGREGATIONS",
    "AGGREGATIONS",
    "ProductSpace",
    "make_aggregation",
    "register_aggregation",
    "list_aggregations",
    "normalize_relative",
    "LinearSum",
    "MLPSum",
    "WeightedMean",
    "SubspaceAttention",
]

#: Aggregations ProductSpace applies itself (no parameters to train).
TRAINING_FREE_AGGREGATIONS: tuple[str, ...] = ("concat", "mean", "sum")


class ProductSpace:
    """Several relative projections onto the same anchors, aggregated into one representation.

    Args:
        similarities: similarity function names (or callables), one subspace each.
        aggregation: ``concat`` (``(n, k * a)``), ``mean`` or ``sum`` (``(n, a)``); for a trainable
            aggregation use ``transform(x, stacked=True)`` and :func:`make_aggregation`.
        center: centering for every subspace (``None``, ``"mean"``, ``"standardize"``).
        normalization: per-subspace output normalisation (see :func:`~stitch.similarity.normalize_relative`);
            ``"standardize"`` (default) uses column statistics fitted on the anchors.
        chunk_size: rows per chunk (default: bounded memory, see :mod:`stitch.similarity`).

    Shapes:
        fit: anchors ``(a, d)``; transform: x ``(n, d)`` -> ``(n, k * a)`` (concat), ``(n, a)`` (mean/sum),
        ``(n, k, a)`` (stacked)

    Example:
        >>> import torch
        >>> space = ProductSpace(["cosine", "euclidean"]).fit(torch.randn(6, 4))
        >>> space.transform(torch.randn(3, 4)).shape, space.transform(torch.randn(3, 4), stacked=True).shape
        (torch.Size([3, 12]), torch.Size([3, 2, 6]))
    """

    def __init__(
        self,
        similarities: Sequence[str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = (
            "cosine",
            "euclidean",
            "l1",
            "linf",
        ),
        aggregation: str = "concat",
        center: str | None = None,
        normalization: str | None = "standardize",
        *,
        chunk_size: int | None = None,
        k: int = 10,
        temperature: float = 1.0,
    ) -> None:
        self.similarities = similarities
        self.aggregation = aggregation
        self.center = center
        self.normalization = normalization
        self.chunk_size = chunk_size
        self.k = k
        self.temperature = temperature

    def fit(self, anchors: Any, y: Any = None) -> ProductSpace:
        """Fit one :class:`~stitch.similarity.RelativeProjection` per similarity on ``anchors``."""
        check_choice(self.aggregation, TRAINING_FREE_AGGREGATIONS, "training-free aggregation")
        if isinstance(self.similarities, str) or not len(self.similarities):
            raise ValueError(
                f"similarities must be a non-empty list of similarity names, got {self.similarities!r}; "
                "e.g. ['cosine', 'euclidean']"
            )
        anchors = as_matrix(anchors, "anchors")
        self.projections_ = [
            RelativeProjection(s, center=self.center, normalization=self.normalization, chunk_size=self.chunk_size,
                               k=self.k, temperature=self.temperature).fit(anchors)
            for s in self.similarities
        ]
        self.n_anchors_ = anchors.shape[0]
        self.dim_ = anchors.shape[1]
        return self

    @property
    def invariances(self) -> frozenset[str]:
        """Transform classes every subspace is invariant to (the product is invariant to their intersection)."""
        check_fitted(self, ["projections_"])
        return frozenset.intersection(*(p.invariances for p in self.projections_))

    @property
    def output_dim(self) -> int:
        """Width of ``transform(x)``: ``k * a`` for concat, ``a`` otherwise."""
        check_fitted(self, ["projections_"])
        k = len(self.projections_)
        return k * self.n_anchors_ if self.aggregation == "concat" else self.n_anchors_

    def transform(self, x: Any, *, stacked: bool = False) -> torch.Tensor:
        """Aggregated relative representation of ``x``, or the ``(n, k, a)`` stack with ``stacked=True``.

        Shapes:
            x: ``(n, d)`` -> ``(n, k * a)`` / ``(n, a)`` / ``(n, k, a)``
        """
        check_fitted(self, ["projections_"])
        x = as_matrix(x, "x")
        check_same_dim(x, self.projections_[0].anchors_)
        dtype = compute_dtype(x, self.projections_[0].anchors_)
        projections = self.projections_
        if dtype != projections[0].anchors_.dtype:  # float64 samples, float32 anchors: refit in float64
            projections = [type(p)(**p.get_params()).fit(p.fit_anchors_.to(dtype)) for p in projections]
        x = x.to(dtype)
        n, k, a = x.shape[0], len(projections), self.n_anchors_
        keep_stack = stacked or self.aggregation == "concat"
        out = torch.empty((n, k, a) if keep_stack else (n, a), dtype=dtype, device=x.device)
        # Rows in chunks, every subspace per chunk: temporaries stay one chunk wide whatever n is.
        step = min(p.chunk_rows(n) for p in projections)
        for start in range(0, n, step):
            xc = x[start : start + step]
            if keep_stack:
                for i, proj in enumerate(projections):
                    out[start : start + step, i] = proj._project(xc)
            else:
                acc = sum(proj._project(xc) for proj in projections)
                out[start : start + step] = acc / k if self.aggregation == "mean" else acc
        return out if stacked or not keep_stack else out.reshape(n, k * a)

    def fit_transform(self, anchors: Any, y: Any = None, *, stacked: bool = False) -> torch.Tensor:
        """Fit on ``anchors`` and return their own (aggregated or stacked) representation."""
        return self.fit(anchors).transform(anchors, stacked=stacked)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style)."""
        return {
            "similarities": list(self.similarities),
            "aggregation": self.aggregation,
            "center": self.center,
            "normalization": self.normalization,
            "chunk_size": self.chunk_size,
            "k": self.k,
            "temperature": self.temperature,
        }

    def __repr__(self) -> str:
        return f"ProductSpace(similarities={list(self.similarities)!r}, aggregation={self.aggregation!r})"


# -- trainable aggregations ------------------------------------------------------------------------------------
def _check_stack(z: torch.Tensor, k: int, dim: int) -> None:
    if z.ndim != 3 or z.shape[1:] != (k, dim):
        raise ValueError(
            f"aggregation expects a stacked relative representation of shape (n, {k}, {dim}), got "
            f"{tuple(z.shape)}; build it with ProductSpace.transform(x, stacked=True)"
        )


class LinearSum(nn.Module):
    """One linear map per subspace, summed: ``sum_i W_i z_i + b``.

    Shapes:
        z: ``(n, k, dim)`` -> ``(n, out_dim)``

    Example:
        >>> LinearSum(3, 5, out_dim=2)(torch.randn(4, 3, 5)).shape
        torch.Size([4, 2])
    """

    def __init__(self, n_subspaces: int, dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        self.n_subspaces, self.dim, self.out_dim = n_subspaces, dim, out_dim or dim
        self.weight = nn.Parameter(torch.empty(n_subspaces, dim, self.out_dim))
        self.bias = nn.Parameter(torch.zeros(self.out_dim))
        bound = 1.0 / (n_subspaces * dim) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_stack(z, self.n_subspaces, self.dim)
        return torch.einsum("nkd,kdo->no", z, self.weight) + self.bias


class MLPSum(nn.Module):
    """DeepSet-style: an independent MLP per subspace, outputs summed, then a shared linear read-out.

    Shapes:
        z: ``(n, k, dim)`` -> ``(n, out_dim)``

    Example:
        >>> MLPSum(2, 5, hidden=8, out_dim=3)(torch.randn(4, 2, 5)).shape
        torch.Size([4, 3])
    """

    def __init__(self, n_subspaces: int, dim: int, out_dim: int | None = None, hidden: int | None = None) -> None:
        super().__init__()
        self.n_subspaces, self.dim, self.out_dim = n_subspaces, dim, out_dim or dim
        hidden = hidden or self.out_dim
        self.phi = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(n_subspaces)
        )
        self.rho = nn.Sequential(nn.SiLU(), nn.Linear(hidden, self.out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_stack(z, self.n_subspaces, self.dim)
        return self.rho(sum(phi(z[:, i]) for i, phi in enumerate(self.phi)))


class WeightedMean(nn.Module):
    """Softmax-weighted average of the subspaces (weights learned, start uniform).

    Shapes:
        z: ``(n, k, dim)`` -> ``(n, dim)``

    Example:
        >>> m = WeightedMean(2, 3)
        >>> torch.allclose(m(torch.ones(1, 2, 3)), torch.ones(1, 3))
        True
    """

    def __init__(self, n_subspaces: int, dim: int) -> None:
        super().__init__()
        self.n_subspaces, self.dim, self.out_dim = n_subspaces, dim, dim
        self.logits = nn.Parameter(torch.zeros(n_subspaces))

    @property
    def weights(self) -> torch.Tensor:
        """Current subspace weights (sum to 1)."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_stack(z, self.n_subspaces, self.dim)
        return torch.einsum("nkd,k->nd", z, self.weights.to(z.dtype))


class SubspaceAttention(nn.Module):
    """Single-head self-attention across subspaces (one token per subspace), then mean-pooled.

    Each subspace is projected to ``out_dim`` and tagged with a learned subspace embedding, so the
    attention knows which similarity function a token came from.

    Shapes:
        z: ``(n, k, dim)`` -> ``(n, out_dim)``

    Example:
        >>> SubspaceAttention(3, 5, out_dim=4)(torch.randn(2, 3, 5)).shape
        torch.Size([2, 4])
    """

    def __init__(self, n_subspaces: int, dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        self.n_subspaces, self.dim, self.out_dim = n_subspaces, dim, out_dim or dim
        self.proj = nn.Linear(dim, self.out_dim)
        self.subspace = nn.Parameter(torch.zeros(n_subspaces, self.out_dim))
        self.attn = nn.MultiheadAttention(self.out_dim, num_heads=1, batch_first=True)
        self.norm = nn.LayerNorm(self.out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_stack(z, self.n_subspaces, self.dim)
        tokens = self.proj(z) + self.subspace
        mixed, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return self.norm(tokens + mixed).mean(dim=1)


AGGREGATIONS: NameTable[Callable[..., nn.Module]] = NameTable(
    "trainable aggregation", list_command="stitch aggregations list"
)


def register_aggregation(name: str, factory: Callable[..., nn.Module], *, source: str = BUILTIN) -> None:
    """Register ``factory(n_subspaces, dim, **kw) -> nn.Module`` mapping ``(n, k, dim) -> (n, out_dim)``.

    Example:
        >>> register_aggregation("first", lambda k, d: nn.Identity(), source="doc")
        >>> AGGREGATIONS.unregister_source("doc")
    """
    if not callable(factory):
        raise TypeError(f"aggregation {name!r} must be a callable factory, got {type(factory).__name__}")
    AGGREGATIONS.register(name, factory, source=source, description=describe(factory))


def list_aggregations(pattern: str = "*") -> list[str]:
    """Names of the trainable aggregations matching ``pattern``.

    Example:
        >>> list_aggregations("*sum")
        ['linear_sum', 'mlp_sum']
    """
    return AGGREGATIONS.names(pattern)


def make_aggregation(name: str, n_subspaces: int, dim: int, **kw: Any) -> nn.Module:
    """Build the trainable aggregation ``name`` for ``n_subspaces`` stacked subspaces of width ``dim``.

    Keyword options: ``out_dim`` (all but ``weighted_mean``, default ``dim``), ``hidden`` (``mlp_sum``).
    The module has an ``out_dim`` attribute.

    Shapes:
        module input ``(n, n_subspaces, dim)`` -> ``(n, out_dim)``

    Example:
        >>> make_aggregation("attention", 4, 16, out_dim=8)(torch.randn(5, 4, 16)).shape
        torch.Size([5, 8])
    """
    k = check_positive_int(n_subspaces, "n_subspaces")
    return AGGREGATIONS.build(name, k, check_positive_int(dim, "dim"), **kw)


for _name, _cls in [("linear_sum", LinearSum), ("mlp_sum", MLPSum), ("weighted_mean", WeightedMean),
                    ("attention", SubspaceAttention)]:
    register_aggregation(_name, _cls)
