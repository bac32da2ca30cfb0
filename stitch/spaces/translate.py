"""``translate:<method>``: another encoder's latents mapped into the decoder's absolute space (Maiorca et al., 2023)."""

from __future__ import annotations

from typing import Any

import torch

from stitch.spaces.absolute import AbsoluteSpace
from stitch.spaces.base import estimator_options

__all__ = ["TranslatedSpace"]

#: options of a translated space that are not the translator's own
_DISCOVERY_OPTIONS = ("n_known",)


class TranslatedSpace(AbsoluteSpace):
    """The decoder reads absolute latents; a stitched encoder's latents are translated into them by a
    translator (:data:`~stitch.core.translate.TRANSLATORS`) fitted on the anchor pairs, or with
    ``translate:auto`` by the best of them in 5-fold cross-validation on the anchors
    (:func:`~stitch.core.selection.select_translator`, label-free, as ``Stitcher()`` chooses; the cell records
    the choice as ``translator_choice``). ``translate:ot`` is not told
    the pairing: the stitched side's anchors are shuffled (seeded) and it is given ``n_known`` true pairs
    (default: the experiment's ``anchors.discover.known``), then reports how many it recovered.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(20, 3, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
        >>> z, _ = TranslatedSpace("procrustes").stitch(a, a @ q, a[:2] @ q)
        >>> torch.allclose(z, a[:2])
        True
    """

    kind = "translate"
    example = "translate:procrustes"
    takes_argument = True
    end_to_end = False

    def parse(self, argument: str) -> None:
        from stitch.core.translate import TRANSLATORS, OTTranslator

        if argument == "auto":
            self.translator_cls, self.discovers = None, False
            return
        try:
            self.translator_cls = TRANSLATORS.get(argument)
        except LookupError as exc:
            raise ValueError(str(exc)) from None
        self.discovers = issubclass(self.translator_cls, OTTranslator)

    def option_names(self) -> list[str]:
        if self.translator_cls is None:  # auto: every candidate has its own options
            return []
        return sorted([*estimator_options(self.translator_cls), *(_DISCOVERY_OPTIONS if self.discovers else ())])

    def stitch(self, decoder_anchors: torch.Tensor, encoder_anchors: torch.Tensor, latents: torch.Tensor, *,
               seed: int = 0, known: int = 0) -> tuple[torch.Tensor, dict[str, Any]]:
        if self.translator_cls is None:
            from stitch.core.selection import select_translator

            translator, rows, best = select_translator(encoder_anchors.double(), decoder_anchors.double(), seed=seed)
            return translator.transform(latents), {"translator_choice": rows[best]["label"]}
        translator = self.translator_cls(**{k: v for k, v in self.options.items() if k not in _DISCOVERY_OPTIONS})
        if not self.discovers:
            return translator.fit(encoder_anchors, decoder_anchors).transform(latents), {}
        # The anchors are parallel by construction; hide the pairing (shuffle the decoder side) and let OT find it.
        n = len(encoder_anchors)
        n_known = int(self.options.get("n_known", known))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # shuffled[k] = dec[perm[k]]
        truth = torch.argsort(perm)  # enc[i] pairs with shuffled[truth[i]]
        pairs = [(i, int(truth[i])) for i in range(min(n_known, n))]
        translator.fit(encoder_anchors, decoder_anchors[perm], known=pairs)
        recovered = translator.matching_.n_correct(truth)
        return translator.transform(latents), {"anchors_recovered": recovered, "anchors_to_recover": n - len(pairs),
                                               "match_reliability": translator.matching_.reliability}
