"""Hostile and careless inputs: nothing unsafe is ever loaded, nothing stale is ever served, no plugin breaks
the CLI, no half-written entry is ever read. Every case found by the review of issue 10 is pinned here."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import stitch
import stitch.registry as registry
from stitch.cli import main

ROOT = Path(__file__).resolve().parents[1]


class _Payload:
    """Pickles to a call of ``os.system`` (only ever ``pickle.dumps``-ed here, never loaded unrestricted)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


# -- wrong outcomes ---------------------------------------------------------------------------------------
def test_a_planted_processed_pickle_is_never_loaded(shared_data, tmp_path, monkeypatch):
    # PyG's Planetoid would load <root>/Cora/processed/data.pt (retrying with weights_only=False); the old cache
    # kept one too. Plant a payload in both places: loading Cora must neither run it nor read it.
    raw = tmp_path / "data" / "planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    for f in (shared_data / "planetoid" / "Cora" / "raw").iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(f"touch {marker}"))
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "cache"))
    for processed in (raw.parent / "processed", tmp_path / "cache" / "datasets" / "planetoid" / "0" / "Cora" /
                      "processed"):
        processed.mkdir(parents=True)
        (processed / "data.pt").write_bytes(payload)
    ds = stitch.load_dataset("cora", data_root=tmp_path / "data")
    assert ds.metadata["raw_sha256_verified"] is True and ds.inputs.num_nodes == 2708
    assert not marker.exists()


def test_rewritten_file_latents_with_the_same_size_and_mtime_are_not_served_stale(tmp_path):
    from stitch.adapters.precomputed import PrecomputedEncoder, save_precomputed
    from stitch.adapters.datasets import load_arrays

    ids = [f"s{i}" for i in range(6)]
    ds = load_arrays(inputs=np.zeros((6, 1)), labels=[0, 1] * 3, ids=ids, splits={"all": np.arange(6)})
    path = tmp_path / "z.safetensors"
    save_precomputed(path, ids, torch.ones(6, 2))
    stat = path.stat()
    cache = stitch.LatentCache(tmp_path / "cache")
    assert torch.equal(cache.encode(PrecomputedEncoder(path), ds, "all"), torch.ones(6, 2))
    save_precomputed(path, ids, torch.full((6, 2), 2.0))  # same shape, so the same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert torch.equal(cache.encode(PrecomputedEncoder(path), ds, "all"), torch.full((6, 2), 2.0))


def _tiny_experiment(out: Path, **train) -> dict:
    return {"name": "stale", "out": str(out), "seeds": [0], "dataset": {"name": "digits"},
            "spaces": ["relative:cosine"], "anchors": {"n": 20},
            "encoders": [{"name": "timm:test_resnet", "label": "ResNet",
                          "options": {"image_size": 8, "in_chans": 1, "crop_pct": 1.0},
                          "train": {"epochs": 1, **train}},
                         {"name": "timm:test_resnet", "label": "ResNet-other",
                          "options": {"image_size": 8, "in_chans": 1, "crop_pct": 1.0},
                          "train": {"epochs": 1, "seed": 1}}],
            "decoder": {"kind": "linear", "epochs": 2}}


