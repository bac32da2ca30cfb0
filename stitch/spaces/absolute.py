"""``absolute``: each encoder's own latents, as they are (the baseline that does not stitch)."""

from __future__ import annotations

import torch

from stitch.spaces.base import Space, Transform

__all__ = ["AbsoluteSpace"]


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


class AbsoluteSpace(Space):
    """The encoder's latents themselves; a decoder reads another encoder's coordinates as they are.

    Example:
        >>> z = torch.randn(4, 3)
        >>> AbsoluteSpace().fit(torch.randn(2, 3))(z) is z
        True
    """

    kind = "absolute"
    example = "absolute"
    takes_argument = False
    relative = False
    absolute_decoder = True

    def fit(self, anchors: torch.Tensor) -> Transform:
        """The identity (the anchors play no part)."""
        return _identity
