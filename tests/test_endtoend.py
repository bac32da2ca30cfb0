"""End-to-end relative training (encoder -> space -> decoder as one model) and stitching the trained models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stitch
from stitch.encoder.checkpoint import read_provenance
from stitch.errors import ConfigError
from stitch.experiment import endtoend
from stitch.experiment.endtoend import load_end_to_end, stitch_end_to_end, train_end_to_end
from stitch.experiment import parse_experiment
from stitch.experiment.runner import run_experiment

pytestmark = pytest.mark.usefixtures("one_thread")

RESNET = {"image_size": 16, "in_chans": 1, "crop_pct": 1.0}


@pytest.fixture(scope="module")
def digits():
    return stitch.load_dataset("digits").subsample({"train": 600, "test": 300}, seed=0)


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """Two seeds of a tiny ResNet, each trained end to end with an absolute and a relative head (same anchors)."""
    out = tmp_path_factory.mktemp("e2e")
    rows = stitch.select_anchors(torch.zeros(600, 1), 100, "stratified", labels=digits.split_labels("train"),
                                 seed=0).tolist()
    models = {}
    for space in ("absolute", "relative:cosine"):
        models[space] = {f"s{seed}": train_end_to_end("timm:test_resnet", digits, space=space, anchor_rows=rows,
                                                      out=out / f"{space}-{seed}.safetensors", seed=seed,
                                                      schedule={"epochs": 6, "lr": 3e-3}, encoder_options=RESNET)
                         for seed in (0, 1)}
    return models


def _by_pair(cells):
    return {(c["decoder_encoder"], c["test_encoder"]): c["accuracy"] for c in cells}


def test_relative_heads_stitch_across_seeds_and_absolute_heads_do_not(trained, digits):
    absolute = _by_pair(stitch_end_to_end(trained["absolute"], digits))
    relative = _by_pair(stitch_end_to_end(trained["relative:cosine"], digits))
    for scores in (absolute, relative):
        assert scores[("s0", "s0")] > 0.8 and scores[("s1", "s1")] > 0.8  # every model learned the task
    # the relative-representations paper's claim, on 2 x 2 models: absolute ~ chance, relative far above it
    assert max(absolute[("s0", "s1")], absolute[("s1", "s0")]) < 0.35
    assert min(relative[("s0", "s1")], relative[("s1", "s0")]) > 0.7


def test_the_file_reloads_to_the_same_model(trained, digits):
    model = trained["relative:cosine"]["s0"]
    again = load_end_to_end(model.path, digits)
    assert again.anchor_rows == model.anchor_rows and again.space == model.space
    x = digits.split_inputs("test")[:50]
    torch.testing.assert_close(again.encoder.encode(x), model.encoder.encode(x))
    meta = read_provenance(model.path)
    assert meta["end_to_end"]["space"]["name"] == "relative:cosine" and meta["seed"] == 0
    assert meta["metrics"]["epochs_run"] <= 6 and 1 <= meta["metrics"]["best_epoch"] <= meta["metrics"]["epochs_run"]
    # the encoder part is an ordinary trained encoder
    torch.testing.assert_close(stitch.create_encoder(f"trained:{model.path}").encode(x), model.encoder.encode(x))


def test_anchors_are_embedded_by_the_current_encoder(digits, monkeypatch, tmp_path):
    """Every training step sends batch + anchors through one forward pass, with gradients on both."""
    seen = []
    real = endtoend._Embedder.__call__

    def spy(self, split, idx):
        z = real(self, split, idx)
        seen.append((len(idx), z.requires_grad))
        return z

    monkeypatch.setattr(endtoend._Embedder, "__call__", spy)
    train_end_to_end("timm:test_resnet", digits, space="relative:cosine", anchor_rows=range(0, 60, 3),
                     out=tmp_path / "m.safetensors", schedule={"epochs": 1, "batch_size": 200}, val_split=None,
                     encoder_options=RESNET)
    steps = [n for n, grad in seen if grad]
    assert steps == [200 + 20, 200 + 20, 200 + 20]  # 600 rows / 200 per batch, each with the 20 anchors


def test_reconstruction_heads_train_and_stitch(digits, tmp_path):
    models = {f"s{s}": train_end_to_end("timm:test_resnet", digits, space="relative:cosine",
                                        anchor_rows=range(0, 600, 20), out=tmp_path / f"{s}.safetensors", seed=s,
                                        # 3 epochs ended within 2 % of the mean-image baseline on some CPUs;
                                        # 6 end at about half of it
                                        schedule={"epochs": 6, "lr": 3e-3}, decoder={"kind": "reconstruction",
                                                                                       "hidden": 64},
                                        encoder_options=RESNET) for s in (0, 1)}
    cells = stitch_end_to_end(models, digits)
    assert len(cells) == 4 and all(np.isfinite(c["mse"]) and c["mse"] > 0 for c in cells)
    pixels = endtoend.split_targets(digits, "test", "reconstruction")
    assert pixels.max() <= 1.0
    var = float(((pixels - pixels.mean(0)) ** 2).mean())
    assert all(c["mse"] < var for c in cells if not c["stitched"])  # better than predicting the mean image


def test_bad_requests_are_named(digits, tmp_path):
    with pytest.raises(ValueError, match=r"space 'translate:procrustes' cannot be trained end to end: a 'translate' "
                                         r"space maps between two models; use one of absolute, product, relative"):
        train_end_to_end("timm:test_resnet", digits, space="translate:procrustes", anchor_rows=[0], out=tmp_path / "m")
    with pytest.raises(ValueError, match=r"anchor_rows must be a non-empty list of rows of split 'train' \(0\.\.599\), "
                                         r"got 1 rows in 600\.\.600"):
        train_end_to_end("timm:test_resnet", digits, space="absolute", anchor_rows=[600], out=tmp_path / "m")
    with pytest.raises(TypeError, match="encoder 'minilm' cannot be trained from scratch"):
        train_end_to_end("minilm", stitch.load_dataset("digits"), space="absolute", anchor_rows=[0],
                         out=tmp_path / "m")
    with pytest.raises(ValueError, match="stitch_end_to_end needs at least one trained model, got none"):
        stitch_end_to_end({}, digits)


def test_models_of_other_spaces_are_not_stitched_and_plain_encoders_are_not_models(trained, digits, tmp_path):
    mixed = {"a": trained["absolute"]["s0"], "r": trained["relative:cosine"]["s1"]}
    with pytest.raises(ValueError, match=r"models stitched together must share their space and anchors; got 2 "
                                         r"spaces and 1 anchor sets"):
        stitch_end_to_end(mixed, digits)
    from stitch.encoder.checkpoint import write_trained

    plain = tmp_path / "plain.safetensors"
    write_trained(plain, {"encoder.w": torch.ones(1)}, {"base_encoder": "toy"})
    with pytest.raises(ValueError, match=r"plain\.safetensors is a trained encoder without a decoder \(not written by "
                                         r"train_end_to_end\); load it with stitch\.create_encoder\('trained:"):
        load_end_to_end(plain, digits)


def _e2e_config(**changes):
    cfg = {"name": "e2e", "protocol": "end-to-end", "spaces": ["absolute", "relative:cosine"],
           "dataset": {"name": "digits", "subset": {"train": 300, "test": 150}},
           "encoders": [{"name": "timm:test_resnet", "label": f"r{s}", "options": RESNET,
                         "train": {"seed": s, "epochs": 2, "lr": 3e-3}} for s in (0, 1)],
           "anchors": {"strategy": "stratified", "n": 30}, "decoder": {"kind": "linear"}}
    cfg.update(changes)
    return cfg


def test_config_rules_of_the_end_to_end_protocol():
    bad = _e2e_config(spaces=["translate:procrustes"], anchors={"strategy": "fps", "n": 30},
                      encoders=[{"name": "minilm"}], engine={"kind": "ray"})
    with pytest.raises(ConfigError) as err:
        parse_experiment(bad)
    msg = str(err.value)
    assert "encoders[0]: protocol 'end-to-end' trains every encoder with its space and decoder, but 'minilm' has " \
           "no train table" in msg
    assert "spaces[0]: 'translate:procrustes' cannot be trained end to end" in msg
    assert "anchors.strategy: 'fps' chooses anchors by their latents, which do not exist before end-to-end " \
           "training; use 'random' or 'stratified'" in msg
    assert "engine.kind: protocol 'end-to-end' runs in this process; remove the [engine] table" in msg
    with pytest.raises(ConfigError, match=r"protocol: unknown protocol 'joint'\. Known: 'end-to-end', 'frozen'\. Run "
                                          r"`stitch protocols list` to see them all\."):
        parse_experiment(_e2e_config(protocol="joint"))


@pytest.mark.slow
def test_run_experiment_end_to_end_resumes_without_retraining(tmp_path, monkeypatch):
    res = run_experiment(_e2e_config(), out=tmp_path, progress=False)
    assert len(res.cells) == 2 * 2 * 2 and res.config["protocol"] == "end-to-end"
    files = sorted((tmp_path / "end-to-end").glob("*.safetensors"))
    assert len(files) == 4  # 2 encoders x 2 spaces, one seed
    info = res.encoder_info["r0"]
    assert set(info["models"]) == {"absolute / seed 0", "relative:cosine / seed 0"}
    assert res.anchors[0]["reference"] == "training rows" and len(res.anchors[0]["ids"]) == 30
    calls = []
    monkeypatch.setattr("stitch.experiment.endtoend.train_end_to_end", lambda *a, **k: calls.append(a))
    again = run_experiment(_e2e_config(), out=tmp_path, progress=False)
    assert calls == [] and [c["accuracy"] for c in again.cells] == [c["accuracy"] for c in res.cells]
    assert (tmp_path / "report.md").is_file()


def test_end_to_end_refuses_another_engine(tmp_path):
    from stitch.engine import LocalEngine

    class Elsewhere(LocalEngine):
        kind = "ray"

    with pytest.raises(ConfigError, match=r"protocol 'end-to-end' trains its models in this process; run it with "
                                          r"the local engine \(drop --engine ray\)"):
        run_experiment(_e2e_config(), out=tmp_path, engine=Elsewhere(), progress=False)


def test_stitch_run_refuses_ray_for_end_to_end_before_starting_it(tmp_path, monkeypatch, capsys):
    import json

    import stitch.engine
    from stitch.cli import main

    def never(*args, **kwargs):
        raise AssertionError("the engine was started before the protocol was checked")

    monkeypatch.setattr(stitch.engine, "create_engine", never)
    (tmp_path / "e2e.json").write_text(json.dumps(_e2e_config()))
    assert main(["run", str(tmp_path / "e2e.json"), "--engine", "ray", "--out", str(tmp_path / "out")]) == 2
    assert "trains its models in this process; run it with the local engine (drop --engine ray)" in \
        capsys.readouterr().err


def test_the_old_head_and_schedule_keywords_warn_and_still_apply(digits, tmp_path):
    with pytest.warns(DeprecationWarning) as caught:
        m = train_end_to_end("timm:test_resnet", digits, space="absolute", anchor_rows=range(10), epochs=1,
                             hidden=32, normalize=False, out=tmp_path / "m.safetensors", encoder_options=RESNET)
    assert sorted(str(w.message).split(" is deprecated")[0] for w in caught) == [
        "train_end_to_end(epochs=...)", "train_end_to_end(hidden=..., normalize=...)"]
    info = read_provenance(m.path)
    assert (info["end_to_end"]["decoder"], info["end_to_end"]["hidden"], info["end_to_end"]["normalize"]) == (
        "linear", 32, False)  # the kind keeps its default when only the head's size is given
    assert info["training"]["epochs"] == 1


def test_a_head_that_is_not_a_decoder_setting_is_named(digits, tmp_path):
    with pytest.raises(TypeError, match=r"decoder must be a decoder kind \('linear', 'mlp', 'reconstruction'\), a "
                                        r"DecoderConfig or a mapping of its fields, got int"):
        train_end_to_end("timm:test_resnet", digits, space="absolute", anchor_rows=[0], decoder=3,
                         out=tmp_path / "m.safetensors", encoder_options=RESNET)
