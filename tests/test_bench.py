"""``stitch bench``: the suites' arithmetic on a pair whose answer is known, each built-in suite on a tiny real
subset, a plugin's suite in the listing, and the command's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import stitch.bench.pairs
import stitch.bench.suites
from stitch.bench import BenchContext, BenchRow, get_suite, list_suites, run_suite
from stitch.bench.pairs import BenchPair, PairData
from stitch.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.usefixtures("rotated_pair")
def test_lst_rows_on_a_rotation_have_the_known_answer() -> None:
    rows = run_suite("lst", BenchContext(seeds=(0, 1), anchors=(40,))).rows
    assert [r.method for r in rows[:9]] == ["absolute", "relative", "affine", "linear", "orthogonal",
                                            "orthogonal, unpaired stats", "procrustes", "ridge", "auto"]
    assert {r.direction for r in rows} == {"B -> A head", "A -> B head"} and len(rows) == 18
    by = {(r.direction, r.method): r for r in rows}
    for direction in ("B -> A head", "A -> B head"):
        # a rotation is undone exactly by the orthogonal map and read exactly through cosine relative latents
        for method in ("procrustes", "relative", "auto"):
            assert by[direction, method].ratio == pytest.approx(1.0, abs=0.02), method
        assert by[direction, "procrustes"].ratio_std == pytest.approx(0.0, abs=0.02)
        # ... and a head on raw latents does not read the rotated ones: absolute does not stitch
        assert by[direction, "absolute"].ratio < 0.7
        assert by[direction, "affine"].published == 0.94 and by[direction, "affine"].source == "LST Table 1"
        assert by[direction, "affine"].gap == pytest.approx(round(by[direction, "affine"].ratio - 0.94, 3))
        assert by[direction, "orthogonal"].published is None  # no TREC ortho figure is quoted
        assert by[direction, "auto"].note.startswith("chose ")
    # least squares near pairs = dimensions is flagged on its row, once, not on stderr at every draw
    near = {r.method: r.note for r in run_suite("lst", BenchContext(seeds=(0, 1), anchors=(18,))).rows[:9]}
    assert near["affine"] == near["linear"] == "near the interpolation peak (18 pairs, 16 dimensions)"
    assert near["ridge"] == near["orthogonal"] == ""


@pytest.mark.usefixtures("rotated_pair")
def test_relreps_rows_on_a_rotation() -> None:
    rows = run_suite("relreps", BenchContext(seeds=(0, 1), anchors=(40,))).rows
    assert [r.method for r in rows[:6]] == ["absolute", "relative", "standardized", "mahalanobis", "k-means anchors",
                                            "FPS anchors"]
    for direction in ("B -> A head", "A -> B head"):
        by = {r.method: r for r in rows if r.direction == direction}
        # cosine to shared anchors is rotation invariant: the relative head reads the rotated encoder as its own
        assert by["relative"].ratio == pytest.approx(1.0, abs=0.02)
        assert by["absolute"].ratio < 0.7
        # the same model rotated holds the same information: the ceiling is 1 on every row of the direction
        assert len({r.ceiling for r in by.values()}) == 1 and by["relative"].ceiling == pytest.approx(1.0, abs=0.02)
        assert by["relative"].published == 0.86 and by["k-means anchors"].published is None
        assert all(r.ratio > 0.9 for r in by.values() if r.method != "absolute")


def test_the_ceiling_is_what_the_new_encoder_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new encoder that lost half its signal to noise caps every method near its own accuracy."""
    g = torch.Generator().manual_seed(1)
    centres = 0.5 * torch.randn(4, 16, generator=g, dtype=torch.float64)
    y = torch.arange(700) % 4
    a = centres[y] + torch.randn(700, 16, generator=g, dtype=torch.float64)
    b = torch.cat([a[:, :8], 4 * torch.randn(700, 8, generator=g, dtype=torch.float64)], dim=1)
    labels = y.numpy()
    data = PairData((a[:500], b[:500]), (a[500:], b[500:]), labels[:500], labels[500:], np.arange(300),
                    np.arange(300, 500))
    pair = BenchPair("x", ("a", "b"), ("A", "B"), None, None, 300)
    monkeypatch.setattr(stitch.bench.suites, "PAIRS", {"noisy": pair})
    monkeypatch.setattr(stitch.bench.suites, "load_pair", lambda pair, context: data)
    rows = run_suite("lst", BenchContext(seeds=(0,), anchors=(150,))).rows
    rows = [r for r in rows if r.direction == "B -> A head"]
    ceiling = rows[0].ceiling
    assert ceiling < 0.9 and {r.ceiling for r in rows} == {ceiling}
    assert max(r.ratio for r in rows if r.method != "relative") <= ceiling + 0.05


