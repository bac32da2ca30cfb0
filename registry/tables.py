"""The two name tables the plugin host owns: encoders and dataset loaders.

Similarity functions, anchor strategies and metrics live in their core modules' tables
(``stitch.similarity.SIMILARITIES``, ...); encoders and datasets exist only through plugins, so their
tables live here. Both are :class:`stitch._names.NameTable` and follow its lookup rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stitch._names import NameTable
from stitch.encoder import EncoderSpec

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.encoder import Encoder

__all__ = ["ENCODERS", "DATASETS", "DatasetLoader"]

#: ``name -> (EncoderSpec, factory)``; ``factory(**options)`` builds the encoder without loading weights.
ENCODERS: NameTable[tuple[EncoderSpec, Callable[..., Encoder]]] = NameTable(
    "encoder", list_command="stitch encoders list"
)


@dataclass(frozen=True)
class DatasetLoader:
    """A registered dataset loader and what is known about it before loading.

    Calling it calls ``loader(root=..., **options)``.

    Example:
        >>> DatasetLoader("toy", "tabular", "A toy set", "builtin", lambda *, root=None: root)(root="/data")
        '/data'
    """

    name: str
    modality: str
    description: str
    plugin: str
    loader: Callable[..., Dataset]

    def __call__(self, *, root: Any = None, **options: Any) -> Dataset:
        return self.loader(root=root, **options)

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready description (``stitch datasets show``)."""
        return {"name": self.name, "modality": self.modality, "description": self.description, "plugin": self.plugin}


#: ``name -> DatasetLoader``.
DATASETS: NameTable[DatasetLoader] = NameTable("dataset", list_command="stitch datasets list")
