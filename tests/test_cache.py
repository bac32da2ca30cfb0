"""LatentCache: hits, misses, corruption, interruption, keys, listing and the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from adapters.datasets import load_arrays
from stitch.cache import LatentCache, cached_sha256
from stitch.cli import main
from stitch.data import Dataset
from stitch.encoder import BaseEncoder, EncoderSpec


class Counting(BaseEncoder):
    """x -> x @ W with a seeded W; counts how many samples it encoded."""

    def __init__(self, seed: int = 0, dim: int = 3) -> None:
        super().__init__(EncoderSpec("counting", "tabular", "test encoder", dim=dim, weights="seeded", license="MIT",
                                     options={"seed": seed}))
        self.seed = seed
        self.calls = 0

    def _load(self) -> None:
        self.w = torch.randn(4, self.spec.dim, generator=torch.Generator().manual_seed(self.seed))

    def _prepare(self, inputs):
        return torch.as_tensor(np.asarray(inputs), dtype=torch.float32)

    def _encode_batch(self, batch):
        self.calls += len(batch)
        return batch @ self.w

    def fingerprint(self):
        return {"name": self.name, "seed": self.seed}


@pytest.fixture
def ds() -> Dataset:
    x = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    return load_arrays(inputs=x, labels=np.arange(40) % 2, name="toy")


@pytest.fixture
def cache(tmp_path) -> LatentCache:
    return LatentCache(tmp_path / "cache")


def test_miss_then_hit_serves_identical_rows_without_encoding(cache, ds):
    enc = Counting()
    z1 = cache.encode(enc, ds, "test")
    assert enc.calls == len(ds.splits["test"]) and cache.misses == 1
    z2 = cache.encode(enc, ds, "test")
    assert enc.calls == len(ds.splits["test"]) and cache.hits == 1
    assert torch.equal(z1, z2)
    naive = torch.as_tensor(ds.split_inputs("test")) @ enc.w
    torch.testing.assert_close(z1, naive)


def test_key_depends_on_weights_split_and_content(cache, ds):
    keys = {cache.key(Counting(0), ds, "test"), cache.key(Counting(1), ds, "test"), cache.key(Counting(0), ds, "train")}
    other = load_arrays(inputs=np.asarray(ds.inputs) + 1, labels=ds.labels, name="toy")
    keys.add(cache.key(Counting(0), other, "test"))
    assert len(keys) == 4
    assert cache.key(Counting(0), ds, "test") == LatentCache(cache.root).key(Counting(0), ds, "test")


def test_other_seed_is_a_miss(cache, ds):
    z0 = cache.encode(Counting(0), ds, "test")
    z1 = cache.encode(Counting(1), ds, "test")
    assert cache.misses == 2 and not torch.equal(z0, z1)


def _entry_files(cache):
    [data] = cache.directory.glob("*.safetensors")
    return data, data.with_suffix(".json")


@pytest.mark.parametrize("damage", ["flip", "truncate", "sidecar-garbage", "wrong-shape"])
def test_damaged_entry_is_reported_once_and_recomputed(cache, ds, damage):
    enc = Counting()
    z = cache.encode(enc, ds, "val")
    data, side = _entry_files(cache)
    raw = bytearray(data.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "sidecar-garbage":
        side.write_text("{not json")
    else:
        meta = json.loads(side.read_text())
        meta["shape"] = [1, 1]
        side.write_text(json.dumps(meta))
    calls = enc.calls
    with pytest.warns(UserWarning, match="unusable: .*recomputing"):
        z2 = cache.encode(enc, ds, "val")
    assert enc.calls == 2 * calls and torch.equal(z, z2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no second report
        z3 = cache.encode(enc, ds, "val")
    assert torch.equal(z, z3) and enc.calls == 2 * calls


def test_interrupted_write_is_a_silent_miss(cache, ds, monkeypatch):
    enc = Counting()
    import stitch.cache as cache_mod

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod, "write_json", crash)  # dies after the latents, before the sidecar
    with pytest.raises(KeyboardInterrupt):
        cache.encode(enc, ds, "test")
    monkeypatch.undo()
    assert not list(cache.directory.glob("*.json")) and not list(cache.directory.glob(".*.tmp"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.encode(enc, ds, "test")
    assert cache.misses == 2


def test_sidecar_for_other_ids_is_not_served(cache, ds):
    enc = Counting()
    cache.encode(enc, ds, "test")
    _, side = _entry_files(cache)
    meta = json.loads(side.read_text())
    meta["ids_sha256"] = "0" * 64
    side.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="different sample ids"):
        cache.encode(enc, ds, "test")


def test_transductive_dataset_encodes_once_and_indexes_rows(cache):
    class Graphish(Counting):
        def _prepare(self, inputs):
            return torch.as_tensor(np.asarray(inputs), dtype=torch.float32)

    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    ds = Dataset("g", "tabular", x, np.array([0, 1, 0, 1, 0, 1]), ("a", "b"), tuple("uvwxyz"),
                 {"train": np.array([4, 1]), "test": np.array([0, 5, 2])}, transductive=True)
    enc = Graphish()
    z_train = cache.encode(enc, ds, "train")
    z_test = cache.encode(enc, ds, "test")
    full = torch.as_tensor(x) @ enc.w
    torch.testing.assert_close(z_train, full[[4, 1]])
    torch.testing.assert_close(z_test, full[[0, 5, 2]])
    assert enc.calls == 6 and cache.hits == 1


def test_unknown_split_fails_before_encoding(cache, ds):
    enc = Counting()
    with pytest.raises(ValueError, match="has no split 'dev'"):
        cache.encode(enc, ds, "dev")
    assert enc.calls == 0


def test_sidecar_records_provenance(cache, ds):
    cache.encode(Counting(), ds, "test")
    data, side = _entry_files(cache)
    meta = json.loads(side.read_text())
    assert meta["encoder"] == {"name": "counting", "seed": 0}
    assert meta["dataset"] == "toy" and meta["split"] == "test" and meta["shape"] == [len(ds.splits["test"]), 3]
    assert meta["sha256"] == cached_sha256(data) and "torch" in meta["versions"] and meta["created"]


def test_list_and_clear_by_pattern(cache, ds):
    other = load_arrays(inputs=np.asarray(ds.inputs), labels=ds.labels, name="other")
    cache.encode(Counting(), ds, "test")
    cache.encode(Counting(), ds, "train")
    cache.encode(Counting(), other, "test")
    assert len(cache.list()) == 3 and len(cache.list("other")) == 1 and cache.list("nothing*") == []
    assert cache.clear("toy") == 2
    assert [e.dataset for e in cache.list()] == ["other"]
    assert cache.clear() == 1 and list(cache.directory.iterdir()) == []


def test_cli_list_and_clear(cache, ds, capsys):
    cache.encode(Counting(), ds, "test")
    assert main(["cache", "--root", str(cache.root), "list"]) == 0
    out = capsys.readouterr().out
    assert "| counting | toy | test | 8x3 |" in out and "1 entries" in out
    assert main(["cache", "--root", str(cache.root), "clear", "count*"]) == 0
    assert "removed 1 cached entry matching 'count*'" in capsys.readouterr().out
    assert main(["cache", "--root", str(cache.root), "list"]) == 0
    assert "no cached latents" in capsys.readouterr().out


def test_default_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "c"))
    assert LatentCache().root == tmp_path / "c"


def test_cached_sha256_notices_a_changed_file(tmp_path):
    p = tmp_path / "w.bin"
    p.write_bytes(b"abc")
    first = cached_sha256(p)
    p.write_bytes(b"abcd")
    assert cached_sha256(p) != first
    import hashlib

    assert cached_sha256(p) == hashlib.sha256(b"abcd").hexdigest()


def test_entry_is_stored_under_the_key_known_after_loading(cache, ds):
    hub = {"downloaded": False}

    class HubLike(Counting):
        # like hub weights: their file hash is known only once they are in the local cache (after a load)
        def _load(self):
            super()._load()
            hub["downloaded"] = True

        def fingerprint(self):
            return {"name": self.name, "weights_sha256": "abc" if hub["downloaded"] else None}

    first = HubLike()
    cache.encode(first, ds, "test")
    second = HubLike()
    cache.encode(second, ds, "test")  # next run: the precise key from the start
    assert cache.hits == 1 and second.calls == 0
