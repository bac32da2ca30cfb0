"""Built-in datasets: content, ids, splits, real TREC / Cora files, file formats and errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import stitch
from stitch.adapters.datasets import (
    PLANETOID_SHA256, load_arrays, parse_planetoid_file, load_image_folder, load_text_file, read_trec_file,
)
from stitch.data import stratified_splits


def _check_splits(ds):
    parts = [set(map(int, ds.splits[s])) for s in ds.splits]
    assert sum(len(p) for p in parts) == len(set().union(*parts)), "splits overlap"
    return parts


def test_digits_content_ids_and_stratified_splits():
    ds = stitch.load_dataset("digits")
    from sklearn.datasets import load_digits

    ref = load_digits()
    assert ds.modality == "image" and ds.inputs.shape == (1797, 8, 8) and ds.inputs.dtype == np.float32
    np.testing.assert_array_equal(ds.inputs * 16, ref.images)
    np.testing.assert_array_equal(ds.labels, ref.target)
    assert ds.class_names == tuple("0123456789") and ds.ids[0] == "digits-0000" and ds.ids[-1] == "digits-1796"
    parts = _check_splits(ds)
    assert set().union(*parts) == set(range(1797))
    assert [len(ds.splits[s]) for s in ("train", "val", "test")] == [1078, 360, 359]
    for s in ("train", "test"):  # every class in proportion (within one sample)
        counts = np.bincount(ds.split_labels(s), minlength=10)
        expected = np.bincount(ds.labels) * len(ds.splits[s]) / len(ds)
        assert np.all(np.abs(counts - expected) <= 1.0)
    assert len(ds.metadata["input_sha256"]) == 64


def test_digits_is_stable_and_seeded():
    a, b = stitch.load_dataset("digits"), stitch.load_dataset("digits")
    assert a.content_hash() == b.content_hash()
    c = stitch.load_dataset("digits", seed=1)
    assert c.content_hash() != a.content_hash() and not np.array_equal(c.splits["test"], a.splits["test"])


def test_stratified_splits_are_a_partition():
    y = np.repeat(np.arange(3), [10, 20, 30])
    parts = stratified_splits(y, {"a": 0.5, "b": 0.5}, seed=3)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(60))
    assert np.bincount(y[parts["a"]]).tolist() == [5, 10, 15]
    with pytest.raises(ValueError, match="split fractions must be non-negative"):
        stratified_splits(y, {"a": -1.0})


def test_trec_real_files_coarse_and_fine(shared_data):
    coarse = stitch.load_dataset("trec", data_root=shared_data)
    fine = stitch.load_dataset("trec", data_root=shared_data, label="fine")
    for ds in (coarse, fine):
        assert len(ds) == 5452 + 500 and ds.modality == "text"
        assert len(ds.splits["train"]) + len(ds.splits["val"]) == 5452 and len(ds.splits["test"]) == 500
        _check_splits(ds)
    assert coarse.class_names == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    assert fine.num_classes == 50 and "NUM:date" in fine.class_names
    assert coarse.inputs[0] == "How did serfdom develop in and then leave Russia ?"
    assert coarse.class_names[coarse.labels[0]] == "DESC" and fine.class_names[fine.labels[0]] == "DESC:manner"
    assert coarse.ids[5452] == "trec-test-000" and coarse.name == "trec-coarse" and fine.name == "trec-fine"
    # ISO-8859-1 decoding (one byte is not valid UTF-8) and CRLF line ends stripped
    assert not any("\r" in t or "\ufffd" in t for t in coarse.inputs)
    assert any(any(ord(ch) > 127 for ch in t) for t in coarse.inputs)


def test_trec_reads_a_directory_holding_the_files_and_stitch_data(shared_data, monkeypatch):
    direct = stitch.load_dataset("trec", data_root=shared_data / "trec")
    monkeypatch.setenv("STITCH_DATA", str(shared_data))
    via_env = stitch.load_dataset("trec")
    assert direct.content_hash() == via_env.content_hash()


def test_trec_missing_files_and_bad_lines(tmp_path):
    with pytest.raises(FileNotFoundError, match="TREC files train_5500.label, TREC_10.label not found"):
        stitch.load_dataset("trec", data_root=tmp_path)
    with pytest.raises(ValueError, match="unknown TREC label set 'medium'"):
        stitch.load_dataset("trec", data_root=tmp_path, label="medium")
    bad = tmp_path / "bad.label"
    bad.write_bytes(b"DESC:manner How ?\r\nnolabel\r\n")
    with pytest.raises(ValueError, match=r"bad.label:2: expected 'COARSE:fine question'"):
        read_trec_file(bad)


def test_cora_from_read_only_shared_folder(shared_data):
    ds = stitch.load_dataset("cora", data_root=shared_data)
    g = ds.inputs
    assert ds.transductive and ds.modality == "graph"
    assert (g.num_nodes, g.x.shape[1], g.edge_index.shape[1], ds.num_classes) == (2708, 1433, 10556, 7)
    assert [len(ds.splits[s]) for s in ("train", "val", "test")] == [140, 500, 1000]
    assert ds.ids[0] == "cora-00000"
    assert not (shared_data / "planetoid" / "Cora" / "processed").exists()
    # the dataset's rows for a split are the split's nodes
    assert ds.split_labels("train").tolist() == g.y[ds.splits["train"]].tolist()
    assert ds.metadata["raw_sha256_verified"] is True
    assert ds.metadata["raw_sha256"]["ind.cora.x"] == PLANETOID_SHA256["cora"]["ind.cora.x"]


def _cora_copy(shared_data, tmp_path):
    raw = tmp_path / "data" / "planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    for f in (shared_data / "planetoid" / "Cora" / "raw").iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    return raw


class _Payload:
    """Pickles to a call of ``os.system`` (built with ``pickle.dumps`` only: never loaded unrestricted)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def test_planetoid_refuses_a_pickle_that_runs_code(shared_data, tmp_path):
    raw = _cora_copy(shared_data, tmp_path)
    marker = tmp_path / "pwned"
    (raw / "ind.cora.x").write_bytes(pickle.dumps(_Payload(f"touch {marker}"), protocol=2))
    pinned = (r"/data/planetoid/Cora/raw/ind\.cora\.x is not a genuine Planetoid file: it references the global "
              r"(posix|os)\.system, which Planetoid data never needs; refusing to load it")
    with pytest.raises(ValueError, match=pinned):
        stitch.load_dataset("cora", data_root=tmp_path / "data")
    assert not marker.exists()
    # a payload in the graph part (a different global) is refused the same way
    raw = _cora_copy(shared_data, tmp_path / "second")
    (raw / "ind.cora.graph").write_bytes(pickle.dumps({0: [eval]}, protocol=2))
    with pytest.raises(ValueError) as err:
        stitch.load_dataset("cora", data_root=tmp_path / "second" / "data")
    assert str(err.value).startswith(f"{raw / 'ind.cora.graph'} is not a genuine Planetoid file: it references the "
                                     f"global __builtin__.eval, which Planetoid data never needs")


