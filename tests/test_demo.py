"""`stitch demo` and `stitch run` end to end on digits (tiny settings), including resume of a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stitch.cli import main
from stitch.cli.demo import demo_config
from stitch.errors import ConfigError
from stitch.experiment import load_experiment, parse_experiment, run_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_demo_configuration_is_the_digits_example() -> None:
    assert parse_experiment(demo_config()) == load_experiment(ROOT / "examples" / "digits.toml")
    quick = parse_experiment(demo_config(quick=True))
    assert {e.family for e in quick.encoders} == {"ResNet", "ConvNeXt"}  # two timm architectures
    assert {e.name for e in quick.encoders} == {"timm:test_resnet", "timm:test_convnext"}
    assert len(quick.encoders) == 4


def test_run_check_validates_without_running(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", str(ROOT / "examples" / "digits.toml"), "--check", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "valid. 4 encoders x 5 spaces x 3 seed(s) = 240 cells on 'digits'" in out
    assert not any(tmp_path.iterdir())


def test_run_reports_config_errors_with_the_field_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "t"\nspaces = ["relative:cosin"]\n[dataset]\nname = "digits"\n[[encoders]]\nname = "a"\n')
    assert main(["run", str(bad)]) == 2
    assert "spaces[0]: unknown similarity function 'cosin'; did you mean 'cosine'" in capsys.readouterr().err


def test_unknown_encoder_fails_before_any_work(tmp_path: Path) -> None:
    cfg = {"name": "t", "dataset": {"name": "digits"}, "encoders": [{"name": "timm:test_resnet"},
           {"name": "timm:test_resnett", "train": {"epochs": 1}}], "spaces": ["absolute"]}
    with pytest.raises(ConfigError, match=r"encoders\[1\].name: unknown timm model 'test_resnett'"):
        run_experiment(cfg, out=tmp_path)
    assert not (tmp_path / "encoders").exists()


@pytest.mark.parametrize(("n", "match"), [
    (25, r"anchors.n: strategy 'stratified' draws the same number of anchors from each of the 10 classes of "
         r"dataset 'digits' \(split 'train'\), but n=25 is not a multiple of 10; use n=20 or n=30"),
    (7, r"anchors.n: .* but n=7 is not a multiple of 10; use n=10$"),
    (2000, r"anchors.n: strategy 'stratified' needs 200 anchors per class \(n=2000 over 10 classes\) but class "
           r"\d+ has only \d+ samples in split 'train'; use n<=\d+ or strategy 'random'"),
])
def test_stratified_anchor_count_fails_before_training(tmp_path: Path, n: int, match: str) -> None:
    cfg = {"name": "t", "dataset": {"name": "digits"}, "spaces": ["relative:cosine"],
           "encoders": [{"name": "timm:test_resnet", "train": {"epochs": 1}}, {"name": "timm:test_vit"}],
           "anchors": {"strategy": "stratified", "n": n}}
    with pytest.raises(ConfigError, match=match):
        run_experiment(cfg, out=tmp_path)
    assert not (tmp_path / "encoders").exists()  # no encoder was trained


def test_stratified_anchors_need_class_labels(tmp_path: Path) -> None:
    cfg = {"name": "t", "dataset": {"name": "digits"}, "spaces": ["relative:cosine"],
           "encoders": [{"name": "timm:test_resnet", "train": {"epochs": 1}}, {"name": "timm:test_vit"}],
           "anchors": {"strategy": "stratified", "n": 20}, "decoder": {"kind": "reconstruction"}}
    with pytest.raises(ConfigError, match=r"anchors.strategy: 'stratified' draws anchors per class, but "
                                          r"decoder.kind='reconstruction' has no class labels"):
        run_experiment(cfg, out=tmp_path)
    assert not (tmp_path / "encoders").exists()


@pytest.mark.slow
def test_quick_demo_end_to_end_and_resume(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "digits-demo-quick: accuracy (mean ± std over 1 seed; chance 0.100)" in printed
    names = {p.name for p in out.iterdir()}
    assert {"results.json", "results.csv", "report.md", "stitched_bars.png", "cells.jsonl", "encoders",
            "heatmap_absolute.png", "heatmap_translate_procrustes.png"} <= names
    data = json.loads((out / "results.json").read_text())
    assert len(data["cells"]) == 5 * 1 * 4 * 4
    assert data["versions"]["torch"] and data["anchors"]["0"]["ids"][0].startswith("digits-")
    s = data["summary"]
    # the qualitative picture, even with one-epoch encoders: absolute stitching fails, relative does not
    assert s["absolute"]["same_group_mean"] < 0.3
    assert s["absolute"]["cross_group_mean"] is None  # latent widths differ: not applicable
    assert s["relative:cosine"]["stitched_mean"] > 0.35
    assert s["product:cosine,euclidean,l1,linf"]["stitched_mean"] > 0.35
    assert s["translate:procrustes"]["stitched_mean"] > 0.35

    # a re-run trains nothing: encoders, latents and cells are all reused
    import stitch.experiment.decoders
    import stitch.experiment.training

    def boom(*args, **kwargs):
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(stitch.experiment.training, "train_encoder", boom)
    monkeypatch.setattr(stitch.experiment.decoders.Decoder, "fit", boom)
    again = run_experiment(demo_config(quick=True), out=out, progress=False)
    assert again.summary == s


@pytest.mark.slow
def test_readme_shows_what_the_demo_prints(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # README promises this output; numbers may move in the last digit from one CPU to another (float
    # reductions in training), so they are compared to within 0.01, the text exactly
    import re

    readme = (ROOT / "README.md").read_text()
    start = readme.index("```\ndigits-demo: accuracy") + 4
    shown = readme[start:readme.index("```", start)].strip().splitlines()
    assert main(["demo", "--out", str(tmp_path / "demo"), "--no-progress"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    printed = printed[next(i for i, line in enumerate(printed) if line.startswith("digits-demo: accuracy")):]
    printed = printed[: len(shown)]
    number = re.compile(r"\d+\.\d+")
    for ours, theirs in zip(printed, shown, strict=True):
        assert number.sub("#", ours) == number.sub("#", theirs), (ours, theirs)
        for a, b in zip(number.findall(ours), number.findall(theirs), strict=True):
            assert abs(float(a) - float(b)) <= 0.01, (ours, theirs)
