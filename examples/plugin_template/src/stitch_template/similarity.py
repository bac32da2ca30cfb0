"""A similarity function: angular similarity, a monotone rescaling of cosine with a linear angle scale."""

from __future__ import annotations

import torch


def angular(x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """``1 - arccos(cos(x_i, a_j)) / pi``: 1 for the same direction, 0 for opposite directions.

    Shapes:
        x: ``(n, d)``, anchors: ``(k, d)`` -> ``(n, k)``
    """
    cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(anchors, dim=1).T
    # clamp: rounding can push |cos| past 1, where arccos is NaN.
    return 1.0 - torch.arccos(cos.clamp(-1.0, 1.0)) / torch.pi
