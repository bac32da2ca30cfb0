"""A text encoder without downloads: hashed character trigrams, then a seeded random projection."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from stitch import BaseEncoder, EncoderSpec

BUCKETS = 1024

SPEC = EncoderSpec(
    name="ngram-hash",
    modality="text",
    description="Character trigrams hashed into 1024 buckets, randomly projected (no download)",
    dim=32,
    aliases=("ngram",),
    extra=None,
    weights="random projection, seed 0 (built on first encode)",
    license="MIT",
)


class NgramHashEncoder(BaseEncoder):
    """Encode strings by their character trigrams.

    Args:
        dim: output dimension.
        seed: seed of the random projection.
        batch_size: default batch size.

    Shapes:
        ``encode(list of n str)`` -> ``(n, dim)`` float32
    """

    def __init__(self, *, dim: int = 32, seed: int = 0, batch_size: int = 64) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        spec = SPEC if (dim, seed) == (SPEC.dim, 0) else EncoderSpec(
            SPEC.name, SPEC.modality, SPEC.description, dim=dim, aliases=SPEC.aliases,
            weights=f"random projection, seed {seed} (built on first encode)", license=SPEC.license,
            options={"dim": dim, "seed": seed},
        )
        super().__init__(spec, batch_size=batch_size)
        self.seed = seed

    def _load(self) -> None:
        import torch

        g = torch.Generator().manual_seed(self.seed)
        self._projection = torch.randn(BUCKETS, self.spec.dim, generator=g, dtype=torch.float64) / BUCKETS**0.5

    def _prepare(self, inputs: Any) -> Sequence[str]:
        if isinstance(inputs, str):
            raise TypeError("expected a list of strings, got one str; wrap it in a list: [text]")
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"expected a list of strings, got {type(inputs).__name__}")
        for i, text in enumerate(inputs):
            if not isinstance(text, str):
                raise TypeError(f"expected a list of strings, but item {i} is {type(text).__name__}")
        return list(inputs)

    def _encode_batch(self, batch: Sequence[str]) -> Any:
        import torch

        counts = torch.zeros(len(batch), BUCKETS, dtype=torch.float64)
        for row, text in enumerate(batch):
            padded = f"  {text.lower()} "
            for j in range(len(padded) - 2):
                counts[row, zlib.crc32(padded[j : j + 3].encode()) % BUCKETS] += 1.0
        return counts @ self._projection

    def sample_inputs(self, n: int = 6) -> list[str]:
        """``n`` distinct sentences (used by ``stitch.testing``)."""
        return [f"sample sentence number {i}: {'abcdefgh'[i % 8] * (i + 1)}" for i in range(n)]
