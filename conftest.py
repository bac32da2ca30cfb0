"""Repository-wide pytest setup: applies to the test suite and to the doctests of every package."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # A private cache per test session, and no hub downloads even if a network appears.
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path_factory.getbasetemp() / "stitch-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # tests compare stderr exactly: progress only where a test asks for it (progress=True, or this variable)
    monkeypatch.setenv("STITCH_PROGRESS", "off")