@pytest.mark.slow
def test_a_changed_training_config_trains_again_and_the_same_one_is_reused(tmp_path, monkeypatch):
    import stitch.experiment.training as training

    calls = []
    real = training.train_encoder
    monkeypatch.setattr(training, "train_encoder", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    first = stitch.run_experiment(_tiny_experiment(tmp_path), progress=False)
    assert len(calls) == 2
    second = stitch.run_experiment(_tiny_experiment(tmp_path, lr=0.01), progress=False)  # another lr
    assert len(calls) == 3  # only the changed encoder is trained again, into a new file
    files = sorted(p.name for p in (tmp_path / "encoders").glob("*.safetensors"))
    assert len(files) == 3 and all(p.startswith(("ResNet-", "ResNet-other-")) for p in files)
    assert first.encoder_info["ResNet"]["recipe"] != second.encoder_info["ResNet"]["recipe"]
    assert first.encoder_info["ResNet-other"] == second.encoder_info["ResNet-other"]
    recorded = json.loads((tmp_path / "results.json").read_text())
    assert recorded["config"]["encoders"][0]["train"]["lr"] == 0.01  # the record matches what produced it
    stitch.run_experiment(_tiny_experiment(tmp_path, lr=0.01), progress=False)
    assert len(calls) == 3  # the same recipe is reused


PLUGINS = {
    "exits": "import sys\nsys.exit(3)\n",
    "prints": """
from stitch import hookimpl
print("hello from an import")

@hookimpl
def stitch_register_anchor_strategies(register):
    print("hello from a hook")
    register("first-rows", lambda x, n, **kw: list(range(n)))
""",
    "twice": """
from stitch import hookimpl

@hookimpl
def stitch_register_metrics(register):
    register("dup_metric", lambda x, y: 0.0)
    register("dup_metric", lambda x, y: 1.0)
""",
    "slow": """
import time
from stitch import hookimpl
IMPORTS = [time.sleep(2.2)]

@hookimpl
def stitch_register_similarities(register):
    register("slowsim", lambda x, a: x @ a.T)
""",
    "raises_base": """
from stitch import hookimpl

@hookimpl
def stitch_register_encoders(register):
    raise SystemExit("no")
""",
}


@pytest.fixture
def hostile_plugins(site, make_dist, monkeypatch):
    make_dist(site, "stitch-hostile", "0.1", {name: f"hostile_{name}" for name in PLUGINS},
              {f"hostile_{name}": src for name, src in PLUGINS.items()})
    monkeypatch.setenv("STITCH_PLUGINS", ",".join(PLUGINS))
    monkeypatch.delenv("STITCH_DISABLE_PLUGINS", raising=False)
    registry.reset_plugins()
    yield
    registry.reset_plugins()
    for name in PLUGINS:
        sys.modules.pop(f"hostile_{name}", None)


@pytest.mark.slow
def test_no_plugin_breaks_the_cli(hostile_plugins, capsys):
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["plugins"]) == 0
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    report = json.loads(out)  # nothing a plugin printed reached stdout
    assert "hello from an import" in err and "hello from a hook" in err
    records = {p["name"]: p for p in report["plugins"]}
    assert records["exits"]["status"] == "broken" and records["exits"]["error"] == (
        "import of 'hostile_exits' called sys.exit(3)")
    assert records["raises_base"]["error"] == "hook stitch_register_encoders called sys.exit('no')"
    assert records["prints"]["status"] == "ok"
    assert records["twice"]["status"] == "ok" and records["twice"]["notes"] == [
        "registers metrics name 'dup_metric' twice; the last registration is kept"]
    [slow_note] = records["slow"]["notes"]
    assert slow_note.startswith("import took 2.") and records["slow"]["import_seconds"] >= 2.2
    assert elapsed < 2.2 * 2  # the slow plugin was imported once
    assert caught == [] or all(issubclass(w.category, registry.PluginLoadWarning) for w in caught)
    # every other command still works, and a broken plugin cannot change its exit code
    assert main(["similarities", "list", "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert "cosine" in names and "slowsim" in names
    assert main(["plugins", "--strict"]) == 1


# -- silent NaN / Inf and contradictory inputs -----------------------------------------------------------------
def test_non_finite_inputs_and_overflow_raise_instead_of_returning_nan_or_inf():
    r = torch.randn(4, 3)
    r[0, 0] = float("nan")
    for method in ("standardize", "l2", "softmax"):
        with pytest.raises(ValueError, match=r"r \(relative representation\) contains NaN or Inf in 1 row\(s\), first "
                                             r"at row 0"):
            stitch.normalize_relative(r, method)
    big = torch.full((3, 4), 1e20)
    with pytest.raises(ValueError, match=r"similarity 'dot' overflowed to Inf/NaN on inputs of magnitude up to 1e\+20 "
                                         r"\(dtype torch.float32\); rescale the latents"):
        stitch.relative_projection(big, big, "dot")
    assert torch.isfinite(stitch.relative_projection(big.double(), big.double(), "dot")).all()  # float64 holds it
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"known pairs \(0, 1\) and \(0, 2\) give source row 0 two partners; a "
                                         r"matching is one-to-one"):
        stitch.match_anchors(x, x, known=[(0, 1), (0, 2)])
    with pytest.raises(ValueError, match=r"known pairs \(0, 1\) and \(3, 1\) give target row 1 two partners"):
        stitch.match_anchors(x, x, known=[(0, 1), (3, 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy divide warning escapes: a clear error comes first
        with pytest.raises(ValueError, match=r"reg \(entropic regularisation, relative to the cost scale\) must be "
                                             r"> 0, got 0"):
            stitch.match_anchors(x, x, known=[(0, 0)], reg=0)


def test_library_errors_are_ours_not_torchs():
    with pytest.raises(TypeError, match=r"r \(relative representation\) must be a 2-D torch.Tensor or numpy array"):
        stitch.normalize_relative([["a"]], "l2")
    assert stitch.normalize_relative([[3, 4]], "l2").tolist() == [[0.6000000238418579, 0.800000011920929]]
    assert stitch.normalize_relative(torch.tensor([[3, 4]]), "l2").dtype == torch.float32  # ints are computed too
    with pytest.raises(ValueError, match=r"r \(relative representation\) is on the 'meta' device"):
        stitch.normalize_relative(torch.ones(2, 2, device="meta"), "l2")
    with pytest.raises(TypeError, match=r"anchor strategy 'kmeans' got invalid options \['foo', 'labels', 'seed'\] "
                                        r"\(got an unexpected keyword argument 'foo'\); it accepts: x, n, labels, seed, "
                                        r"n_init, max_iter"):
        stitch.select_anchors(torch.randn(20, 2), 3, "kmeans", foo=1)


# -- gradients flow through relative layers --------------------------------------------------------------------
def _naive(name: str, x: torch.Tensor, a: torch.Tensor, gamma: float) -> torch.Tensor:
    diff = x[:, None, :] - a[None, :, :]
    if name == "cosine":
        return torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(a, dim=1).T
    if name == "dot":
        return x @ a.T
    if name == "euclidean":
        return -diff.pow(2).sum(-1).sqrt()
    if name == "l1":
        return -diff.abs().sum(-1)
    if name == "linf":
        return -diff.abs().max(-1).values
    return torch.exp(-gamma * diff.pow(2).sum(-1))  # rbf, its bandwidth a constant of the anchors


@pytest.mark.parametrize("name", ["cosine", "dot", "euclidean", "l1", "linf", "rbf"])
def test_gradients_match_the_naive_formula(name):
    from stitch.core.kernels import median_bandwidth

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    a = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 5, generator=g, dtype=torch.float64)
    gamma = 1.0 / (2.0 * median_bandwidth(a.detach()) ** 2)
    ours = torch.autograd.grad((stitch.relative_projection(x, a, name) * w).sum(), (x, a))
    naive = torch.autograd.grad((_naive(name, x, a, gamma) * w).sum(), (x, a))
    for got, want in zip(ours, naive):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("center", [None, "mean", "standardize"])
@pytest.mark.parametrize("name", ["mahalanobis", "euclidean", "cosine", "l1"])
def test_gradients_pass_the_numerical_gradient_check(name, center):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    a = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a: stitch.relative_projection(x, a, name, center=center,
                                                                           normalization="l2"), (x, a))


def test_product_space_and_metrics_accept_inputs_that_require_grad():
    x = torch.randn(40, 6, requires_grad=True)
    y = x.detach() * 2
    out = stitch.ProductSpace(["cosine", "l1"]).fit(x[:8]).transform(x)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name in ("retrieval_mrr", "relrep_cosine", "permutation_match", "gromov_wasserstein", "linear_cka"):
        assert np.isfinite(stitch.get_metric(name)(x, y))


# -- careless command lines ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "pattern"), [
    (lambda d: ["run", str(d)], r"stitch: error: invalid experiment|stitch: error: experiment file '.*' is a directory"),
    (lambda d: ["run", str(d / "latin1.toml")], r"stitch: error: experiment file '.*latin1.toml' is not UTF-8 text"),
    (lambda d: ["run", str(ROOT / "examples" / "digits.toml"), "--check", "--data", str(d / "missing")],
     r"stitch: error: data directory '.*missing' does not exist"),
])
def test_careless_command_lines_get_one_clear_line(tmp_path, capsys, make, pattern):
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    assert main(make(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and __import__("re").match(pattern, err), err


def test_check_runs_every_rule_the_run_runs(tmp_path, capsys):
    base = (ROOT / "examples" / "digits.toml").read_text()
    cases = {
        "dataset": (base.replace('name = "digits"', 'name = "digitz"'), "dataset.name: unknown dataset 'digitz'"),
        "encoder": (base.replace('name = "timm:test_resnet"', 'name = "timm:test_resnett"', 1),
                    "encoders[0].name: unknown timm model 'test_resnett'"),
        "anchors": (base.replace("n = 64", "n = 5000"), "anchors.n: 5000 anchors cannot be chosen among the 1078"),
        "stratified": (base.replace('strategy = "random"', 'strategy = "stratified"').replace("n = 64", "n = 65"),
                       "anchors.n: strategy 'stratified' draws the same number of anchors from each of the 10 "
                       "classes"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        assert main(["run", str(path), "--check"]) == 2, name
        assert message in capsys.readouterr().err, name


# -- concurrency and interruption ------------------------------------------------------------------------------
def _encode_in_process(root: str, barrier) -> str:
    import warnings as w

    from stitch.adapters.datasets import load_arrays
    from stitch.adapters.text import HashBagEncoder

    ds = load_arrays(inputs=[f"question number {i}" for i in range(200)], labels=[i % 3 for i in range(200)],
                     modality="text", splits={"all": np.arange(200)})
    cache = stitch.LatentCache(root)
    barrier.wait()  # every writer starts at once
    with w.catch_warnings():
        w.simplefilter("error")
        z = cache.encode(HashBagEncoder(dim=16), ds, "all")
    return z.numpy().tobytes().hex()[:64]


def test_concurrent_writers_leave_one_verified_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(3)
    with ctx.Pool(3) as pool:
        results = pool.starmap(_encode_in_process, [(str(tmp_path), barrier)] * 3)
    assert len(set(results)) == 1
    cache = stitch.LatentCache(tmp_path)
    assert len(cache.list()) == 1 and [p.name for p in cache.directory.iterdir() if p.name.startswith(".")] == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the entry reads back verified
        _encode_in_process(str(tmp_path), type("B", (), {"wait": lambda self: None})())


@pytest.mark.slow
def test_kill_minus_9_at_several_moments_then_resume_gives_the_uninterrupted_result(tmp_path):
    env = {**os.environ, "STITCH_CACHE": str(tmp_path / "cache")}
    reference = tmp_path / "reference"
    command = [sys.executable, "-m", "stitch.cli", "demo", "--quick", "--no-progress"]
    # the uninterrupted reference runs beside the killed ones (its own cache and output; the demo's numbers do
    # not depend on what else the machine is doing), so the test costs about one demo less
    ref = subprocess.Popen([*command, "--out", str(reference)], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    env = {**env, "STITCH_CACHE": str(tmp_path / "cache-killed")}  # the killed run starts from nothing
    killed = tmp_path / "killed"
    for delay in (2.0, 4.0, 6.0):
        proc = subprocess.Popen([*command, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    subprocess.run([*command, "--out", str(killed)], env=env, check=True, capture_output=True, timeout=300)
    assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()
    lines = (killed / "cells.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines if line.startswith("{") and line.endswith("}")]
    assert len(keys) == len(set(keys))  # no row written twice
    want = json.loads((reference / "results.json").read_text().replace(str(reference), "OUT"))
    got = json.loads((killed / "results.json").read_text().replace(str(killed), "OUT"))
    assert got == want


# -- round 3 (issue 28): fixed here, the rest of the campaign still open --------------------------------------------
@pytest.mark.parametrize("field", ["lr", "weight_decay"])
def test_non_finite_hyper_parameters_fail_the_config_check(field) -> None:
    from stitch.errors import ConfigError
    from stitch.experiment import parse_experiment

    base = {"name": "t", "dataset": {"name": "digits"}, "encoders": [{"name": "a"}], "spaces": ["absolute"]}
    with pytest.raises(ConfigError, match=rf"decoder\.{field}: Input should be a finite number"):
        parse_experiment({**base, "decoder": {field: float("inf")}})
    with pytest.raises(ConfigError, match=rf"encoders\[0\]\.train\.{field}: Input should be a finite number"):
        parse_experiment({**base, "encoders": [{"name": "a", "train": {field: float("nan")}}]})


@pytest.mark.parametrize("known", [[(0.5, 1.7)], [(0, 1, 2)], [0, 1], ["0,1"], [(True, 1)]])
def test_known_pairs_must_be_integer_pairs(known) -> None:
    x = torch.randn(6, 3)
    with pytest.raises(ValueError, match=r"known must be a list of \(i, j\) pairs of integer row indices, got .*; "
                                         r"e\.g\. known=\[\(0, 3\), \(1, 7\)\]"):
        stitch.match_anchors(x, x, known=known)


def test_latex_labels_are_escaped_once() -> None:
    from stitch.audits.report import latex_table

    text = latex_table(["c\\d {x} & _ % $ # ^ ~"], ["b"], np.array([[0.5]]))
    assert (r"c\textbackslash{}d \{x\} \& \_ \% \$ \# \textasciicircum{} \textasciitilde{} & 0.500 \\"
            in text.splitlines())


def test_weights_holding_nan_are_refused_and_nothing_is_cached(tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    opts = {"image_size": 16, "in_chans": 1, "crop_pct": 1.0}
    clean = stitch.create_encoder("timm:test_resnet", **opts)
    clean.encode(stitch.load_dataset("digits").split_inputs("test")[:2])  # builds the module
    state = {k: v.clone() for k, v in clean.module.state_dict().items()}
    first_conv = next(k for k, v in state.items() if v.ndim == 4)
    state[first_conv][0] = float("nan")
    save_file(state, tmp_path / "nan.safetensors")
    ref = f"timm:test_resnet?checkpoint={tmp_path / 'nan.safetensors'}&image_size=16&in_chans=1&crop_pct=1.0"
    cache = tmp_path / "cache"
    assert main(["encode", "--encoders", ref, "--dataset", "digits", "--split", "test", "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"stitch: error: encoder 'timm:test_resnet' \(weights .*nan\.safetensors.*\) produced non-finite "
                     r"latents \(NaN or Inf\) for 359 of 359 inputs \(the first: row 0\); its weights or inputs hold "
                     r"NaN or Inf: check them", err), err
    assert not list(cache.rglob("*.safetensors"))


def test_an_encoder_that_returns_nan_is_never_cached(tmp_path) -> None:
    from stitch.encoder.cache import LatentCache

    class Half:
        name, dim = "half-nan", 2

        def encode(self, inputs, **kwargs):
            z = torch.zeros(len(inputs), 2)
            z[1:, 0] = float("inf")
            return z

    with pytest.raises(ValueError, match=r"encoder 'half-nan' produced non-finite latents \(NaN or Inf\) for 358 of "
                                         r"359 inputs \(the first: row 1\)"):
        LatentCache(tmp_path).encode(Half(), stitch.load_dataset("digits"), "test")
    assert not list(tmp_path.rglob("*.safetensors"))


def test_a_model_folder_without_its_tokenizer_is_refused(shared_models, tmp_path) -> None:
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).symlink_to(shared_models / "paraphrase-MiniLM-L3-v2" / name)
    enc = stitch.create_encoder(f"hf:{folder}")
    with pytest.raises(OSError, match=r"the tokenizer of '.*no-tokenizer' has \d+ tokens but the model's vocabulary "
                                      r"has 30522: the folder lacks usable tokenizer files \(found none of "
                                      r"tokenizer\.json, vocab\.txt, .*\); copy the model's tokenizer files into it"):
        enc.encode(["one sentence", "another one"])


def test_a_decoder_whose_loss_never_became_finite_is_an_error() -> None:
    from stitch.experiment.decoders import LinearClassifier

    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"training LinearClassifier never reached a finite loss in 3 epochs "
                                         r"\(lr=1e\+30, weight_decay=0\.0\); lower lr, or check the latents' scale "
                                         r"\(max \|z\| = \d\.\d+\)"):
        LinearClassifier(epochs=3, lr=1e30).fit(z, (z[:, 0] > 0).long())


def test_float_images_on_the_0_255_scale_are_refused_by_vision_encoders() -> None:
    enc = stitch.create_encoder("timm:test_resnet", image_size=16, in_chans=1, crop_pct=1.0)
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=r"float images must be on the 0\.\.1 scale, got values in \[\d+, 255\]; "
                                         r"pass uint8 images \(0\.\.255\) or divide by 255"):
        enc.encode(images)
    assert enc.encode(images / 255).shape == (3, enc.dim)


@pytest.mark.parametrize(("weight_map", "match"), [
    ({"w": "../../../../../../etc/hostname"}, r"names the shard '\.\./\.\./.*hostname', which is outside the model "
                                              r"folder \(.*\); refusing to read it"),
    ({"w": "/dev/zero"}, r"names the shard '/dev/zero', which is outside the model folder"),
    ({"w": "sub"}, r"names the shard 'sub', which is not a regular file"),
    (None, r"has no usable 'weight_map' \(a mapping of tensor names to shard files\); it is damaged"),
])
def test_a_sharded_index_cannot_point_outside_its_folder(tmp_path, weight_map, match) -> None:
    from stitch.adapters.text import read_hf_weights

    (tmp_path / "sub").mkdir()
    record = {"metadata": {}} if weight_map is None else {"weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=match):
        read_hf_weights(tmp_path)


def test_a_truncated_model_safetensors_is_named(shared_models, tmp_path) -> None:
    from stitch.adapters.text import read_hf_weights

    blob = (shared_models / "paraphrase-MiniLM-L3-v2" / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors file \(.*\); it is "
                                         r"truncated or damaged: replace it with the model's original file"):
        read_hf_weights(tmp_path)


@pytest.mark.parametrize(("options", "match"), [
    ({"verify": "false"}, r"dataset 'mnist': option 'verify' must be true or false, got 'false' \(str\) \(write false "
                          r"without quotes\)"),
    ({"val_fraction": True}, r"dataset 'mnist': option 'val_fraction' must be a number, got True \(bool\)"),
    ({"seed": 1.5}, r"dataset 'mnist': option 'seed' must be an integer, got 1\.5 \(float\)"),
])
def test_loader_options_are_type_checked(options, match) -> None:
    with pytest.raises(TypeError, match=match):
        stitch.load_dataset("mnist", **options)


def test_unknown_train_options_fail_the_config_check() -> None:
    import inspect

    from stitch.errors import ConfigError
    from stitch.experiment import parse_experiment
    from stitch.experiment.config import TRAIN_OPTIONS
    from stitch.experiment.training import train_encoder

    assert set(TRAIN_OPTIONS) < set(inspect.signature(train_encoder).parameters)
    base = {"name": "t", "dataset": {"name": "digits"}, "spaces": ["absolute"]}
    with pytest.raises(ConfigError, match=r"encoders\[0\]\.train\.options: .*unknown option\(s\) 'val_splt'; "
                                          r"train\.options accepts num_threads, test_split, val_split"):
        parse_experiment({**base, "encoders": [{"name": "a", "train": {"options": {"val_splt": "val"}}}]})


@pytest.mark.parametrize(("ids", "match"), [
    ("[not json", r"its 'ids' metadata is not JSON \(Expecting value: .*\); expected a JSON list of sample ids"),
    ('{"a": 1}', r"its 'ids' metadata is a JSON dict, expected a list of sample ids"),
])
def test_a_latents_file_with_unreadable_ids_is_named(tmp_path, ids, match) -> None:
    from stitch.utils.files import save_tensors

    path = tmp_path / "z.safetensors"
    save_tensors(path, {"latents": torch.zeros(2, 3)}, {"ids": ids, "modality": "any", "source": ""})
    with pytest.raises(ValueError, match=match):
        stitch.create_encoder(f"file:{path}").encode(["a"])


def _forged_projection(path: Path, params: str, tensors: dict) -> None:
    """A saved RelativeProjection edited by someone who recomputed every checksum (only the content is wrong)."""
    from stitch.utils.estimator import FITTED_FORMAT, _content_sha256
    from stitch.utils.files import save_tensors, tensors_sha256

    digest = tensors_sha256(tensors)
    save_tensors(path, tensors, {"format": FITTED_FORMAT, "class": "stitch.core.projection.RelativeProjection",
                                 "params": params, "fitted": "{}", "tensors_sha256": digest,
                                 "content_sha256": _content_sha256(params, "{}", digest)})


@pytest.mark.parametrize(("params", "tensor", "match"), [
    ('{"similarity": "cos', "anchors", r"its parameters are not readable JSON \(JSONDecodeError: .*\); the file is "
                                       r"damaged: save the estimator again"),
    ('["cosine"]', "anchors", r"its parameters are a JSON list, expected an object of RelativeProjection's "
                              r"parameters; the file is damaged"),
    ('{"similarity": "cosine", "topk": 10}', "anchors",
     r"holds parameter\(s\) 'topk' that RelativeProjection does not take \(it takes similarity, .*\); it was written "
     r"by another version or edited: save the estimator again"),
    ('{"similarity": "cosine"}', "anchor", r"holds no tensor\(s\) 'anchors'; it was written by another version or "
                                           r"edited"),
])
def test_a_saved_space_with_forged_content_is_named(tmp_path, params, tensor, match) -> None:
    path = tmp_path / "space.safetensors"
    _forged_projection(path, params, {tensor: torch.randn(4, 3)})
    with pytest.raises(ValueError, match=r"space\.safetensors" + ".*" + match):
        stitch.RelativeProjection.load(path)


def test_one_class_is_not_something_to_train_on(tmp_path) -> None:
    from stitch.experiment.decoders import create_decoder
    from stitch.experiment.training import train_encoder

    z = torch.randn(20, 3)
    with pytest.raises(ValueError, match=r"labels hold one class \(\[2\]\); a classifier needs at least two to learn "
                                         r"from"):
        create_decoder("linear").fit(z, torch.full((20,), 2))
    one = stitch.load_dataset("digits")
    one = stitch.Dataset(one.name, one.modality, one.inputs, np.zeros_like(one.labels), one.class_names, one.ids,
                         one.splits)
    with pytest.raises(ValueError, match=r"the training split 'train' of dataset 'digits' holds one class \(\[0\]\); "
                                         r"training a classifier needs at least two"):
        train_encoder("timm:test_resnet", one, out=tmp_path / "e.safetensors", schedule={"epochs": 1},
                      encoder_options={"image_size": 8, "in_chans": 1, "crop_pct": 1.0})


def test_a_folder_datasets_splits_do_not_start_with_one_class(tmp_path) -> None:
    from stitch.data import stratified_splits

    for c in ("neg", "pos"):
        (tmp_path / c).mkdir()
        for i in range(30):
            (tmp_path / c / f"{i:02d}.txt").write_text(f"{c} {i}")
    ds = stitch.load_dataset("text-folder", path=tmp_path, seed=3)
    first = ds.split_labels("train")[:10]
    assert 0 < first.sum() < 10  # both classes among the first rows, as a user slicing [:300] expects
    assert {k: sorted(v.tolist()) for k, v in ds.splits.items()} == {
        k: v.tolist() for k, v in stratified_splits(ds.labels, seed=3).items()}  # the same stratified samples
    again = stitch.load_dataset("text-folder", path=tmp_path, seed=3)
    assert all(np.array_equal(again.splits[k], ds.splits[k]) for k in ds.splits)  # seeded


@pytest.mark.parametrize(("flags", "message"), [
    (["--permutations", "1000000000"], "stitch: error: invalid audit flags:\n  permutations: Input should be less than "
                                       "or equal to 100000"),
    (["--bootstrap", "100001"], "stitch: error: invalid audit flags:\n  bootstrap: Input should be less than or "
                                "equal to 100000"),
    (["--layers", "1,2"], "stitch: error: encoder 'text-bag' has no layers to choose (its adapter does not take "
                          "layer=); audit the layers of one that does, e.g. 'minilm' or 'hf:<model>'"),
    (["--n", "-3"], "stitch: error: invalid audit flags:\n  n: Input should be greater than or equal to 1"),
])
def test_audit_flags_that_cannot_finish_or_apply_are_refused_at_once(tmp_path, capsys, flags, message) -> None:
    argv = ["audit", "--encoders", "text-bag,text-bag?seed=1", "--dataset", "digits", "--metrics", "linear_cka",
            "--out", str(tmp_path / "a"), "--cache", str(tmp_path / "c"), "--no-progress", *flags]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "c").exists()  # refused before anything was encoded


def test_the_models_root_wins_over_a_same_named_folder_and_a_missing_model_is_named(shared_models, tmp_path,
                                                                                   monkeypatch) -> None:
    from stitch.utils.roots import using_models_root

    decoy = tmp_path / "work" / "paraphrase-MiniLM-L3-v2"
    decoy.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    with using_models_root(shared_models):
        enc = stitch.create_encoder("hf:paraphrase-MiniLM-L3-v2")
    assert enc.spec.weights == f"local directory: {shared_models / 'paraphrase-MiniLM-L3-v2'}"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.snapshot_download", None)  # the hub is never asked
    with using_models_root(tmp_path / "empty"):
        enc = stitch.create_encoder("hf:all-mpnet-base-v2")
    with pytest.raises(FileNotFoundError, match=r"model 'all-mpnet-base-v2' is not in the models root .*empty \(it "
                                                r"does not exist\): looked for .*empty/all-mpnet-base-v2; put it there"):
        enc.encode(["a sentence"])


@pytest.mark.parametrize(("ref", "match"), [
    ("file:{dir}", r"latents file '.*' is a directory, not a file; pass a \.safetensors file"),
    ("trained:{dir}", r"trained encoder file '.*' is a directory, not a file; pass the path stitch\.train_encoder"),
    ("timm:resnet10t?checkpoint={dir}", r"checkpoint '.*' is a directory, not a file; pass the path of a local"),
    ("file:rel/x.safetensors", r"latents file 'rel/x\.safetensors' does not exist \(resolved against the working "
                               r"directory to .*/rel/x\.safetensors\)"),
])
def test_a_path_of_the_wrong_kind_says_what_it_is(tmp_path, capsys, ref, match) -> None:
    argv = ["encode", "--encoders", ref.format(dir=tmp_path), "--dataset", "digits", "--split", "test",
            "--cache", str(tmp_path / "c")]
    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)


def test_a_data_root_that_is_a_file_says_so(tmp_path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(FileNotFoundError, match=r"data directory '.*/f' is a file, not a directory; pass the "
                                                r"directory holding the dataset's files"):
        stitch.load_dataset("trec", data_root=tmp_path / "f")


def test_relative_roots_in_a_file_are_relative_to_the_file(tmp_path, monkeypatch) -> None:
    from stitch.audits.config import load_audit
    from stitch.experiment import load_experiment

    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "e.toml").write_text('name = "t"\nspaces = ["absolute"]\nmodels_root = "models"\n'
                                             'cache_root = "/abs/cache"\n[dataset]\nname = "digits"\n'
                                             '[[encoders]]\nname = "a"\n')
    (tmp_path / "exp" / "a.toml").write_text('encoders = "a,b"\ndataset = "digits"\ndata_root = "../data"\n'
                                             'out = "runs/a"\n')
    monkeypatch.chdir(tmp_path)  # another working directory: the same folders
    cfg = load_experiment("exp/e.toml")
    assert (cfg.models_root, cfg.cache_root) == (str(tmp_path / "exp" / "models"), "/abs/cache")
    assert load_audit("exp/a.toml").data_root == str(tmp_path / "exp" / "../data")


def test_a_huge_document_is_cut_before_it_is_tokenised(shared_models) -> None:
    enc = stitch.create_encoder(f"hf:{shared_models / 'paraphrase-MiniLM-L3-v2'}")
    enc.encode(["load the model"])
    seen = []

    class Spy:  # records what the tokenizer is asked to read
        def __init__(self, tokenizer):
            self.tokenizer = tokenizer

        def __call__(self, texts, **kwargs):
            seen.extend(len(t) for t in texts)
            return self.tokenizer(texts, **kwargs)

        def __getattr__(self, name):
            return getattr(self.tokenizer, name)

    enc._tokenizer = Spy(enc._tokenizer)
    huge = "the quick brown fox jumps over the lazy dog " * 500_000  # 22 MB: whole, minutes and gigabytes
    with pytest.warns(UserWarning, match=r"2 of 2 inputs were longer than 512 tokens"):
        z = enc.encode([huge, huge[:20_000]])
    assert max(seen) <= 1_000_000
    torch.testing.assert_close(z[0], z[1])  # the same first 512 tokens, the same latent


def test_a_matching_that_cannot_fit_in_memory_is_refused_before_it_starts(monkeypatch) -> None:
    import stitch.utils.numerics as numerics

    monkeypatch.setattr(numerics, "available_memory", lambda: 2 * 10**9)
    x = torch.zeros(30_000, 1)  # 30,000 rows: ten 7.2 GB matrices at the matching's peak
    with pytest.raises(MemoryError, match=r"matching 30000 x 30000 rows needs about 72\.0 GB, more than the 2\.0 GB "
                                          r"available; match a random subset of the rows"):
        stitch.match_anchors(x, x)


def test_a_pickle_only_model_folder_with_code_is_refused_without_running_it(shared_models, tmp_path) -> None:
    from stitch.adapters.text import read_hf_weights

    marker = tmp_path / "pwned"
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Payload(f"touch {marker}")}, protocol=2))
    with pytest.raises(ValueError, match=r"pytorch_model\.bin is not a plain tensor file: torch refused to unpickle it "
                                         r"with weights_only=True \(.*\); only model\.safetensors or tensor-only \.bin"):
        read_hf_weights(tmp_path)
    assert not marker.exists()


def test_weights_that_do_not_fit_the_config_are_named(shared_models, tmp_path) -> None:
    import shutil

    folder = tmp_path / "mismatch"
    shutil.copytree(shared_models / "paraphrase-MiniLM-L3-v2", folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "hidden_size": 768, "intermediate_size": 3072}))
    with pytest.raises(ValueError, match=r"the weights of '.*mismatch' do not fit its config\.json: \d+ tensors have "
                                         r"other shapes \(e\.g\. .*: \((\d+, )?384,?\) in the weights, \((\d+, )?768,?\) "
                                         r"by the config\); the config belongs to another model"):
        stitch.create_encoder(f"hf:{folder}").encode(["hello"])


def test_file_names_that_are_not_utf8_become_saveable_ids(tmp_path, capsys) -> None:
    for c in ("neg", "pos"):
        (tmp_path / c).mkdir()
        for i in range(5):
            (tmp_path / c / f"{i}.txt").write_text(f"{c} {i}")
    with open(os.fsencode(tmp_path / "neg") + b"/bad\xff.txt", "w") as f:
        f.write("odd name")
    ds = stitch.load_dataset("text-folder", path=tmp_path)
    assert "neg/bad\\xff.txt" in ds.ids
    argv = ["encode", "--encoders", "text-bag", "--dataset", f"text-folder?path={tmp_path}", "--split", "train",
            "--cache", str(tmp_path.parent / f"{tmp_path.name}-cache")]
    assert main(argv) == 0  # ids and provenance are written as JSON: no surrogate reaches a file


# -- round 3, our own campaign (stitcher, stitched models, selection, translate:auto): what it found -----------------
def test_too_few_pairs_for_the_folds_are_refused_by_every_route_to_the_choice(tmp_path, capsys) -> None:
    from stitch.core.selection import select_translator
    from stitch.spaces import create_space

    x = torch.randn(8, 3, dtype=torch.float64)
    match = r"cross-validation needs folds >= 2 and at least 2 anchor pairs per fold; got folds=5 for 8 pairs"
    with pytest.raises(ValueError, match=match):
        select_translator(x, x)
    with pytest.raises(ValueError, match=match):
        create_space("translate:auto").stitch(x, x, x)
    enc = {"name": "timm:test_resnet", "options": {"image_size": 8, "in_chans": 1, "crop_pct": 1.0}}
    exp = {"name": "few", "dataset": {"name": "digits"}, "spaces": ["translate:auto"], "anchors": {"n": 6},
           "seeds": [0], "decoder": {"kind": "linear", "epochs": 2}, "out": str(tmp_path / "out"),
           "encoders": [{**enc, "label": "a"}, {**enc, "label": "b", "options": {**enc["options"], "seed": 1}}]}
    (tmp_path / "e.json").write_text(json.dumps(exp))
    assert main(["run", str(tmp_path / "e.json"), "--cache", str(tmp_path / "c"), "--no-progress"]) == 2
    assert "got folds=5 for 6 pairs (use more anchor pairs, or fewer folds)" in capsys.readouterr().err


def test_a_map_from_one_pair_is_refused() -> None:
    x = torch.randn(1, 3)
    for name in ("procrustes", "affine", "inverse-relative"):
        with pytest.raises(ValueError, match=r"needs at least 2 anchor pairs to fit a map, got 1"):
            stitch.create_translator(name).fit(x, x)


def test_a_decoder_that_is_not_one_is_named() -> None:
    from stitch.experiment.decoders import LinearClassifier
    from stitch.errors import NotFittedError
    from stitch.stitcher import Stitcher

    x = torch.randn(40, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"decoder must be a fitted decoder with predict\(z\) \(e\.g\. "
                                        r"stitch\.LinearClassifier\), got str \('linear'\)"):
        Stitcher().fit(x, x, decoder="linear")
    with pytest.raises(NotFittedError, match=r"this LinearClassifier is not fitted yet"):
        Stitcher("affine").fit(x, x).forecast(LinearClassifier())


@pytest.mark.parametrize("edit", [{"forecast": {"agreement": 1}}, {"class_names": 5}, {"class_names": [1, 2]}])
def test_a_stitched_model_with_a_damaged_forecast_or_class_names_is_refused(tmp_path, edit) -> None:
    from stitch.experiment.decoders import LinearClassifier
    from stitch.stitcher import Stitcher, StitchedModel, load_stitched

    enc = stitch.create_encoder("text-bag")
    z = enc.encode([f"text {i}" for i in range(30)])
    StitchedModel(enc, Stitcher("affine").fit(z, z), LinearClassifier(epochs=2).fit(z, torch.arange(30) % 2)
                  ).save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    (tmp_path / "m" / "manifest.json").write_text(json.dumps({**manifest, **edit}))
    with pytest.raises(ValueError, match=r"manifest\.json has its forecast or class_names in the wrong form \(.*\); "
                                         r"it is damaged: save the model again"):
        load_stitched(tmp_path / "m")


def test_a_folder_dataset_never_reads_through_a_link_out_of_its_folder(tmp_path) -> None:
    folder = tmp_path / "docs"
    for c in ("neg", "pos"):
        (folder / c).mkdir(parents=True)
        (folder / c / "a.txt").write_text(f"{c} text")
    (tmp_path / "secret.txt").write_text("not part of the dataset")
    (folder / "pos" / "b.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ValueError, match=r"b\.txt is a link to .*secret\.txt, outside the dataset folder .*docs"):
        stitch.load_dataset("text-folder", path=folder)


def test_more_audit_samples_than_there_are_is_said(shared_data, tmp_path, capsys) -> None:
    argv = ["audit", "--encoders", "text-bag,text-bag?seed=1", "--dataset", "trec", "--data", str(shared_data),
            "--split", "test", "--n", "5000", "--metrics", "linear_cka", "--out", str(tmp_path / "a"),
            "--cache", str(tmp_path / "c"), "--no-progress"]
    assert main(argv) == 0
    assert "stitch: warning: n=5000 samples were asked for, but only 500 are available: all 500 are used" in \
        capsys.readouterr().err


def test_a_layer_out_of_range_names_the_encoder_not_its_install_path() -> None:
    with pytest.raises(ValueError, match=r"^layer 9 is out of range for 'minilm', which has 7 hidden states "
                                         r"\(embeddings \+ 6 layers\); use -7\.\.6 \(-1 = last\)$"):
        stitch.create_encoder("minilm", layer=9).encode(["a sentence"])


def test_an_interrupted_command_says_where_it_stopped_and_that_running_it_again_resumes(monkeypatch, capsys) -> None:
    import stitch.cli.cache
    from stitch.utils.progress import phase

    def interrupted(args):
        phase("space 4/5 (product:cosine,euclidean), decoder on b (row 1/4; 12/20 done)", enabled=False)
        raise KeyboardInterrupt

    monkeypatch.setattr(stitch.cli.cache, "run_clear", interrupted)
    assert main(["cache", "clear"]) == 130
    assert capsys.readouterr().err.strip() == (
        "stitch: interrupted at: space 4/5 (product:cosine,euclidean), decoder on b (row 1/4; 12/20 done). What was "
        "finished is kept (trained encoders, cached latents, finished cells): run the same command again to resume")

    def before_any_step(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(stitch.cli.cache, "run_clear", before_any_step)
    assert main(["cache", "clear"]) == 130
    assert capsys.readouterr().err.strip().startswith("stitch: interrupted. What was finished is kept")


def test_a_ctrl_c_a_library_swallows_stops_the_command_at_its_next_step(monkeypatch, capsys) -> None:
    # numba compiles through llvmlite's ctypes callbacks, which print and drop exceptions: a Ctrl-C pressed
    # during a compile used to vanish, and the run went on to exit 0
    import ctypes
    import os
    import signal

    import stitch.cli.cache
    from stitch.utils.progress import phase

    steps, dropped = [], []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: dropped.append(unraisable.exc_type))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever runs the suite

    def swallowed_in_a_callback(args):
        callback = ctypes.CFUNCTYPE(None)(lambda: os.kill(os.getpid(), signal.SIGINT))
        phase("step 1/2", enabled=False)
        callback()  # ctypes hands the exception to sys.unraisablehook and returns normally
        steps.append(1)
        phase("step 2/2", enabled=False)
        steps.append(2)

    monkeypatch.setattr(stitch.cli.cache, "run_clear", swallowed_in_a_callback)
    assert main(["cache", "clear"]) == 130
    assert steps == [1]
    assert dropped == [KeyboardInterrupt]
    assert capsys.readouterr().err.strip().startswith("stitch: interrupted at: step 1/2.")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the command's handler is removed
    signal.signal(signal.SIGINT, previous)


def test_a_second_ctrl_c_while_a_library_holds_the_first_stops_at_once(tmp_path) -> None:
    import signal
    import subprocess
    import time

    script = tmp_path / "busy.py"
    script.write_text(
        "import signal, sys, time\n"
        "from stitch.utils.interrupts import interruptible\n"
        # as in a terminal, whatever this test runs under (a shell's background job starts with SIGINT ignored)
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "with interruptible(on_force=lambda: print('last words', file=sys.stderr)):\n"
        "    print('ready', flush=True)\n"
        "    while True:  # a library that swallows every KeyboardInterrupt, wherever it lands\n"
        "        try:\n"
        "            time.sleep(0.05)\n"
        "        except KeyboardInterrupt:\n"
        "            pass\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        time.sleep(3.0)  # past NOTICE_S: the first request is still pending (the loop never reaches a checkpoint)
        assert proc.poll() is None
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - start < 2.0
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert "stitch: stopping at the end of the current step (a library is busy); press Ctrl-C again to stop now" in err
    assert err.rstrip().endswith("last words")


def test_a_toml_syntax_error_reported_at_a_line_start_quotes_the_line_before(tmp_path) -> None:
    from stitch.errors import ConfigError
    from stitch.experiment import load_experiment

    (tmp_path / "e.toml").write_text('name = "t"\nspaces = ["absolute"\n[dataset]\nname = "digits"\n')
    with pytest.raises(ConfigError, match=r"cannot parse experiment file '.*e\.toml': Unclosed array \(at line 3, "
                                          r"column 1\); the problem may be at the end of line 2: "
                                          r"'spaces = \[\"absolute\"'$"):
        load_experiment(tmp_path / "e.toml")
    (tmp_path / "f.toml").write_text('name = "t\n')  # reported where it is: no hint
    with pytest.raises(ConfigError, match=r"Illegal character '\\n' \(at line 1, column 10\)$"):
        load_experiment(tmp_path / "f.toml")


def test_a_comparison_without_candidates_is_named() -> None:
    from stitch.core.selection import select_translator

    x = torch.randn(20, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^no candidates to compare; pass at least one \(name, options\) pair, e\.g\. "
                                         r"AUTO_CANDIDATES$"):
        select_translator(x, x, candidates=[])
