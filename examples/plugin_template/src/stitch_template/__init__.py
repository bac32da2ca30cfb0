"""Template latent-stitch plugin (see ``plugin.py`` for the hooks and ``encoder.py`` for the encoder)."""

__version__ = "0.1.0"
