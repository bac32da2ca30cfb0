"""Every user-triggerable error message in the core, metrics, registry and adapters, pinned with ``match=``.

One row per message: (id, call that must raise, exception type, regex the message must match). The
messages follow the house rule "received / expected / how to fix", so each regex covers the received
value and, where the message has one, the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from stitch.utils import files as _io
from stitch.utils.checks import as_matrix, check_positive_int
from stitch.utils.names import NameTable, check_options
from stitch.core.anchors import register_anchor_strategy, select_anchors
from stitch.data import Dataset
from stitch.errors import NotFittedError
from stitch.metrics import mean_cca, register_metric
from stitch.metrics._base import Metric, align_by_ids, as_numpy_labels, prepare_pair
from stitch.metrics.cca import svcca
from stitch.metrics.neighbors import knn_indices, retrieval_mrr
from stitch.metrics.predictive import linear_r2, stitching_score
from stitch.metrics.procrustes import permutation_match
from stitch.metrics.rsa import rdm, rsa
from stitch.core.aggregation import create_aggregation, register_aggregation
from stitch.core.product import ProductSpace
from stitch.core.projection import RelativeProjection
from stitch.core.similarity import register_similarity

RNG = np.random.default_rng(0)
X = torch.from_numpy(RNG.standard_normal((12, 4)))
Y = torch.from_numpy(RNG.standard_normal((12, 3)))


def _toy(**kw: Any) -> Dataset:
    args: dict[str, Any] = dict(name="toy", modality="tabular", inputs=np.eye(4), labels=np.array([0, 1, 0, 1]),
                                class_names=("a", "b"), ids=tuple("abcd"), splits={"train": np.array([0, 1])})
    args.update(kw)
    return Dataset(**args)


def _metric(**kw: Any) -> Metric:
    return Metric("m", kw.pop("fn", lambda x, y: 0.0), **kw)


CASES: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # -- checks -------------------------------------------------------------------------------------
    ("object-array", lambda: as_matrix(np.array([[1, {"a": 1}]], dtype=object)), TypeError,
     r"x must be a numeric array, got a numpy array of dtype=object whose elements are not all numbers \(float\(\) "
     r"argument must be a string or a real number, not 'dict'\)"),
    ("sparse", lambda: as_matrix(__import__("scipy.sparse").sparse.eye(3).tocsr()), TypeError,
     r"x is a scipy sparse matrix; sparse input is not supported: pass x.toarray\(\)"),
    ("strings", lambda: as_matrix([["a", "b"]]), TypeError,
     r"x must be a 2-D torch.Tensor or numpy array of shape \(n, d\), got list that cannot be converted "
     r"\(elements of dtype <U1 are not numbers\)"),
    ("ragged", lambda: as_matrix([[1.0], [1.0, 2.0]]), TypeError, r"got list that cannot be converted"),
    ("1-D", lambda: as_matrix(torch.ones(3)), ValueError,
     r"x must be 2-D with shape \(n_samples, n_features\), got shape \(3,\); Reshape your data, e.g. "
     r"x.reshape\(len\(x\), -1\) \(or .reshape\(1, -1\) for a single sample\)"),
    ("complex", lambda: as_matrix(torch.ones(2, 2, dtype=torch.complex64)), ValueError,
     r"x is complex \(torch.complex64\): Complex data not supported; pass real-valued latents"),
    ("complex-numpy", lambda: as_matrix(np.ones((2, 2), dtype=np.complex128)), ValueError,
     r"x is complex \(complex128\): Complex data not supported"),
    ("meta", lambda: as_matrix(torch.ones(2, 2, device="meta")), ValueError,
     r"x is on the 'meta' device \(a shape without data\); pass a tensor holding values"),
    ("bool", lambda: as_matrix(torch.ones(2, 2, dtype=torch.bool)), TypeError,
     r"x must be real-valued, got dtype torch.bool"),
    ("empty-cols", lambda: as_matrix(torch.ones(3, 0)), ValueError,
     r"x is empty: 0 feature\(s\) \(shape=\(3, 0\)\) while a minimum of 1 is required; expected at least one "
     r"sample and one feature"),
    ("positive-int", lambda: check_positive_int(True, "k"), ValueError, r"k must be a positive integer, got True"),
    # -- files ---------------------------------------------------------------------------------------
    ("atomic-mode", lambda: _io.atomic_open("/tmp/never-written", "a").__enter__(), ValueError,
     r"atomic_open writes whole files; mode must be 'w' or 'wb', got 'a'"),
    ("json-type", lambda: _io.write_json("/tmp/never-written.json", {"x": object()}), TypeError,
     r"cannot write object as JSON: <object object at"),
    # -- names --------------------------------------------------------------------------------------
    ("name-type", lambda: NameTable("widget").entry(3), TypeError, r"widget name must be a string, got int \(3\)"),
    ("bad-options", lambda: check_options("widget", "w", lambda *, k=1: None, {"q": 2}), TypeError,
     r"widget 'w' got invalid options \['q'\] \(.*\); it accepts: k$"),
    # -- similarity / anchors / product ----------------------------------------------------------------
    ("sim-not-callable", lambda: register_similarity("nope", 3, source="test"), TypeError,
     r"similarity function 'nope' must be callable fn\(x, anchors\), got int"),
    ("projection-not-fitted", lambda: RelativeProjection().transform(X), NotFittedError,
     r"this RelativeProjection is not fitted yet; call RelativeProjection.fit\(...\) before using it"),
    ("anchor-not-callable", lambda: register_anchor_strategy("nope", 3, source="test"), TypeError,
     r"anchor strategy 'nope' must be callable, got int"),
    ("anchor-seed", lambda: select_anchors(X, 3, seed=1.5), TypeError,
     r"anchor strategy 'random': option 'seed' must be an integer, got 1\.5 \(float\)"),
    ("aggregation-not-callable", lambda: register_aggregation("nope", 3, source="test"), TypeError,
     r"aggregation 'nope' must be a callable factory, got int"),
    ("aggregation-stack", lambda: create_aggregation("linear_sum", 2, 3)(torch.ones(4, 3, 3)), ValueError,
     r"aggregation expects a stacked relative representation of shape \(n, 2, 3\), got \(4, 3, 3\); "
     r"build it with ProductSpace.transform\(x, stacked=True\)"),
    ("product-not-fitted", lambda: ProductSpace().transform(X), NotFittedError,
     r"this ProductSpace is not fitted yet"),
    # -- data ----------------------------------------------------------------------------------------
    ("dataset-labels", lambda: _toy(labels=np.array([0, 1])), ValueError,
     r"dataset 'toy': 2 labels for 4 ids; expected one label per id"),
    ("dataset-ids", lambda: _toy(ids=tuple("aacd")), ValueError, r"dataset 'toy': sample ids are not unique"),
    ("dataset-split", lambda: _toy(splits={"train": np.array([0, 4])}), ValueError,
     r"dataset 'toy': split 'train' indexes outside 0..3"),
    ("dataset-no-split", lambda: _toy().indices("val"), ValueError,
     r"dataset 'toy' has no split 'val'; available: 'train'"),
    # -- metrics -------------------------------------------------------------------------------------
    ("metric-kind", lambda: _metric(kind="loss"), ValueError, r"metric 'm': kind must be 'score' or 'distance', "
     r"got 'loss'"),
    ("metric-range", lambda: _metric(range=(1.0, 0.0)), ValueError,
     r"metric 'm': range must be \(low, high\) with low <= high, got \(1.0, 0.0\)"),
    ("metric-fn", lambda: _metric(fn=3), TypeError, r"metric 'm': fn must be callable, got int"),
    ("metric-register-fn", lambda: register_metric("nope", 3, source="test"), TypeError,
     r"register_metric\('nope', ...\) expects a Metric or a callable fn\(x, y\) -> float, got int"),
    ("too-few", lambda: prepare_pair(X[:2], Y[:2], min_samples=3, metric="cka"), ValueError,
     r"cka needs at least 3 samples, got 2; pass more paired rows"),
    ("constant", lambda: prepare_pair(torch.ones(5, 2), Y[:5]), ValueError,
     r"x is constant \(all 5 rows are identical\); similarity is undefined"),
    ("ids-one-side", lambda: align_by_ids(["a"], None, Y[:1], align=False, n=1), ValueError,
     r"pass sample ids for both sides \(x_ids and y_ids\) or for neither"),
    ("ids-count", lambda: align_by_ids(["a"], ["a", "b"], Y[:2], align=False, n=2), ValueError,
     r"got 1 x_ids for 2 rows of x and 2 y_ids for 2 rows of y; pass exactly one id per row"),
    ("ids-unique", lambda: align_by_ids(["a", "a"], ["a", "b"], Y[:2], align=False, n=2), ValueError,
     r"sample ids must be unique on each side"),
    ("ids-different", lambda: align_by_ids(["a", "b"], ["a", "c"], Y[:2], align=False, n=2), ValueError,
     r"x and y hold different samples \(in x only: \['b'\]..., in y only: \['c'\]...\)"),
    ("ids-order", lambda: align_by_ids(["a", "b"], ["b", "a"], Y[:2], align=False, n=2), ValueError,
     r"same samples in different orders \(first difference at row 0: 'a' vs 'b'\); pass align=True"),
    ("labels-shape", lambda: as_numpy_labels([0, 1], 3), ValueError,
     r"labels must have shape \(3,\) \(one class per sample\), got shape \(2,\)"),
    ("rank-deficient", lambda: mean_cca(torch.cat([X, X[:, :1]], 1), Y), ValueError,
     r"x is rank-deficient after centring \(rank 4 < 5 features;.*use 'svcca'"),
    ("svcca-keep", lambda: svcca(X, Y, keep=0.0), ValueError, r"svcca keep must be a variance fraction in \(0, 1\], "
     r"got 0.0"),
    ("knn-cosine-zero", lambda: knn_indices(torch.cat([torch.zeros(1, 4), X]), 2, metric="cosine"), ValueError,
     r"cosine k-NN undefined: row 0 is all zeros"),
    ("knn-k", lambda: knn_indices(X[:3], 3), ValueError,
     r"k=3 neighbours need at least k \+ 1 = 4 samples, got 3; lower k"),
    ("mrr-orthogonal", lambda: retrieval_mrr(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]]),
                                             torch.eye(4)[:, :2] + 1, n_anchors=2, seed=0), ValueError,
     r"the relative representation of x row \d is all zeros \(the sample is orthogonal to every anchor\); "
     r"use more anchors"),
    ("r2-folds", lambda: linear_r2(X, Y, n_folds=1), ValueError,
     r"linear_r2 needs n_folds >= 2 for held-out predictions, got 1"),
    ("r2-alpha", lambda: linear_r2(X, Y, alpha=-1.0), ValueError, r"linear_r2 alpha must be >= 0, got -1.0"),
    ("stitch-fraction", lambda: stitching_score(X, Y, labels=[0, 1] * 6, test_fraction=1.0), ValueError,
     r"test_fraction must be in \(0, 1\), got 1.0"),
    ("stitch-classes", lambda: stitching_score(X, Y, labels=[0] * 12), ValueError,
     r"stitching_score needs at least two classes among the training rows; pass more samples"),
    ("perm-constant", lambda: permutation_match(torch.cat([X, torch.ones(12, 1)], 1), Y), ValueError,
     r"permutation_match: x has 1 constant unit\(s\) \(first: column 4\); their correlation is undefined"),
    ("rdm-zero", lambda: rdm(torch.cat([torch.zeros(1, 4), X]), "cosine"), ValueError,
     r"cosine RDM undefined: row 0 has zero norm$"),
    ("rdm-zero-centred", lambda: rdm(torch.cat([torch.ones(1, 4), X]), "correlation"), ValueError,
     r"correlation RDM undefined: row 0 has zero norm after centring"),
    ("rsa-constant", lambda: rsa(torch.eye(4), X[:4]), ValueError,
     r"RSA undefined: one RDM is constant \(all pairwise distances equal\)"),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message_is_pinned(call: Callable[[], Any], exc: type[BaseException], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_io_corrupted_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ')
    with pytest.raises(ValueError, match=r"bad.json is not valid JSON \(.*\); it may be truncated or corrupted"):
        _io.read_json(bad)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 3)
    with pytest.raises(ValueError, match=r"bad.safetensors is not a readable safetensors file \(.*\); it may be "
                                         r"truncated or corrupted"):
        _io.load_tensors(bad_st)


def test_similarity_wrong_output_shape() -> None:
    register_similarity("half", lambda x, a: (x @ a.T)[:, :1], source="pin-test")
    try:
        with pytest.raises(ValueError, match=r"similarity function 'half' returned \(12, 1\); expected a "
                                             r"tensor of shape \(12, 3\) \(one score per sample and anchor\)"):
            RelativeProjection("pin-test:half").fit(X[:3]).transform(X)
    finally:
        from stitch.core.similarity import SIMILARITIES

        SIMILARITIES.unregister_source("pin-test")


def test_json_roundtrip_is_exact(tmp_path: Path) -> None:
    # The positive twin of the json-type row: supported values survive a round trip unchanged.
    obj = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    _io.write_json(tmp_path / "o.json", obj)
    assert _io.read_json(tmp_path / "o.json") == obj
    assert json.loads((tmp_path / "o.json").read_text()) == obj
    assert re.fullmatch(r"[0-9a-f]{64}", _io.sha256_file(tmp_path / "o.json"))


# -- adapters ------------------------------------------------------------------------------------------
def _images(*args: Any) -> Any:
    from stitch.adapters.vision import images_to_tensor

    return images_to_tensor(*args)


def _timm(**kw: Any) -> Any:
    from stitch.adapters.vision import TimmEncoder

    return TimmEncoder("resnet10t", **kw)


def _arrays(**kw: Any) -> Any:
    from stitch.adapters.datasets import load_arrays

    return load_arrays(**{"inputs": np.zeros((4, 2)), "labels": [0, 1, 0, 1], **kw})


ADAPTER_CASES: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("images-empty-list", lambda: _images([]), ValueError, r"inputs is empty; expected at least one image"),
    ("images-empty-array", lambda: _images(np.zeros((0, 8, 8), np.uint8)), ValueError,
     r"inputs is empty \(shape \(0, 8, 8\)\); expected at least one image"),
    ("images-no-pixels", lambda: _images(np.zeros((2, 0, 8), np.uint8)), ValueError,
     r"inputs: images have no pixels \(shape \(2, 1, 0, 8\)\)"),
    ("images-type", lambda: _images({"a": 1}), TypeError,
     r"inputs: expected PIL images or an array/tensor of images shaped \(n, h, w\), \(n, h, w, c\) or "
     r"\(n, c, h, w\), got dict"),
    ("image-item-type", lambda: _images([None]), TypeError, r"inputs\[0\]: expected an image, got NoneType \(None\)"),
    ("image-item-scalar", lambda: _images([3]), ValueError,
     r"inputs\[0\]: expected one image shaped \(h, w\), \(h, w, c\) or \(c, h, w\), got shape \(\)"),
    ("image-item-dtype", lambda: _images([np.zeros((4, 4), bool)]), TypeError,
     r"inputs\[0\]: images must be uint8 \(0..255\) or float \(0..1\), got dtype bool"),
    ("image-item-shape", lambda: _images([np.zeros(5)]), ValueError,
     r"inputs\[0\]: expected one image shaped \(h, w\), \(h, w, c\) or \(c, h, w\), got shape \(5,\)"),
    ("images-dtype", lambda: _images(torch.zeros(2, 8, 8, dtype=torch.complex64)), TypeError,
     r"inputs: images must be uint8 \(0..255\) or float \(0..1\), got dtype torch.complex64"),
    ("images-nan", lambda: _images(np.full((2, 8, 8), np.nan, np.float32)), ValueError,
     r"inputs: images contain NaN or Inf"),
    ("timm-image-size", lambda: _timm(image_size=(8, 0)), ValueError,
     r"image_size must be a positive int or a \(height, width\) pair, got \(8, 0\)"),
    ("timm-both-weights", lambda: _timm(pretrained=True, checkpoint="w.safetensors"), ValueError,
     r"pass either pretrained=True \(hub weights\) or checkpoint=PATH \(local weights\), not both"),
    ("timm-seed", lambda: _timm(seed=1.5), TypeError, r"seed must be an int, got float \(1.5\)"),
    ("timm-bad-option", lambda: _timm(no_such_option=1).encode(np.zeros((1, 8, 8), np.float32)), TypeError,
     r"timm model 'resnet10t' rejected the options \{'no_such_option': 1\}: "),
    ("timm-channels", lambda: _timm(in_chans=2, image_size=8).encode(np.zeros((1, 3, 8, 8), np.float32)),
     ValueError, r"images have 3 channels but timm:resnet10t takes 2 \(in_chans=2\)"),
    ("arrays-negative", lambda: _arrays(labels=[0, -1, 0, 1]), ValueError,
     r"labels must be >= 0 class indices, got minimum -1"),
    ("arrays-class-names", lambda: _arrays(labels=[0, 1, 2, 1], class_names=["a", "b"]), ValueError,
     r"2 class_names for labels up to 2; give one name per class"),
    ("arrays-count", lambda: _arrays(labels=[0, 1]), ValueError,
     r"4 inputs but 2 labels; expected one label per input"),
    ("arrays-float-labels", lambda: _arrays(labels=[0.5, 1, 0, 1]), ValueError,
     r"labels must be a 1-D array of integer class indices, got shape \(4,\) dtype float64"),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), [c[1:] for c in ADAPTER_CASES], ids=[c[0] for c in ADAPTER_CASES])
def test_adapter_error_message_is_pinned(call: Callable[[], Any], exc: type[BaseException], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_dataset_file_errors(tmp_path: Path) -> None:
    from stitch.adapters.datasets import load_image_folder, load_text_file, load_trec

    with pytest.raises(FileNotFoundError, match=r"image folder '.*nowhere' does not exist"):
        load_image_folder(path=tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"has no class sub-folders; expected .*/<class name>/<image files>"):
        load_image_folder(path=tmp_path)
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"has no images \(.*\.png.*\) in its class sub-folders"):
        load_image_folder(path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"text file '.*missing.tsv' does not exist"):
        load_text_file(path=tmp_path / "missing.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n")
    with pytest.raises(ValueError, match=r"empty.tsv holds no labelled texts"):
        load_text_file(path=empty)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 0"):
        load_trec(root=tmp_path, val_fraction=0)


def test_precomputed_file_with_duplicate_ids(tmp_path: Path) -> None:
    from stitch.adapters.precomputed import PrecomputedEncoder, save_precomputed

    with pytest.raises(ValueError, match=r"3 ids for 2 latent rows; expected one id per row"):
        save_precomputed(tmp_path / "z.safetensors", ["a", "b", "c"], torch.eye(2))
    path = tmp_path / "dup.safetensors"
    _io.save_tensors(path, {"latents": torch.eye(2)}, {"ids": json.dumps(["a", "a"])})
    with pytest.raises(ValueError, match=r"dup.safetensors: ids must be unique and one per latent row"):
        PrecomputedEncoder(path).encode(["a"])


def test_encoder_without_dim_says_what_to_implement() -> None:
    from stitch.encoder import BaseEncoder, EncoderSpec

    class NoDim(BaseEncoder):
        def _load(self) -> None:
            pass

        def _prepare(self, inputs: Any) -> Any:
            return inputs

        def _encode_batch(self, batch: Any) -> torch.Tensor:
            return torch.zeros(len(batch), 1)

    with pytest.raises(NotImplementedError, match=r"NoDim must set spec.dim or implement _loaded_dim\(\)"):
        _ = NoDim(EncoderSpec("nodim", "any", "no dim")).dim


def test_torch_encoder_without_dim_says_what_to_implement() -> None:
    from stitch.adapters._torch import TorchEncoder
    from stitch.encoder import EncoderSpec

    class NoDim(TorchEncoder):
        def _build_module(self) -> torch.nn.Module:
            return torch.nn.Identity()

        def _prepare(self, inputs: Any) -> Any:
            return inputs

        def forward(self, batch: Any) -> torch.Tensor:
            return batch

    with pytest.raises(NotImplementedError, match=r"NoDim must set spec.dim or implement _module_dim\(module\)"):
        _ = NoDim(EncoderSpec("nodim", "any", "no dim")).dim


def test_cache_rejects_an_encoder_returning_the_wrong_number_of_rows(tmp_path: Path) -> None:
    from stitch.encoder.cache import LatentCache

    class Short:
        name, modality, dim = "short", "tabular", 2

        def encode(self, inputs: Any, **kw: Any) -> torch.Tensor:
            return torch.zeros(len(inputs) - 1, 2)

    with pytest.raises(RuntimeError, match=r"encoder 'short' returned shape \(3, 2\) for 4 samples of dataset "
                                           r"'toy'; expected \(4, dim\)"):
        LatentCache(tmp_path).encode(Short(), _toy())
    assert not list(tmp_path.rglob("*.safetensors")), "a failed encode must not leave a cache entry"


def test_metric_returning_nan_is_reported_as_a_metric_bug() -> None:
    m = _metric(fn=lambda x, y: float("nan"))
    with pytest.raises(ValueError, match=r"metric 'm' produced nan for inputs of shape \(12, 4\) and \(12, 3\); "
                                         r"this is a bug in the metric, please report it"):
        m(X, Y)
    assert _metric(fn=lambda x, y: 0.25)(X, Y) == 0.25


def test_download_failures_name_the_url_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import urllib.error
    import urllib.request

    from stitch.adapters.datasets import _download

    def offline(url: str, timeout: float) -> Any:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match=r"could not download https://example.org/f \(.*no network.*\); "
                                                r"offline, pass root=<directory with the files> \(--data DIR on the "
                                                r"command line\) or set STITCH_DATA"):
        _download("https://example.org/f", tmp_path / "f", "0" * 64)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered"))
    with pytest.raises(ValueError, match=r"https://example.org/f has sha256 [0-9a-f]{12}\.\.\., expected "
                                         r"000000000000\.\.\.; not saving it"):
        _download("https://example.org/f", tmp_path / "f", "0" * 64)
    assert not (tmp_path / "f").exists()


def test_trained_encoder_sidecar_mismatches(tmp_path: Path) -> None:
    from stitch.encoder.checkpoint import TRAINED_FORMAT, read_checkpoint, read_provenance, sidecar_path

    path = tmp_path / "enc.safetensors"
    file_meta = {"format": TRAINED_FORMAT, "stitch": json.dumps({"base_encoder": "a"})}
    digest = _io.save_tensors(path, {"encoder.w": torch.ones(2)}, file_meta)
    side = {"format": TRAINED_FORMAT, "sha256": digest, "base_encoder": "a"}
    _io.write_json(sidecar_path(path), {**side, "format": "something-else/1"})
    with pytest.raises(ValueError, match=r"enc.safetensors.json is not a latent-stitch trained-encoder sidecar "
                                         r"\(format 'something-else/1', expected 'latent-stitch-trained-encoder/1'\)"):
        read_provenance(path)
    _io.write_json(sidecar_path(path), {**side, "sha256": None})
    with pytest.raises(ValueError, match=r"enc.safetensors.json records no sha256 of enc.safetensors, so the weights "
                                         r"cannot be verified"):
        read_provenance(path)
    _io.write_json(sidecar_path(path), {**side, "base_encoder": "b"})
    with pytest.raises(ValueError, match=r"enc.safetensors and its sidecar enc.safetensors.json describe different "
                                         r"encoders"):
        read_checkpoint(path)
    _io.write_json(sidecar_path(path), side)
    weights, _, sha = read_checkpoint(path)
    assert sorted(weights) == ["w"] and sha == digest  # the encoder's weights, prefix removed
