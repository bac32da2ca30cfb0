"""Grounding tests: each score follows its ground truth, fails for a measure that does not, and reaches reports."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stitch.audits import AuditResult, audit_layers, compare
from stitch.audits.report import sanity_markdown
from stitch.audits.sanity import layer_monotonicity, output_correspondence, pca_deletion, rank_measures, run_sanity


def _layers(n: int = 300, d: int = 16, depth: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    # A random walk of representations: each "layer" adds fresh noise, so layer l drifts away from layer 0.
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g)
    out = {}
    for layer in range(depth):
        out[f"m@{layer}"] = z.clone()
        z = z + 0.6 * torch.randn(n, d, generator=g)
    return out


def _layer_result(metrics: list[str]) -> AuditResult:
    lat = _layers()
    res = compare(lat, metrics=metrics, progress=False)
    res.config.update(layers=list(range(5)), layers_b=list(range(5)), encoder_a="m", encoder_b="m")
    return res


def test_layer_monotonicity_scores_a_drifting_model_near_one() -> None:
    out = layer_monotonicity(_layer_result(["linear_cka", "procrustes"]))
    for metric in ("linear_cka", "procrustes"):  # a score and a distance: both oriented to "higher = better"
        assert out[metric]["rho"] > 0.9 and out[metric]["violations"] < 0.1, (metric, out[metric])


def test_layer_monotonicity_scores_an_inverted_measure_at_minus_one() -> None:
    # A measure that *rises* with layer distance is exactly the one the test must flag.
    pos = np.arange(4.0)
    sim = np.abs(pos[:, None] - pos[None, :])
    names = [f"a@{i}" for i in range(4)]
    res = AuditResult(names, names, {"bad": sim}, {"bad": {"kind": "score"}}, {"bad": {}}, {"bad": None},
                      config={"layers": [0, 1, 2, 3], "layers_b": [0, 1, 2, 3], "encoder_a": "a", "encoder_b": "a"})
    out = layer_monotonicity(res)["bad"]
    assert out["rho"] == pytest.approx(-1.0) and out["violations"] == 1.0


def test_layer_monotonicity_needs_a_one_model_layer_audit() -> None:
    res = compare(_layers(depth=3), metrics=["linear_cka"], progress=False)
    with pytest.raises(ValueError, match=r"needs a layer x layer audit of one encoder"):
        layer_monotonicity(res)


def test_pca_deletion_tracks_the_accuracy_it_destroys() -> None:
    # Class information lives in the top principal directions: deleting them destroys the probe and the
    # measure must fall with it.
    g = torch.Generator().manual_seed(1)
    y = np.arange(400) % 4
    signal = 4 * torch.nn.functional.one_hot(torch.tensor(y), 4).float() @ torch.randn(4, 20, generator=g)
    z = signal + 0.3 * torch.randn(400, 20, generator=g)
    out = pca_deletion({"m": z}, y, ["linear_cka"], {"linear_cka": {}})
    assert out["linear_cka"]["rho"] > 0.5 and out["linear_cka"]["monotone"] > 0.9


def test_output_correspondence_follows_probe_agreement() -> None:
    # Models with more class signal agree more with each other: similarity in signal strength is the truth.
    g = torch.Generator().manual_seed(2)
    y = np.arange(600) % 3
    base = torch.nn.functional.one_hot(torch.tensor(y), 3).float() @ torch.randn(3, 10, generator=g)
    noise = torch.randn(600, 10, generator=g)
    lat = {f"s{k}": base * s + noise * (1 - s) + 0.05 * torch.randn(600, 10, generator=g)
           for k, s in enumerate((0.05, 0.3, 0.6, 0.9))}
    res = compare(lat, metrics=["linear_cka"], progress=False)
    out = output_correspondence(res, lat, y)
    assert -1 <= out["linear_cka"]["rho"] <= 1
    assert set(out["_probes"]["accuracy"]) == set(lat)
    assert out["_probes"]["accuracy"]["s3"] > out["_probes"]["accuracy"]["s0"]
    with pytest.raises(ValueError, match=r"needs a model x model audit of at least 3 models"):
        output_correspondence(compare(dict(list(lat.items())[:2]), metrics=["linear_cka"], progress=False), lat, y)


def test_ranking_and_report_section() -> None:
    tests = {"layer_monotonicity": {"a": {"rho": 0.9}, "b": {"rho": 0.2}},
             "pca_deletion": {"a": {"rho": 0.7}, "b": {"rho": None}},
             "output_correspondence": {"skipped": "needs 3 models"}}
    ranking = rank_measures(tests, ["b", "a"])
    assert [r["metric"] for r in ranking] == ["a", "b"]
    assert ranking[0]["passed"] == 2 and ranking[1]["ran"] == 1
    text = sanity_markdown({"tests": tests, "ranking": ranking, "pass_rho": 0.5})
    assert "| a | +0.90 | +0.70 | +0.80 | 2/2 |" in text
    assert "| b | +0.20 | n/a | +0.20 | 0/1 |" in text
    assert "- output_correspondence: not run (needs 3 models)" in text


@pytest.mark.slow
def test_sanity_on_minilm_layers_reaches_the_report(shared_data: Path, tmp_path: Path) -> None:
    from stitch.plugins import load_dataset

    ds = load_dataset("trec", data_root=shared_data)
    ds = dataclasses.replace(ds, splits={"test": ds.indices("test")[:120]})
    layers = [1, 3, 4, 6]
    res = audit_layers("minilm", "minilm", ds, layers, metrics=["linear_cka", "mutual_knn"],
                       cache_root=tmp_path / "cache", progress=False)
    res.sanity = run_sanity(res, encoders=["minilm"], dataset=ds, layers=layers, cache_root=tmp_path / "cache",
                            progress=False)
    assert res.sanity["tests"]["layer_monotonicity"]["linear_cka"]["rho"] > 0.5
    res.save(tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Grounding tests" in report and "layer_monotonicity" in report
    assert json.loads((tmp_path / "out" / "audit.json").read_text())["sanity"]["pass_rho"] == 0.5


def test_label_randomisation_trains_each_level_and_scores_every_measure(tmp_path: Path) -> None:
    from stitch.audits.sanity import RANDOMISATION_LEVELS, RANDOMISATION_SEEDS, label_randomisation
    from stitch.data import Dataset

    words = (["apple banana cherry", "grape melon kiwi"], ["engine wheel brake", "piston gear clutch"])
    rng = np.random.default_rng(0)
    docs, labels = [], []
    for i in range(160):
        c = i % 2
        docs.append(" ".join(rng.choice(" ".join(words[c]).split(), size=5)))
        labels.append(c)
    ids = tuple(f"d{i}" for i in range(160))
    ds = Dataset("toy-text", "text", docs, np.array(labels), ("fruit", "car"), ids,
                 {"train": np.arange(120), "test": np.arange(120, 160)})
    out = label_randomisation(ds, "text-bag", ["linear_cka", "procrustes"], {}, split="test", work_dir=tmp_path,
                              epochs=2)
    assert len(list(tmp_path.glob("*.safetensors"))) == len(RANDOMISATION_LEVELS) * len(RANDOMISATION_SEEDS)
    for metric in ("linear_cka", "procrustes"):
        assert out[metric]["rho"] is None or -1.0 <= out[metric]["rho"] <= 1.0


def test_label_randomisation_separation_score_is_rescaled_auprc() -> None:
    from stitch.audits.sanity import _separation

    assert _separation([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == pytest.approx(1.0)
    assert _separation([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) < 0.0
    assert _separation([0.5, 0.5], [True, False]) is None


def test_measures_no_test_could_score_are_ranked_last() -> None:
    ranking = rank_measures({"t": {"a": {"rho": None}, "b": {"rho": -0.5}, "c": {"rho": 0.9}}}, ["a", "b", "c"])
    assert [r["metric"] for r in ranking] == ["c", "b", "a"]
