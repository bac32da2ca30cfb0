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

# layer -> packages it must never import: the core math sees neither the plugin host nor the adapters, nor the
# layers built on it; the engine runs tasks without knowing experiments or audits; experiments and audits sit on
# top of everything but the CLI (audits may train encoders, so they may use experiment's training); the reference
# suites (bench) sit beside them, and nothing below imports them.
_HOST = ("stitch.registry", "stitch.adapters", "stitch.plugins", "stitch.cli")
_ABOVE_CORE = ("stitch.encoder", "stitch.data", "stitch.experiment", "stitch.audits", "stitch.engine",
               "stitch.stitcher", "stitch.bench")
FORBIDDEN = {
    "stitch.utils": (*_HOST, *_ABOVE_CORE, "stitch.core", "stitch.spaces", "stitch.metrics"),
    "stitch.core": (*_HOST, *_ABOVE_CORE, "stitch.spaces", "stitch.metrics"),
    "stitch.spaces": (*_HOST, *_ABOVE_CORE, "stitch.metrics"),
    "stitch.metrics": (*_HOST, *_ABOVE_CORE, "stitch.spaces"),
    "stitch.data": (*_HOST, "stitch.core", "stitch.spaces", "stitch.metrics", "stitch.encoder", "stitch.experiment",
                    "stitch.audits", "stitch.engine", "stitch.stitcher", "stitch.bench"),
    "stitch.encoder": ("stitch.registry", "stitch.adapters", "stitch.cli", "stitch.core", "stitch.spaces",
                       "stitch.metrics", "stitch.experiment", "stitch.audits", "stitch.engine", "stitch.stitcher",
                       "stitch.bench"),
    "stitch.engine": (*_HOST, "stitch.core", "stitch.spaces", "stitch.metrics", "stitch.experiment", "stitch.audits",
                      "stitch.stitcher", "stitch.bench"),
    "stitch.experiment": ("stitch.registry", "stitch.adapters", "stitch.cli", "stitch.audits", "stitch.bench"),
    "stitch.audits": ("stitch.registry", "stitch.adapters", "stitch.cli", "stitch.bench"),
    "stitch.stitcher": ("stitch.registry", "stitch.adapters", "stitch.cli", "stitch.audits", "stitch.engine",
                        "stitch.bench"),
    "stitch.bench": ("stitch.registry", "stitch.adapters", "stitch.cli"),
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
    """Every module ``path`` imports, at the top or inside functions (``if TYPE_CHECKING:`` blocks excepted)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: never imported at run time
            if isinstance(child, ast.Import):
                names.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names.add(child.module)
                names.update(f"{child.module}.{a.name}" for a in child.names)  # `from pkg import module`
            visit(child)

    visit(ast.parse(path.read_text()))
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


def test_no_import_circle() -> None:
    # lazy imports inside functions count too: a circle through them is still two modules that need each other
    modules = _modules()
    graph = {name: {i for i in _imports(path) if i in modules and i != name and not name.startswith(i + ".")}
             for name, path in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles)


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
