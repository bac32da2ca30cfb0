"""The math of relative spaces: transforms, similarity functions, anchors, relative projections, product
spaces, translators and the invariance probe.

The core imports neither the plugin host (:mod:`stitch.registry`) nor the adapters; plugins reach its name
tables through :mod:`stitch.utils.names`.
"""
