"""``stitch pair`` (fit, forecast, save, gate) and ``stitch predict`` (a saved stitched model on new inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stitch.cli import main
from stitch.stitcher import load_stitched


@pytest.mark.slow
def test_pair_writes_a_model_predict_runs_it_and_the_gate_is_the_verdict(shared_data: Path, tmp_path: Path,
                                                                          capsys) -> None:
    out = tmp_path / "model"
    argv = ["pair", "text-bag?seed=1", "text-bag?seed=0", "--dataset", "trec", "--data", str(shared_data),
            "--samples", "300", "--anchors", "200", "--cache", str(tmp_path / "cache"), "--out", str(out)]
    assert main([*argv, "--json"]) == 0  # without --gate the verdict is printed, not the exit code
    record = json.loads(capsys.readouterr().out)
    verdict = record["forecast"]["verdict"]
    assert record["report"]["score"] == "agreement" and record["report"]["n_anchors"] == 200
    assert main([*argv, "--gate"]) == {"pass": 0, "warn": 1, "fail": 2}[verdict]
    model = load_stitched(out)
    assert model.forecast.verdict == verdict and model.class_names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    capsys.readouterr()
    assert main(["predict", str(out), "Who wrote Hamlet?", "How far away is the Moon?"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("\t") for line in lines]  # label, reliability, text
    assert [r[2] for r in rows] == ["Who wrote Hamlet?", "How far away is the Moon?"]
    assert all(r[0] in model.class_names and 1 / 6 <= float(r[1]) <= 1 for r in rows)


def test_pair_refuses_sizes_it_cannot_draw(capsys) -> None:
    assert main(["pair", "a", "b", "--dataset", "digits", "--samples", "1000", "--anchors", "100", "--out", "x"]) == 2
    assert capsys.readouterr().err.strip() == ("stitch: error: dataset 'digits' has 1078 training samples; --samples "
                                               "1000 + --anchors 100 need 1100: ask for fewer")
    assert main(["pair", "a", "b", "--dataset", "digits", "--anchors", "0", "--out", "x"]) == 2
    assert capsys.readouterr().err.strip() == "stitch: error: --anchors must be a positive number of samples, got 0"
