"""The installed layout: one top-level name, every package listed, dependencies pointing one way."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {"stitch": ROOT / "stitch", "stitch.registry": ROOT / "registry", "stitch.adapters": ROOT / "adapters"}

# layer -> packages it must never import (the core math sees neither the plugin host nor the adapters, nor the
# layers built on it)
FORBIDDEN = {
    "stitch.utils": ("stitch.registry", "stitch.adapters", "stitch.core", "stitch.metrics", "stitch.encoder",
                     "stitch.experiment", "stitch.audits", "stitch.cli", "stitch.plugins"),
    "stitch.core": ("stitch.registry", "stitch.adapters", "stitch.encoder", "stitch.data", "stitch.experiment",
                    "stitch.audits", "stitch.cli", "stitch.plugins", "stitch.metrics"),
    "stitch.metrics": ("stitch.registry", "stitch.adapters", "stitch.encoder", "stitch.data", "stitch.experiment",
                       "stitch.audits", "stitch.cli", "stitch.plugins"),
    "stitch.data": ("stitch.registry", "stitch.adapters", "stitch.core", "stitch.encoder", "stitch.experiment",
                    "stitch.audits", "stitch.cli"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in SOURCE.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert found == listed


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_dependencies_point_one_way(layer: str) -> None:
    offending = {}
    for name, path in _modules().items():
        if name != layer and not name.startswith(layer + "."):
            continue
        bad = sorted(i for i in _imports(path) if any(i == f or i.startswith(f + ".") for f in FORBIDDEN[layer]))
        if bad:
            offending[name] = bad
    assert offending == {}, f"{layer} must not import {FORBIDDEN[layer]}"


def test_nothing_imports_the_repository_folders_as_top_level_packages() -> None:
    # `registry` and `adapters` exist as folders in the repository, but are installed as stitch.registry / .adapters
    offending = {name: sorted(i for i in _imports(path) if i.split(".")[0] in ("registry", "adapters"))
                 for name, path in _modules().items()}
    assert {k: v for k, v in offending.items() if v} == {}


def test_import_and_a_builtin_lookup_load_no_plugin() -> None:
    code = ("import sys, torch, stitch\n"
            "before = 'stitch.registry' in sys.modules\n"
            "stitch.relative_projection(torch.randn(4, 3), torch.randn(2, 3), 'euclidean')\n"
            "stitch.select_anchors(torch.randn(5, 2), 2, 'fps')\n"
            "stitch.get_metric('linear_cka')\n"
            "print(before, 'stitch.registry' in sys.modules, 'stitch.adapters.vision' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


@pytest.mark.slow
def test_the_wheel_installs_only_the_stitch_package(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True, text=True)
    [wheel] = tmp_path.glob("latent_stitch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"stitch", f"{wheel.name.split('-py3')[0]}.dist-info"}
    assert {"stitch/registry/manager.py", "stitch/adapters/vision.py", "stitch/core/projection.py"} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "timm = stitch.adapters.vision" in entry_points and "adapters." not in entry_points.replace(
        "stitch.adapters.", "")
