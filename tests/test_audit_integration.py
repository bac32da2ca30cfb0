"""``stitch audit`` end to end on real adapters: MiniLM on TREC questions, and ``file:`` precomputed latents."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stitch.adapters.precomputed import save_precomputed
from stitch.audits import AuditResult, audit, audit_layers
from stitch.plugins import load_dataset

N = 60
METRICS = ["linear_cka", "mutual_knn", "procrustes"]


@pytest.fixture(scope="module")
def trec_small(shared_data: Path) -> object:
    # The first N test questions only, so the real model encodes N sentences per layer, not the whole split.
    ds = load_dataset("trec", data_root=shared_data)
    return dataclasses.replace(ds, splits={"test": ds.indices("test")[:N]})


def _check_saved(res: AuditResult, out: Path) -> None:
    """Every metric's JSON, CSV and PNG exist and agree with the in-memory matrices; the report names them."""
    report = (out / "report.md").read_text()
    everything = json.loads((out / "audit.json").read_text())
    for metric in res.metrics:
        m = res.matrix(metric)
        saved = json.loads((out / f"{metric}.json").read_text())
        assert saved["rows"] == res.rows and saved["cols"] == res.cols
        np.testing.assert_allclose(np.array(saved["values"], dtype=float), m)
        assert everything["metrics"][metric]["values"] == saved["values"]
        with open(out / f"{metric}.csv", newline="") as f:
            table = list(csv.reader(f))
        assert table[0] == ["model", *res.cols]
        assert [r[0] for r in table[1:]] == res.rows
        np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in table[1:]]), m)
        assert (out / f"{metric}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"## {metric}" in report and f"![{metric}]({metric}.png)" in report
    assert "## Summary" in report


@pytest.mark.slow
def test_minilm_layers_audit(trec_small: object, tmp_path: Path) -> None:
    res = audit_layers("minilm", "minilm", trec_small, [2, 6], metrics=METRICS, out=tmp_path,
                       cache_root=tmp_path / "cache", progress=False)
    assert res.rows == res.cols == ["minilm@2", "minilm@6"]
    assert res.config["n_samples"] == res.config["n_available"] == N
    cka, proc = res.matrix("linear_cka"), res.matrix("procrustes")
    np.testing.assert_allclose(np.diag(cka), 1.0, atol=1e-5)  # a layer against itself
    np.testing.assert_allclose(np.diag(proc), 0.0, atol=1e-3)
    np.testing.assert_allclose(cka, cka.T, atol=1e-12)
    # Two different layers: related (well above what unrelated spaces give) but not the same space.
    assert 0.2 < cka[0, 1] < 0.99
    assert res.matrix("mutual_knn")[0, 1] > res.chance["mutual_knn"]
    assert np.all(np.diag(res.matrix("mutual_knn")) >= res.matrix("mutual_knn")[0, 1])
    _check_saved(res, tmp_path)
    assert "minilm@2 vs minilm@6" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_minilm_option_strings_reach_the_adapter(trec_small: object, tmp_path: Path) -> None:
    # all-MiniLM-L6 has 6 layers: layer=6 is the default last layer (same space), layer=2 is not.
    res = audit(encoders=["minilm", "minilm?layer=6", "minilm?layer=2"], dataset=trec_small,
                metrics=["linear_cka"], cache_root=tmp_path / "cache", progress=False)
    cka = res.matrix("linear_cka")
    assert cka[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert cka[0, 2] < 0.99
    assert res.config["encoders"]["minilm?layer=2"] == "minilm?layer=2"


def _rotated_pair(tmp_path: Path, ids: list[str], extra: int = 5) -> tuple[Path, Path, torch.Tensor]:
    """Two files of the same latents: ``b`` rotated, stored in reverse order and with ids of other samples."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(len(ids), 12, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_precomputed(a, ids, z, source="test")
    extra_ids = [f"not-in-dataset-{i}" for i in range(extra)]
    noise = torch.randn(extra, 12, generator=g, dtype=torch.float64)
    save_precomputed(b, [*ids[::-1], *extra_ids], torch.cat([(z @ q).flip(0), noise]))
    return a, b, z


def test_file_latents_are_aligned_by_sample_id(trec_small: object, tmp_path: Path) -> None:
    a, b, _ = _rotated_pair(tmp_path, trec_small.split_ids("test"))
    out = tmp_path / "out"
    res = audit(encoders={"A": f"file:{a}", "B": f"file:{b}"}, dataset=trec_small, metrics=METRICS, out=out,
                cache_root=tmp_path / "cache", progress=False)
    # Same samples up to a rotation: every rotation-invariant metric sees identical spaces, which it
    # could not if the reversed file's rows were paired by position instead of by id.
    np.testing.assert_allclose(res.matrix("linear_cka"), 1.0, atol=1e-5)
    np.testing.assert_allclose(res.matrix("procrustes"), 0.0, atol=2e-3)
    np.testing.assert_allclose(res.matrix("mutual_knn"), 1.0)
    _check_saved(res, out)


def test_file_latents_cli_on_a_transductive_graph(shared_data: Path, tmp_path: Path) -> None:
    from stitch.cli import main

    cora = load_dataset("cora", data_root=shared_data)
    a, b, _ = _rotated_pair(tmp_path, list(cora.ids))
    out = tmp_path / "out"
    rc = main(["audit", "--encoders", f"file:{a},file:{b}", "--dataset", "cora", "--data", str(shared_data),
               "--split", "test", "--n", "200", "--metrics", "linear_cka,procrustes", "--out", str(out),
               "--cache", str(tmp_path / "cache")])
    assert rc == 0
    saved = json.loads((out / "audit.json").read_text())
    assert saved["config"]["n_samples"] == 200 and saved["config"]["n_available"] == len(cora.split_ids("test"))
    np.testing.assert_allclose(np.array(saved["metrics"]["linear_cka"]["values"], dtype=float), 1.0, atol=1e-5)


def test_file_latents_missing_ids_are_named(trec_small: object, tmp_path: Path) -> None:
    ids = trec_small.split_ids("test")
    a = tmp_path / "a.safetensors"
    save_precomputed(a, ids[:-2], torch.randn(len(ids) - 2, 4))
    with pytest.raises(KeyError, match=rf"2 of {N} sample ids are not in a.safetensors"):
        audit(encoders=[f"file:{a}", f"file:{a}?batch_size=7"], dataset=trec_small, metrics=["linear_cka"],
              cache_root=tmp_path / "cache", progress=False)