def test_planetoid_benign_repickled_file_loads_but_is_not_verified(shared_data, tmp_path):
    reference = stitch.load_dataset("cora", data_root=shared_data)
    raw = _cora_copy(shared_data, tmp_path)
    # ind.cora.y is the one-hot labels of the 140 training nodes; re-pickling changes bytes, not content
    one_hot = np.eye(7, dtype=np.int32)[reference.labels[:140]]
    (raw / "ind.cora.y").write_bytes(pickle.dumps(one_hot))
    with pytest.warns(UserWarning, match=r"ind\.cora\.y in .* differ from the canonical Cora files"):
        ds = stitch.load_dataset("cora", data_root=tmp_path / "data")
    assert ds.metadata["raw_sha256_verified"] is False
    assert ds.content_hash() == reference.content_hash()
    assert ds.metadata["raw_sha256"]["ind.cora.y"] != reference.metadata["raw_sha256"]["ind.cora.y"]


def test_planetoid_checks_every_file_and_downloads_verified(shared_data, tmp_path, monkeypatch):
    import stitch.adapters.datasets as dmod

    raw = _cora_copy(shared_data, tmp_path)
    (raw / "ind.cora.graph").unlink()
    with pytest.raises(FileNotFoundError, match=r"Planetoid raw files ind.cora.graph missing from"):
        stitch.load_dataset("cora", data_root=tmp_path / "data")
    with pytest.raises(ValueError, match="ind.cora.test.index is not a genuine Planetoid file: expected one node "
                                         "index per line"):
        parse_planetoid_file(b"12\nnot-a-number\n", "ind.cora.test.index")
    with pytest.raises(ValueError, match="ind.cora.tx is not a genuine Planetoid file: it does not unpickle as data"):
        parse_planetoid_file(pickle.dumps(np.arange(3))[:-5], "ind.cora.tx")
    # the download path (a file:// URL stands in for the web) checks the same way, against Cora's sha256
    monkeypatch.delenv("STITCH_DATA", raising=False)
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dmod, "PLANETOID_URL", (shared_data / "planetoid" / "Cora" / "raw").as_uri())
    ds = stitch.load_dataset("cora")
    assert ds.metadata["raw_sha256_verified"] is True and ds.metadata["source"].startswith("downloaded from ")
    downloaded = sorted(p.name for p in (tmp_path / "cache" / "datasets" / "planetoid" / "Cora" / "raw").iterdir())
    assert downloaded == sorted(f"ind.cora.{part}" for part in dmod.PLANETOID_PARTS)
    # nothing but the downloads is ever written: no processed/ pickle for anyone to plant or unpickle
    assert not list((tmp_path / "cache").rglob("*.pt"))


