"""``stitch.audit``: matrices from latents, p-values and intervals, saved outputs, encoders through the
cache (a test plugin), layer x layer audits and the ``stitch audit`` command."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from stitch.audits import audit, audit_layers, compare
from stitch.encoder.refs import parse_encoder
from stitch.metrics import get_metric

N = 120


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def latents() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(N, 6, generator=g, dtype=torch.float64)
    return {
        "a": a,
        "b": torch.tanh(a @ torch.randn(6, 5, generator=g, dtype=torch.float64)),  # related to a
        "c": torch.randn(N, 4, generator=g, dtype=torch.float64),  # unrelated
    }


def test_compare_fills_every_cell_with_the_metric_value(latents: dict[str, torch.Tensor]) -> None:
    res = compare(latents, metrics=["linear_cka", "linear_r2", "procrustes"])
    assert res.rows == res.cols == ["a", "b", "c"]
    for name in res.metrics:
        m = get_metric(name)
        mat = res.matrix(name)
        for i, x in enumerate(res.rows):
            for j, y in enumerate(res.cols):
                assert mat[i, j] == pytest.approx(m(latents[x], latents[y], **m.defaults), abs=1e-12)
        np.testing.assert_allclose(np.diag(mat), m.best, atol=1e-6)
    assert np.allclose(res.matrix("linear_cka"), res.matrix("linear_cka").T)
    assert not np.allclose(res.matrix("linear_r2"), res.matrix("linear_r2").T)
    assert res.matrix("linear_cka")[0, 1] > res.matrix("linear_cka")[0, 2]


def test_compare_rectangular_and_defaults(latents: dict[str, torch.Tensor]) -> None:
    res = compare({"a": latents["a"]}, {"b": latents["b"], "c": latents["c"]}, metrics=["mutual_knn"],
                  metric_options={"mutual_knn": {"k": 5}})
    assert res.matrix("mutual_knn").shape == (1, 2)
    assert res.options["mutual_knn"] == {"k": 5, "metric": "euclidean"}
    assert res.chance["mutual_knn"] == pytest.approx(get_metric("mutual_knn").chance(N, {"k": 5}))
    assert "stitching_score" not in compare({"a": latents["a"], "b": latents["b"]}, metrics=None).metrics


def test_permutation_p_values_and_bootstrap_intervals(latents: dict[str, torch.Tensor]) -> None:
    res = compare(latents, metrics=["linear_cka", "gromov_wasserstein"], permutations=19, bootstrap=20, seed=1,
                  metric_options={"gromov_wasserstein": {"max_samples": 40}})
    p = res.p_values["linear_cka"]
    assert p[0, 1] == pytest.approx(1 / 20)  # related: no shuffle does as well
    assert p[0, 2] > 0.05  # unrelated
    assert np.isnan(p[0, 0]) and np.isnan(res.p_values["gromov_wasserstein"][0, 1])  # diagonal; unpaired metric
    lo, hi, v = res.ci_low["linear_cka"], res.ci_high["linear_cka"], res.matrix("linear_cka")
    assert lo[0, 1] <= v[0, 1] <= hi[0, 1] and lo[0, 1] < hi[0, 1]
    again = compare(latents, metrics=["linear_cka"], permutations=19, bootstrap=20, seed=1)
    np.testing.assert_array_equal(again.ci_low["linear_cka"], lo)  # seeded


def test_undefined_cells_are_blank_with_their_reason(latents: dict[str, torch.Tensor], tmp_path: Path) -> None:
    wide = {**latents, "wide": torch.randn(N, N + 10, generator=torch.Generator().manual_seed(5))}
    res = audit(wide, metrics=["mean_cca", "linear_cka"], out=tmp_path)
    cca = res.matrix("mean_cca")
    assert np.isnan(cca[3]).all() and np.isnan(cca[:, 3]).all() and np.isfinite(cca[:3, :3]).all()
    assert "rank-deficient" in res.errors["mean_cca"]["a vs wide"]
    assert np.isfinite(res.matrix("linear_cka")).all()
    report = (tmp_path / "report.md").read_text()
    # One line per reason, naming every cell it blanks.
    assert "- undefined for a vs wide, b vs wide, c vs wide: mean_cca: y is rank-deficient" in report
    assert "- undefined for wide vs wide: mean_cca: x is rank-deficient" in report
    only_wide = audit({"wide": wide["wide"], "wide2": 2 * wide["wide"]}, metrics=["mean_cca"]).report()
    assert "- undefined for every pair: mean_cca: x is rank-deficient" in only_wide
    assert "| mean_cca | n/a | n/a | invariant to every invertible linear map" in only_wide  # no pair to name
    assert json.loads((tmp_path / "mean_cca.json").read_text())["values"][3][0] is None
    # undefined for every pair: a line that says why, no empty heatmap
    out = tmp_path / "wide"
    audit({"wide": wide["wide"], "wide2": 2 * wide["wide"]}, metrics=["mean_cca", "linear_cka"], out=out)
    report = (out / "report.md").read_text()
    assert not (out / "mean_cca.png").exists() and "![mean_cca]" not in report
    assert (out / "linear_cka.png").exists() and "![linear_cka](linear_cka.png)" in report
    assert "One pair of models: nothing to rank; read each measure's value against its range" in report


def test_the_verdict_names_what_the_measures_agree_on(latents: dict[str, torch.Tensor]) -> None:
    from stitch.audits.report import verdict_markdown

    res = audit(latents, metrics=["linear_cka", "procrustes", "mutual_knn", "svcca"])
    c = res.consensus()
    # b is a nonlinear map of a, c is unrelated: every measure puts a-b first and a pair with c last
    assert c["pairs"][0] == {"pair": "a vs b", "consensus": 1.0, "first": 4, "last": 0, "measures": 4}
    assert {p["pair"] for p in c["pairs"][1:]} == {"a vs c", "b vs c"}
    assert c["agreement"] is not None and c["agreement"] > 0.4 and c["skipped"] == {}
    # a distance ranks in its own direction: read as a score, procrustes alone would put a-b last
    flipped = audit(latents, metrics=["procrustes"])
    flipped.declarations["procrustes"] = {**flipped.declarations["procrustes"], "kind": "score"}
    assert flipped.consensus()["pairs"][-1]["pair"] == "a vs b"
    text = verdict_markdown(res)
    assert text.splitlines()[2].startswith("Most similar by consensus: **a vs b** (first for 4/4 measures)")
    report = res.report()
    assert report.index("## Verdict") < report.index("## Summary")
    # the caveat column: SVCCA's known failure mode beside its value, none for CKA
    svcca_row = next(line for line in report.splitlines() if line.startswith("| svcca |"))
    assert "can rank an unrelated model above a related one" in svcca_row
    assert next(line for line in report.splitlines() if line.startswith("| linear_cka |")).endswith("| - |")


def test_ties_are_not_named_as_most_and_least_similar() -> None:
    from stitch.audits import AuditResult

    res = AuditResult(list("abc"), list("abc"), {"linear_cka": np.ones((3, 3))},
                      {"linear_cka": get_metric("linear_cka").to_dict()}, {"linear_cka": {}}, {"linear_cka": None})
    assert "| linear_cka | every pair ties (1.000) | - | - |" in res.report()
    assert res.consensus()["agreement"] is None  # one measure: nothing to agree with


def test_compare_errors(latents: dict[str, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match=r"all latents must hold the same paired samples, got row counts "
                                         r"\{'a': 120, 'short': 50\}"):
        compare({"a": latents["a"], "short": latents["b"][:50]})
    with pytest.raises(ValueError, match=r"metric 'stitching_score' needs labels"):
        compare(latents, metrics=["stitching_score"])
    with pytest.raises(ValueError, match=r"metric_options given for \['rbf_cka'\]"):
        compare(latents, metrics=["linear_cka"], metric_options={"rbf_cka": {"threshold": 2.0}})
    with pytest.raises(LookupError, match=r"unknown metric 'cka'"):
        compare(latents, metrics=["cka"])


def test_audit_aligns_ids_and_subsamples_deterministically(latents: dict[str, torch.Tensor]) -> None:
    ids = [f"s{i}" for i in range(N)]
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    shuffled = {"a": latents["a"], "b": latents["b"][perm]}
    res = audit(shuffled, ids={"a": ids, "b": [ids[i] for i in perm]}, metrics=["linear_cka"])
    assert res.matrix("linear_cka")[0, 1] == pytest.approx(compare(latents, metrics=["linear_cka"]).matrix(
        "linear_cka")[0, 1])
    with pytest.raises(ValueError, match=r"different samples"):
        audit(shuffled, ids={"a": ids, "b": ["x", *ids[1:]]}, metrics=["linear_cka"])
    sub = audit(latents, metrics=["linear_cka"], n=50, seed=3)
    assert sub.config["n_samples"] == 50 and sub.config["n_available"] == N
    assert sub.matrix("linear_cka")[0, 1] == audit(latents, metrics=["linear_cka"], n=50, seed=3).matrix(
        "linear_cka")[0, 1]
    with pytest.raises(ValueError, match=r"pass either latents=\{model: tensor\} or encoders"):
        audit()


def test_saved_outputs(latents: dict[str, torch.Tensor], tmp_path: Path) -> None:
    res = audit(latents, metrics=["linear_cka", "mutual_knn"], permutations=5, out=tmp_path / "out")
    out = tmp_path / "out"
    for name in ("linear_cka", "mutual_knn"):
        record = json.loads((out / f"{name}.json").read_text())
        assert record["rows"] == ["a", "b", "c"] and record["declaration"]["kind"] == "score"
        np.testing.assert_allclose(np.array(record["values"], dtype=float), res.matrix(name))
        assert record["p_values"][0][0] is None  # NaN cells are written as null
        with open(out / f"{name}.csv") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["model", "a", "b", "c"]
        assert float(rows[2][1]) == res.matrix(name)[1, 0]
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "## linear_cka" in report and "![mutual_knn](mutual_knn.png)" in report
    assert "Chance level (unrelated spaces)" in report and "(p=" in report
    assert json.loads((out / "audit.json").read_text())["config"]["permutations"] == 5


def test_parse_encoder() -> None:
    assert parse_encoder("toy?scale=2.5&flip=true&tag=x") == ("toy", {"scale": 2.5, "flip": True, "tag": "x"})
    with pytest.raises(ValueError, match=r"encoder option 'layer' in 'toy\?layer' is not of the form key=value"):
        parse_encoder("toy?layer")


# -- encoders and datasets through a test plugin ----------------------------------------------------------
class _Plugin:
    """Encoders ``lin`` (a fixed random linear map, options ``scale`` and ``layer``) and a ``blobs`` dataset."""

    from stitch import hookimpl

    @hookimpl
    def stitch_register_encoders(self, register):  # type: ignore[no-untyped-def]
        from stitch.encoder import BaseEncoder, EncoderSpec

        class Linear(BaseEncoder):
            def __init__(self, seed: int = 0, scale: float = 1.0, layer: int = 0) -> None:
                super().__init__(EncoderSpec(f"lin{seed}", "tabular", "linear", dim=5,
                                             options={"seed": seed, "scale": scale, "layer": layer}))
                self.w = torch.randn(8, 5, generator=torch.Generator().manual_seed(seed)) * scale
                self.layer = layer

            def _load(self) -> None:
                pass

            def _prepare(self, inputs):  # type: ignore[no-untyped-def]
                return torch.as_tensor(np.asarray(inputs), dtype=torch.float32)

            def _encode_batch(self, batch: torch.Tensor) -> torch.Tensor:
                z = batch @ self.w
                return torch.tanh(z) if self.layer % 2 else z

        register(EncoderSpec("lin", "tabular", "a linear test encoder", dim=5), Linear)

    @hookimpl
    def stitch_register_datasets(self, register):  # type: ignore[no-untyped-def]
        from stitch.data import Dataset

        def blobs(*, root=None):  # type: ignore[no-untyped-def]
            g = np.random.default_rng(0)
            labels = np.arange(90) % 3
            x = (g.normal(size=(3, 8)) * 3)[labels] + g.normal(size=(90, 8))
            return Dataset("blobs", "tabular", x.astype(np.float32), labels, ("a", "b", "c"),
                           tuple(f"b{i}" for i in range(90)), {"train": np.arange(30), "test": np.arange(30, 90)})

        register("blobs", blobs, modality="tabular", description="three Gaussian blobs")

    @hookimpl
    def stitch_register_metrics(self, register):  # type: ignore[no-untyped-def]
        def first_unit_corr(x: torch.Tensor, y: torch.Tensor) -> float:
            return float(np.corrcoef(x[:, 0].numpy(), y[:, 0].numpy())[0, 1])

        register("first_unit_corr", first_unit_corr, kind="score", range=(-1.0, 1.0), symmetric=True,
                 invariances=("translation",), description="correlation of the first units")


@pytest.fixture
def plugin() -> object:
    from stitch.registry import register_plugin, reset_plugins

    register_plugin(_Plugin(), "audit-test")
    yield
    reset_plugins()


def test_audit_encodes_through_the_cache(plugin: object, tmp_path: Path) -> None:
    from stitch.encoder.cache import LatentCache

    res = audit(encoders=["lin", "lin?scale=3", "lin?seed=1"], dataset="blobs", metrics=["linear_cka",
                "stitching_score"], cache_root=tmp_path, metric_options={"stitching_score": {"n_anchors": 10}})
    cka = res.matrix("linear_cka")
    assert cka[0, 1] == pytest.approx(1.0)  # same map, scaled
    assert cka[0, 2] < 0.999
    assert res.config["dataset"] == "blobs" and res.config["split"] == "test" and res.config["n_samples"] == 60
    assert "stitching_score" in res.metrics  # dataset labels were used
    assert len(LatentCache(tmp_path).list()) == 3
    audit(encoders=["lin", "lin?scale=3"], dataset="blobs", metrics=["linear_cka"], cache_root=tmp_path)
    assert len(LatentCache(tmp_path).list()) == 3  # served from the cache


def test_plugin_metric_joins_the_audit(plugin: object, latents: dict[str, torch.Tensor]) -> None:
    m = get_metric("audit-test:first_unit_corr")
    assert (m.kind, m.symmetric, m.description) == ("score", True, "correlation of the first units")
    res = compare(latents, metrics=["first_unit_corr", "linear_cka"])
    a, b = latents["a"][:, 0].numpy(), latents["b"][:, 0].numpy()
    assert res.matrix("first_unit_corr")[0, 1] == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert res.declarations["first_unit_corr"]["invariances"] == ["translation"]


def test_audit_layers(plugin: object, tmp_path: Path) -> None:
    res = audit_layers("lin", "lin?seed=1", "blobs", [0, 1], metrics=["linear_cka"], cache_root=tmp_path)
    assert res.rows == ["lin@0", "lin@1"] and res.cols == ["lin?seed=1@0", "lin?seed=1@1"]
    assert res.matrix("linear_cka").shape == (2, 2)
    same = audit_layers("lin", "lin", "blobs", [0, 1], metrics=["linear_cka"], cache_root=tmp_path)
    assert np.diag(same.matrix("linear_cka")) == pytest.approx([1.0, 1.0])


def test_cli_audit_from_flags_and_toml(plugin: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stitch.cli import main

    out = tmp_path / "flags"
    rc = main(["audit", "--encoders", "lin,lin?seed=1", "--encoders", "lin?seed=2", "--dataset", "blobs",
               "--metrics", "linear_cka,mutual_knn", "--option", "mutual_knn.k=5", "--n", "40",
               "--cache", str(tmp_path / "cache"), "--out", str(out)])
    assert rc == 0
    record = json.loads((out / "mutual_knn.json").read_text())
    assert record["rows"] == ["lin", "lin?seed=1", "lin?seed=2"] and record["options"]["k"] == 5
    assert (out / "report.md").exists() and (out / "linear_cka.png").exists()

    cfg = tmp_path / "audit.toml"
    cfg.write_text(f"""