@pytest.mark.usefixtures("rotated_pair")
def test_stored_draws_are_read_back_and_a_changed_method_recomputes_only_its_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    methods = stitch.bench.suites.METHODS["bricks"]

    def counted(method: stitch.bench.suites.Method) -> stitch.bench.suites.Method:
        def fn(*args: object) -> tuple:
            calls.append(method.name)
            return method.fn(*args)
        return stitch.bench.suites.Method(method.name, fn, method.depends)

    monkeypatch.setitem(stitch.bench.suites.METHODS, "bricks", tuple(counted(m) for m in methods))
    context = BenchContext(seeds=(0, 1), anchors=(40,), cache_root=tmp_path, progress=False)
    first = run_suite("bricks", context)
    assert len(calls) == 2 * 2 * 5 and {r.reused for r in first.rows} == {0}
    calls.clear()
    again = run_suite("bricks", context)
    assert calls == [] and {r.reused for r in again.rows} == {2}
    assert [r.ratio for r in again.rows] == [r.ratio for r in first.rows]
    assert [r.seconds for r in again.rows] == [r.seconds for r in first.rows]  # the time it took when computed
    assert "; 20 of 20 draws read back from earlier runs" in again.summary()
    # a changed method (here: a new function in what it depends on) recomputes its draws and no other's
    changed = tuple(stitch.bench.suites.Method(m.name, m.fn, (*m.depends, counted)) if m.name == "l1" else m
                    for m in stitch.bench.suites.METHODS["bricks"])
    monkeypatch.setitem(stitch.bench.suites.METHODS, "bricks", changed)
    third = run_suite("bricks", context)
    assert calls == ["l1"] * 4 and {r.method: r.reused for r in third.rows if r.direction == "A -> B head"} == {
        "cosine": 2, "euclidean": 2, "l1": 0, "linf": 2, "product": 2}
    calls.clear()
    run_suite("bricks", BenchContext(seeds=(0, 1), anchors=(40,), cache_root=tmp_path, progress=False, reuse=False))
    assert len(calls) == 20  # --fresh
    # the options a method closes over are part of what defines it
    Method, translated = stitch.bench.suites.Method, stitch.bench.suites._translated
    assert Method("m", translated("ridge")).fingerprint() == Method("m", translated("ridge")).fingerprint()
    assert Method("m", translated("ridge")).fingerprint() != Method("m", translated("affine")).fingerprint()


@pytest.mark.usefixtures("rotated_pair")
def test_bricks_product_is_at_least_its_weakest_similarity() -> None:
    rows = run_suite("bricks", BenchContext(seeds=(0,), anchors=(40,))).rows
    assert [r.method for r in rows[:5]] == ["cosine", "euclidean", "l1", "linf", "product"]
    for direction in ("B -> A head", "A -> B head"):
        ratio = {r.method: r.ratio for r in rows if r.direction == direction}
        assert ratio["cosine"] == pytest.approx(1.0, abs=0.02) and ratio["euclidean"] == pytest.approx(1.0, abs=0.02)
        assert ratio["product"] >= min(ratio.values()) and all(r.published is None for r in rows)


def test_a_pair_that_cannot_load_is_a_skipped_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(pair: BenchPair, context: BenchContext) -> PairData:
        raise FileNotFoundError("model 'x' is not in the models root /m: looked for /m/x.safetensors")

    monkeypatch.setattr(stitch.bench.suites, "load_pair", missing)
    rows = run_suite("lst", BenchContext(pairs=("trec*",))).rows
    assert len(rows) == 1 and rows[0].ratio is None
    assert rows[0].note == "skipped: model 'x' is not in the models root /m: looked for /m/x.safetensors"


