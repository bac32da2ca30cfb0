"""LatentCache: hits, misses, corruption, interruption, keys, listing and the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from stitch.adapters.datasets import load_arrays
from stitch.encoder.cache import LatentCache
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


def _entry_file(cache):
    [data] = cache.directory.glob("*.safetensors")
    return data


def _forge(path, z, meta, **changes):
    """Rewrite an entry with other latents or metadata, its recorded sha256 made to match (a careful forger)."""
    from stitch.utils.files import save_tensors, tensors_sha256

    prov = {**json.loads(meta["provenance"]), **changes.pop("provenance", {})}
    meta = {**meta, "provenance": json.dumps(prov), "tensors_sha256": tensors_sha256({"latents": z}), **changes}
    save_tensors(path, {"latents": z}, meta)


@pytest.mark.parametrize("damage", ["flip", "truncate", "header-garbage", "other-key", "rows", "width", "dtype",
                                    "ids"])
def test_damaged_or_forged_entry_is_reported_once_and_recomputed(cache, ds, damage):
    from stitch.utils.files import load_tensors

    enc = Counting()
    z = cache.encode(enc, ds, "val")
    data = _entry_file(cache)
    raw = bytearray(data.read_bytes())
    _, meta, _ = load_tensors(data)
    expected = {"flip": "do not match their recorded sha256", "truncate": "cannot be read",
                "header-garbage": "cannot be read", "other-key": "describes a different entry",
                "rows": r"holds \(7, 3\) latents, expected \(8, 3\)", "width": r"holds \(8, 2\) latents",
                "dtype": "holds 2-D torch.float64 latents, expected 2-D float32",
                "ids": "computed for different sample ids"}[damage]
    if damage == "flip":
        raw[-5] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "header-garbage":
        raw[10:20] = b"\x00" * 10
        data.write_bytes(bytes(raw))
    elif damage == "other-key":
        _forge(data, z, meta, key="0" * 40)
    elif damage == "rows":
        _forge(data, z[:-1], meta)
    elif damage == "width":
        _forge(data, z[:, :2].contiguous(), meta)
    elif damage == "dtype":
        _forge(data, z.double(), meta)
    else:
        _forge(data, z, meta, provenance={"ids_sha256": "0" * 64})
    calls = enc.calls
    with pytest.warns(UserWarning, match=f"unusable: .*{expected}.*; discarding it and recomputing"):
        z2 = cache.encode(enc, ds, "val")
    assert enc.calls == 2 * calls and torch.equal(z, z2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no second report
        z3 = cache.encode(enc, ds, "val")
    assert torch.equal(z, z3) and enc.calls == 2 * calls


def test_interrupted_write_leaves_no_entry_and_no_temporary(cache, ds, monkeypatch):
    enc = Counting()
    import stitch.utils.files as files

    real_replace = files.os.replace

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed after the bytes were written, before the rename

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(enc, ds, "test")
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert list(cache.directory.iterdir()) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.encode(enc, ds, "test")
    assert cache.misses == 2 and len(cache.list()) == 1


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


def test_entry_records_provenance_in_its_header(cache, ds):
    from stitch.utils.files import load_tensors

    cache.encode(Counting(), ds, "test")
    _, meta, _ = load_tensors(_entry_file(cache))
    prov = json.loads(meta["provenance"])
    assert prov["encoder"] == {"name": "counting", "seed": 0}
    assert prov["dataset"] == "toy" and prov["split"] == "test"
    assert "torch" in prov["versions"] and prov["created"]
    [entry] = cache.list()
    assert entry.shape == (len(ds.splits["test"]), 3) and entry.to_dict()["encoder"] == "counting"


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
    assert main(["cache", "--cache", str(cache.root), "list"]) == 0
    out = capsys.readouterr().out
    assert "| counting | toy | test | 8x3 |" in out and "1 entries" in out
    assert main(["cache", "--cache", str(cache.root), "list", "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["shape"] == [8, 3] and record["dataset"] == "toy"
    assert main(["cache", "--root", str(cache.root), "clear", "count*"]) == 0  # the deprecated spelling works
    assert "removed 1 cached entry matching 'count*'" in capsys.readouterr().out
    assert main(["cache", "--cache", str(cache.root), "list"]) == 0
    assert "no cached latents" in capsys.readouterr().err


def test_default_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "c"))
    assert LatentCache().root == tmp_path / "c"


def test_clear_everything_skips_folders_and_never_follows_links(cache, ds, tmp_path):
    cache.encode(Counting(), ds, "test")
    (cache.directory / "a-folder").mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (cache.directory / "link.safetensors").symlink_to(outside)
    (cache.directory / ".stray.tmp").write_text("leftover")
    (cache.directory / ("0" * 40 + ".safetensors")).write_bytes(b"damaged")  # an entry list() cannot read
    assert cache.clear("*") == 2  # the good entry and the damaged one; the leftover is not an entry
    assert sorted(p.name for p in cache.directory.iterdir()) == ["a-folder", "link.safetensors"]
    assert outside.read_text() == "keep me"


def test_fingerprint_that_needs_the_weights_gives_the_same_key_every_run(cache, ds):
    class Hashed(Counting):
        # like file-backed weights: the identity is the hash of the bytes read (here the seed's bytes)
        def fingerprint(self):
            self._ensure_loaded()
            return {"name": self.name, "weights_sha256": str(hash(self.w.numpy().tobytes()))}

    cache.encode(Hashed(), ds, "test")
    second = Hashed()
    cache.encode(second, ds, "test")
    assert cache.hits == 1 and second.calls == 0
