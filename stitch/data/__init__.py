"""The data layer: the :class:`Dataset` container every experiment and audit reads, and seeded stratified
splits (no heavy imports).

Example:
    >>> from stitch.data import Dataset
    >>> Dataset.__name__
    'Dataset'
"""

from stitch.data.dataset import Dataset
from stitch.data.splits import stratified_splits

__all__ = ["Dataset", "stratified_splits"]
