"""The :class:`Space` interface: what a decoder reads, built from anchors, parsed from ``kind[:argument]``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch

__all__ = ["Space", "Transform", "estimator_options"]

#: a fitted space: one encoder's latents ``(n, d)`` -> what the decoder reads
Transform = Callable[[torch.Tensor], torch.Tensor]


def estimator_options(cls: Any, *skip: str) -> list[str]:
    """The keyword parameters of an estimator class, less ``skip`` (for early, named option errors).

    Example:
        >>> from stitch.core.projection import RelativeProjection
        >>> estimator_options(RelativeProjection, "similarity")[:2]
        ['center', 'chunk_size']
    """
    return sorted(p for p in inspect.signature(cls).parameters if p not in ("self", *skip))


class Space:
    """A latent space a decoder is trained on and a stitched encoder is read in (``kind[:argument]``).

    A space kind is one class registered in :data:`stitch.spaces.SPACES`: its constructor parses the spec's
    argument and options (raising ``ValueError`` with what was wrong and an example), and two methods say
    what a decoder reads:

    * :meth:`fit` — on one encoder's anchor latents, the transform of that encoder's own latents (the
      decoder trained on encoder A reads ``space.fit(anchors_A)(z_A)``);
    * :meth:`stitch` — the latents of *another* encoder B, put where A's decoder reads them (default:
      B's own space, ``fit(anchors_B)(z_B)``: relative spaces are comparable across encoders; a translation
      maps ``z_B`` into A's absolute space instead).

    Class attributes declare what the experiment runner needs to know: :attr:`end_to_end` (the space can
    be a layer trained with its encoder), :attr:`relative` (built on each encoder's own anchors, so a
    discovered anchor pairing applies), :attr:`absolute_decoder` (the decoder reads raw latents, so one decoder
    serves every such space of a seed; a subclass that overrides :meth:`fit` is not, unless it says so).

    Example:
        >>> from stitch.spaces import create_space
        >>> sp = create_space("relative:cosine")
        >>> sp.fit(torch.randn(5, 3))(torch.randn(4, 3)).shape
        torch.Size([4, 5])
    """

    #: the kind's name (``relative`` in ``relative:cosine``)
    kind: ClassVar[str]
    #: a spec users can copy into error messages
    example: ClassVar[str]
    #: whether the kind takes an argument after ``:``
    takes_argument: ClassVar[bool] = True
    end_to_end: ClassVar[bool] = True
    relative: ClassVar[bool] = True
    absolute_decoder: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fit" in cls.__dict__ and "absolute_decoder" not in cls.__dict__:
            cls.absolute_decoder = False  # a new transform: its decoder reads something else than raw latents

    def __init__(self, argument: str = "", **options: Any) -> None:
        if self.takes_argument and not argument:
            raise ValueError(f"space {self.kind!r} needs an argument after ':', e.g. {self.example!r}")
        if not self.takes_argument and argument:
            raise ValueError(f"{self.kind!r} takes no argument, got {self.spec_of(argument)!r}")
        self.argument = argument
        self.parse(argument)
        allowed = self.option_names()
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for space "
                             f"{self.spec_of(argument)!r}; expected some of {', '.join(map(repr, allowed)) or 'none'}")
        self.options = dict(options)

    def spec_of(self, argument: str) -> str:
        """The spec of this kind with ``argument``."""
        return f"{self.kind}:{argument}" if argument else self.kind

    def parse(self, argument: str) -> None:
        """Check (and keep what is needed of) the argument; raise ``ValueError`` naming the problem."""

    def option_names(self) -> list[str]:
        """The options this space accepts (after :meth:`parse`)."""
        return []

    def fit(self, anchors: torch.Tensor) -> Transform:
        """The transform of one encoder's latents, fitted on that encoder's anchor latents ``(a, d)``.

        Differentiable in the anchors and the inputs (end-to-end training fits it on every step's anchors).
        """
        raise NotImplementedError

    def stitch(self, decoder_anchors: torch.Tensor, encoder_anchors: torch.Tensor, latents: torch.Tensor, *,
               seed: int = 0, known: int = 0) -> tuple[torch.Tensor, dict[str, Any]]:
        """``latents`` of a stitched encoder, where the decoder (trained on the encoder whose anchors are
        ``decoder_anchors``) reads them, and what to record in the cell. ``encoder_anchors[i]`` is the
        stitched encoder's latent of the sample behind ``decoder_anchors[i]``; ``seed`` and ``known`` are
        for spaces that discover the pairing themselves.

        Shapes:
            decoder_anchors ``(a, d_dec)``, encoder_anchors ``(a, d_enc)``, latents ``(n, d_enc)``
        """
        return self.fit(encoder_anchors)(latents), {}

    def decoder_aggregation(self) -> tuple[str | None, dict[str, Any]]:
        """The trainable aggregation the decoder must own (a product space's), with its options."""
        return None, {}

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and self.argument == other.argument  # type: ignore[attr-defined]
                and self.options == other.options)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.argument))

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({self.argument!r}{opts})"

