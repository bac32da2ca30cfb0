"""The "reuse a trained head" recipe (README and docs/guides/stitch-a-head.md) runs as written, from a folder
beside ``../shared``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _recipe() -> str:
    # tests/test_docs.py holds README's copy of the block to the guide's
    text = (ROOT / "docs" / "guides" / "stitch-a-head.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


@pytest.mark.slow
def test_the_stitching_recipe_runs_as_written(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "shared").symlink_to(shared_data.parent)
    (tmp_path / "work").mkdir()
    code = _recipe()
    assert len(code.strip().splitlines()) <= 15
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "work", capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "| method | agreement (5 folds) | vs best | tied | confidence |"
    assert re.fullmatch(r"forecast: agreement 0\.\d{3} \(95 % interval 0\.\d{3}-0\.\d{3} over 5 folds\): "
                        r"(pass|warn|fail)", lines[-2])
    assert re.fullmatch(r"\['[A-Z]+', '[A-Z]+'\]", lines[-1])
    saved = tmp_path / "work" / "runs" / "l3-with-l6-head"
    assert sorted(p.name for p in saved.iterdir()) == ["decoder.safetensors", "manifest.json",
                                                       "stitcher.safetensors"]
