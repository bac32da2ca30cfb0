"""The name tables the plugin host owns: encoders, encoder families and dataset loaders.

The core's tables (similarity functions, anchor strategies, metrics, ...: :data:`stitch.utils.names.CORE_TABLES`)
live in their core modules; encoders and datasets exist only through plugins, so their tables live here,
with the open encoder families that plugins' resolvers serve (``timm:<model>``). All are
:class:`stitch.utils.names.NameTable` and follow its lookup rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stitch.utils.names import NameTable
from stitch.encoder import EncoderSpec

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.encoder import Encoder

__all__ = ["ENCODERS", "ENCODER_FAMILIES", "EncoderFamily", "DATASETS", "DatasetLoader"]

#: ``name -> (EncoderSpec, factory)``; ``factory(**options)`` builds the encoder without loading weights.
ENCODERS: NameTable[tuple[EncoderSpec, Callable[..., Encoder]]] = NameTable(
    "encoder", list_command="stitch encoders list"
)


@dataclass(frozen=True)
class EncoderFamily:
    """An open family of encoder names served by a resolver: ``prefix:<placeholder>``.

    Example:
        >>> f = EncoderFamily("timm", "<model>", "any timm model", "image", "vision", "timm")
        >>> f.pattern, f.install_hint
        ('timm:<model>', 'pip install latent-stitch[vision]')
    """

    prefix: str
    placeholder: str
    description: str
    modality: str
    extra: str | None
    plugin: str

    @property
    def pattern(self) -> str:
        """How the family's names are spelled, e.g. ``timm:<model>``."""
        return f"{self.prefix}:{self.placeholder}"

    @property
    def install_hint(self) -> str:
        """The install command of the family's extra (empty without one)."""
        from stitch.utils.extras import install_hint

        return install_hint(self.extra) if self.extra else ""

    @property
    def available(self) -> bool:
        """Whether the family's extra is installed (checked without importing it)."""
        from stitch.utils.extras import extra_available

        return extra_available(self.extra)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (``stitch encoders list --json``)."""
        return {"pattern": self.pattern, "prefix": self.prefix, "description": self.description,
                "modality": self.modality, "extra": self.extra, "plugin": self.plugin, "available": self.available}


#: ``prefix -> EncoderFamily`` (the ``stitch_register_encoder_families`` hook fills it).
ENCODER_FAMILIES: NameTable[EncoderFamily] = NameTable("encoder family", list_command="stitch encoders list")


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