def test_planetoid_missing_raw_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="Planetoid raw files for CiteSeer not found"):
        stitch.load_dataset("citeseer", data_root=tmp_path)


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "pets" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(tmp_path / "pets" / cls / f"{i}.png")
    (tmp_path / "pets" / "cat" / "notes.txt").write_text("ignored")
    ds = stitch.load_dataset("image-folder", path="pets", data_root=tmp_path)
    assert ds.inputs.shape == (10, 6, 7, 3) and ds.class_names == ("cat", "dog") and ds.ids[0] == "cat/0.png"
    assert ds.labels.tolist() == [0] * 5 + [1] * 5
    Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(tmp_path / "pets" / "dog" / "big.png")
    with pytest.raises(ValueError, match="inconsistent sizes"):
        load_image_folder(path=tmp_path / "pets")
    assert load_image_folder(path=tmp_path / "pets", size=4).inputs.shape == (11, 4, 4, 3)


def test_text_file_csv_and_tsv(tmp_path):
    csv = tmp_path / "reviews.csv"
    csv.write_text('text,label\n"good, really",pos\nbad,neg\nfine,pos\nawful,neg\ngreat,pos\n')
    ds = stitch.load_dataset("text-file", path=csv)
    assert ds.inputs[0] == "good, really" and ds.class_names == ("neg", "pos") and ds.labels.tolist() == [1, 0, 1, 0, 1]
    assert ds.ids[0] == "reviews-0000"
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['label'\]"):
        load_text_file(path=_write(tmp_path / "x.csv", "text,lab\na,b\n"))
    with pytest.raises(ValueError, match=r"x.tsv:1: expected 'label<TAB>text'"):
        load_text_file(path=_write(tmp_path / "x.tsv", "no tab here\n"))


def _write(path, text):
    path.write_text(text)
    return path


def test_arrays_defaults_and_errors():
    ds = stitch.load_dataset("arrays", inputs=["a", "b", "c", "d", "e"], labels=[0, 1, 0, 1, 0], modality="text")
    assert ds.ids == ("arrays-0000", "arrays-0001", "arrays-0002", "arrays-0003", "arrays-0004")
    assert ds.metadata["input_sha256"]
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        load_arrays(inputs=np.zeros((3, 2)), labels=[0, 1])
    with pytest.raises(ValueError, match="labels must be a 1-D array of integer class indices"):
        load_arrays(inputs=np.zeros((2, 2)), labels=[0.5, 1.0])


def test_trec_download_path_verifies_and_caches(shared_data, monkeypatch, tmp_path):
    # The official URL is replaced by a file:// URL of the same files: the download code runs without network.
    import stitch.adapters.datasets as dmod

    monkeypatch.delenv("STITCH_DATA", raising=False)
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dmod, "TREC_URL", (shared_data / "trec").as_uri() + "/")
    ds = stitch.load_dataset("trec")
    assert len(ds) == 5952 and (tmp_path / "cache" / "datasets" / "trec" / "TREC_10.label").is_file()
    assert ds.content_hash() == stitch.load_dataset("trec", data_root=shared_data).content_hash()
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "other"))
    monkeypatch.setitem(dmod.TREC_SHA256, "train_5500.label", "0" * 64)
    with pytest.raises(ValueError, match="train_5500.label has sha256 6e29da43c7c7..., expected 000000000000"):
        stitch.load_dataset("trec")
    assert not (tmp_path / "other" / "datasets" / "trec" / "train_5500.label").exists()
