"""The plugin host of latent-stitch (pluggy hookspecs, entry-point loading, lookup tables).

Placeholder until the registry issue lands: ``load_plugins`` loads nothing yet.
"""


def load_plugins() -> None:
    """Load every installed plugin (not implemented yet)."""
