"""Space kinds: what a decoder is trained on and how another encoder is read in it (``kind[:argument]``).

Every kind is a :class:`Space` subclass registered in :data:`SPACES` (``absolute``, ``relative``,
``product``, ``translate``; plugins add more through the ``stitch_register_spaces`` hook). The experiment
runner, end-to-end training and the stitching API build spaces only through :func:`create_space`, so a new
kind is one file plus one :func:`register_space` line.

Example:
    >>> import torch
    >>> create_space("product:cosine,euclidean", normalization=None).fit(torch.randn(6, 4))(torch.randn(2, 4)).shape
    torch.Size([2, 12])
    >>> list_spaces()
    ['absolute', 'product', 'relative', 'translate']
"""

from __future__ import annotations

from typing import Any

from stitch.spaces.absolute import AbsoluteSpace
from stitch.spaces.base import Space, Transform
from stitch.spaces.relative import ProductOfSpaces, RelativeSpace
from stitch.spaces.translate import TranslatedSpace
from stitch.utils.names import BUILTIN, NameTable, describe

__all__ = ["SPACES", "Space", "Transform", "AbsoluteSpace", "RelativeSpace", "ProductOfSpaces", "TranslatedSpace",
           "register_space", "create_space", "list_spaces", "end_to_end_kinds"]

#: ``kind -> Space subclass``.
SPACES: NameTable[type[Space]] = NameTable("space kind", list_command="stitch spaces list")


def register_space(name: str, cls: type[Space], *, source: str = BUILTIN, description: str = "") -> None:
    """Register a :class:`Space` subclass as the kind ``name`` (``name:<argument>`` in experiment files).

    Example:
        >>> class Doubled(AbsoluteSpace):
        ...     kind = "doubled"
        ...     def fit(self, anchors):
        ...         return lambda z: 2 * z
        >>> import torch
        >>> register_space("doubled", Doubled, source="doc")
        >>> create_space("doc:doubled").fit(None)(torch.ones(1, 2)).tolist()
        [[2.0, 2.0]]
        >>> SPACES.unregister_source("doc")
    """
    if not (isinstance(cls, type) and issubclass(cls, Space)):
        raise TypeError(f"space kind {name!r} must be a subclass of stitch.spaces.Space, got {cls!r}")
    SPACES.register(name, cls, source=source, description=description or describe(cls))


def create_space(spec: str, /, **options: Any) -> Space:
    """The space ``spec`` names (``kind[:argument]``), with its options checked.

    Raises ``ValueError`` (or :class:`~stitch.errors.UnknownNameError`) saying what is wrong and what would do.

    Example:
        >>> create_space("relative:cosine,l1")
        Traceback (most recent call last):
        ...
        ValueError: 'relative' takes one similarity, got 'cosine,l1'; use 'product:cosine,l1' for several
    """
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"a space is a string 'kind[:argument]' such as 'relative:cosine', got {spec!r}")
    kind, argument = _split(spec)
    return SPACES.get(kind)(argument, **options)


def _split(spec: str) -> tuple[str, str]:
    """``kind, argument``; a plugin's kind may be spelled ``plugin:kind[:argument]``."""
    head, _, rest = spec.partition(":")
    if SPACES.has_builtin(head) or not rest:
        return head, rest  # built-in kinds resolve without loading plugins
    kind, _, argument = rest.partition(":")
    qualified = f"{head}:{kind}"
    return (qualified, argument) if qualified in SPACES else (head, rest)


def end_to_end_kinds() -> list[str]:
    """The space kinds a model can be trained end to end with (the space as a layer).

    Example:
        >>> end_to_end_kinds()
        ['absolute', 'product', 'relative']
    """
    return [e.name for e in SPACES.entries() if e.obj.end_to_end]


def list_spaces(pattern: str = "*") -> list[str]:
    """Names of the registered space kinds matching ``pattern``.

    Example:
        >>> list_spaces("r*")
        ['relative']
    """
    return SPACES.names(pattern)


register_space("absolute", AbsoluteSpace, description="each encoder's own latents (does not stitch)")
register_space("relative", RelativeSpace, description="similarities to the anchors (relative:<similarity>)")
register_space("product", ProductOfSpaces, description="several relative spaces aggregated (product:<sim>,<sim>,...)")
register_space("translate", TranslatedSpace,
               description="latents translated into the decoder's absolute space (translate:<method>)")
