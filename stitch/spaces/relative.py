"""``relative:<similarity>`` and ``product:<sim>,<sim>,...``: each encoder's latents by their similarity to its
anchors."""

from __future__ import annotations

from typing import Any

import torch

from stitch.spaces.base import Space, Transform, estimator_options

__all__ = ["RelativeSpace", "ProductOfSpaces"]


def _similarities(argument: str) -> list[str]:
    from stitch.core.similarity import SIMILARITIES

    sims = [s.strip() for s in argument.split(",")]
    for s in sims:
        try:
            SIMILARITIES.entry(s)
        except LookupError as exc:
            raise ValueError(str(exc)) from None
    return sims


class RelativeSpace(Space):
    """A relative projection (Moschella et al., 2023) with one similarity; options go to
    :class:`~stitch.core.projection.RelativeProjection` (``center``, ``normalization``, ...).

    Shapes:
        anchors ``(a, d)``; the transform maps ``(n, d)`` to ``(n, a)``

    Example:
        >>> RelativeSpace("cosine", center="mean").fit(torch.randn(5, 3))(torch.randn(4, 3)).shape
        torch.Size([4, 5])
    """

    kind = "relative"
    example = "relative:cosine"

    def parse(self, argument: str) -> None:
        sims = _similarities(argument)
        if len(sims) != 1:
            raise ValueError(f"'relative' takes one similarity, got {argument!r}; use 'product:{argument}' for several")
        self.similarity = sims[0]

    def option_names(self) -> list[str]:
        from stitch.core.projection import RelativeProjection

        return estimator_options(RelativeProjection, "similarity")

    def fit(self, anchors: torch.Tensor) -> Transform:
        from stitch.core.projection import RelativeProjection

        return RelativeProjection(self.similarity, **self.options).fit(anchors).transform


class ProductOfSpaces(Space):
    """Several relative spaces at once (product of invariances, Cannistraci et al., 2024); options go to
    :class:`~stitch.core.product.ProductSpace`. A trainable ``aggregation`` (``aggregation_options`` for it)
    is owned by the decoder, which then reads the stacked ``(n, k, a)`` form.

    Shapes:
        anchors ``(a, d)``; the transform maps ``(n, d)`` to ``(n, k * a)``, or ``(n, k, a)`` for a trainable
        aggregation

    Example:
        >>> ProductOfSpaces("cosine,euclidean").fit(torch.randn(5, 3))(torch.randn(4, 3)).shape
        torch.Size([4, 10])
        >>> ProductOfSpaces("cosine,euclidean", aggregation="attention").decoder_aggregation()
        ('attention', {})
    """

    kind = "product"
    example = "product:cosine,euclidean"

    def parse(self, argument: str) -> None:
        self.similarities = _similarities(argument)
        if len(self.similarities) < 2:
            raise ValueError(f"'product' needs at least two similarities separated by ',', got {argument!r}")

    def option_names(self) -> list[str]:
        from stitch.core.product import ProductSpace

        return sorted([*estimator_options(ProductSpace, "similarities"), "aggregation_options"])

    def decoder_aggregation(self) -> tuple[str | None, dict[str, Any]]:
        from stitch.core.product import TRAINING_FREE_AGGREGATIONS

        agg = self.options.get("aggregation", "concat")
        if agg in TRAINING_FREE_AGGREGATIONS:
            return None, {}
        return agg, dict(self.options.get("aggregation_options", {}))

    def fit(self, anchors: torch.Tensor) -> Transform:
        from stitch.core.product import ProductSpace

        trainable, _ = self.decoder_aggregation()
        opts = {k: v for k, v in self.options.items() if k not in ("aggregation", "aggregation_options")}
        product = ProductSpace(self.similarities, aggregation="concat" if trainable else
                               self.options.get("aggregation", "concat"), **opts).fit(anchors)
        return (lambda x: product.transform(x, stacked=True)) if trainable else product.transform
