"""MNIST / Fashion-MNIST idx loading, the text-folder layout, and seeded subsets of a dataset."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

import stitch
from stitch.adapters import idx
from stitch.utils.files import ChecksumError


def _idx_bytes(a: np.ndarray) -> bytes:
    """A naive idx writer (uint8 only), independent of the parser under test."""
    return bytes([0, 0, 0x08, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape) + a.tobytes()


def _write_mnist(folder: Path, *, gz: bool, n_train: int = 200, n_test: int = 20) -> dict[str, bytes]:
    """Tiny synthetic MNIST files in ``folder``; returns the bytes written per file name."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8)}
    written = {}
    for stem, a in arrays.items():
        blob = _idx_bytes(a)
        name = stem + (".gz" if gz else "")
        data = gzip.compress(blob, mtime=0) if gz else blob
        (folder / name).write_bytes(data)
        written[name] = data
    return written


@pytest.fixture
def fake_checksums(monkeypatch: pytest.MonkeyPatch):
    """Put the synthetic files' checksums on record for 'mnist', as for the real files: md5 of the .gz and sha256
    of the uncompressed content."""
    def record(written: dict[str, bytes]) -> None:
        info = dict(idx.IDX_DATASETS["mnist"])
        info["md5"] = {k.removesuffix(".gz"): hashlib.md5(v).hexdigest() for k, v in written.items()}
        info["sha256"] = {k.removesuffix(".gz"): hashlib.sha256(gzip.decompress(v)).hexdigest()
                          for k, v in written.items()}
        monkeypatch.setitem(idx.IDX_DATASETS, "mnist", info)
    return record


def test_parse_idx_round_trips_and_names_bad_files():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(idx.parse_idx(_idx_bytes(a), "x"), a)
    with pytest.raises(ValueError, match=r"f\.bin is not an idx file \(expected 00 00 <type> <rank> at its start, "
                                         r"got 50 4b 03 04\)"):
        idx.parse_idx(b"PK\x03\x04rest", "f.bin")
    with pytest.raises(ValueError, match="x is truncated: its idx header announces 24 values"):
        idx.parse_idx(_idx_bytes(a)[:-5], "x")
    with pytest.raises(ValueError, match="x has trailing bytes"):
        idx.parse_idx(_idx_bytes(a) + b"\0", "x")
    with pytest.raises(ValueError, match="truncated inside its idx header"):
        idx.parse_idx(bytes([0, 0, 8, 3, 0, 0]), "x")


@pytest.mark.parametrize("gz", [True, False])
def test_torchvision_layout_gzipped_or_not(tmp_path, fake_checksums, gz):
    written = _write_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    fake_checksums(_write_mnist(tmp_path / "gz", gz=True))  # the canonical .gz's md5 (same arrays)
    ds = stitch.load_dataset("mnist", data_root=tmp_path)  # the uncompressed content is what is verified
    assert ds.inputs.shape == (220, 28, 28) and ds.inputs.dtype == np.uint8
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 180, "val": 20, "test": 20}
    assert ds.ids[0] == "mnist-train-00000" and ds.ids[200] == "mnist-test-0000"
    assert ds.metadata["verified"] is True and set(ds.metadata["files"]) == set(written)
    train_imgs = idx.parse_idx(gzip.decompress(written["train-images-idx3-ubyte.gz"]) if gz
                               else written["train-images-idx3-ubyte"], "ref")
    np.testing.assert_array_equal(ds.inputs[:200], train_imgs)


def test_wrong_checksum_is_refused_unless_verify_false(tmp_path, fake_checksums):
    fake_checksums(_write_mnist(tmp_path / "MNIST" / "raw", gz=True))
    target = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(gzip.compress(_idx_bytes(np.zeros(20, np.uint8)), mtime=0))  # valid idx, other content
    with pytest.raises(ChecksumError, match=r"t10k-labels-idx1-ubyte\.gz does not match the canonical mnist file "
                                            r".*pass verify=False to use it anyway"):
        stitch.load_dataset("mnist", data_root=tmp_path)
    ds = stitch.load_dataset("mnist", data_root=tmp_path, verify=False)
    assert ds.metadata["verified"] is False and ds.metadata["files"]["t10k-images-idx3-ubyte.gz"]["verified"]


def test_the_canonical_uncompressed_mnist_checksums_are_on_record():
    assert idx.IDX_DATASETS["mnist"]["sha256"] == {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}