def test_a_plugin_suite_is_listed_and_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    from stitch import hookimpl
    from stitch.registry import register_plugin

    def mine(context: BenchContext) -> list[BenchRow]:
        return [BenchRow("mine", "toy", "x -> y head", "copy", 10, 0.9, 0.9, 0.0, 1.0, 0.0)]

    class Plugin:
        @hookimpl
        def stitch_register_bench_suites(self, register):  # noqa: ANN001, ANN201
            register("mine", mine, description="a third-party suite", reference="none")

    register_plugin(Plugin(), name="benchplug")
    try:
        assert "mine" in list_suites() and get_suite("mine").source == "benchplug"
        assert main(["bench", "--list"]) == 0
        assert "mine (plugin benchplug): a third-party suite" in capsys.readouterr().out
        assert main(["bench", "--suite", "mine", "--out", str(tmp_path), "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "toy      x -> y head  copy    10       0.900   0.900 ± 0.000  1.000 ± 0.000" in out
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv", "mine.json", "mine.png", "mine.txt"]
        saved = json.loads((tmp_path / "mine.json").read_text())
        assert saved["suite"] == "mine" and saved["rows"][0]["ratio"] == 1.0 and "torch" in saved["versions"]
        assert (tmp_path / "mine.csv").read_text().splitlines()[0].startswith("suite,dataset,direction,method")
    finally:
        from stitch.registry import reset_plugins

        reset_plugins()


def test_bench_errors_name_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert "no suite: pass --suite NAME (one of bricks, lst" in capsys.readouterr().err
    assert main(["bench", "--suite", "lts"]) == 2
    assert "unknown bench suite 'lts'; did you mean 'lst'?" in capsys.readouterr().err
    assert main(["bench", "--suite", "lst", "--pairs", "imagenet*"]) == 2
    assert "suite 'lst' ran no pair: --pairs 'imagenet*' matches none of its pairs" in capsys.readouterr().err
    assert main(["bench", "--suite", "lst", "--seeds", "a"]) == 2
    assert "--seeds takes comma-separated whole numbers of at least 0, got 'a'" in capsys.readouterr().err


@pytest.mark.slow
def test_each_suite_runs_on_a_tiny_real_subset(shared_data: Path, shared_models: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = BenchPair("trec", ("minilm", "hf:paraphrase-MiniLM-L3-v2"), ("MiniLM-L6", "MiniLM-L3"),
                     {"train": 400, "test": 150}, None, head=250)
    monkeypatch.setattr(stitch.bench.suites, "PAIRS", {"trec: tiny": tiny})
    context = BenchContext(data_root=shared_data, models_root=shared_models, cache_root=tmp_path, seeds=(0, 1),
                           anchors=(100,), progress=False)
    lst = {(r.direction, r.method): r for r in run_suite("lst", context).rows}
    bricks = {(r.direction, r.method): r for r in run_suite("bricks", context).rows}  # latents from the cache
    relreps = {(r.direction, r.method): r for r in run_suite("relreps", context).rows}
    assert len(lst) == 18 and len(bricks) == 10 and len(relreps) == 12
    for direction in ("MiniLM-L3 -> MiniLM-L6 head", "MiniLM-L6 -> MiniLM-L3 head"):
        assert 0.5 < lst[direction, "affine"].native <= 1.0
        # translating stitches; feeding one model's raw latents to the other's head does not
        assert lst[direction, "ridge"].ratio > lst[direction, "absolute"].ratio + 0.2
        assert all(0.0 < r.ratio < 1.3 for r in lst.values())
        assert bricks[direction, "cosine"].ratio > 0.4
        assert relreps[direction, "standardized"].ratio > relreps[direction, "absolute"].ratio + 0.15


def test_a_pair_trained_from_scratch_is_trained_once_and_its_anchors_come_from_its_pool(
        shared_data: Path, tmp_path: Path) -> None:
    train = {"epochs": 2, "lr": 1e-2}
    pair = BenchPair("cora", ("pyg:gcn?hidden_channels=16",) * 2, ("s0", "s1"), None, None, head=1.0, pool="val",
                     train=({"seed": 0, **train}, {"seed": 1, **train}))
    context = BenchContext(data_root=shared_data, cache_root=tmp_path, progress=False)
    data = stitch.bench.pairs.load_pair(pair, context)
    # the head learns from Cora's 140 labelled nodes; anchors come from the 500 validation nodes after them
    assert list(data.head_rows) == list(range(140)) and list(data.pool_rows) == list(range(140, 640))
    assert data.train[0].shape == (640, 16) and data.test[0].shape == (1000, 16)
    assert not torch.equal(data.train[0], data.train[1])  # two seeds, two encoders
    files = sorted((tmp_path / "bench-encoders").glob("*.safetensors"))
    assert len(files) == 2
    stamps = [f.stat().st_mtime_ns for f in files]
    again = stitch.bench.pairs.load_pair(pair, context)  # reused: same recipe, nothing trained again
    assert [f.stat().st_mtime_ns for f in files] == stamps and torch.equal(again.train[1], data.train[1])
    longer = BenchPair(**{**pair.__dict__, "train": ({"seed": 0, "epochs": 3, "lr": 1e-2}, pair.train[1])})
    stitch.bench.pairs.load_pair(longer, context)  # a changed schedule is a new recipe: trained, the old file kept
    assert len(list((tmp_path / "bench-encoders").glob("*.safetensors"))) == 3


def test_full_sizes_none_means_the_whole_splits(tmp_path: Path) -> None:
    ref = "timm:test_resnet?image_size=8&in_chans=1&crop_pct=1.0"
    pair = BenchPair("digits", (ref, ref + "&seed=1"), ("a", "b"), {"train": 100, "test": 50}, None, head=60)
    small = stitch.bench.pairs.load_pair(pair, BenchContext(cache_root=tmp_path, progress=False))
    whole = stitch.bench.pairs.load_pair(pair, BenchContext(cache_root=tmp_path, progress=False, full=True))
    assert small.train[0].shape[0] == 100 and small.test[1].shape[0] == 50
    assert whole.train[0].shape[0] == 1078 and whole.test[1].shape[0] == 359  # digits' whole splits
    assert len(whole.head_rows) == 60 and len(whole.pool_rows) == 1018


def test_a_suite_runs_on_encoders_the_user_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = ("timm:test_resnet?image_size=8&in_chans=1&crop_pct=1.0&seed=0",
            "timm:test_resnet?image_size=8&in_chans=1&crop_pct=1.0&seed=1")
    argv = ["bench", "--suite", "bricks", "--encoders", f"{a},{b}", "--dataset", "digits", "--anchors", "40",
            "--seeds", "0", "--cache", str(tmp_path), "--json", "--no-progress"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["direction"] for r in rows} == {f"{b} -> {a} head", f"{a} -> {b} head"} and len(rows) == 10
    assert all(r["dataset"] == "digits" and r["anchors"] == 40 and r["ratio"] is not None for r in rows)
    assert main(["bench", "--suite", "lst", "--encoders", a]) == 2
    assert "--encoders and --dataset go together" in capsys.readouterr().err
    assert main(["bench", "--suite", "lst", "--encoders", a, "--dataset", "digits"]) == 2
    assert f"a pair is two encoders, got ['{a}']; name them as --encoders A,B" in capsys.readouterr().err


@pytest.mark.usefixtures("rotated_pair")
def test_registering_or_running_a_malformed_suite_says_what_is_wrong() -> None:
    from stitch.bench import SUITES, register_suite

    with pytest.raises(TypeError, match=r"suite 'x': run must be a function of a BenchContext returning BenchRows, "
                                        r"got int"):
        register_suite("x", 3, description="d", source="test")
    with pytest.raises(ValueError, match=r"suite 'x': describe what it measures \(description=\.\.\.\)"):
        register_suite("x", lambda ctx: [], description="", source="test")
    register_suite("bad", lambda ctx: [{"ratio": 1.0}], description="rows as dicts", source="test")
    try:
        with pytest.raises(TypeError, match=r"suite 'test:bad' must return BenchRow objects, got \['dict'\]"):
            run_suite("test:bad", BenchContext())
    finally:
        SUITES.unregister_source("test")
    # more anchors than a pair's pool: that count's rows say so, the other counts run (a small pair must not stop
    # a --full run of every pair)
    rows = run_suite("lst", BenchContext(seeds=(0,), anchors=(40, 500))).rows
    big = [r for r in rows if r.anchors == 500]
    assert len(big) == 18 and all(r.ratio is None for r in big)
    assert big[0].note == ("500 anchors exceed this pair's pool of 200 samples the head did not learn from; pass "
                           "fewer with --anchors")
    assert all(r.ratio is not None for r in rows if r.anchors == 40)
