"""The estimators follow scikit-learn for real: clone, get/set_params, pickling, check_estimator, save/load."""

from __future__ import annotations

import pickle

import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import stitch
from stitch.core.product import ProductSpace
from stitch.core.projection import RelativeProjection
from stitch.core.translate import Affine, OTTranslator, Procrustes, Ridge
from stitch.errors import NotFittedError
from stitch.experiment.decoders import LinearClassifier, MLPClassifier, ReconstructionDecoder

# Our transformers return torch tensors (that is the library's contract), so the two checks that compare the
# output's dtype with numpy's or take np.finfo of it cannot apply; our own tests check both properties below.
NOT_APPLICABLE = {
    "check_transformer_preserve_dtypes": "transform returns a torch.Tensor: its dtype is torch.float64, not "
                                         "numpy's float64 (kept: see test_float64_in_float64_out)",
    "check_fit_idempotent": "it takes np.finfo of the output's dtype, a torch dtype (idempotence: "
                            "test_refitting_is_idempotent)",
}


def _expected_failures(estimator: object) -> dict[str, str]:
    return NOT_APPLICABLE


@pytest.mark.filterwarnings("ignore:Estimator .* does not inherit from `sklearn.base.BaseEstimator`")
@parametrize_with_checks([RelativeProjection(), RelativeProjection("euclidean", center="standardize",
                                                                   normalization="l2"), ProductSpace()],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


def _x(seed: int = 0, n: int = 20, d: int = 5) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


ESTIMATORS = [RelativeProjection("l1", center="mean", chunk_size=7), ProductSpace(["cosine", "linf"], "mean"),
              Procrustes(scale=False), Ridge(alpha=0.5), OTTranslator(reg=0.1),
              LinearClassifier(epochs=3, aggregation_options={"out_dim": 2}), MLPClassifier(hidden=8),
              ReconstructionDecoder(epochs=2)]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_clone_and_params_round_trip(estimator) -> None:
    copy = clone(estimator)
    assert type(copy) is type(estimator) and copy is not estimator
    assert copy.get_params() == estimator.get_params()
    name, value = next(iter(estimator.get_params(deep=False).items()))
    assert copy.set_params(**{name: value}) is copy
    with pytest.raises(ValueError, match=rf"invalid parameter 'nope' for {type(estimator).__name__}; valid "
                                         r"parameters: "):
        copy.set_params(nope=1)


def test_nested_params_reach_inner_estimators() -> None:
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("space", RelativeProjection("cosine"))])
    pipe.set_params(space__similarity="euclidean")
    assert pipe.get_params()["space__similarity"] == "euclidean"


def test_validation_happens_in_fit_not_init() -> None:
    bad = RelativeProjection("cosine", center="median")  # stored as given: clone must see the same value
    assert clone(bad).center == "median"
    with pytest.raises(ValueError, match="unknown center 'median'"):
        bad.fit(_x())
    with pytest.raises(ValueError, match="alpha must be a number >= 0, got -1"):
        Ridge(alpha=-1).fit(_x(), _x(1))


@pytest.mark.parametrize("make", [
    lambda: RelativeProjection("mahalanobis", center="standardize", normalization="standardize").fit(_x()),
    lambda: ProductSpace(["cosine", "euclidean", "l1", "linf", "rbf"]).fit(_x()),
    lambda: Procrustes().fit(_x(), _x(1)),
    lambda: LinearClassifier(epochs=2).fit(_x(), torch.arange(20) % 2),
], ids=["projection", "product", "procrustes", "decoder"])
def test_fitted_estimators_pickle_and_give_the_same_outputs(make) -> None:
    fitted = make()
    copy = pickle.loads(pickle.dumps(fitted))
    x = _x(2)
    if hasattr(fitted, "transform"):
        assert torch.equal(copy.transform(x), fitted.transform(x))
    else:
        assert torch.equal(copy.predict_logits(x), fitted.predict_logits(x))


def test_not_fitted_error_is_scikit_learns() -> None:
    assert issubclass(NotFittedError, SklearnNotFittedError) and issubclass(NotFittedError, ValueError)
    with pytest.raises(SklearnNotFittedError, match="this ProductSpace is not fitted yet"):
        ProductSpace().transform(_x())
    assert stitch.NotFittedError is NotFittedError


def test_float64_in_float64_out() -> None:
    x = _x()
    for est in (RelativeProjection("euclidean"), ProductSpace()):
        assert est.fit(x).transform(x).dtype == torch.float64
        assert est.fit(x.float()).transform(x.float()).dtype == torch.float32


def test_refitting_is_idempotent() -> None:
    x, anchors = _x(3), _x(4, n=6)
    for est in (RelativeProjection("rbf", normalization="standardize"), ProductSpace()):
        first = est.fit(anchors).transform(x)
        assert torch.equal(est.fit(anchors).transform(x), first)


@pytest.mark.parametrize("cls, params", [
    (RelativeProjection, {"similarity": "mahalanobis", "center": "standardize", "normalization": "topk", "k": 3}),
    (ProductSpace, {"similarities": ["cosine", "l1"], "aggregation": "sum", "normalization": "l2"}),
])
def test_save_and_load_a_fitted_space(tmp_path, cls, params) -> None:
    space = cls(**params).fit(_x(5, n=8))
    path = tmp_path / "space.safetensors"
    digest = space.save(path)
    loaded = cls.load(path)
    assert loaded.get_params() == cls(**params).get_params() | {k: v for k, v in params.items()
                                                                 if not isinstance(v, list)}
    x = _x(6)
    assert torch.equal(loaded.transform(x), space.transform(x))
    assert len(digest) == 64
    with pytest.raises(ValueError, match=r"holds a stitch\.core\.\w+\.\w+, not a stitch\.core\.translate\.Procrustes"):
        from stitch.utils.estimator import load_fitted

        load_fitted(path, Procrustes)


def test_save_refuses_a_callable_and_load_refuses_a_modified_file(tmp_path) -> None:
    with pytest.raises(TypeError, match="its parameters must be JSON values .*; pass registered names instead of "
                                        "Python callables"):
        RelativeProjection(lambda x, a: x @ a.T).fit(_x()).save(tmp_path / "f.safetensors")
    path = tmp_path / "space.safetensors"
    RelativeProjection("cosine").fit(_x()).save(path)
    from safetensors.torch import load, save

    from stitch.utils.files import _header_metadata

    data = path.read_bytes()
    tensors = load(data)
    tensors["anchors"][0, 0] += 1.0  # a rewritten file with the old header: the recorded sha256 no longer matches
    path.write_bytes(save(tensors, metadata=_header_metadata(data)))
    with pytest.raises(ValueError, match="the tensors do not match the sha256 in the file's header"):
        RelativeProjection.load(path)
    path.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        RelativeProjection.load(path)
    other = tmp_path / "other.safetensors"
    save_plain = {"w": torch.ones(2)}
    from stitch.utils.files import save_tensors

    save_tensors(other, save_plain)
    with pytest.raises(ValueError, match=r"is not a fitted latent-stitch estimator \(format None, expected "
                                         r"'latent-stitch-fitted/1'\); write one with \.save\(path\)"):
        ProductSpace.load(other)
