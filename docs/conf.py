"""Sphinx configuration: narrative pages in Markdown (MyST), the API reference from the docstrings.

Sphinx rather than MkDocs because the docstrings are written for it: Google-style ``Args:`` sections
(napoleon), ``Shapes:`` and ``Example:`` sections, and cross-references in Sphinx's own roles
(:func:`~stitch.core.projection.relative_projection`), which Sphinx resolves and checks.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import TypeVar

from sphinx.util import logging

import stitch

_LOG = logging.getLogger(__name__)

project = "latent-stitch"
author = "the latent-stitch developers"
copyright = "2026, the latent-stitch developers"
release = version = stitch.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # README-style links to "#a-section-title" keep working
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
# Every name a module's __all__ lists is documented, constants and tables included.
autodoc_default_options = {"show-inheritance": True, "undoc-members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields: dataclass fields are documented once, by undoc-members
napoleon_custom_sections = ["Shapes", ("Examples", "example")]

html_theme = "furo"
html_title = f"latent-stitch {release}"
# No network at build time: no intersphinx, no remote images.


def _home(name: str) -> str:
    """The module that defines ``stitch.<name>`` (packages re-export; the reference documents the definition)."""
    obj = getattr(stitch, name)
    defined_in = getattr(obj, "__module__", None)
    if isinstance(obj, type) or inspect.isfunction(obj):
        return defined_in
    return stitch._LAZY[name]


def _namespace_page(app: object) -> None:
    """Write ``api/namespace.md``: every name ``import stitch`` offers, linked to where it is documented."""
    rows = []
    for name in sorted(stitch._LAZY, key=str.lower):
        module = _home(name)
        obj = getattr(stitch, name)
        summary = (obj.__doc__ or "").strip().splitlines()[0] if callable(obj) else ""
        # Sphinx roles do not render in a Markdown table: `:func:`~a.b.c`` reads as `c`
        summary = re.sub(r":\w+:`(~?)([^`]+)`", lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", summary)
        summary = summary.replace("``", "`").replace("|", "\\|")  # a pipe would end the table cell
        deprecated = summary.startswith("Deprecated alias")
        link = f"`stitch.{name}`" if deprecated else f"{{py:obj}}`stitch.{name} <{module}.{name}>`"
        rows.append(f"| {link} | `{module}` | {summary} |")
    text = (
        "# The `stitch` namespace\n\n"
        "`import stitch` offers these names; each is defined in the module shown and documented there "
        "(this page is generated from `stitch._LAZY` when the documentation is built).\n\n"
        "| name | defined in | summary |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )
    _write_if_changed(Path(__file__).parent / "api" / "namespace.md", text)


def _cli_page(app: object) -> None:
    """Write ``api/cli.md``: every command's ``--help``, from the parser the console script uses."""
    import argparse

    from stitch.cli import build_parser

    parser = build_parser()
    parts = ["# Command line\n\n`stitch COMMAND --help` prints the same; this page is generated from the parser.\n",
             "```text\n" + parser.format_help() + "```\n",
             "```{eval-rst}\n.. automodule:: stitch.cli\n   :members:\n```\n"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts.append(f"## `stitch {name}`\n\n```text\n{sub.format_help()}```\n")
    _write_if_changed(Path(__file__).parent / "api" / "cli.md", "\n".join(parts))


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:  # rewriting unchanged would rebuild every page
        path.write_text(text)


def _lookup(path: str) -> object:
    """The object at a dotted ``path`` (module attributes included), or ``_MISSING``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _MISSING
        return obj
    return _MISSING


_MISSING = object()


def _ours(obj: object) -> bool:
    """Whether ``obj`` is latent-stitch's own (not ``torch.Tensor`` or ``typing.Any`` seen through a module)."""
    if inspect.ismodule(obj):
        return obj.__name__.startswith("stitch.")
    if isinstance(obj, type) or inspect.isfunction(obj):
        return obj.__module__.startswith("stitch.")
    return type(obj).__module__ not in {"typing", "typing_extensions"}  # data: a table, a constant


def _resolve_reexport(app, env, node, contnode):  # noqa: ANN001, ANN202 (Sphinx's event signature)
    """Resolve a reference to a re-exported name (``stitch.X``, ``stitch.encoder.EncoderSpec``, ``Space`` inside
    :mod:`stitch.spaces`) to the place the object is documented, found by identity. A reference to a public
    object of ``stitch`` that is documented nowhere is reported (an error under ``-W``): the reference
    promises a page the reader cannot find."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module = node.get("py:module") or ""
    candidates = [target] + ([f"{module}.{target}"] if module and not target.startswith("stitch.") else [])
    domain = env.get_domain("py")
    for candidate in candidates:
        if not candidate.startswith("stitch."):
            continue
        if any(part.startswith("_") for part in candidate.split(".")[1:]):
            return None  # a private base class shown by show-inheritance: nothing to link, nothing wrong
        obj = _lookup(candidate)
        if obj is _MISSING:
            continue
        if isinstance(obj, TypeVar) or not _ours(obj):
            return None  # a type variable or torch.Tensor in a signature
        last = candidate.rsplit(".", 1)[-1]
        for name in domain.objects:
            if name.rsplit(".", 1)[-1] == last and _lookup(name) is obj:
                return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], name, node, contnode)
        _LOG.warning("reference to %s, which the reference documents nowhere", candidate, location=node)
        return None
    if target.startswith("stitch."):
        _LOG.warning("reference to %s, which does not exist", target, location=node)
    return None


def setup(app) -> None:  # noqa: ANN001 (Sphinx's signature)
    app.connect("builder-inited", _namespace_page)
    app.connect("builder-inited", _cli_page)
    app.connect("missing-reference", _resolve_reexport)
