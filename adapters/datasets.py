"""Built-in datasets, registered through the ``stitch_register_datasets`` hook.

Every loader returns a :class:`stitch.data.Dataset` with stable sample ids, fixed seeded splits and an
``input_sha256`` in its metadata (so cache keys change when the content does). The data root is the
``root`` argument, else ``$STITCH_DATA``; loaders that can download put files under the cache root.

=================  ========  ==============================================================================
name               modality  source and splits
=================  ========  ==============================================================================
``digits``         image     scikit-learn's 1,797 8x8 digits (offline); stratified train/val/test 60/20/20
``trec``           text      TREC question classification (``label="coarse"`` 6 or ``"fine"`` 50 classes);
                             ``<root>/trec/`` or ``<root>/`` holding ``train_5500.label`` + ``TREC_10.label``;
                             train = 90 % / val = 10 % of the 5,452 training questions, test = the official 500
``cora`` ...       graph     ``cora``, ``citeseer``, ``pubmed`` via Planetoid (``<root>/planetoid/<Name>/raw``),
                             transductive, the standard public split (train/val/test)
``fashion-mnist``  image     Fashion-MNIST / MNIST idx files (``<root>/FashionMNIST/raw``, ``<root>/MNIST/raw``,
``mnist``                    gzipped or not, checksums verified); train/val = 90/10 % of the official 60,000,
                             test = the official 10,000 (:mod:`stitch.adapters.idx`)
``image-folder``   image     ``path=<dir>`` with one sub-folder per class; stratified 60/20/20
``text-folder``    text      ``path=<dir>`` with one sub-folder per class, one document per file (the layout of
                             ``sklearn.datasets.load_files``); stratified 60/20/20
``text-file``      text      ``path=<file>``: CSV with ``text`` and ``label`` columns, or ``label<TAB>text``
                             lines; stratified 60/20/20
``arrays``         any       in-memory ``inputs`` and ``labels`` (``modality=...``); stratified 60/20/20
=================  ========  ==============================================================================
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from stitch.data import Dataset, stratified_splits
from stitch.utils.files import not_found, outside, sha256_array
from stitch.utils.roots import data_root

hookimpl = pluggy.HookimplMarker("stitch")

__all__ = [
    "load_digits", "load_trec", "load_planetoid", "load_image_folder", "load_text_file", "load_arrays",
    "read_trec_file", "parse_planetoid_file", "load_text_folder",
]

def _sha256_texts(texts: Sequence[str]) -> str:
    return hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()


# -- digits -------------------------------------------------------------------------------------------
def load_digits(*, root: str | os.PathLike[str] | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits: 1,797 grayscale 8x8 images in ``[0, 1]``, classes ``"0"`` to ``"9"``.

    Ids are ``digits-0000`` to ``digits-1796`` (scikit-learn's order); splits are stratified train/val/test
    60/20/20 under ``seed``. ``root`` is unused (the data ships with scikit-learn).

    Shapes:
        inputs: ``(1797, 8, 8)`` float32 in ``[0, 1]`` (the 0..16 ink counts divided by 16).

    Example:
        >>> ds = load_digits()
        >>> ds.inputs.shape, ds.class_names[:3], ds.ids[0], len(ds.splits["test"])
        ((1797, 8, 8), ('0', '1', '2'), 'digits-0000', 359)
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    import sklearn

    return Dataset(
        name="digits",
        modality="image",
        inputs=images,
        labels=labels,
        class_names=tuple(str(i) for i in range(10)),
        ids=tuple(f"digits-{i:04d}" for i in range(len(labels))),
        splits=stratified_splits(labels, seed=seed),
        metadata={"source": "sklearn.datasets.load_digits", "sklearn": sklearn.__version__, "split_seed": seed,
                  "input_sha256": sha256_array(images), "license": "CC BY 4.0 (UCI ML repository)"},
    )


# -- in-memory arrays ---------------------------------------------------------------------------------
def load_arrays(*, inputs: Any, labels: Any, modality: str = "tabular", name: str = "arrays",
                class_names: Sequence[str] | None = None, ids: Sequence[str] | None = None,
                splits: dict[str, Any] | None = None, seed: int = 0, root: Any = None) -> Dataset:
    """A dataset from in-memory inputs (array, list of texts or images) and integer labels.

    Missing ``ids`` become ``<name>-<row>``; missing ``splits`` are stratified 60/20/20 under ``seed``;
    missing ``class_names`` are the label values as strings.

    Shapes:
        inputs: ``n`` items;  labels: ``(n,)`` ints in ``0..n_classes-1``.

    Example:
        >>> ds = load_arrays(inputs=np.zeros((10, 3)), labels=[0, 1] * 5)
        >>> ds.ids[:2], sorted(ds.splits)
        (('arrays-0000', 'arrays-0001'), ['test', 'train', 'val'])
    """
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of integer class indices, got shape {y.shape} dtype {y.dtype}")
    if len(inputs) != len(y):
        raise ValueError(f"{len(inputs)} inputs but {len(y)} labels; expected one label per input")
    if len(y) == 0:
        raise ValueError("inputs are empty; expected at least one sample")
    if y.min() < 0:
        raise ValueError(f"labels must be >= 0 class indices, got minimum {y.min()}")
    n_classes = int(y.max()) + 1
    names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(n_classes))
    if len(names) < n_classes:
        raise ValueError(f"{len(names)} class_names for labels up to {n_classes - 1}; give one name per class")
    width = max(4, len(str(len(y) - 1)))
    ids_t = tuple(ids) if ids is not None else tuple(f"{name}-{i:0{width}d}" for i in range(len(y)))
    if splits is None:
        split_idx = stratified_splits(y, seed=seed)
    else:
        split_idx = {k: np.asarray(v, dtype=np.int64) for k, v in splits.items()}
    if isinstance(inputs, np.ndarray):
        digest = sha256_array(inputs)
    elif all(isinstance(t, str) for t in inputs):
        digest = _sha256_texts(list(inputs))
    else:
        digest = ""
    return Dataset(name=name, modality=modality, inputs=inputs, labels=y.astype(np.int64), class_names=names,
                   ids=ids_t, splits=split_idx, metadata={"source": "in-memory arrays", "split_seed": seed,
                                                          "input_sha256": digest})


# -- TREC ---------------------------------------------------------------------------------------------
TREC_FILES = {"train": "train_5500.label", "test": "TREC_10.label"}
TREC_URL = "https://cogcomp.seas.upenn.edu/Data/QA/QC/"
TREC_SHA256 = {
    "train_5500.label": "6e29da43c7c75790080c87b22e4c73f9c2908afeca274524fd72be38c894ec48",
    "TREC_10.label": "c46b7c7ab0a94ef22408199d994d459fd783805cad9a44f373a12797ab111549",
}


def _trec_dir(root: Path | None) -> Path:
    """The directory holding both TREC files: ``root/trec``, ``root``, or a download in the cache."""
    candidates = [root / "trec", root] if root is not None else []
    for d in candidates:
        if all((d / f).is_file() for f in TREC_FILES.values()):
            return d
    if root is not None:
        raise FileNotFoundError(
            f"TREC files {', '.join(TREC_FILES.values())} not found in {root / 'trec'} or {root}; put the official "
            f"files there (from {TREC_URL}) or call without root to download them"
        )
    from stitch.utils.roots import cache_root

    target = cache_root() / "datasets" / "trec"
    for fname in TREC_FILES.values():
        if not (target / fname).is_file():
            _download(TREC_URL + fname, target / fname, TREC_SHA256[fname])
    return target


def _download(url: str, dest: Path, sha256: str | None) -> None:
    import urllib.request

    from stitch.utils.files import atomic_open

    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    except OSError as exc:
        raise FileNotFoundError(
            f"could not download {url} ({exc}); offline, pass root=<directory with the files> (--data DIR "
            "on the command line) or set STITCH_DATA"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ValueError(f"{url} has sha256 {digest[:12]}..., expected {sha256[:12]}...; not saving it")
    with atomic_open(dest, "wb") as f:
        f.write(data)


def read_trec_file(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    r"""``(coarse, fine, question)`` per line of an official TREC file (ISO-8859-1, CRLF line ends).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.label"
        >>> _ = p.write_bytes(b"DESC:manner How did serfdom develop ?\r\nNUM:date When ?\r\n")
        >>> read_trec_file(p)[0]
        ('DESC', 'manner', 'How did serfdom develop ?')
    """
    rows = []
    text = Path(path).read_bytes().decode("iso-8859-1")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label, _, question = line.partition(" ")
        coarse, sep, fine = label.partition(":")
        if not sep or not question.strip():
            raise ValueError(f"{path}:{lineno}: expected 'COARSE:fine question', got {line[:60]!r}")
        rows.append((coarse, fine, question.strip()))
    return rows


def load_trec(*, root: str | os.PathLike[str] | None = None, label: str = "coarse", seed: int = 0,
              val_fraction: float = 0.1) -> Dataset:
    """TREC question classification (Li & Roth 2002): 5,452 training and 500 test questions.

    Files are read from ``<root>/trec/`` or ``<root>/`` (``root`` defaults to ``$STITCH_DATA``), or downloaded
    from the official site (sha256-checked) into the cache when no root is given. ``label`` picks the 6
    coarse classes or the 50 ``COARSE:fine`` classes; class names are sorted. Splits: ``test`` is the
    official test file; ``val`` is a seeded stratified ``val_fraction`` of the training file and ``train`` the
    rest. Ids are ``trec-train-0000`` / ``trec-test-000`` by line.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> rows = ["DESC:manner How did serfdom develop ?", "HUM:ind Who was Galileo ?",
        ...         "NUM:date When did it end ?", "LOC:city Where is Rome ?"]
        >>> _ = (d / "train_5500.label").write_text("\\n".join(rows * 5) + "\\n")
        >>> _ = (d / "TREC_10.label").write_text("\\n".join(rows) + "\\n")
        >>> ds = load_trec(root=d)
        >>> len(ds), ds.class_names, {k: len(v) for k, v in sorted(ds.splits.items())}
        (24, ('DESC', 'HUM', 'LOC', 'NUM'), {'test': 4, 'train': 16, 'val': 4})
        >>> ds.ids[-1], ds.inputs[-1]
        ('trec-test-003', 'Where is Rome ?')
    """
    from stitch.utils.checks import check_choice

    check_choice(label, ("coarse", "fine"), "TREC label set")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    directory = _trec_dir(data_root(root))
    parts = {split: read_trec_file(directory / fname) for split, fname in TREC_FILES.items()}
    rows = parts["train"] + parts["test"]
    keys = [c if label == "coarse" else f"{c}:{f}" for c, f, _ in rows]
    class_names = tuple(sorted(set(keys)))
    index = {k: i for i, k in enumerate(class_names)}
    labels = np.array([index[k] for k in keys], dtype=np.int64)
    texts = [q for _, _, q in rows]
    n_train = len(parts["train"])
    inner = stratified_splits(labels[:n_train], {"train": 1 - val_fraction, "val": val_fraction}, seed=seed)
    ids = tuple([f"trec-train-{i:04d}" for i in range(n_train)]
                + [f"trec-test-{i:03d}" for i in range(len(parts["test"]))])
    return Dataset(
        name=f"trec-{label}", modality="text", inputs=texts, labels=labels, class_names=class_names, ids=ids,
        splits={"train": inner["train"], "val": inner["val"],
                "test": np.arange(n_train, len(rows), dtype=np.int64)},
        metadata={"source": str(directory), "files": dict(TREC_FILES), "label": label, "split_seed": seed,
                  "input_sha256": _sha256_texts(texts), "citation": "Li & Roth, Learning Question Classifiers, 2002"},
    )


# -- Planetoid ----------------------------------------------------------------------------------------
PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"  # torch_geometric's Planetoid.url
PLANETOID_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# sha256 of the canonical kimiyoung/planetoid Cora files; CiteSeer and PubMed have none on record offline.
PLANETOID_SHA256 = {
    "cora": {
        "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
        "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    },
}


def _planetoid_globals() -> dict[tuple[str, str], Any]:
    """The only globals a genuine Planetoid pickle references, resolved without importing the old paths.

    The files were pickled by Python 2 with numpy 1 and scipy < 1.8, so they name ``__builtin__`` and the
    since-moved ``numpy.core`` / ``scipy.sparse.csr`` modules; newer spellings are accepted for re-pickled files.
    """
    import collections

    import scipy.sparse

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    table: dict[tuple[str, str], Any] = {("collections", "defaultdict"): collections.defaultdict}
    for module in ("__builtin__", "builtins"):
        table.update({(module, "list"): list, (module, "dict"): dict, (module, "int"): int})
    for module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
        table.update({(module, "ndarray"): np.ndarray, (module, "dtype"): np.dtype})
        table[(module, "_reconstruct")] = _reconstruct
    for fmt in ("csr", "csc", "coo"):
        cls = getattr(scipy.sparse, f"{fmt}_matrix")
        for module in ("scipy.sparse", f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}"):
            table[(module, f"{fmt}_matrix")] = cls
    return table


def parse_planetoid_file(data: bytes, shown_as: str | os.PathLike[str]) -> Any:
    """One raw Planetoid part as plain data, parsed without running any code it may carry.

    ``ind.<name>.test.index`` must be one integer per line (returned as an int64 array). Every other part is a
    pickle and is read with an allow-list unpickler (the approach of ``torch.load(weights_only=True)``): only
    numpy array and dtype reconstruction, scipy csr/csc/coo matrices, ``collections.defaultdict`` and
    ``list``/``dict``/``int`` may be referenced; any other global (``os.system``, ``builtins.eval``, ...) is
    refused before it is called. Errors name ``shown_as`` (the file the bytes came from).

    Example:
        >>> import pickle
        >>> parse_planetoid_file(pickle.dumps(np.eye(2)), "ind.cora.y").shape
        (2, 2)
        >>> parse_planetoid_file(pickle.dumps(print), "ind.cora.y")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ind.cora.y is not a genuine Planetoid file: it references the global builtins.print, ...
    """
    import io
    import pickle

    shown = Path(shown_as)
    if shown.name.endswith(".test.index"):
        tokens = data.decode("ascii", errors="replace").split()
        if not tokens or not all(t.isdigit() for t in tokens):
            raise ValueError(f"{shown} is not a genuine Planetoid file: expected one node index per line")
        return np.array([int(t) for t in tokens], dtype=np.int64)
    allowed = _planetoid_globals()

    class _Refused(pickle.UnpicklingError):
        pass

    class _Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in allowed:
                raise _Refused(f"the global {module}.{name}")
            return allowed[(module, name)]

        def persistent_load(self, pid: Any) -> Any:
            raise _Refused(f"the persistent id {pid!r}")

    try:
        return _Restricted(io.BytesIO(data), encoding="latin1").load()
    except _Refused as exc:
        raise ValueError(
            f"{shown} is not a genuine Planetoid file: it references {exc}, which Planetoid data never "
            f"needs; refusing to load it (unpickling could run arbitrary code). Replace it with the official file "
            f"from {PLANETOID_URL}"
        ) from None
    except Exception as exc:  # truncated or garbled pickles fail in many ways
        raise ValueError(f"{shown} is not a genuine Planetoid file: it does not unpickle as data ({exc})") from None


def _planetoid_raw(name: str, base: Path | None) -> tuple[Path, str]:
    """The directory holding the raw files: found under ``base``, or downloaded into the cache (sha256-checked
    where canonical values are known)."""
    pyg_name = PLANETOID[name]
    files = [f"ind.{name}.{part}" for part in PLANETOID_PARTS]
    if base is None:
        from stitch.utils.roots import cache_root

        staging = cache_root() / "datasets" / "planetoid" / pyg_name / "raw"
        known = PLANETOID_SHA256.get(name, {})
        for fname in files:
            if not (staging / fname).is_file():
                _download(f"{PLANETOID_URL}/{fname}", staging / fname, known.get(fname))
        return staging, f"downloaded from {PLANETOID_URL}"
    for d in (base / "planetoid" / pyg_name / "raw", base / pyg_name / "raw"):
        if d.is_dir() and any(d.iterdir()):
            missing = [f for f in files if not (d / f).is_file()]
            if missing:
                raise FileNotFoundError(f"Planetoid raw files {', '.join(missing)} missing from {d}")
            return d, str(d)
    raise FileNotFoundError(
        f"Planetoid raw files for {pyg_name} not found in {base / 'planetoid' / pyg_name / 'raw'} or "
        f"{base / pyg_name / 'raw'}; put the ind.{name}.* files there or call without root to download"
    )


def _planetoid_graph(name: str, parts: dict[str, Any]) -> Any:
    """The PyG ``Data`` of a Planetoid graph from its parsed parts (the assembly of PyG's ``read_planetoid_data``)."""
    import torch

    from stitch.utils.extras import require

    require("torch_geometric", what=f"dataset {name!r}")
    from torch_geometric.data import Data
    from torch_geometric.io.planetoid import edge_index_from_dict
    from torch_geometric.utils import index_to_mask

    def dense(part: str) -> torch.Tensor:
        value = parts[part]
        value = value.todense() if hasattr(value, "todense") else value
        return torch.from_numpy(np.asarray(value)).to(torch.float)

    x, tx, allx, y, ty, ally = (dense(p) for p in ("x", "tx", "allx", "y", "ty", "ally"))
    test_index = torch.from_numpy(parts["test.index"])
    sorted_test = test_index.sort()[0]
    if name == "citeseer":
        # CiteSeer has isolated test nodes (non-consecutive test indices): they get zero rows, as in PyG.
        span = int(test_index.max() - test_index.min()) + 1
        tx_ext, ty_ext = torch.zeros(span, tx.size(1)), torch.zeros(span, ty.size(1))
        tx_ext[sorted_test - test_index.min()] = tx
        ty_ext[sorted_test - test_index.min()] = ty
        tx, ty = tx_ext, ty_ext
    features = torch.cat([allx, tx])
    features[test_index] = features[sorted_test]
    labels = torch.cat([ally, ty]).max(dim=1)[1]
    labels[test_index] = labels[sorted_test]
    n = labels.size(0)
    data = Data(x=features, edge_index=edge_index_from_dict(parts["graph"], num_nodes=n), y=labels)
    data.train_mask = index_to_mask(torch.arange(y.size(0)), size=n)
    data.val_mask = index_to_mask(torch.arange(y.size(0), y.size(0) + 500), size=n)
    data.test_mask = index_to_mask(test_index, size=n)
    return data


def load_planetoid(name: str, *, root: str | os.PathLike[str] | None = None) -> Dataset:
    """Cora / CiteSeer / PubMed citation graphs (the Planetoid files and split), built from verified raw bytes.

    Raw files are looked up in ``<root>/planetoid/<Name>/raw`` or ``<root>/<Name>/raw`` (``root`` defaults to
    ``$STITCH_DATA``); without a root they are downloaded into the cache (online only). Each file is read
    once: its bytes are hashed and parsed by :func:`parse_planetoid_file`'s allow-list unpickler, and the
    graph is assembled from the parsed objects as ``torch_geometric``'s reader does. Nothing is written and no
    library ever unpickles a file (PyG's ``Planetoid`` keeps a ``processed/data.pt`` that it would load with
    ``weights_only=False`` on some errors: it is not used).

    For Cora the bytes are also compared with the canonical sha256 values: ``metadata["raw_sha256_verified"]``
    is ``True`` when all eight match. A mismatch is not fatal (files may have been re-pickled and the
    allow-list already holds) but warns and records ``False``. CiteSeer and PubMed have no sha256 on record
    offline; they rely on the allow-list alone and always record ``False``. ``metadata["raw_sha256"]`` lists
    every file's digest.

    The dataset is transductive: ``inputs`` is the whole graph and the public Planetoid split gives
    train/val/test node indices. Ids are ``<name>-<node>``.

    Example:
        >>> ds = load_planetoid("cora", root="../shared/data")  # doctest: +SKIP
        >>> ds.inputs.num_nodes, ds.num_classes, len(ds.splits["train"])  # doctest: +SKIP
        (2708, 7, 140)
    """
    import warnings

    pyg_name = PLANETOID[name]
    source_dir, source = _planetoid_raw(name, data_root(root))
    files = {part: f"ind.{name}.{part}" for part in PLANETOID_PARTS}
    parts, digests = {}, {}
    for part, fname in files.items():
        blob = (source_dir / fname).read_bytes()
        digests[fname] = hashlib.sha256(blob).hexdigest()
        parts[part] = parse_planetoid_file(blob, source_dir / fname)
    known = PLANETOID_SHA256.get(name)
    verified = known is not None and all(digests[f] == known[f] for f in files.values())
    if known is not None and not verified:
        bad = [f for f in files.values() if digests[f] != known[f]]
        warnings.warn(f"{', '.join(bad)} in {source_dir} differ from the canonical {pyg_name} files (sha256); they "
                      f"passed the allow-list check and are used, with metadata['raw_sha256_verified'] = False",
                      UserWarning, stacklevel=2)
    data = _planetoid_graph(name, parts)
    labels = data.y.numpy().astype(np.int64)
    h = hashlib.sha256(np.ascontiguousarray(data.x.numpy()).tobytes())
    h.update(data.edge_index.numpy().tobytes())
    splits = {s: np.flatnonzero(getattr(data, f"{s}_mask").numpy()).astype(np.int64) for s in ("train", "val", "test")}
    return Dataset(
        name=name, modality="graph", inputs=data, labels=labels,
        class_names=tuple(f"class-{i}" for i in range(int(labels.max()) + 1)),
        ids=tuple(f"{name}-{i:05d}" for i in range(len(labels))), splits=splits, transductive=True,
        metadata={"source": str(source), "split": "public (Planetoid)", "input_sha256": h.hexdigest(),
                  "raw_sha256": digests, "raw_sha256_verified": verified,
                  "citation": "Yang, Cohen & Salakhutdinov, ICML 2016"},
    )


def _planetoid_loader(name: str) -> Any:
    def loader(*, root: str | os.PathLike[str] | None = None) -> Dataset:
        return load_planetoid(name, root=root)

    loader.__doc__ = f"{PLANETOID[name]} citation graph (Planetoid, public split, transductive)."
    return loader


# -- image folder / text file -------------------------------------------------------------------------
def _user_path(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> Path:
    """``path``, relative to ``root`` / ``$STITCH_DATA`` when it is relative and one of them is set."""
    base = data_root(root)
    resolved = Path(path).expanduser()
    return base / resolved if not resolved.is_absolute() and base is not None else resolved


def _printable(name: str) -> str:
    """A file or folder name as text: bytes that are not UTF-8 (Python keeps them as surrogates, which no file
    or JSON record can hold) written as ``\\xff`` escapes, so ids and class names can be saved.

    Example:
        >>> _printable("caf\udce9.txt")
        'caf\\\\xe9.txt'
    """
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(path: Path, folder: Path) -> None:
    """Refuse a file of a dataset folder that is a link to somewhere outside it (or not a regular file): a folder
    dataset reads its own files, nothing a link in it points at elsewhere."""
    problem = outside(path, folder)
    if problem is not None:
        where = f"outside the dataset folder {folder.resolve()}" if problem == "outside the folder" else problem
        raise ValueError(f"{path} is a link to {path.resolve()}, {where}; copy the file into the folder, or pass "
                         "the folder it lives in")


def _class_folders(folder: Path, kind: str) -> list[str]:
    """The sorted class sub-folder names of ``folder`` (hidden ones skipped), with clear errors."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{kind} folder {not_found(folder, 'directory')}; expected a directory with one "
                                f"sub-folder per class ({folder}/<class name>/<files>)")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"{folder} has no class sub-folders; expected {folder}/<class name>/<{kind} files>")
    return classes


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _mixed_splits(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Stratified splits, each in a seeded random order: for datasets read class by class, where row order is
    class order and a split's first rows (``split_inputs("train")[:300]``) would otherwise be one class."""
    rng = np.random.default_rng(seed)
    return {name: rng.permutation(rows) for name, rows in stratified_splits(labels, seed=seed).items()}


def load_image_folder(*, path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, seed: int = 0,
                      size: int | tuple[int, int] | None = None) -> Dataset:
    """Images in ``path/<class name>/<file>`` (one sub-folder per class, sorted), as RGB uint8 arrays.

    Images must share one size unless ``size`` resizes them (``(h, w)`` or an int). ``path`` is relative
    to ``root``/``$STITCH_DATA`` when those are set and it is not absolute. Ids are ``<class>/<file>``; splits
    are stratified 60/20/20 under ``seed``, each in a seeded random order (row order is class order).

    Shapes:
        inputs: ``(n, h, w, 3)`` uint8.

    Example:
        >>> # load_image_folder(path="pets")  # pets/cat/*.jpg, pets/dog/*.jpg
    """
    from PIL import Image

    folder = _user_path(path, root)
    classes = _class_folders(folder, "image")
    images, labels, ids = [], [], []
    for ci, cname in enumerate(classes):
        for f in sorted((folder / cname).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            _inside(f, folder)
            with Image.open(f) as img:
                img = img.convert("RGB")
                if size is not None:
                    h, w = (size, size) if isinstance(size, int) else size
                    img = img.resize((w, h))
                images.append(np.asarray(img))
            labels.append(ci)
            ids.append(_printable(f"{cname}/{f.name}"))
    if not images:
        raise ValueError(f"{folder} has no images ({', '.join(IMAGE_SUFFIXES)}) in its class sub-folders")
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise ValueError(f"images in {folder} have inconsistent sizes {sorted(shapes)[:3]}; pass size=(h, w) to resize")
    x = np.stack(images)
    y = np.array(labels, dtype=np.int64)
    return Dataset(name=f"image-folder:{folder.name}", modality="image", inputs=x, labels=y,
                   class_names=tuple(map(_printable, classes)),
                   ids=tuple(ids), splits=_mixed_splits(y, seed),
                   metadata={"source": str(folder), "split_seed": seed, "input_sha256": sha256_array(x)})


def load_text_file(*, path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, seed: int = 0,
                   text_column: str = "text", label_column: str = "label", encoding: str = "utf-8") -> Dataset:
    r"""Labelled texts from a CSV (``text`` and ``label`` columns) or a ``label<TAB>text`` file.

    Files ending in ``.csv`` are read as CSV with a header; anything else as one ``label<TAB>text`` per
    line. Class names are the sorted label strings; ids are ``<file stem>-<row>``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.tsv"
        >>> _ = p.write_text("pos\tgreat\nneg\tbad\npos\tfine\nneg\tawful\npos\tgood\n")
        >>> ds = load_text_file(path=p)
        >>> ds.class_names, ds.inputs[0]
        (('neg', 'pos'), 'great')
    """
    import csv

    file = _user_path(path, root)
    if not file.is_file():
        raise FileNotFoundError(f"text file {not_found(file)}; pass a file of labelled texts")
    pairs: list[tuple[str, str]] = []
    with open(file, encoding=encoding, newline="") as f:
        if file.suffix.lower() == ".csv":
            reader = csv.DictReader(f)
            missing = {text_column, label_column} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{file} lacks column(s) {sorted(missing)}; its columns are {reader.fieldnames}")
            pairs = [(row[label_column], row[text_column]) for row in reader]
        else:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                lab, sep, text = line.partition("\t")
                if not sep:
                    raise ValueError(f"{file}:{lineno}: expected 'label<TAB>text', got {line[:60]!r}")
                pairs.append((lab, text))
    if not pairs:
        raise ValueError(f"{file} holds no labelled texts")
    class_names = tuple(sorted({lab for lab, _ in pairs}))
    index = {c: i for i, c in enumerate(class_names)}
    y = np.array([index[lab] for lab, _ in pairs], dtype=np.int64)
    texts = [t for _, t in pairs]
    width = max(4, len(str(len(texts) - 1)))
    return Dataset(name=f"text-file:{file.stem}", modality="text", inputs=texts, labels=y, class_names=class_names,
                   ids=tuple(f"{file.stem}-{i:0{width}d}" for i in range(len(texts))),
                   splits=stratified_splits(y, seed=seed),
                   metadata={"source": str(file), "split_seed": seed, "input_sha256": _sha256_texts(texts)})


def load_text_folder(*, path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, seed: int = 0,
                     encoding: str = "utf-8") -> Dataset:
    """Documents in ``path/<class name>/<file>``: one sub-folder per class, one document per file.

    The layout of :func:`sklearn.datasets.load_files` (e.g. 20 Newsgroups' ``20news-bydate-train``). Every
    regular file below a class folder is a document, read as ``encoding`` with undecodable bytes replaced
    (U+FFFD) rather than failing (``metadata["replaced_characters"]`` counts them); hidden files and folders
    are skipped. Ids are the relative paths (``<class>/<sub/dirs>/<file>``), so they are stable across
    machines. Class names are the sorted sub-folder names; splits are stratified 60/20/20 under ``seed``, each
    in a seeded random order (files are read class by class: the first 300 rows of a split would be one class).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for c, docs in {"neg": ["bad", "awful", "poor"], "pos": ["good", "great", "fine"]}.items():
        ...     (d / c).mkdir()
        ...     for i, t in enumerate(docs):
        ...         _ = (d / c / f"{i}.txt").write_text(t)
        >>> ds = load_text_folder(path=d)
        >>> ds.class_names, ds.ids[0], ds.inputs[0], len(ds)
        (('neg', 'pos'), 'neg/0.txt', 'bad', 6)
    """
    import codecs

    codecs.lookup(encoding)  # an unknown encoding fails here, with Python's own message
    folder = _user_path(path, root)
    classes = _class_folders(folder, "text")
    texts, labels, ids, replaced = [], [], [], 0
    for ci, cname in enumerate(classes):
        for f in sorted((folder / cname).rglob("*")):
            rel = f.relative_to(folder)
            if not f.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            _inside(f, folder)
            text = f.read_bytes().decode(encoding, errors="replace")
            replaced += text.count("\ufffd")
            texts.append(text)
            labels.append(ci)
            ids.append(_printable(rel.as_posix()))
    if not texts:
        raise ValueError(f"{folder} has no documents in its class sub-folders {classes[:5]}; expected "
                         f"{folder}/<class name>/<one file per document>")
    y = np.array(labels, dtype=np.int64)
    return Dataset(name=f"text-folder:{folder.name}", modality="text", inputs=texts, labels=y,
                   class_names=tuple(map(_printable, classes)), ids=tuple(ids), splits=_mixed_splits(y, seed),
                   metadata={"source": str(folder), "split_seed": seed, "encoding": encoding,
                             "replaced_characters": replaced, "input_sha256": _sha256_texts(texts)})


def _idx_loader(name: str) -> Any:
    def loader(*, root: str | os.PathLike[str] | None = None, seed: int = 0, val_fraction: float = 0.1,
               verify: bool = True) -> Dataset:
        from stitch.adapters.idx import load_idx_dataset

        return load_idx_dataset(name, root=root, seed=seed, val_fraction=val_fraction, verify=verify)

    loader.__doc__ = f"{name} from its canonical idx files (see stitch.adapters.idx.load_idx_dataset)."
    return loader


@hookimpl
def stitch_register_datasets(register: Any) -> None:
    """Register the built-in datasets."""
    register("digits", load_digits, modality="image",
             description="scikit-learn handwritten digits, 1,797 8x8 images, 10 classes (offline)")
    register("trec", load_trec, modality="text",
             description="TREC question classification, 5,452 + 500 questions, label='coarse' (6) or 'fine' (50)")
    for name, pyg_name in PLANETOID.items():
        register(name, _planetoid_loader(name), modality="graph",
                 description=f"{pyg_name} citation graph (Planetoid public split, transductive node classification)")
    register("fashion-mnist", _idx_loader("fashion-mnist"), modality="image",
             description="Fashion-MNIST, 60,000 + 10,000 grey 28x28 images, 10 classes (idx files, verified)")
    register("mnist", _idx_loader("mnist"), modality="image",
             description="MNIST handwritten digits, 60,000 + 10,000 grey 28x28 images (idx files, verified)")
    register("image-folder", load_image_folder, modality="image",
             description="images under path/<class>/<file>, one sub-folder per class")
    register("text-folder", load_text_folder, modality="text",
             description="documents under path/<class>/<file>, one sub-folder per class (sklearn load_files layout)")
    register("text-file", load_text_file, modality="text",
             description="labelled texts: CSV with text,label columns or label<TAB>text lines (path=...)")
    register("arrays", load_arrays, modality="any",
             description="in-memory inputs + labels (inputs=..., labels=..., modality=...)")