def test_a_regzipped_copy_of_the_canonical_files_is_verified(tmp_path, fake_checksums):
    fake_checksums(_write_mnist(tmp_path / "canonical", gz=True))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (tmp_path / "canonical").iterdir():  # same content, another gzip wrapper (level, mtime)
        (raw / f.name).write_bytes(gzip.compress(gzip.decompress(f.read_bytes()), compresslevel=1, mtime=12345))
    assert stitch.load_dataset("mnist", data_root=tmp_path).metadata["verified"] is True


def _typed_idx(a: np.ndarray, code: int, dtype: str) -> bytes:
    return bytes([0, 0, code, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape) + a.astype(dtype).tobytes()


def test_float_labels_and_images_off_their_scale_are_refused(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _write_mnist(raw, gz=False)
    good = (raw / "t10k-labels-idx1-ubyte").read_bytes()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_typed_idx(np.arange(20) % 10 + 0.7, 0x0D, ">f4"))
    with pytest.raises(ValueError, match=r"mnist test: labels are stored as float32 \(idx type 0x0D/0x0E\); class "
                                         r"labels must be integers \(idx type 0x08, unsigned bytes\)"):
        stitch.load_dataset("mnist", data_root=tmp_path, verify=False)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(good)
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28)).astype(np.float64)  # 0..255 stored as floats
    (raw / "t10k-images-idx3-ubyte").write_bytes(_typed_idx(images, 0x0E, ">f8"))
    with pytest.raises(ValueError, match=r"mnist test: float images range over \[0, 255\], expected 0\.\.1 \(float\) "
                                         r"or uint8 0\.\.255; store the images as unsigned bytes"):
        stitch.load_dataset("mnist", data_root=tmp_path, verify=False)
    (raw / "t10k-images-idx3-ubyte").write_bytes(_typed_idx(images / 255, 0x0E, ">f8"))
    assert stitch.load_dataset("mnist", data_root=tmp_path, verify=False).inputs.dtype == np.float64


def test_missing_folder_names_where_to_put_the_files(tmp_path):
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 1\.5"):
        stitch.load_dataset("fashion-mnist", data_root=tmp_path, val_fraction=1.5)
    with pytest.raises(FileNotFoundError, match=r"fashion-mnist: train-images-idx3-ubyte\(\.gz\) not found in "
                                                rf"{tmp_path}/FashionMNIST/raw .* put the four canonical idx files"):
        stitch.load_dataset("fashion-mnist", data_root=tmp_path)


def test_corrupt_gzip_and_mismatched_counts(tmp_path, fake_checksums):
    raw = tmp_path / "MNIST" / "raw"
    _write_mnist(raw, gz=False)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(19, np.uint8)))
    with pytest.raises(ValueError, match=r"mnist test: images \(20, 28, 28\) and labels \(19,\) do not pair up"):
        stitch.load_dataset("mnist", data_root=tmp_path, verify=False)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz is not a readable gzip file"):
        stitch.load_dataset("mnist", data_root=tmp_path, verify=False)


def test_download_checks_md5_and_caches(tmp_path, monkeypatch, fake_checksums):
    import urllib.request

    written = _write_mnist(tmp_path / "src", gz=True)
    fake_checksums(written)
    served = []

    def urlopen(url, timeout):
        name = url.rsplit("/", 1)[1]
        served.append(name)
        if "ossci" in url and name.startswith("t10k-labels"):
            return io.BytesIO(b"tampered")  # the first mirror serves a bad file: md5 refused, next mirror
        return io.BytesIO(written[name])

    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STITCH_DATA", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    ds = stitch.load_dataset("mnist")
    assert ds.metadata["verified"] and len(ds) == 220
    assert served.count("t10k-labels-idx1-ubyte.gz") == 2  # refused once, fetched from the second mirror
    assert len(list((tmp_path / "cache").rglob("*.gz"))) == 4
    served.clear()
    stitch.load_dataset("mnist")
    assert served == []  # read from the cache

    def offline(url, timeout):
        raise OSError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("STITCH_CACHE", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=r"could not download train-images-idx3-ubyte\.gz of mnist .*"
                                                r"offline, put the four idx files in <root>/MNIST/raw/"):
        stitch.load_dataset("mnist")


def test_real_fashion_mnist_is_verified(shared_data):
    ds = stitch.load_dataset("fashion-mnist", data_root=shared_data)
    assert ds.metadata["verified"] and ds.inputs.shape == (70000, 28, 28)
    assert ds.class_names[0] == "T-shirt/top" and ds.num_classes == 10
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 54000, "val": 6000, "test": 10000}
    assert np.bincount(ds.split_labels("test")).tolist() == [1000] * 10


