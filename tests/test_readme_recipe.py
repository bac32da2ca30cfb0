"""The README's "Stitch two models in Python" block runs as written, from a folder beside ``../shared``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(f"### {title}"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_the_stitching_recipe_runs_as_written(shared_data: Path, tmp_path: Path) -> None:
    (tmp_path / "shared").symlink_to(shared_data.parent)
    (tmp_path / "work").mkdir()
    code = _block("Stitch two models in Python")
    assert len(code.strip().splitlines()) <= 15
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "work", capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "| method | agreement (5 folds) | vs best | tied |"
    assert re.fullmatch(r"forecast: agreement 0\.\d{3} \(95 % interval 0\.\d{3}-0\.\d{3} over 5 folds\): "
                        r"(pass|warn|fail)", lines[-2])
    assert re.fullmatch(r"\['[A-Z]+', '[A-Z]+'\]", lines[-1])
    saved = tmp_path / "work" / "runs" / "l3-with-l6-head"
    assert sorted(p.name for p in saved.iterdir()) == ["decoder.safetensors", "manifest.json",
                                                       "stitcher.safetensors"]