dataset = "blobs"
metrics = ["procrustes"]
out = "{(tmp_path / 'toml').as_posix()}"
cache = "{(tmp_path / 'cache').as_posix()}"
[encoders]
first = "lin"
second = {{ name = "lin", options = {{ seed = 1 }} }}
""")
    assert main(["audit", "--config", str(cfg)]) == 0
    assert json.loads((tmp_path / "toml" / "procrustes.json").read_text())["rows"] == ["first", "second"]

    assert main(["audit", "--config", str(cfg), "--layers", "0,1", "--out", str(tmp_path / "layers")]) == 0
    assert json.loads((tmp_path / "layers" / "procrustes.json").read_text())["cols"] == ["lin?seed=1@0",
                                                                                         "lin?seed=1@1"]

    old = cfg.read_text().replace("options = { seed = 1 }", "seed = 1")  # the spelling before audit files' syntax
    cfg.write_text(old.replace("toml", "old-toml"))
    capsys.readouterr()
    with warnings.catch_warnings():  # the CLI prints warnings as lines; tests otherwise raise deprecations
        warnings.simplefilter("default", DeprecationWarning)
        assert main(["audit", "--config", str(cfg)]) == 0
    assert ("stitch: warning: options beside name in encoders.second (seed) is deprecated and will be removed in "
            "latent-stitch 0.3; write second = { name = 'lin', options = { ... } }") in capsys.readouterr().err
    assert json.loads((tmp_path / "old-toml" / "procrustes.json").read_text())["rows"] == ["first", "second"]

    cfg.write_text('dataset = "blobs"\nencoder = ["lin"]\n')
    assert main(["audit", "--config", str(cfg)]) == 2
    assert "encoder: unknown field (did you mean 'encoders'?)" in capsys.readouterr().err
    assert main(["audit", "--dataset", "blobs", "--out", str(out)]) == 2
    assert "no encoders: pass --encoders A,B" in capsys.readouterr().err
    assert main(["audit", "--encoders", "lin", "--dataset", "blobs", "--option", "k=5", "--out", str(out)]) == 2
    assert "--option 'k=5' is not of the form METRIC.KEY=VALUE" in capsys.readouterr().err
