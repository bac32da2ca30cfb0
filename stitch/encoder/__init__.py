"""The encoder layer: the :class:`Encoder` protocol every adapter implements, its :class:`EncoderSpec`, the
:class:`BaseEncoder` adapters subclass, and the verified latent cache (:mod:`stitch.encoder.cache`).

Example:
    >>> from stitch.encoder import EncoderSpec
    >>> EncoderSpec("toy", "tabular", "A toy encoder", dim=4).install_hint
    'pip install latent-stitch'
"""

from stitch.encoder.base import MODALITIES, BaseEncoder, Encoder, EncoderSpec

__all__ = ["Encoder", "EncoderSpec", "BaseEncoder", "MODALITIES"]
