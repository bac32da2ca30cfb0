"""MNIST and Fashion-MNIST from their canonical idx files (``fashion-mnist``, ``mnist``).

Files are looked up in torchvision's layout, ``<root>/<Name>/raw/`` (``FashionMNIST`` / ``MNIST``), then
``<root>/<Name>/`` and ``<root>/``, gzipped or not (``root`` defaults to ``$STITCH_DATA``). Without a root
the canonical files are downloaded into the cache (online only) and checked against their published md5
before they are kept. Each file is read once: the bytes are decompressed, hashed and parsed from the same
read; the parse checks the idx header (magic number, dimensions, length) so a truncated or foreign file is a
clear error, not a reshape failure deep inside numpy.

Verification: a file passes when its *uncompressed* sha256 matches the value on record (Fashion-MNIST; this
survives a gzip wrapper made anew) or, gzipped, when its md5 matches the canonical download (MNIST has only
those on record). Anything else is a :class:`~stitch.utils.files.ChecksumError` naming the file, unless
``verify=False`` (then ``metadata["verified"]`` is ``False``).
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from stitch.data import Dataset, stratified_splits
from stitch.utils.files import ChecksumError, sha256_array
from stitch.utils.roots import data_root

__all__ = ["load_idx_dataset", "parse_idx", "IDX_DATASETS"]

_PARTS = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
          "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}

#: name -> folder (torchvision's), download mirrors, md5 of the canonical .gz files, sha256 of the
#: uncompressed files where on record, class names, licence.
IDX_DATASETS: dict[str, dict[str, Any]] = {
    "fashion-mnist": {
        "folder": "FashionMNIST",
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "md5": {"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"},
        "sha256": {"train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                   "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                   "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                   "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
        "classes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"),
        "license": "MIT (Zalando Research)",
        "citation": "Xiao, Rasul & Vollgraf, Fashion-MNIST, 2017",
    },
    "mnist": {
        "folder": "MNIST",
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        "md5": {"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"},
        "sha256": {"train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                   "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                   "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                   "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
        "classes": tuple(str(i) for i in range(10)),
        "license": "CC BY-SA 3.0 (LeCun, Cortes & Burges)",
        "citation": "LeCun, Cortes & Burges, The MNIST database of handwritten digits",
    },
}

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, shown_as: str | os.PathLike[str]) -> np.ndarray:
    """An idx array (LeCun's format: 2 zero bytes, a type byte, a rank byte, big-endian int32 sizes, data).

    Errors name ``shown_as`` and say what is wrong (not an idx file, truncated, trailing bytes).

    Shapes:
        ``data``: the uncompressed bytes  ->  an array of the sizes in the header (``(n, 28, 28)`` uint8
        for images, ``(n,)`` for labels).

    Example:
        >>> blob = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
        >>> parse_idx(blob, "labels").tolist()
        [7, 8, 9]
        >>> parse_idx(blob[:-1], "labels")
        Traceback (most recent call last):
        ...
        ValueError: labels is truncated: its idx header announces 3 values (3 bytes) but 2 bytes follow it
    """
    shown = str(shown_as)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        raise ValueError(f"{shown} is not an idx file (expected 00 00 <type> <rank> at its start, got "
                         f"{data[:4].hex(' ') or 'nothing'}); use the canonical MNIST / Fashion-MNIST files")
    rank = data[3]
    header = 4 + 4 * rank
    if len(data) < header:
        raise ValueError(f"{shown} is truncated inside its idx header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_DTYPES[data[2]])
    count = math.prod(shape)  # Python integers: a forged header cannot overflow into a negative count
    body = len(data) - header
    if body != count * dtype.itemsize:
        what = "is truncated" if body < count * dtype.itemsize else "has trailing bytes"
        raise ValueError(f"{shown} {what}: its idx header announces {count} values ({count * dtype.itemsize} "
                         f"bytes) but {body} bytes follow it")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: str, base: Path, stem: str) -> Path | None:
    for d in (base / folder / "raw", base / folder, base):
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


def _download_raw(name: str, stem: str) -> Path:
    """The canonical ``<stem>.gz`` in the cache, downloaded from the first mirror that answers (md5-checked)."""
    import urllib.request

    from stitch.utils.files import atomic_open
    from stitch.utils.roots import cache_root

    info = IDX_DATASETS[name]
    dest = cache_root() / "datasets" / info["folder"] / "raw" / f"{stem}.gz"
    if dest.is_file():
        return dest
    errors = []
    for mirror in info["mirrors"]:
        url = f"{mirror}{stem}.gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                blob = resp.read()
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            continue
        digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        if digest != info["md5"][stem]:
            errors.append(f"{url}: md5 {digest}, expected {info['md5'][stem]}")
            continue
        with atomic_open(dest, "wb") as f:
            f.write(blob)
        return dest
    raise FileNotFoundError(
        f"could not download {stem}.gz of {name} ({'; '.join(errors)}); offline, put the four idx files in "
        f"<root>/{info['folder']}/raw/ and pass root=<root> (or --data <root>, or set STITCH_DATA)")


def _inflate(blob: bytes, path: Path) -> bytes:
    """A gzipped idx file's bytes, inflated no further than its header announces (plus one byte, so trailing data
    is still reported): a small file that would inflate to gigabytes is stopped at the size it claims."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = inflater.decompress(blob, 4)
    if len(head) == 4 and head[:2] == b"\0\0" and head[2] in _DTYPES and head[3]:
        head += inflater.decompress(inflater.unconsumed_tail, 4 * head[3])
        if len(head) == 4 + 4 * head[3]:
            announced = math.prod(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(head[3]))
            body = announced * np.dtype(_DTYPES[head[2]]).itemsize
            return head + inflater.decompress(inflater.unconsumed_tail, body + 1)
    return head + inflater.decompress(inflater.unconsumed_tail, 1 << 16)  # not idx: parse_idx names what is wrong