def test_text_folder_replaces_bad_bytes_and_uses_relative_ids(tmp_path):
    for c in ("ham", "spam"):
        (tmp_path / c / "sub").mkdir(parents=True)
        for i in range(5):
            (tmp_path / c / f"{i}.txt").write_text(f"{c} message {i}")
    (tmp_path / "spam" / "sub" / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "spam" / ".hidden").write_text("skipped")
    ds = stitch.load_dataset("text-folder", path=tmp_path)
    assert ds.class_names == ("ham", "spam") and len(ds) == 11
    assert "spam/sub/latin1.txt" in ds.ids and "spam/.hidden" not in ds.ids
    assert ds.inputs[ds.ids.index("spam/sub/latin1.txt")] == "caf\ufffd cr\ufffdme"
    assert ds.metadata["replaced_characters"] == 2
    assert stitch.load_dataset("text-folder", path=tmp_path, encoding="latin-1").metadata["replaced_characters"] == 0


def test_text_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stitch.load_dataset("text-folder", path=tmp_path / "nope")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=r"has no documents in its class sub-folders \['a', 'b'\]"):
        stitch.load_dataset("text-folder", path=tmp_path)
    with pytest.raises(LookupError, match="unknown encoding"):
        stitch.load_dataset("text-folder", path=tmp_path, encoding="no-such-codec")


def test_subsample_is_stratified_seeded_and_recorded():
    ds = stitch.load_dataset("digits")
    sub = ds.subsample({"train": 200, "test": 50}, seed=3)
    assert len(sub.indices("train")) == 200 and len(sub.indices("test")) == 50
    assert len(sub.indices("val")) == len(ds.indices("val"))  # splits not named are kept whole
    full = np.bincount(ds.split_labels("train"), minlength=10) / len(ds.indices("train"))
    part = np.bincount(sub.split_labels("train"), minlength=10) / 200
    assert np.abs(part - full).max() <= 1 / 200 + 1e-12  # largest-remainder: within one sample per class
    again = ds.subsample({"train": 200, "test": 50}, seed=3)
    assert again.split_ids("train") == sub.split_ids("train")
    assert ds.subsample({"train": 200}, seed=4).split_ids("train") != sub.split_ids("train")
    assert set(sub.split_ids("train")) <= set(ds.split_ids("train"))
    assert sub.metadata["subset"] == {"sizes": {"train": 200, "test": 50}, "seed": 3}
    assert sub.content_hash() != ds.content_hash()
    assert ds.subsample({"train": 5000}).split_ids("train") == ds.split_ids("train")  # more than there are: whole
    with pytest.raises(ValueError, match=r"dataset 'digits' has no split\(s\) 'dev' to subsample; available: "
                                         r"'train', 'val', 'test'"):
        ds.subsample({"dev": 10})
    with pytest.raises(ValueError, match=r"subset size of split 'train' must be a positive int, got 0"):
        ds.subsample({"train": 0})


def test_a_gzip_bomb_is_stopped_at_the_size_its_header_announces(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _write_mnist(raw, gz=True)
    header = bytes([0, 0, 0x08, 1]) + (20).to_bytes(4, "big")
    bomb = gzip.compress(header + bytes(20) + bytes(300_000_000), compresslevel=9)  # ~300 KB inflating to 300 MB
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(bomb)
    assert len(idx._inflate(bomb, raw / "x.gz")) == len(header) + 20 + 1  # the announced size and one byte more
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz has trailing bytes: its idx header announces 20 "
                                         r"values \(20 bytes\) but 21 bytes follow it"):
        stitch.load_dataset("mnist", data_root=tmp_path, verify=False)


def test_forged_idx_headers_are_named():
    huge = bytes([0, 0, 0x08, 3]) + b"".join((2**31 - 1).to_bytes(4, "big") for _ in range(3))
    with pytest.raises(ValueError, match=r"x is truncated: its idx header announces 9903520300447984150353281023 "
                                         r"values \(9903520300447984150353281023 bytes\) but 0 bytes follow it"):
        idx.parse_idx(huge, "x")


def test_idx_files_without_samples_are_refused(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _write_mnist(raw, gz=False, n_test=0)
    with pytest.raises(ValueError, match=r"mnist test: the idx files hold no samples \(their headers announce 0\)"):
        stitch.load_dataset("mnist", data_root=tmp_path, verify=False)
