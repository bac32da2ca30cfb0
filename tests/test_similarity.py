"""Similarity functions and the relative projection: declared invariances (both ways), naive references,
chunking, dtypes, edge cases and errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stitch
from stitch.errors import NotFittedError, UnknownNameError
from stitch.core.invariances import CENTERINGS, derive_invariances
from stitch.core.normalization import normalize_relative, standardize_stats
from stitch.core.projection import RelativeProjection, relative_projection
from stitch.core.similarity import SIMILARITIES, list_similarities, register_similarity, similarity_invariances
from stitch.core.transforms import TRANSFORM_CLASSES, sample_transform

BUILTINS = ["cosine", "dot", "euclidean", "l1", "linf", "rbf", "mahalanobis"]
DISTANCES = ["euclidean", "l1", "linf", "mahalanobis"]


def _data(seed: int, n: int = 40, a: int = 9, d: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # an offset and unequal scales, so translation and anisotropic maps have something to change
    scale = torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * scale + 1.0
    anchors = torch.randn(a, d, generator=g, dtype=torch.float64) * scale + 1.0
    return x, anchors


def _rel_change(r0: torch.Tensor, r1: torch.Tensor) -> float:
    return float((r1 - r0).abs().max() / r0.abs().max().clamp(min=1e-12))


# -- declarations, checked both ways ------------------------------------------------------------------------
@pytest.mark.parametrize("center", CENTERINGS)
@pytest.mark.parametrize("name", BUILTINS)
def test_declared_invariances_hold_and_undeclared_ones_break(name: str, center: str | None) -> None:
    declared = similarity_invariances(name, center)
    assert declared, f"{name} declares nothing"
    undeclared = [k for k in TRANSFORM_CLASSES if k not in declared]
    assert undeclared, f"{name} claims every invariance; the declaration means nothing"
    for seed in range(3):
        x, anchors = _data(seed)
        r0 = relative_projection(x, anchors, name, center=center)
        for kind in TRANSFORM_CLASSES:
            t = sample_transform(kind, x.shape[1], seed=100 + seed)
            r1 = relative_projection(t(x), t(anchors), name, center=center)
            change = _rel_change(r0, r1)
            if kind in declared:
                assert change < 1e-5, f"{name}[center={center}] declared invariant to {kind} but changed {change:.2e}"
            else:
                assert change > 1e-3, f"{name}[center={center}] not declared invariant to {kind} yet unchanged"


@pytest.mark.parametrize("normalization", ["l2", "standardize", "layernorm", "topk", "softmax"])
@pytest.mark.parametrize("name", BUILTINS)
def test_declarations_with_output_normalization_hold_both_ways(name: str, normalization: str) -> None:
    x, anchors = _data(20)
    for center in CENTERINGS:
        declared = similarity_invariances(name, center, normalization)
        proj = RelativeProjection(name, center=center, normalization=normalization, k=3)
        assert proj.invariances == declared
        r0 = proj.fit(anchors).transform(x)
        for kind in TRANSFORM_CLASSES:
            t = sample_transform(kind, x.shape[1], seed=21)
            change = _rel_change(r0, proj.fit(t(anchors)).transform(t(x)))
            assert (change < 1e-5) == (kind in declared), (center, kind, change)
            assert kind in declared or change > 1e-3, (center, kind, change)


def test_declarations_golden() -> None:
    assert similarity_invariances("cosine") == {"permutation", "signed_permutation", "orthogonal", "isotropic_scaling"}
    assert similarity_invariances("l1") == {"permutation", "signed_permutation", "translation"}
    assert similarity_invariances("euclidean", "standardize") == {
        "permutation", "signed_permutation", "translation", "isotropic_scaling", "anisotropic_scaling"
    }
    assert "translation" in similarity_invariances("cosine", "mean")
    assert "orthogonal" not in similarity_invariances("cosine", "standardize")
    # mahalanobis is shrunk, so it must not claim full affine invariance
    assert "affine" not in similarity_invariances("mahalanobis")
    assert stitch.similarity_invariances is similarity_invariances
    # a scale-free output normalisation cancels the scale of a homogeneous function, not of softmax
    assert "isotropic_scaling" in similarity_invariances("l1", normalization="layernorm")
    assert "isotropic_scaling" not in similarity_invariances("l1", normalization="softmax")


def test_derive_invariances_rules() -> None:
    derived = derive_invariances({"invertible_linear"})
    assert "affine" in derived["mean"] and "affine" not in derived[None]
    assert derived["standardize"] == {
        "translation", "isotropic_scaling", "anisotropic_scaling", "permutation", "signed_permutation"
    }
    assert derive_invariances({"isotropic_scaling"})["standardize"] == {
        "translation", "isotropic_scaling", "anisotropic_scaling"
    }
    with pytest.raises(ValueError, match="unknown transform class 'rotation'"):
        derive_invariances({"rotation"})


# -- naive references ---------------------------------------------------------------------------------------
def _loop(x: torch.Tensor, anchors: torch.Tensor, f) -> torch.Tensor:
    return torch.tensor([[f(xi, aj) for aj in anchors] for xi in x], dtype=torch.float64)


def _reference(name: str, x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    if name == "cosine":
        return _loop(x, anchors, lambda u, v: float(u @ v / (u.norm() * v.norm())))
    if name == "dot":
        return _loop(x, anchors, lambda u, v: float(u @ v))
    if name == "euclidean":
        return -torch.cdist(x, anchors)
    if name == "l1":
        return _loop(x, anchors, lambda u, v: -float((u - v).abs().sum()))
    if name == "linf":
        return _loop(x, anchors, lambda u, v: -float((u - v).abs().max()))
    if name == "rbf":
        n = len(anchors)
        pair = [float((anchors[i] - anchors[j]).norm()) for i in range(n) for j in range(i + 1, n)]
        sigma = float(torch.tensor(pair, dtype=torch.float64).median())  # lower median
        return _loop(x, anchors, lambda u, v: math.exp(-float(((u - v) ** 2).sum()) / (2 * sigma**2)))
    from sklearn.covariance import LedoitWolf

    precision = torch.linalg.inv(torch.from_numpy(LedoitWolf().fit(anchors.numpy()).covariance_))
    return _loop(x, anchors, lambda u, v: -math.sqrt(float((u - v) @ precision @ (u - v))))


@pytest.mark.parametrize("d", [5, 20])  # d = 20 > 9 anchors: mahalanobis needs its shrinkage
@pytest.mark.parametrize("name", BUILTINS)
def test_agrees_with_naive_reference(name: str, d: int) -> None:
    x, anchors = _data(7, n=15, d=d)
    got = relative_projection(x, anchors, name)
    torch.testing.assert_close(got, _reference(name, x, anchors), rtol=1e-9, atol=1e-9)


def test_float32_euclidean_close_to_float64_cdist() -> None:
    x, anchors = _data(3, n=200, a=30, d=64)
    got = relative_projection(x.float() * 100 + 1000, anchors.float() * 100 + 1000, "euclidean")
    want = -torch.cdist(x * 100, anchors * 100)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-2)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), a=st.integers(1, 12), d=st.integers(1, 16), seed=st.integers(0, 2**16))
def test_cosine_and_euclidean_match_torch_on_any_shape(n: int, a: int, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    anchors = torch.randn(a, d, generator=g, dtype=torch.float64)
    want = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(anchors, dim=1).T
    torch.testing.assert_close(relative_projection(x, anchors, "cosine"), want)
    torch.testing.assert_close(relative_projection(x, anchors, "euclidean"), -torch.cdist(x, anchors))


# -- chunking and dtypes ------------------------------------------------------------------------------------
# linf is a max: no order of evaluation changes a bit of it, so chunks cannot either. l1's sums and the
# GEMM-based functions may differ by an ulp or a few: the compiled kernels and BLAS vectorise other row
# counts differently (measured: l1 one ulp apart with chunks of 1 and 5 rows on an AMD EPYC).
EXACT_ACROSS_CHUNKS = {"linf"}


def _assert_chunk_invariant(got: torch.Tensor, want: torch.Tensor, exact: bool) -> None:
    if exact:
        assert torch.equal(got, want)
    else:
        eps = torch.finfo(want.dtype).eps
        torch.testing.assert_close(got, want, rtol=64 * eps, atol=64 * eps * float(want.abs().max()))


@pytest.mark.parametrize("center", CENTERINGS)
@pytest.mark.parametrize("name", BUILTINS)
def test_chunked_equals_unchunked(name: str, center: str | None) -> None:
    x, anchors = _data(1, n=37)
    whole = relative_projection(x, anchors, name, center=center)
    for chunk in (1, 5, 36, 1000):
        got = relative_projection(x, anchors, name, center=center, chunk_size=chunk)
        _assert_chunk_invariant(got, whole, exact=name in EXACT_ACROSS_CHUNKS)


@pytest.mark.parametrize("normalization", ["l2", "standardize", "layernorm", "topk", "softmax"])
@pytest.mark.parametrize("name", ["euclidean", "l1"])
def test_chunked_equals_unchunked_with_output_normalization(name: str, normalization: str) -> None:
    x, anchors = _data(13, n=23)
    whole = RelativeProjection(name, normalization=normalization, k=3).fit(anchors).transform(x)
    chunked = RelativeProjection(name, normalization=normalization, k=3, chunk_size=4).fit(anchors)
    # every normalisation is row-wise or uses fitted column statistics: exact given exact scores
    _assert_chunk_invariant(chunked.transform(x), whole, exact=name in EXACT_ACROSS_CHUNKS)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", BUILTINS)
def test_half_precision_is_computed_in_float32(name: str, dtype: torch.dtype) -> None:
    x, anchors = _data(2)
    x, anchors = x.to(dtype), anchors.to(dtype)
    got = relative_projection(x, anchors, name)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, relative_projection(x.float(), anchors.float(), name))


@pytest.mark.parametrize("name", BUILTINS)
def test_float64_kept_and_mixed_dtypes_promote(name: str) -> None:
    x, anchors = _data(4)
    full = relative_projection(x, anchors, name)
    assert full.dtype == torch.float64
    fitted32 = RelativeProjection(name).fit(anchors.float())
    mixed = fitted32.transform(x)
    assert mixed.dtype == torch.float64
    torch.testing.assert_close(mixed, relative_projection(x, anchors.float().double(), name))
    assert relative_projection(x.float(), anchors, name).dtype == torch.float64


# -- edge cases ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_anchors_on_themselves(dtype: torch.dtype) -> None:
    _, anchors = _data(5, a=25)
    anchors = anchors.to(dtype) * 50 + 300  # large offset: the norms + GEMM form must still give exact zeros
    assert torch.allclose(relative_projection(anchors, anchors, "cosine").diagonal(), torch.ones(25, dtype=dtype))
    assert torch.allclose(relative_projection(anchors, anchors, "rbf").diagonal(), torch.ones(25, dtype=dtype))
    for name in DISTANCES:
        r = relative_projection(anchors, anchors, name)
        assert torch.equal(r.diagonal().abs(), torch.zeros(25, dtype=dtype)), name
        assert (r.max(dim=1).values == r.diagonal()).all(), f"{name}: higher must mean more similar"


def test_zero_vector_under_cosine_scores_zero() -> None:
    x, anchors = _data(6)
    x[3] = 0.0
    anchors[2] = 0.0
    r = relative_projection(x, anchors, "cosine")
    assert torch.isfinite(r).all()
    assert torch.equal(r[3], torch.zeros(len(anchors), dtype=torch.float64))
    assert torch.equal(r[:, 2], torch.zeros(len(x), dtype=torch.float64))


def test_single_anchor_is_finite_for_every_function() -> None:
    x, anchors = _data(8, a=1)
    for name in BUILTINS:
        for center in CENTERINGS:
            r = relative_projection(x, anchors, name, center=center)
            assert r.shape == (len(x), 1) and torch.isfinite(r).all(), (name, center)


def test_callable_similarity_and_plugin_registration() -> None:
    x, anchors = _data(9)

    def neg_sq(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(u, v) ** 2

    torch.testing.assert_close(relative_projection(x, anchors, neg_sq, chunk_size=7), -torch.cdist(x, anchors) ** 2)
    register_similarity("sqeuclidean", neg_sq, invariances={"orthogonal", "translation"}, source="testplugin")
    try:
        assert "sqeuclidean" in list_similarities()
        assert SIMILARITIES.entry("sqeuclidean").source == "testplugin"
        assert similarity_invariances("testplugin:sqeuclidean", "standardize") >= {"anisotropic_scaling"}
        torch.testing.assert_close(relative_projection(x, anchors, "sqeuclidean"), -torch.cdist(x, anchors) ** 2)
    finally:
        SIMILARITIES.unregister_source("testplugin")
    assert "sqeuclidean" not in list_similarities()


def test_listing_and_aliases() -> None:
    assert set(BUILTINS) <= set(stitch.list_similarities())
    assert stitch.get_similarity("chebyshev").name == "linf"
    assert stitch.get_similarity("manhattan").name == "l1"


# -- output normalisation -----------------------------------------------------------------------------------------
def test_normalizations() -> None:
    x, anchors = _data(10, a=20)
    r = relative_projection(x, anchors, "euclidean")
    torch.testing.assert_close(normalize_relative(r, "l2").norm(dim=1), torch.ones(len(x), dtype=torch.float64))
    assert normalize_relative(r, None) is r and normalize_relative(r, "none") is r
    top = normalize_relative(r, "topk", k=3)
    assert ((top != 0).sum(dim=1) == 3).all()
    idx = torch.topk(r, 3, dim=1).indices
    assert torch.equal(top.gather(1, idx), r.gather(1, idx))
    soft = normalize_relative(r, "softmax", temperature=0.5)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(len(x), dtype=torch.float64))
    torch.testing.assert_close(soft, torch.softmax(2 * r, dim=1))
    ln = normalize_relative(r, "layernorm")
    torch.testing.assert_close(ln.mean(dim=1), torch.zeros(len(x), dtype=torch.float64), atol=1e-9, rtol=0)
    # standardize uses fitted statistics: the anchors' own representation comes out column-standardised
    proj = RelativeProjection("euclidean", normalization="standardize").fit(anchors)
    own = proj.transform(anchors)
    torch.testing.assert_close(own.mean(0), torch.zeros(20, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(own.std(0, correction=0), torch.ones(20, dtype=torch.float64))
    stats = standardize_stats(relative_projection(anchors, anchors, "euclidean"))
    torch.testing.assert_close(proj.transform(x), normalize_relative(r, "standardize", stats=stats))
    with pytest.raises(ValueError, match="unknown normalization 'l3'; expected one of 'l2', 'layernorm'"):
        normalize_relative(r, "l3")
    with pytest.raises(ValueError, match="temperature must be a positive number, got 0"):
        normalize_relative(r, "softmax", temperature=0)


# -- estimator -----------------------------------------------------------------------------------------------
def test_estimator_matches_functional_and_records_params() -> None:
    x, anchors = _data(11)
    proj = stitch.RelativeProjection("l1", center="mean")
    assert proj.fit(anchors) is proj
    torch.testing.assert_close(proj.transform(x), relative_projection(x, anchors, "l1", center="mean"))
    assert proj.fit_transform(anchors).shape == (9, 9)
    assert proj.get_params()["similarity"] == "l1" and "l1" in repr(proj)
    assert proj.invariances == similarity_invariances("l1", "mean")
    out = torch.empty(len(x), len(anchors), dtype=torch.float64)
    assert proj.transform(x, out=out) is out


# -- errors -------------------------------------------------------------------------------------------------------
def test_errors_are_clear() -> None:
    x, anchors = _data(12)
    with pytest.raises(ValueError, match=r"X has 12 features, but RelativeProjection is expecting 5 features as input "
                                         r"\(the width of its anchors\); x and anchors must come from the same latent "
                                         r"space"):
        relative_projection(x, anchors[:, :5])
    with pytest.raises(ValueError, match=r"x is empty: 0 sample\(s\) \(shape=\(0, 12\)\)"):
        relative_projection(x[:0], anchors)
    with pytest.raises(ValueError, match=r"anchors is empty: 0 sample\(s\) \(shape=\(0, 12\)\)"):
        relative_projection(x, anchors[:0])
    bad = x.clone()
    bad[4, 1] = float("nan")
    bad[9, 0] = float("inf")
    with pytest.raises(ValueError, match="x contains NaN or Inf in 2 row.*first at row 4"):
        relative_projection(bad, anchors)
    with pytest.raises(ValueError, match="anchors contains NaN or Inf .*first at row 4"):
        relative_projection(x, bad)
    with pytest.raises(NotFittedError, match=r"this RelativeProjection is not fitted yet; call RelativeProjection.fit"):
        RelativeProjection().transform(x)
    with pytest.raises(UnknownNameError, match="unknown similarity function 'cosin'; did you mean 'cosine'"):
        relative_projection(x, anchors, "cosin")
    with pytest.raises(ValueError, match="unknown center 'median'"):
        relative_projection(x, anchors, center="median")
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        relative_projection(x, anchors, chunk_size=0)
    with pytest.raises(ValueError, match=r"returned \(40,\); expected a tensor of shape \(40, 9\)"):
        relative_projection(x, anchors, lambda u, v: u.sum(1))
    with pytest.raises(TypeError, match="similarity must be a registered name"):
        relative_projection(x, anchors, 3)
    with pytest.raises(ValueError, match="must declare every centering option"):
        register_similarity("half", lambda u, v: u @ v.T, invariances={None: ()}, source="t")
    with pytest.raises(ValueError, match=r"out has shape \(2, 2\)"):
        RelativeProjection().fit(anchors).transform(x, out=torch.empty(2, 2, dtype=torch.float64))


def test_standardising_leaves_coordinates_of_float_noise_alone() -> None:
    # all-MiniLM-L6's final LayerNorm leaves dimensions of std ~1e-9 beside ~0.05: float32 rounding noise,
    # which standardising would blow up to the size of every real coordinate
    g = torch.Generator().manual_seed(0)
    anchors = 0.05 * torch.randn(50, 4, generator=g)
    anchors[:, 3] = 1e-9 * torch.randn(50, generator=g)
    x = 0.05 * torch.randn(6, 4, generator=g)
    x[:, 3] = 1e-9 * torch.randn(6, generator=g)
    noisy = x.clone()
    noisy[:, 3] = 1e-9 * torch.randn(6, generator=g)  # other noise in the dead coordinate only
    proj = RelativeProjection("cosine", center="standardize").fit(anchors)
    torch.testing.assert_close(proj.transform(noisy), proj.transform(x), atol=1e-5, rtol=0)
    assert standardize_stats(anchors)[1][3] == 1.0  # its scale is 1: kept as it is, not divided
    live = anchors.clone()
    live[:, 3] = 1e-5 * torch.randn(50, generator=g)  # small but well above float32 resolution: standardised
    torch.testing.assert_close(standardize_stats(live)[1][3], live[:, 3].double().std(correction=0).float())
