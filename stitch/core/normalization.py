"""Output normalisation of relative representations (row-wise, or column-wise with fitted statistics).

Every method is exact chunk by chunk: row-wise methods see one row at a time and ``standardize`` uses
column statistics fitted beforehand (on the anchors' own relative representation), so a projection may
normalise each chunk of rows as it is computed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from stitch.utils.checks import as_matrix, check_choice, check_positive_int
from stitch.utils.numerics import TINY, nonzero_scale

__all__ = ["NORMALIZATIONS", "SCALE_FREE_NORMALIZATIONS", "normalize_relative", "standardize_stats",
           "check_normalization"]

#: Output normalisations for any relative space (see :func:`normalize_relative`).
NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "standardize", "layernorm", "topk", "softmax")

#: Output normalisations that cancel a positive factor on the whole relative representation.
SCALE_FREE_NORMALIZATIONS: tuple[str, ...] = ("l2", "standardize", "layernorm")


def check_normalization(method: str | None) -> str:
    """``method`` as a name of :data:`NORMALIZATIONS` (``None`` is ``"none"``), or a ``ValueError``.

    Example:
        >>> check_normalization(None), check_normalization("l2")
        ('none', 'l2')
    """
    return "none" if method is None else check_choice(method, NORMALIZATIONS, "normalization")


def standardize_stats(r: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and population standard deviation of a relative space (a constant column gets std 1).

    Shapes:
        r: ``(n, a)`` -> ``(a,)``, ``(a,)``

    Example:
        >>> m, s = standardize_stats(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
        >>> m.tolist(), s.tolist()
        ([1.0, 1.0], [1.0, 1.0])
    """
    r = as_matrix(r, "r")
    r64 = r.double()
    mean, std = r64.mean(0), r64.std(0, correction=0)
    return mean.to(r.dtype), nonzero_scale(std, r.dtype).to(r.dtype)


def normalize_relative(
    r: Any,
    method: str | None = "none",
    *,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    k: int = 10,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Normalise a relative representation row-wise or column-wise.

    Methods:
        * ``none`` / ``None``: unchanged.
        * ``l2``: each row scaled to unit L2 norm (a zero row stays zero).
        * ``standardize``: each column ``(r - mean) / std`` with **fitted** statistics ``stats`` (from
          :func:`standardize_stats` on the anchors' own relative representation); without ``stats``,
          the columns of ``r`` itself are used.
        * ``layernorm``: each row standardised by its own mean and std (per sample, no learned affine).
        * ``topk``: keep each row's ``k`` largest values, set the rest to 0 (sparsification; meant for
          non-negative scores such as cosine, rbf or softmax outputs, since 0 is the top of a negated distance).
        * ``softmax``: ``softmax(r / temperature)`` per row.

    ``r`` must be finite (NaN/Inf raise, naming the first bad row); gradients flow through every method.

    Shapes:
        r: ``(n, a)`` -> ``(n, a)``

    Example:
        >>> normalize_relative(torch.tensor([[3.0, 4.0]], dtype=torch.float64), "l2").tolist()
        [[0.6, 0.8]]
    """
    method = check_normalization(method)
    r = as_matrix(r, "r (relative representation)")
    if method == "none":
        return r
    if method == "l2":
        return F.normalize(r, dim=-1, eps=TINY)
    if method == "standardize":
        if stats is None:
            mean, std = standardize_stats(r)
        else:
            mean, std = stats
            if mean.shape != (r.shape[1],) or std.shape != (r.shape[1],):
                raise ValueError(f"stats must be two ({r.shape[1]},) tensors (one mean and std per column), got "
                                 f"{tuple(mean.shape)} and {tuple(std.shape)}; compute them with standardize_stats")
        return (r - mean.to(r.dtype)) / std.to(r.dtype)
    if method == "layernorm":
        return F.layer_norm(r, r.shape[-1:], eps=TINY if r.dtype == torch.float64 else 1e-6)
    if method == "topk":
        k = check_positive_int(k, "k")
        if k >= r.shape[-1]:
            return r
        keep = torch.topk(r, k, dim=-1).indices
        return torch.zeros_like(r).scatter(-1, keep, r.gather(-1, keep))
    if isinstance(temperature, bool) or not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return torch.softmax(r / temperature, dim=-1)