def _read(name: str, path: Path, verify: bool) -> tuple[np.ndarray, str, bool]:
    """``(array, sha256 of the uncompressed bytes, verified)`` from one read of ``path``."""
    info = IDX_DATASETS[name]
    stem = path.name.removesuffix(".gz")
    blob = path.read_bytes()
    raw = blob
    if path.suffix == ".gz":
        try:
            raw = _inflate(blob, path)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path} is not a readable gzip file ({exc}); replace it with the canonical file or "
                             "its uncompressed idx file") from None
    digest = hashlib.sha256(raw).hexdigest()
    known = info["sha256"].get(stem)
    verified = digest == known if known else (
        path.suffix == ".gz" and hashlib.md5(blob, usedforsecurity=False).hexdigest() == info["md5"][stem])
    if verify and not verified:
        on_record = (f"sha256 {known} (uncompressed)" if known
                     else f"md5 {info['md5'][stem]} (the canonical .gz; no uncompressed checksum is on record)")
        raise ChecksumError(
            f"{path} does not match the canonical {name} file {stem}: its uncompressed sha256 is {digest}, "
            f"expected {on_record}. Replace it with the canonical file, or pass verify=False to use it anyway "
            "(results then record verified = false)")
    return parse_idx(raw, path), digest, verified


def load_idx_dataset(name: str, *, root: str | os.PathLike[str] | None = None, seed: int = 0,
                     val_fraction: float = 0.1, verify: bool = True) -> Dataset:
    """Fashion-MNIST or MNIST: 60,000 + 10,000 grey 28x28 uint8 images, 10 classes.

    Splits: ``test`` is the official test set; ``val`` a seeded stratified ``val_fraction`` of the official
    training set and ``train`` the rest. Ids are ``<name>-train-00000`` / ``<name>-test-0000`` by position in
    the files. ``metadata`` records each file, its uncompressed sha256 and whether it was verified.

    Shapes:
        inputs: ``(70000, 28, 28)`` uint8 (training images first).

    Example:
        >>> ds = load_idx_dataset("fashion-mnist", root="../shared/data")  # doctest: +SKIP
        >>> ds.inputs.shape, ds.class_names[0], {k: len(v) for k, v in ds.splits.items()}  # doctest: +SKIP
        ((70000, 28, 28), 'T-shirt/top', {'train': 54000, 'val': 6000, 'test': 10000})
    """
    from stitch.utils.checks import check_choice

    check_choice(name, tuple(IDX_DATASETS), "idx dataset")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    info = IDX_DATASETS[name]
    base = data_root(root)
    paths: dict[str, Path] = {}
    for part, stem in _PARTS.items():
        found = _find(info["folder"], base, stem) if base is not None else _download_raw(name, stem)
        if found is None:
            raise FileNotFoundError(
                f"{name}: {stem}(.gz) not found in {base / info['folder'] / 'raw'} (nor {base / info['folder']} or "
                f"{base}); put the four canonical idx files ({', '.join(s + '.gz' for s in _PARTS.values())}) in "
                f"{base / info['folder'] / 'raw'}, or call without a root while online to download them")
        paths[part] = found
    arrays, files = {}, {}
    for part, path in paths.items():
        arrays[part], digest, verified = _read(name, path, verify)
        files[path.name] = {"path": str(path), "sha256_uncompressed": digest, "verified": verified}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(labels) == 0:
            raise ValueError(f"{name} {split}: the idx files hold no samples (their headers announce 0); replace them "
                             "with the canonical files")
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{name} {split}: images {images.shape} and labels {labels.shape} do not pair up; "
                             "expected (n, h, w) images and n labels")
        if labels.dtype.kind == "f":  # 0.7 would become class 0
            raise ValueError(f"{name} {split}: labels are stored as {labels.dtype} (idx type 0x0D/0x0E); class labels "
                             "must be integers (idx type 0x08, unsigned bytes)")
        if images.dtype.kind == "f" and images.size and not 0 <= float(images.min()) <= float(images.max()) <= 1:
            raise ValueError(f"{name} {split}: float images range over [{float(images.min()):g}, "
                             f"{float(images.max()):g}], expected 0..1 (float) or uint8 0..255; store the images as "
                             "unsigned bytes (idx type 0x08) or divide them by 255")
    images = np.concatenate([arrays["train_images"], arrays["test_images"]])
    labels = np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(info["classes"]):
        raise ValueError(f"{name}: labels range over {labels.min()}..{labels.max()}, expected "
                         f"0..{len(info['classes']) - 1}")
    n_train = len(arrays["train_labels"])
    inner = stratified_splits(labels[:n_train], {"train": 1 - val_fraction, "val": val_fraction}, seed=seed)
    ids = tuple([f"{name}-train-{i:05d}" for i in range(n_train)]
                + [f"{name}-test-{i:04d}" for i in range(len(labels) - n_train)])
    return Dataset(
        name=name, modality="image", inputs=images, labels=labels, class_names=info["classes"], ids=ids,
        splits={"train": inner["train"], "val": inner["val"], "test": np.arange(n_train, len(labels), dtype=np.int64)},
        metadata={"source": str(paths["train_images"].parent), "files": files, "split_seed": seed,
                  "verified": all(f["verified"] for f in files.values()), "input_sha256": sha256_array(images),
                  "license": info["license"], "citation": info["citation"]},
    )
