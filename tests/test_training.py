"""train_encoder: seeded training, saved weights + provenance, loading back as ``trained:<path>``."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import stitch
from stitch.adapters.datasets import load_arrays
from stitch.encoder.checkpoint import TRAINED_FORMAT, sidecar_path
from stitch.errors import ConfigError
from stitch.experiment.training import train_encoder
from stitch.utils.files import ChecksumError, load_tensors

pytestmark = pytest.mark.usefixtures("one_thread")

# A small ResNet: 8x8 digits upsampled to 16x16, narrow channels, so a run takes a second or two.
TINY = {"image_size": 16, "channels": (16, 32, 64, 128)}


@pytest.fixture(scope="module")
def small_digits():
    ds = stitch.load_dataset("digits")
    keep = np.concatenate([ds.splits["train"][:300], ds.splits["val"][:100], ds.splits["test"][:100]])
    splits = {"train": np.arange(300), "val": np.arange(300, 400), "test": np.arange(400, 500)}
    return load_arrays(inputs=ds.inputs[keep], labels=ds.labels[keep], name="digits-small", modality="image",
                       class_names=ds.class_names, splits=splits)


@pytest.fixture(scope="module")
def trained(small_digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "r10-seed0.safetensors"
    return train_encoder("timm:resnet10t", small_digits, out=out, seed=0, schedule={"epochs": 6},
                         encoder_options=TINY, num_threads=1)


def test_training_learns_and_saves_provenance(trained, small_digits):
    m = trained.metrics
    assert m["test_accuracy"] > 0.5 and m["train_accuracy"] > 0.5  # chance is 0.1
    assert 1 <= m["best_epoch"] <= m["epochs_run"] <= 6
    tensors, meta, digest = load_tensors(trained.path)
    assert meta["format"] == TRAINED_FORMAT and digest == trained.sha256
    assert any(k.startswith("encoder.") for k in tensors) and {"head.weight", "head.bias"} <= set(tensors)
    side = json.loads(sidecar_path(trained.path).read_text())
    assert side["base_encoder"] == "timm:resnet10t" and side["seed"] == 0
    assert side["options"]["image_size"] == 16 and side["dataset"]["name"] == "digits-small"
    assert side["dataset"]["content_sha256"] == small_digits.content_hash()
    assert side["metrics"] == json.loads(meta["stitch"])["metrics"]


def test_trained_encoder_loads_by_name_and_reproduces_its_accuracy(trained, small_digits):
    enc = stitch.create_encoder(trained.name)
    assert enc.name == f"trained:{trained.path}" and enc.dim == 128
    z = enc.encode(small_digits.split_inputs("test"))
    tensors, _, _ = load_tensors(trained.path)
    logits = z @ tensors["head.weight"].T + tensors["head.bias"]
    acc = float((logits.argmax(1).numpy() == small_digits.split_labels("test")).mean())
    assert acc == pytest.approx(trained.metrics["test_accuracy"], abs=1e-9)
    from stitch.testing import check_encoder

    check_encoder(enc, small_digits.split_inputs("test")[:5])


def test_same_seed_same_weights_other_seed_other_weights(small_digits, tmp_path):
    sub = load_arrays(inputs=small_digits.inputs[:120], labels=small_digits.labels[:120], modality="image",
                      splits={"train": np.arange(100), "val": np.arange(100, 120)})
    runs = [train_encoder("timm:resnet10t", sub, out=tmp_path / f"{i}.safetensors", seed=s, schedule={"epochs": 1},
                          num_threads=1, encoder_options=TINY) for i, s in enumerate((3, 3, 4))]
    w = [load_tensors(r.path)[0] for r in runs]
    assert all(torch.equal(w[0][k], w[1][k]) for k in w[0])
    assert not all(torch.equal(w[0][k], w[2][k]) for k in w[0])


def test_tampered_or_orphaned_file_is_refused(trained, tmp_path):
    copy = tmp_path / "copy.safetensors"
    data = bytearray(trained.path.read_bytes())
    data[-3] ^= 0xFF
    copy.write_bytes(bytes(data))
    sidecar_path(copy).write_text(sidecar_path(trained.path).read_text())
    os.utime(copy, ns=(trained.path.stat().st_atime_ns, trained.path.stat().st_mtime_ns))  # same size and mtime
    enc = stitch.create_encoder(f"trained:{copy}")  # building reads only the sidecar
    with pytest.raises(ChecksumError, match=r"trained encoder .*copy.safetensors has sha256 [0-9a-f]{12}\.\.\., "
                                            r"expected [0-9a-f]{12}\.\.\.; it was modified, truncated or replaced"):
        enc.encode(np.zeros((1, 8, 8), np.float32))  # the weights are hashed in the read that loads them
    orphan = tmp_path / "orphan.safetensors"
    orphan.write_bytes(trained.path.read_bytes())
    with pytest.raises(FileNotFoundError, match="has no provenance file 'orphan.safetensors.json'"):
        stitch.create_encoder(f"trained:{orphan}")


def test_bad_arguments(small_digits, tmp_path):
    with pytest.raises(ConfigError, match=r"invalid schedule argument:\n  epochs: Input should be greater than or "
                                          r"equal to 1"):
        train_encoder("timm:resnet10t", small_digits, out=tmp_path / "x", schedule={"epochs": 0})
    with pytest.raises(TypeError, match=r"schedule must be a Schedule or a mapping of its fields \(epochs, lr, "
                                        r"weight_decay, batch_size, patience\), got int"):
        train_encoder("timm:resnet10t", small_digits, out=tmp_path / "x", schedule=3)
    with pytest.raises(ValueError, match="takes text inputs but dataset 'digits-small' is image"):
        train_encoder("text-bag", small_digits, out=tmp_path / "x")
    with pytest.raises(TypeError, match="'minilm' cannot be trained from scratch: it takes no 'seed' option"):
        train_encoder("minilm", small_digits, out=tmp_path / "x")


@pytest.mark.slow
def test_text_bag_learns_trec(shared_data, tmp_path):
    ds = stitch.load_dataset("trec", data_root=shared_data)
    res = train_encoder("text-bag", ds, out=tmp_path / "bag.safetensors", seed=0, schedule={"epochs": 8, "lr": 1e-2},
                        num_threads=1, encoder_options={"dim": 64, "buckets": 1 << 14, "embed_dim": 64})
    assert res.metrics["test_accuracy"] > 0.6  # 6 classes; majority class is 0.276 of the test set
    assert stitch.create_encoder(res.name).encode(["What is a cat?"]).shape == (1, 64)


@pytest.mark.slow
def test_gcn_learns_cora(shared_data, tmp_path):
    ds = stitch.load_dataset("cora", data_root=shared_data)
    res = train_encoder("pyg:gcn", ds, out=tmp_path / "gcn.safetensors", seed=0,
                        schedule={"epochs": 60, "lr": 1e-2, "weight_decay": 5e-4, "patience": 20}, num_threads=1,
                        encoder_options={"hidden_channels": 32})
    assert res.metrics["test_accuracy"] > 0.7  # GCN reaches ~0.8 on Cora's public split
    enc = stitch.create_encoder(res.name)
    z = enc.encode(ds.inputs)
    assert z.shape == (2708, 32)


def test_the_old_schedule_keywords_warn_and_train_the_same(small_digits, tmp_path):
    new = train_encoder("timm:resnet10t", small_digits, out=tmp_path / "new.safetensors", seed=1,
                        schedule={"epochs": 1, "lr": 1e-2}, encoder_options=TINY, num_threads=1)
    with pytest.warns(DeprecationWarning, match=r"train_encoder\(epochs=\.\.\., lr=\.\.\.\) is deprecated and will be "
                                                r"removed in latent-stitch 0\.3; pass schedule=\{'epochs': \.\.\., "
                                                r"'lr': \.\.\.\} instead"):
        old = train_encoder("timm:resnet10t", small_digits, out=tmp_path / "old.safetensors", seed=1, epochs=1,
                            lr=1e-2, encoder_options=TINY, num_threads=1)
    assert old.metrics["train_accuracy"] == new.metrics["train_accuracy"]
    w_old, w_new = load_tensors(old.path)[0], load_tensors(new.path)[0]
    assert all(torch.equal(w_old[k], w_new[k]) for k in w_new)
