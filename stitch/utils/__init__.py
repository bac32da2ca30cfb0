"""Shared foundations every layer uses: input checks, name tables, atomic files, progress bars, plots.

Nothing here imports torch at module level except :mod:`stitch.utils.checks`, nor anything of the plugin
host or the adapters.
"""
