"""Trainable aggregations of a product space's subspaces, for use inside decoders.

Each is a :class:`torch.nn.Module` fed the stacked ``(n, k, a)`` tensor from
``ProductSpace.transform(x, stacked=True)``: ``linear_sum`` (one linear map per subspace, summed), ``mlp_sum``
(DeepSet-style), ``weighted_mean`` (softmax weights over subspaces), ``attention`` (single-head
self-attention across subspaces). They live in :data:`AGGREGATIONS`, a table open to plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from stitch.utils.checks import check_positive_int
from stitch.utils.deprecation import deprecated_alias
from stitch.utils.names import BUILTIN, NameTable, describe

__all__ = [
    "AGGREGATIONS",
    "create_aggregation",
    "register_aggregation",
    "list_aggregations",
    "LinearSum",
    "MLPSum",
    "WeightedMean",
    "SubspaceAttention",
]


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


#: every trainable aggregation of product spaces by name (``stitch aggregations list``)
AGGREGATIONS: NameTable[Callable[..., nn.Module]] = NameTable(
    "trainable aggregation", list_command="stitch aggregations list"
)


def register_aggregation(name: str, factory: Callable[..., nn.Module], *, source: str = BUILTIN,
                         description: str = "", aliases: Iterable[str] = ()) -> None:
    """Register ``factory(n_subspaces, dim, **kw) -> nn.Module`` mapping ``(n, k, dim) -> (n, out_dim)``.

    Example:
        >>> register_aggregation("first", lambda k, d: nn.Identity(), source="doc")
        >>> AGGREGATIONS.unregister_source("doc")
    """
    if not callable(factory):
        raise TypeError(f"aggregation {name!r} must be a callable factory, got {type(factory).__name__}")
    AGGREGATIONS.register(name, factory, source=source, aliases=aliases, description=description or describe(factory))


def list_aggregations(pattern: str = "*") -> list[str]:
    """Names of the trainable aggregations matching ``pattern``.

    Example:
        >>> list_aggregations("*sum")
        ['linear_sum', 'mlp_sum']
    """
    return AGGREGATIONS.names(pattern)


def create_aggregation(name: str, n_subspaces: int, dim: int, **kw: Any) -> nn.Module:
    """Build the trainable aggregation ``name`` for ``n_subspaces`` stacked subspaces of width ``dim``.

    Keyword options: ``out_dim`` (all but ``weighted_mean``, default ``dim``), ``hidden`` (``mlp_sum``).
    The module has an ``out_dim`` attribute.

    Shapes:
        module input ``(n, n_subspaces, dim)`` -> ``(n, out_dim)``

    Example:
        >>> create_aggregation("attention", 4, 16, out_dim=8)(torch.randn(5, 4, 16)).shape
        torch.Size([5, 8])
    """
    k = check_positive_int(n_subspaces, "n_subspaces")
    return AGGREGATIONS.build(name, k, check_positive_int(dim, "dim"), **kw)


make_aggregation = deprecated_alias(create_aggregation, "make_aggregation")

for _name, _cls in [("linear_sum", LinearSum), ("mlp_sum", MLPSum), ("weighted_mean", WeightedMean),
                    ("attention", SubspaceAttention)]:
    register_aggregation(_name, _cls)
