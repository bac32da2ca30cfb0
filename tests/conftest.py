"""Shared fixtures of the test suite (the environment isolation lives in the root conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STITCH_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (Cora, TREC). Missing data fails in CI and skips elsewhere."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}; CI must provide ../shared/data")
        pytest.skip(f"shared data not found at {SHARED_DATA} (set STITCH_SHARED_DATA)")
    return SHARED_DATA
