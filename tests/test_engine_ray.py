"""The Ray engine: same numbers as local, normal cache entries, resume across engines, node loss, bad input.

Ray is started inside the tests (a local instance, or a simulated cluster), never over the network. Skipped
where Ray is not installed (``pip install latent-stitch[ray]``); CI installs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from safetensors.torch import load_file  # noqa: E402

from stitch.cli import main  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine():  # noqa: ANN201 - a RayEngine
    from stitch.engine import create_engine

    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield create_engine("ray")
    ray.shutdown()


def _tiny(out: Path, seeds: list[int] | None = None) -> dict:
    # Two random-init timm encoders on digits (no training: seconds), three spaces, linear decoders.
    enc = {"name": "timm:test_resnet", "options": {"image_size": 8, "in_chans": 1, "crop_pct": 1.0}}
    return {"name": "engine", "out": str(out), "seeds": seeds or [0, 1], "dataset": {"name": "digits"},
            "spaces": ["absolute", "relative:cosine", "product:cosine,euclidean"], "anchors": {"n": 20},
            "encoders": [{**enc, "label": "A", "options": {**enc["options"], "seed": 0}},
                         {**enc, "label": "B", "options": {**enc["options"], "seed": 1}}],
            "decoder": {"kind": "linear", "epochs": 3}}


def _values(out: Path) -> dict[tuple, float]:
    cells = json.loads((out / "results.json").read_text())["cells"]
    return {(c["space"], c["seed"], c["decoder_encoder"], c["test_encoder"]): c["accuracy"] for c in cells}


def test_the_stitching_matrix_on_ray_equals_local_and_resumes_across_engines(engine, tmp_path: Path) -> None:
    from stitch.experiment import run_experiment

    local = run_experiment(_tiny(tmp_path / "local"), cache_root=tmp_path / "cache", progress=False, engine="local")
    on_ray = run_experiment(_tiny(tmp_path / "ray"), cache_root=tmp_path / "cache-ray", progress=False,
                            engine=engine)
    a, b = _values(local.output_dir), _values(on_ray.output_dir)
    assert a.keys() == b.keys() and len(a) == 3 * 2 * 2 * 2
    assert max(abs(a[k] - b[k]) for k in a) <= 1e-9
    # a finished Ray run resumed locally recomputes nothing (every row is found in cells.jsonl)
    lines = (tmp_path / "ray" / "cells.jsonl").read_text().splitlines()
    again = run_experiment(_tiny(tmp_path / "ray"), cache_root=tmp_path / "cache-ray", progress=False,
                           engine="local")
    assert (tmp_path / "ray" / "cells.jsonl").read_text().splitlines() == lines
    assert _values(again.output_dir) == b


def test_encoding_on_ray_writes_a_normal_cache_entry(engine, tmp_path: Path) -> None:
    import stitch
    from stitch.encoder.cache import LatentCache

    ds = stitch.load_dataset("digits")
    enc = stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1, crop_pct=1.0, batch_size=50)
    passes = []
    real = engine._encode_on_ray

    def spy(encoder, parts, *args, **kwargs):
        passes.append([len(p) for p in parts])
        return real(encoder, parts, *args, **kwargs)

    engine._encode_on_ray = spy
    try:
        z_ray = engine.encode_many({"A": enc}, ds, ["train", "test"], cache=LatentCache(tmp_path), progress=False)["A"]
        assert engine.encode_many({"A": enc}, ds, ["test"], cache=LatentCache(tmp_path), progress=False)["A"][0] \
            .equal(z_ray[1])
    finally:
        del engine._encode_on_ray
    assert passes == [[len(ds.indices("train")), len(ds.indices("test"))]]  # both splits in one pass, then hits
    cache = LatentCache(tmp_path)
    for split, z in zip(["train", "test"], z_ray):
        z_local = cache.encode(enc, ds, split, progress=False)  # read back, verified, by the local pipeline
        assert torch.equal(z, z_local)
        fresh = stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1, crop_pct=1.0, batch_size=50)
        torch.testing.assert_close(z, fresh.encode(ds.split_inputs(split), progress=False), rtol=0, atol=1e-6)
    assert cache.hits == 2 and len(cache.list()) == 2
    with pytest.raises(TypeError, match=r"splits must be a list of split names, e\.g\. \['test'\]"):
        engine.encode_many({"A": enc}, ds, "test", cache=cache)


def test_a_damaged_entry_is_encoded_again_on_ray(engine, tmp_path: Path) -> None:
    import stitch
    from stitch.encoder.cache import LatentCache

    ds = stitch.load_dataset("digits")
    enc = stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1, crop_pct=1.0)
    cache = LatentCache(tmp_path)
    z = cache.encode(enc, ds, "test", progress=False)
    path = cache.path(cache.key(enc, ds, "test"))
    path.write_bytes(path.read_bytes()[:-64])  # truncated: present, but fails verification
    with pytest.warns(UserWarning, match=r"entry [0-9a-f]+ for dataset .digits. is unusable"):
        (again,) = engine.encode_many({"A": enc}, ds, ["test"], cache=cache, progress=False)["A"]
    torch.testing.assert_close(again, z, rtol=0, atol=1e-6)
    assert LatentCache(tmp_path).encode(enc, ds, "test", progress=False).equal(again)  # rewritten, verified


def test_per_encoder_resources_override_the_engine_for_that_encoder_only(engine, tmp_path: Path) -> None:
    import stitch
    from stitch.encoder.cache import LatentCache
    from stitch.engine.options import EncoderResources

    ds = stitch.load_dataset("digits")
    encs = {k: stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1, crop_pct=1.0, seed=s)
            for k, s in (("big", 0), ("small", 1))}
    seen = {}
    real = engine._encode_on_ray

    def spy(encoder, parts, batch_size, progress=None, *, options=None):
        seen[encoder.spec.options["seed"]] = (options.concurrency, options.num_cpus, batch_size)
        return real(encoder, parts, batch_size, progress, options=options)

    engine._encode_on_ray = spy
    try:
        with pytest.raises(ValueError, match=r"the Ray cluster has no node with 1e\+09 GPU\(s\) for one task"):
            engine.encode_many(encs, ds, ["test"], cache=LatentCache(tmp_path), progress=False,
                               resources={"big": EncoderResources(num_gpus=1e9)})
        assert seen == {}  # refused before any encoding
        z = engine.encode_many(encs, ds, ["test"], cache=LatentCache(tmp_path), progress=False, batch_size=64,
                               resources={"big": EncoderResources(num_cpus=0.5, batch_size=90)})
    finally:
        del engine._encode_on_ray
    assert seen == {0: (1, 0.5, 90), 1: (1, 1.0, 64)}
    for k, enc in encs.items():
        torch.testing.assert_close(z[k][0], enc.encode(ds.split_inputs("test"), progress=False), rtol=0, atol=1e-6)


def test_an_audit_on_ray_equals_local_with_permutations_and_bootstrap(engine, monkeypatch) -> None:
    import importlib

    from stitch.audits import compare

    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    lat = {"a": x, "b": torch.tanh(x @ torch.randn(6, 5, generator=g)), "c": torch.randn(120, 4, generator=g)}
    kw = dict(metrics=["linear_cka", "mutual_knn", "procrustes"], permutations=20, bootstrap=20, seed=3,
              progress=False)
    local = compare(lat, **kw)  # 20 draws per cell in one chunk
    # then chunks of 7, 7 and 6 draws on Ray (the module: its name is shadowed by the function in stitch.audits)
    monkeypatch.setattr(importlib.import_module("stitch.audits.compare"), "DRAWS_PER_TASK", 7)
    on_ray = compare(lat, engine=engine, **kw)
    for m in local.metrics:
        for table in ("values", "p_values", "ci_low", "ci_high"):
            np.testing.assert_array_equal(getattr(local, table)[m], getattr(on_ray, table)[m], err_msg=(m, table))


def test_resources_no_node_has_are_refused_before_work(engine) -> None:
    from stitch.engine import create_engine

    with pytest.raises(ValueError, match=r"the Ray cluster has no node with 4 GPU\(s\) for one task \(the largest "
                                         r"node has 0\); lower num_gpus"):
        create_engine("ray", num_gpus=4)


def test_inputs_of_the_wrong_kind_fail_in_one_line_as_locally(engine, tmp_path: Path) -> None:
    import stitch
    from stitch.engine import create_engine

    enc, ds = stitch.create_encoder("text-bag"), stitch.load_dataset("digits")
    with pytest.raises(TypeError, match=r"inputs: a text encoder takes a string or a list of strings, got ndarray"):
        engine.encode_many({"t": enc}, ds, ["test"], cache=tmp_path, progress=False)
    with pytest.raises(TypeError, match=r"inputs: a text encoder takes a string or a list of strings, got ndarray"):
        create_engine("local").encode_many({"t": enc}, ds, ["test"], cache=tmp_path, progress=False)


def test_an_unreachable_address_fails_in_seconds_with_one_line() -> None:
    from stitch.engine.ray_engine import _check_reachable

    t = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"^no Ray cluster answers at 127.0.0.1:9 .*ray start --head"):
        _check_reachable("127.0.0.1:9")
    assert time.perf_counter() - t < 10
    with pytest.raises(ValueError, match=r"is not host:port"):
        _check_reachable("head-without-port")


def test_cli_engine_ray_without_the_extra_names_the_install(tmp_path: Path) -> None:
    # A Python that cannot import ray (a shadowing module that raises ImportError like a missing package).
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "ray.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{shadow}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "stitch", "audit", "--encoders", "a,b", "--dataset", "digits",
                           "--out", str(tmp_path / "o"), "--engine", "ray"], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "pip install latent-stitch[ray]" in done.stderr and "Traceback" not in done.stderr


def test_a_worker_node_removed_mid_run_still_finishes_every_cell_once(capsys, encode_argv, tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    from stitch.engine import create_engine
    from stitch.experiment import run_experiment

    local = run_experiment(_tiny(tmp_path / "local"), cache_root=tmp_path / "cache", progress=False, engine="local")
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # work runs on the workers
    try:
        keep = cluster.add_node(num_cpus=1)
        doomed = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        # `stitch encode --engine ray` on the cluster: the same entries, and latents, as the local encode
        assert main(encode_argv(tmp_path / "cache-encode", "--engine", "ray", "--json")) == 0
        on_ray = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
        assert main(encode_argv(tmp_path / "cache-local", "--json")) == 0
        assert on_ray == {r["key"]: r for r in json.loads(capsys.readouterr().out)} and len(on_ray) == 4
        for key in on_ray:
            a, b = (load_file(tmp_path / c / "latents" / f"{key}.safetensors")["latents"]
                    for c in ("cache-encode", "cache-local"))
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        out = tmp_path / "cluster"
        cells = out / "cells.jsonl"

        def kill_when_started() -> None:
            deadline = time.time() + 120
            while time.time() < deadline and not (cells.exists() and cells.read_text().strip()):
                time.sleep(0.2)
            cluster.remove_node(doomed)

        killer = threading.Thread(target=kill_when_started, daemon=True)
        killer.start()
        res = run_experiment(_tiny(out), cache_root=tmp_path / "cache-cluster", progress=False,
                             engine=create_engine("ray", max_retries=5))
        killer.join(timeout=5)
        assert keep.remaining_processes_alive()
        rows = [json.loads(line)["key"] for line in cells.read_text().splitlines()]
        assert len(rows) == len(set(rows)) == 3 * 2 * 2  # spaces x seeds x decoder encoders, each once
        a, b = _values(local.output_dir), _values(res.output_dir)
        assert max(abs(a[k] - b[k]) for k in a) <= 1e-9
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_killed_ray_run_resumes_without_recomputing_finished_rows(tmp_path: Path) -> None:
    cfg = tmp_path / "exp.json"
    cfg.write_text(json.dumps({**_tiny(tmp_path / "run", seeds=[0, 1, 2, 3]), "engine": {"kind": "ray"}}))
    cells = tmp_path / "run" / "cells.jsonl"
    cmd = [sys.executable, "-m", "stitch", "run", str(cfg), "--cache", str(tmp_path / "cache"), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and (not cells.exists() or len(cells.read_text().splitlines()) < 2):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, mid-run
    proc.wait()
    before = cells.read_text().splitlines()
    total = 3 * 4 * 2
    assert 2 <= len(before) < total, "the run finished before it could be killed; make it longer"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = cells.read_text().splitlines()
    complete = [line for line in before if line.endswith("}")]
    assert after[: len(complete)] == complete  # finished rows kept, not recomputed
    keys = [json.loads(line)["key"] for line in after if line.endswith("}")]
    assert len(keys) == len(set(keys)) == total



@pytest.mark.usefixtures("rotated_pair")
def test_a_bench_suite_on_ray_equals_local(engine, tmp_path: Path) -> None:
    from stitch.bench import BenchContext, run_suite

    def rows(**options: object) -> list:
        return run_suite("relreps", BenchContext(seeds=(0, 1), anchors=(40,), progress=False, **options)).rows

    local, on_ray = rows(cache_root=tmp_path / "local"), rows(cache_root=tmp_path / "ray", engine=engine)
    assert [(r.direction, r.method) for r in on_ray] == [(r.direction, r.method) for r in local] and len(local) == 12
    for a, b in zip(local, on_ray):
        assert (a.ratio is None and b.ratio is None) or abs(a.ratio - b.ratio) <= 1e-9
        assert a.note == b.note and b.reused == 0
