"""The data layer: the :class:`Dataset` container every experiment and audit reads (no heavy imports).

Example:
    >>> from stitch.data import Dataset
    >>> Dataset.__name__
    'Dataset'
"""

from stitch.data.dataset import Dataset

__all__ = ["Dataset"]
