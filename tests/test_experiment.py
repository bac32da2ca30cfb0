"""The stitching matrix on synthetic encoders: qualitative picture, result shape, reports, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import stitch.experiment.decoders
from stitch.experiment.config import AnchorConfig, DecoderConfig, SpaceConfig
from stitch.experiment.report import format_summary, write_report
from stitch.experiment.matrix import compute_row, plan_rows, prepare_latents, stitching_matrix
from stitch.experiment.results import CellStore, ExperimentResult, summarize

SPACES = ["absolute", "relative:cosine", "translate:procrustes", "translate:ot"]
DECODER = DecoderConfig(kind="linear", epochs=25, lr=1e-2, patience=5)
ANCHORS = AnchorConfig(n=40, strategy="random", seed=0)


Latents = dict[str, tuple[torch.Tensor, torch.Tensor]]


def _encoders(n: int = 700, n_train: int = 500, d: int = 12, k: int = 5) -> tuple[Latents, torch.Tensor]:
    """Three 'encoders' of one latent geometry: isometries (plus a scale) of the same clustered points."""
    g = torch.Generator().manual_seed(0)
    centers = 3 * torch.randn(k, d, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g)
    out = {}
    for i, scale in enumerate((1.0, 1.0, 3.0)):
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
        z = scale * x @ q
        out[f"E{i}"] = (z[:n_train], z[n_train:])
    return out, y


@pytest.fixture(scope="module")
def matrix() -> tuple[list[dict], dict, torch.Tensor]:
    lat, y = _encoders()
    cells, anchors = stitching_matrix(
        lat, y[:500], y[500:], SPACES, decoder=DECODER, anchors=ANCHORS, seeds=[0, 1],
        groups={"E0": "a", "E1": "a", "E2": "b"}, train_ids=[f"s{i}" for i in range(500)],
    )
    return cells, anchors, y


def test_matrix_shape_and_records(matrix) -> None:
    cells, anchors, _ = matrix
    assert len(cells) == len(SPACES) * 2 * 3 * 3  # spaces x seeds x decoder encoders x test encoders
    first = cells[0]
    for key in ("space", "seed", "anchor_seed", "decoder_encoder", "test_encoder", "stitched", "accuracy", "macro_f1"):
        assert key in first
    assert sum(not c["stitched"] for c in cells) == len(SPACES) * 2 * 3
    assert set(anchors) == {0, 1} and len(anchors[0]["indices"]) == 40
    assert anchors[0]["ids"] == [f"s{i}" for i in anchors[0]["indices"]]
    assert anchors[0]["indices"] != anchors[1]["indices"]  # run seeds draw different anchors
    ot = [c for c in cells if c["space"] == "translate:ot"]
    assert all(c["anchors_to_recover"] == 30 for c in ot)  # 40 anchors, 10 known pairs by default


def test_qualitative_picture(matrix) -> None:
    cells, _, _ = matrix
    s = summarize(cells, "accuracy")
    assert all(v["diagonal_mean"] > 0.9 for v in s.values())
    assert s["absolute"]["stitched_mean"] < 0.45  # 5 classes: chance is 0.2
    for space in ("relative:cosine", "translate:procrustes", "translate:ot"):
        assert s[space]["stitched_mean"] > 0.9, space
    assert s["translate:ot"]["anchors_recovered_fraction"] == 1.0


def test_discovered_anchors_stitch_like_the_true_ones_and_a_wrong_pairing_does_not() -> None:
    lat, y = _encoders()
    anchors = AnchorConfig(n=40, strategy="random", seed=0, discover={"known": 0})
    cells, records = stitching_matrix(lat, y[:500], y[500:], ["relative:cosine"], decoder=DECODER, anchors=anchors)
    record = records[0]
    assert record["discover"] == {"known": 0, "method": "auto"}
    assert {a: sorted(b) for a, b in record["matchings"].items()} == {"E0": ["E1", "E2"], "E1": ["E2"]}
    stitched = [c for c in cells if c["stitched"]]
    assert len(stitched) == 6
    assert all(c["anchors_recovered"] == c["anchors_to_recover"] == 40 and c["match_confidence"] > 0.8
               and c["match_reliability"] == 1.0 for c in stitched)
    assert not any("anchors_recovered" in c for c in cells if not c["stitched"])
    summary = summarize(cells, "accuracy")["relative:cosine"]
    assert summary["stitched_mean"] > 0.9 and summary["anchors_recovered_fraction"] == 1.0
    assert summary["match_reliability"] == 1.0
    # the target spaces are built on the partners: a wrong pairing of the anchors breaks stitching
    g = torch.Generator().manual_seed(1)
    wrong = {a: {b: {**rec, "partners": torch.randperm(40, generator=g).tolist()} for b, rec in row.items()}
             for a, row in record["matchings"].items()}
    task = plan_rows(list(lat), [SpaceConfig(name="relative:cosine")], [0], decoder=DECODER, anchors=anchors,
                     fingerprint=None)[0]
    z, y_train, y_test = prepare_latents(lat, y[:500], y[500:])
    row = compute_row(task, z, y_train, y_test, {**record, "matchings": wrong}, decoder=DECODER)
    assert all(c["accuracy"] < 0.6 for c in row if c["stitched"])


def test_a_run_limits_torch_and_the_blas_pools_alike() -> None:
    import numpy as np  # noqa: F401  (loads its BLAS, so threadpoolctl sees it)
    from threadpoolctl import threadpool_info, threadpool_limits

    from stitch.utils.threads import cpu_threads

    blas = lambda: {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}  # noqa
    with threadpool_limits(2):  # two threads to start from, whatever the environment set
        before, torch_before = blas(), torch.get_num_threads()
        assert before and set(before.values()) == {2}, "numpy's BLAS should be visible to threadpoolctl"
        with cpu_threads(1):
            assert torch.get_num_threads() == 1 and set(blas().values()) == {1}
        assert blas() == before and torch.get_num_threads() == torch_before  # restored


def test_free_cores_are_the_usable_cores_minus_the_tasks_running_elsewhere(monkeypatch) -> None:
    import os

    import stitch.utils.threads as threads

    class Files:  # /proc/stat with `running` runnable tasks (this process included); no cgroup quota
        running = 1

        def __init__(self, path: str) -> None:
            self.path = path

        def read_text(self) -> str:
            if self.path == "/proc/stat":
                return f"cpu  1 2 3 4\nprocs_running {Files.running}\nprocs_blocked 9\n"
            return "max 100000"

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.setattr(threads, "Path", Files)
    for running, free in [(1, 4), (2, 3), (4, 1), (9, 1)]:
        Files.running = running
        assert threads.free_cores() == free, running
    # without /proc: the load average
    gone = type("Gone", (), {"read_text": lambda self: open("/nonexistent")})
    monkeypatch.setattr(threads, "Path", lambda path: gone())
    monkeypatch.setattr(os, "getloadavg", lambda: (2.4, 0.0, 0.0))
    assert threads.busy_elsewhere() == 2
    # a container given 1.5 CPUs of the host: 2 usable cores, whatever the affinity mask says
    monkeypatch.setattr(threads, "Path", lambda path: type("Quota", (), {"read_text": lambda self: "150000 100000"})())
    assert threads.usable_cores() == 2


def test_long_commands_run_with_the_threads_flag_else_the_free_cores(monkeypatch, capsys) -> None:
    import stitch.cli.encode
    import stitch.utils.threads
    from stitch.cli import main

    seen = []
    monkeypatch.setattr(stitch.cli.encode, "run", lambda args: seen.append(torch.get_num_threads()))
    monkeypatch.setattr(stitch.utils.threads, "free_cores", lambda: 3)
    before = torch.get_num_threads()
    assert main(["encode", "--encoders", "minilm", "--dataset", "trec", "--threads", "2"]) == 0
    assert main(["encode", "--encoders", "minilm", "--dataset", "trec"]) == 0
    assert seen == [2, 3] and torch.get_num_threads() == before
    assert main(["encode", "--encoders", "minilm", "--dataset", "trec", "--threads", "-1"]) == 2
    assert "argument --threads: expected a positive whole number of threads, got '-1'" in capsys.readouterr().err


def test_heatmaps_share_one_colour_range_unless_asked(matrix, tmp_path: Path, monkeypatch) -> None:
    import numpy as np

    import stitch.experiment.report as report

    cells, anchors, _ = matrix
    result = ExperimentResult(name="synthetic", task="classification", metric="accuracy", greater_is_better=True,
                              encoders=["E0", "E1", "E2"], spaces=SPACES, seeds=[0, 1], cells=cells,
                              summary=summarize(cells, "accuracy"), anchors=anchors)
    ranges = []
    monkeypatch.setattr(report, "save_heatmap", lambda *a, vmin=None, vmax=None, **k: ranges.append((vmin, vmax)))
    write_report(result, tmp_path / "shared")
    values = np.concatenate([result.matrix(s)[0].ravel() for s in SPACES])
    assert ranges == [(values.min(), values.max())] * len(SPACES)  # 0.3 reads the same colour in every space
    ranges.clear()
    write_report(result, tmp_path / "own", shared_colors=False)
    assert ranges == [(None, None)] * len(SPACES)


def test_summary_reduces_over_seeds() -> None:
    cells = [
        {"space": "s", "seed": seed, "decoder_encoder": a, "test_encoder": b, "stitched": a != b,
         "decoder_group": a, "test_group": b, "accuracy": (0.9 if a == b else 0.3 + 0.2 * seed)}
        for seed in (0, 1) for a in "AB" for b in "AB"
    ]
    s = summarize(cells, "accuracy")["s"]
    assert s["diagonal_mean"] == pytest.approx(0.9) and s["diagonal_std"] == pytest.approx(0.0)
    assert s["stitched_mean"] == pytest.approx(0.4) and s["stitched_std"] == pytest.approx(0.1)
    assert s["cross_group_mean"] == pytest.approx(0.4)
    assert s["same_group_mean"] is None  # no same-group stitched pair


def test_report_files(matrix, tmp_path: Path) -> None:
    cells, anchors, _ = matrix
    result = ExperimentResult(
        name="synthetic", task="classification", metric="accuracy", greater_is_better=True,
        encoders=["E0", "E1", "E2"], spaces=SPACES, seeds=[0, 1], cells=cells,
        summary=summarize(cells, "accuracy"), anchors=anchors, chance=0.2, versions={"torch": torch.__version__},
    )
    files = write_report(result, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([
        "results.json", "results.csv", "report.md", "stitched_bars.png", "heatmap_absolute.png",
        "heatmap_relative_cosine.png", "heatmap_translate_procrustes.png", "heatmap_translate_ot.png",
    ])
    data = json.loads(files["json"].read_text())
    assert len(data["cells"]) == len(cells) and data["anchors"]["0"]["ids"][0].startswith("s")
    assert len(files["csv"].read_text().splitlines()) == len(cells) + 1
    report = files["report"].read_text()
    assert "| decoder \\ encoder | E0 | E1 | E2 |" in report and "![absolute](heatmap_absolute.png)" in report
    mean, std = result.matrix("absolute")
    assert mean.shape == (3, 3) and (mean.diagonal() > 0.9).all()
    summary = format_summary(result)
    assert summary.splitlines()[0] == "synthetic: accuracy (mean ± std over 2 seeds; chance 0.200)"
    assert "translate:ot (discovered anchors: 100% of pairs recovered, reliability 1.00)" in summary
    assert summary.splitlines()[-2:] == [
        "same group: stitched pairs of one group (architecture, other seed); cross group: pairs of two groups.",
        "chance level (guessing uniformly at random, 1 / number of classes): 0.200",
    ]
    with pytest.raises(ValueError, match="no space 'relative:l1' in this result"):
        result.matrix("relative:l1")


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_gives_the_same_results(tmp_path: Path, monkeypatch) -> None:
    lat, y = _encoders(n=400, n_train=300)
    kwargs = dict(decoder=DecoderConfig(kind="linear", epochs=5), anchors=AnchorConfig(n=20), seeds=[0],
                  fingerprint="synthetic")
    spaces = ["absolute", "relative:cosine"]
    store_path = tmp_path / "cells.jsonl"

    fits = {"n": 0}
    real_fit = stitch.experiment.decoders.Decoder.fit

    def failing_fit(self, z, y):
        fits["n"] += 1
        if fits["n"] == 4:
            raise _Interrupt
        return real_fit(self, z, y)

    monkeypatch.setattr(stitch.experiment.decoders.Decoder, "fit", failing_fit)
    with pytest.raises(_Interrupt):
        stitching_matrix(lat, y[:300], y[300:], spaces, store=CellStore(store_path), **kwargs)
    assert len(CellStore(store_path)) == 3  # three rows finished before the interruption
    with open(store_path, "a") as f:
        f.write('{"key": "torn')  # a line cut short by the crash is ignored

    fits["n"] = 100  # no more failures; count the decoders the resumed run trains
    resumed, _ = stitching_matrix(lat, y[:300], y[300:], spaces, store=CellStore(store_path), **kwargs)
    assert fits["n"] == 103  # only the 3 unfinished rows are trained
    monkeypatch.setattr(stitch.experiment.decoders.Decoder, "fit", real_fit)
    fresh, _ = stitching_matrix(lat, y[:300], y[300:], spaces, **kwargs)
    assert [c["accuracy"] for c in resumed] == [c["accuracy"] for c in fresh]

    # a finished run re-runs without training anything; a changed setting recomputes
    fits["n"] = 0
    monkeypatch.setattr(stitch.experiment.decoders.Decoder, "fit", failing_fit)
    stitching_matrix(lat, y[:300], y[300:], spaces, store=CellStore(store_path), **kwargs)
    assert fits["n"] == 0
    fits["n"] = 100
    kwargs["decoder"] = DecoderConfig(kind="linear", epochs=6)
    stitching_matrix(lat, y[:300], y[300:], spaces, store=CellStore(store_path), **kwargs)
    assert fits["n"] == 106


def test_matrix_input_errors() -> None:
    lat, y = _encoders(n=300, n_train=200)
    bad = {"E0": lat["E0"], "E1": (lat["E1"][0][:-1], lat["E1"][1])}
    with pytest.raises(ValueError, match="encoder 'E1' has 199 train / 100 test rows but 'E0' has 200 / 100"):
        stitching_matrix(bad, y[:200], y[200:], ["absolute"])
    with pytest.raises(ValueError, match="got 199 train / 100 test targets for 200 / 100 latent rows"):
        stitching_matrix(lat, y[:199], y[200:], ["absolute"])
    with pytest.raises(ValueError, match="latents is empty"):
        stitching_matrix({}, y, y, ["absolute"])


def test_trainable_product_aggregation_and_reconstruction_in_the_matrix() -> None:
    lat, y = _encoders(n=400, n_train=300)
    lat = {k: lat[k] for k in ("E0", "E2")}
    space = {"name": "product:cosine,euclidean", "label": "product-attention", "options": {"aggregation": "attention"}}
    decoder = DecoderConfig(kind="mlp", epochs=15, hidden=32, lr=1e-2)
    cells, _ = stitching_matrix(lat, y[:300], y[300:], [space], decoder=decoder, anchors=AnchorConfig(n=30))
    assert {c["space"] for c in cells} == {"product-attention"}
    assert min(c["accuracy"] for c in cells) > 0.8

    # reconstruction: targets are inputs; a relative space transfers, the absolute one does not
    x = lat["E0"][0]
    cells, _ = stitching_matrix(lat, x, lat["E0"][1], ["absolute", "relative:euclidean"],
                                decoder=DecoderConfig(kind="reconstruction", epochs=25, hidden=64, lr=1e-2),
                                anchors=AnchorConfig(n=60))
    s = summarize(cells, "mse")
    assert set(cells[0]) >= {"mse"} and "accuracy" not in cells[0]
    assert s["relative:euclidean"]["stitched_mean"] < 0.5 * s["absolute"]["stitched_mean"]


def test_same_seed_pairs_are_reported_apart_when_asked():
    seeds = {"gcn-s0": 0, "gcn-s1": 1, "gat-s0": 0, "gat-s1": 1}
    # a shared-initialisation confound: cross-architecture pairs of the same run seed stitch, the others do not
    cells = [{"space": "absolute", "seed": 0, "decoder_encoder": a, "test_encoder": b, "stitched": a != b,
              "decoder_group": a[:3], "test_group": b[:3], "decoder_train_seed": seeds[a], "test_train_seed": seeds[b],
              "accuracy": 0.8 if a == b else 0.7 if a[:3] != b[:3] and seeds[a] == seeds[b] else 0.1}
             for a in seeds for b in seeds]
    s = summarize(cells, "accuracy")["absolute"]
    assert s["cross_same_seed_mean"] == pytest.approx(0.7) and s["cross_other_seed_mean"] == pytest.approx(0.1)
    assert s["cross_group_mean"] == pytest.approx(0.4)  # the two regimes averaged: why they are reported apart
    args = ("t", "classification", "accuracy", True, list(seeds), ["absolute"], [0], cells, {"absolute": s}, {})
    assert "cross, same seed" not in format_summary(ExperimentResult(*args))
    table = format_summary(ExperimentResult(*args, config={"report_same_seed": True}))
    header, _, row = table.splitlines()[1:4]
    assert header.split()[-6:] == ["cross,", "same", "seed", "cross,", "other", "seeds"]
    assert row.split()[-6:] == ["0.700", "±", "n/a", "0.100", "±", "n/a"]
