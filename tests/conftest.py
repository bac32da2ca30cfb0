"""Shared fixtures of the test suite (the environment isolation lives in the root conftest.py)."""

from __future__ import annotations

import importlib
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STITCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
SHARED_MODELS = SHARED_DATA.parent / "models"


def _shared(path: Path, what: str) -> Path:
    """``path`` if it exists; missing, it fails in CI (which must provide it) and skips elsewhere."""
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared {what} not found at {path}; CI must provide it beside the checkout")
        pytest.skip(f"shared {what} not found at {path} (set STITCH_SHARED_DATA to <shared>/data)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (Cora, TREC, Fashion-MNIST)."""
    return _shared(SHARED_DATA, "data")


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """``../shared/models`` (EfficientNet-Lite0/2 safetensors, paraphrase-MiniLM-L3-v2)."""
    return _shared(SHARED_MODELS, "models")


#: two random-init CNNs on 8 x 8 digits, as ``stitch encode`` names them
ENCODE_REFS = ("timm:test_resnet?image_size=8&in_chans=1&crop_pct=1.0&seed=0",
               "timm:test_resnet?image_size=8&in_chans=1&crop_pct=1.0&seed=1")


@pytest.fixture(scope="session")
def encode_argv() -> Callable[..., list[str]]:
    """``encode_argv(cache, *extra)``: ``stitch encode`` of :data:`ENCODE_REFS` on digits' train and test splits."""
    def argv(cache: Path, *extra: str) -> list[str]:
        return ["encode", "--encoders", ",".join(ENCODE_REFS), "--dataset", "digits", "--cache", str(cache),
                "--no-progress", *extra]
    return argv


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Run a module's tests on one torch and one BLAS thread (``pytestmark = pytest.mark.usefixtures("one_thread")``).

    Tiny models and matrices gain nothing from threads, and on a 2-core machine shared with other jobs two
    threads spin-wait on each other: a tiny ResNet step or SVD then takes seconds instead of milliseconds.
    Values are unaffected.
    """
    from stitch.utils.threads import cpu_threads

    with cpu_threads(1):  # numpy's BLAS too (scipy, sklearn, POT)
        yield


def _make_dist(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (``*.dist-info`` + modules) into ``site``, a sys.path entry."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[stitch]\n{eps}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()


@pytest.fixture
def make_dist():
    """``make_dist(site, dist, version, entry_points, modules)``: write a fake installed distribution into ``site``."""
    return _make_dist


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory on ``sys.path`` for fake installed distributions (see ``make_dist``)."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


@pytest.fixture
def rotated_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench suites' pairs replaced by one synthetic pair: encoder B is an exact rotation of encoder A, on
    well separated classes (700 samples of 16 dims: 300 for the head, a pool of 200, 200 to test)."""
    import numpy as np
    import torch

    import stitch.bench.suites
    from stitch.bench.pairs import BenchPair, PairData

    g = torch.Generator().manual_seed(0)
    centres = 4 * torch.randn(4, 16, generator=g, dtype=torch.float64)
    y = torch.arange(700) % 4
    a = centres[y] + torch.randn(700, 16, generator=g, dtype=torch.float64)
    q = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))[0]
    b = a @ q
    labels = y.numpy()
    data = PairData((a[:500], b[:500]), (a[500:], b[500:]), labels[:500], labels[500:], np.arange(300),
                    np.arange(300, 500))
    pair = BenchPair("trec", ("a", "b"), ("A", "B"), {"train": 500, "test": 200}, None, head=300)
    monkeypatch.setattr(stitch.bench.suites, "PAIRS", {"rotation": pair})
    monkeypatch.setattr(stitch.bench.suites, "load_pair", lambda pair, context: data)
