"""The data, models and cache roots: one spelling each, an explicit root over the environment, no process-wide
state changed, and experiment files that set every root."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from stitch.errors import ConfigError
from stitch.experiment import parse_experiment, run_experiment
from stitch.utils.roots import cache_root, data_root, models_root, using_models_root

BASE = {"name": "r", "spaces": ["absolute"], "anchors": {"n": 10},
        "dataset": {"name": "digits", "subset": {"train": 100, "test": 50}},
        "encoders": [{"name": "timm:test_resnet", "options": {"image_size": 8, "in_chans": 1, "crop_pct": 1.0}}],
        "decoder": {"kind": "linear", "epochs": 2}}


def test_an_explicit_root_wins_over_the_environment(monkeypatch, tmp_path: Path) -> None:
    for var, fn in (("STITCH_DATA", data_root), ("STITCH_MODELS", models_root), ("STITCH_CACHE", cache_root)):
        monkeypatch.setenv(var, str(tmp_path / "env"))
        assert fn() == tmp_path / "env" and fn(tmp_path / "given") == tmp_path / "given"
        monkeypatch.delenv(var)
    assert data_root() is None and models_root() is None
    assert cache_root() == Path.home() / ".cache" / "latent-stitch"


def test_using_models_root_changes_no_environment_and_no_other_thread(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STITCH_MODELS", str(tmp_path / "env"))
    seen: list[Path | None] = []
    with using_models_root(tmp_path / "mine"):
        assert os.environ["STITCH_MODELS"] == str(tmp_path / "env")  # the process environment is left alone
        assert models_root() == tmp_path / "mine"
        other = threading.Thread(target=lambda: seen.append(models_root()))
        other.start()
        other.join()
    assert seen == [tmp_path / "env"] and models_root() == tmp_path / "env"


def test_the_old_dataset_root_spellings_warn_and_move_to_data_root() -> None:
    for old in ("data_root", "root"):
        with pytest.warns(DeprecationWarning, match=rf"dataset\.{old} is deprecated and will be removed in "
                                                    r"latent-stitch 0\.3; set data_root at the top level of the file"):
            cfg = parse_experiment({**BASE, "dataset": {**BASE["dataset"], old: "/data"}})
        assert cfg.data_root == "/data" and "data_root" not in cfg.dataset.model_dump()
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match=r"dataset\.data_root = '/a' and data_root "
                                                                           r"= '/b' name two data roots; keep only"):
        parse_experiment({**BASE, "data_root": "/b", "dataset": {**BASE["dataset"], "data_root": "/a"}})


@pytest.mark.slow
def test_an_experiment_file_sets_the_cache_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "env-cache"))
    run_experiment({**BASE, "cache_root": str(tmp_path / "file-cache")}, out=tmp_path / "out", progress=False,
                   report=False)
    assert list((tmp_path / "file-cache").rglob("*.safetensors")) and not (tmp_path / "env-cache").exists()
    run_experiment({**BASE, "cache_root": str(tmp_path / "file-cache")}, out=tmp_path / "out2", progress=False,
                   report=False, cache_root=tmp_path / "flag-cache")  # the flag wins over the file
    assert list((tmp_path / "flag-cache").rglob("*.safetensors"))


def _pretrained_trec(shared_data: Path) -> dict:
    return {"name": "t", "data_root": str(shared_data), "dataset": {"name": "trec"}, "spaces": ["absolute"],
            "anchors": {"n": 10}, "encoders": ["minilm", "hf:paraphrase-MiniLM-L3-v2"]}


def test_check_fails_when_a_model_is_neither_local_nor_downloadable(shared_data: Path, shared_models: Path,
                                                                    tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    import stitch.encoder.refs
    from stitch.cli import main
    from stitch.errors import ConfigError
    from stitch.experiment import check_experiment

    monkeypatch.delenv("STITCH_MODELS", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(stitch.encoder.refs, "hub_unreachable",
                        lambda: "https://huggingface.co does not answer (no network)")
    cfg = _pretrained_trec(shared_data)
    with pytest.raises(ConfigError, match=r"encoders\[1\]\.name: 'hf:paraphrase-MiniLM-L3-v2' is not a local model "
                       r"and not in the hub cache, and the Hugging Face hub \(paraphrase-MiniLM-L3-v2\) cannot be "
                       r"reached: https://huggingface.co does not answer \(no network\); pass --models DIR"):
        check_experiment(cfg)
    plan, _ = check_experiment(cfg, models_root=shared_models)  # found locally: nothing to download
    assert plan.downloads == ()

    # online, the plan says what the run will download
    monkeypatch.setattr(stitch.encoder.refs, "hub_unreachable", lambda: None)
    plan, _ = check_experiment(cfg)
    assert plan.downloads == ("hf:paraphrase-MiniLM-L3-v2 from the Hugging Face hub (paraphrase-MiniLM-L3-v2)",)
    assert str(plan).endswith("; downloads on first use: hf:paraphrase-MiniLM-L3-v2 from the Hugging Face hub "
                              "(paraphrase-MiniLM-L3-v2)")

    # with the hub switched off, the check says so without trying the network
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    exp = tmp_path / "e.json"
    exp.write_text(json.dumps(cfg))
    assert main(["run", str(exp), "--check"]) == 2
    err = capsys.readouterr().err
    assert "encoders[1].name: model 'paraphrase-MiniLM-L3-v2' is not a local folder or file and the hub is off " \
           "(HF_HUB_OFFLINE); pass a models root holding paraphrase-MiniLM-L3-v2 (--models DIR or $STITCH_MODELS)" in err
