"""Stitching you can keep: a :class:`Stitcher` that picks its method by cross-validation on the anchors and
forecasts how well a decoder will read its output, and a :class:`StitchedModel` (encoder -> stitcher ->
decoder) you save, load and run.

Example:
    >>> import torch
    >>> a = torch.randn(100, 4, dtype=torch.float64)
    >>> Stitcher().fit(a * 3, a).method_ in {"procrustes", "affine", "linear"} or "ridge"
    True
"""

from stitch.stitcher.model import STITCHED_FORMAT, StitchedModel, load_stitched
from stitch.stitcher.stitcher import AUTO_CANDIDATES, Forecast, Stitcher

__all__ = ["Stitcher", "Forecast", "AUTO_CANDIDATES", "StitchedModel", "load_stitched", "STITCHED_FORMAT"]
