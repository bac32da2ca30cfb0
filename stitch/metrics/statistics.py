"""Differences of one-number summaries of each space (ReSi's statistic-based measures).

They compare *global* geometry, not the pairing of samples: a measure of this family can call two spaces
equal while their samples are scrambled (they are declared ``paired=False``).

* ``magnitude_difference``: ``| ||mean(x)|| - ||mean(y)|| |`` — how far each cloud sits from the origin.
* ``concentricity_difference``: difference of the mean cosine between each sample and the cloud's mean.
* ``uniformity_difference``: difference of Wang & Isola's (ICML 2020) uniformity,
  ``log mean_{i,j} exp(-t ||x_i - x_j||^2)`` over all ordered pairs, computed in row blocks with a
  log-sum-exp so no ``n x n`` matrix is held and nothing underflows.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from stitch.metrics._base import prepare_pair, row_blocks
from stitch.metrics._shared import per_model
from stitch.utils.numerics import TINY, rows_per_chunk

__all__ = ["magnitude_difference", "concentricity_difference", "uniformity_difference", "uniformity",
           "concentricity"]


def magnitude_difference(x: Any, y: Any) -> float:
    """Absolute difference of the norms of the two mean vectors.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float ``>= 0``

    Example:
        >>> import torch
        >>> magnitude_difference(torch.tensor([[2.0, 4.0], [4.0, 4.0]]), torch.tensor([[0.0], [2.0]]))
        4.0
    """
    x, y = prepare_pair(x, y, metric="magnitude_difference")
    return abs(float(x.to(torch.float64).mean(0).norm()) - float(y.to(torch.float64).mean(0).norm()))


def concentricity(z: torch.Tensor, name: str = "x") -> float:
    """Mean cosine similarity between each sample and the mean of all samples.

    Example:
        >>> import torch
        >>> round(concentricity(torch.tensor([[1.0, 0.0], [1.0, 1.0]])), 4)
        0.9216
    """
    z = z.to(torch.float64)
    mean = z.mean(0)
    if float(mean.norm()) <= TINY * max(1.0, float(z.abs().max())):
        raise ValueError(f"concentricity_difference: {name}'s mean is the zero vector, so the cosine to it is "
                         "undefined (centred latents have no concentricity); compare uncentred latents")
    norms = z.norm(dim=1)
    keep = norms > 0
    return float(((z[keep] @ mean) / (norms[keep] * mean.norm())).mean())


def concentricity_difference(x: Any, y: Any) -> float:
    """Absolute difference of the two spaces' concentricity (mean cosine of samples to their mean).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float in ``[0, 2]``

    Example:
        >>> import torch
        >>> x = torch.rand(50, 4, generator=torch.Generator().manual_seed(0))
        >>> concentricity_difference(x, 2 * x) < 1e-12
        True
    """
    x, y = prepare_pair(x, y, metric="concentricity_difference")
    return abs(concentricity(x, "x") - concentricity(y, "y"))


@per_model("uniformity")
def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola's uniformity ``log mean_{i,j} exp(-t ||z_i - z_j||^2)`` (all ordered pairs, ``i = j`` included).

    Example:
        >>> import torch
        >>> round(uniformity(torch.zeros(3, 2)), 12)  # every pair at distance 0
        0.0
    """
    z = z.to(torch.float64)
    z = z - z.mean(0)
    n = len(z)
    sq = (z * z).sum(1)
    step = rows_per_chunk(n, bytes_per_row=2 * 8 * n)
    parts = []
    for s in row_blocks(n, step):
        d2 = (sq[s : s + step, None] + sq[None, :] - 2.0 * z[s : s + step] @ z.T).clamp_min(0.0)
        parts.append(torch.logsumexp((-t * d2).flatten(), 0))
    return float(torch.logsumexp(torch.stack(parts), 0)) - 2.0 * math.log(n)


def uniformity_difference(x: Any, y: Any, *, t: float = 2.0) -> float:
    """Absolute difference of the two spaces' uniformity (at temperature ``t``).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  float ``>= 0``

    Example:
        >>> import torch
        >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        >>> uniformity_difference(x, x + 7) < 1e-5  # only float32 rounding of the shift
        True
    """
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
        raise ValueError(f"uniformity_difference t must be a positive number, got {t!r}")
    x, y = prepare_pair(x, y, metric="uniformity_difference")
    return abs(uniformity(x, float(t)) - uniformity(y, float(t)))
