"""Product of invariances: aggregation against a naive reference, invariance of the product, trainable
aggregations, chunking and errors."""

from __future__ import annotations

import pytest
import torch

import stitch
from stitch.errors import NotFittedError, UnknownNameError
from stitch.core.aggregation import AGGREGATIONS, create_aggregation, list_aggregations
from stitch.core.product import ProductSpace
from stitch.core.projection import relative_projection
from stitch.core.similarity import similarity_invariances
from stitch.core.transforms import TRANSFORM_CLASSES, sample_transform

FOUR = ["cosine", "euclidean", "l1", "linf"]


def _data(seed: int = 0, n: int = 30, a: int = 8, d: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) + 0.5,
            torch.randn(a, d, generator=g, dtype=torch.float64) + 0.5)


def _naive_standardized(x: torch.Tensor, anchors: torch.Tensor, name: str) -> torch.Tensor:
    own = relative_projection(anchors, anchors, name)
    mean, std = own.mean(0), own.std(0, correction=0)
    return (relative_projection(x, anchors, name) - mean) / std


def test_concat_is_per_subspace_standardisation_fitted_on_anchors() -> None:
    x, anchors = _data()
    space = stitch.ProductSpace(FOUR).fit(anchors)
    want = torch.cat([_naive_standardized(x, anchors, s) for s in FOUR], dim=1)
    got = space.transform(x)
    assert got.shape == (30, 32) and space.output_dim == 32
    torch.testing.assert_close(got, want)
    stacked = space.transform(x, stacked=True)
    assert stacked.shape == (30, 4, 8)
    torch.testing.assert_close(stacked[:, 2], _naive_standardized(x, anchors, "l1"))


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_mean_and_sum(aggregation: str) -> None:
    x, anchors = _data(1)
    space = ProductSpace(FOUR, aggregation=aggregation).fit(anchors)
    stack = torch.stack([_naive_standardized(x, anchors, s) for s in FOUR], dim=1)
    want = stack.mean(1) if aggregation == "mean" else stack.sum(1)
    torch.testing.assert_close(space.transform(x), want)
    assert space.output_dim == 8


def test_normalization_none_keeps_raw_subspaces() -> None:
    x, anchors = _data(2)
    space = ProductSpace(["cosine", "dot"], normalization=None, center="mean").fit(anchors)
    torch.testing.assert_close(
        space.transform(x, stacked=True)[:, 1], relative_projection(x, anchors, "dot", center="mean")
    )


def test_chunked_product_identical() -> None:
    x, anchors = _data(3, n=41)
    for aggregation in ("concat", "mean"):
        whole = ProductSpace(FOUR, aggregation=aggregation).fit(anchors).transform(x)
        chunked = ProductSpace(FOUR, aggregation=aggregation, chunk_size=4).fit(anchors).transform(x)
        assert torch.equal(whole, chunked)


def test_product_is_invariant_to_the_intersection_only() -> None:
    x, anchors = _data(4)
    space = ProductSpace(["cosine", "euclidean"]).fit(anchors)
    # euclidean alone is not scale invariant, but its anchor-fitted standardisation cancels the scale
    common = similarity_invariances("cosine") & similarity_invariances("euclidean", normalization="standardize")
    assert space.invariances == common == {"permutation", "signed_permutation", "orthogonal", "isotropic_scaling"}
    raw = ProductSpace(["cosine", "euclidean"], normalization=None).fit(anchors)
    assert raw.invariances == {"permutation", "signed_permutation", "orthogonal"}
    r0 = space.transform(x)
    for kind in TRANSFORM_CLASSES:
        t = sample_transform(kind, x.shape[1], seed=9)
        r1 = ProductSpace(["cosine", "euclidean"]).fit(t(anchors)).transform(t(x))
        change = float((r1 - r0).abs().max())
        assert (change < 1e-6) == (kind in common), (kind, change)


def test_dtypes() -> None:
    x, anchors = _data(5)
    assert ProductSpace().fit(anchors.half()).transform(x.half()).dtype == torch.float32
    fitted32 = ProductSpace().fit(anchors.float())
    torch.testing.assert_close(fitted32.transform(x), ProductSpace().fit(anchors.float().double()).transform(x))


@pytest.mark.parametrize("name", ["linear_sum", "mlp_sum", "weighted_mean", "attention"])
def test_trainable_aggregations_shapes_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    x, anchors = _data(6)
    z = ProductSpace(FOUR).fit(anchors).transform(x, stacked=True).float()
    kw = {} if name == "weighted_mean" else {"out_dim": 5}
    module = create_aggregation(name, 4, 8, **kw)
    out = module(z)
    assert out.shape == (30, module.out_dim)
    out.square().mean().backward()
    params = list(module.parameters())
    assert params, f"{name} has nothing to train"
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    assert all(bool(p.grad.abs().sum() > 0) for p in params), f"{name}: a parameter gets no gradient"


def test_weighted_mean_starts_as_the_mean_and_linear_sum_is_linear() -> None:
    z = torch.randn(7, 3, 4)
    torch.testing.assert_close(create_aggregation("weighted_mean", 3, 4)(z), z.mean(1))
    lin = create_aggregation("linear_sum", 3, 4, out_dim=2)
    torch.testing.assert_close(lin(2 * z) - lin.bias, 2 * (lin(z) - lin.bias))


def test_attention_is_permutation_equivariant_up_to_subspace_tags() -> None:
    # Without subspace tags, self-attention + mean pooling ignores subspace order; the learned tags are
    # what lets it tell cosine from l1.
    torch.manual_seed(0)
    att = create_aggregation("attention", 3, 4, out_dim=6)
    z = torch.randn(5, 3, 4)
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(att(z), att(z[:, perm]))
    with torch.no_grad():
        att.subspace.normal_()
    assert not torch.allclose(att(z), att(z[:, perm]))


def test_aggregation_registry() -> None:
    assert list_aggregations() == ["attention", "linear_sum", "mlp_sum", "weighted_mean"]
    with pytest.raises(UnknownNameError, match="unknown trainable aggregation 'linear'; did you mean 'linear_sum'"):
        create_aggregation("linear", 2, 3)
    assert "attention" in AGGREGATIONS


def test_errors() -> None:
    x, anchors = _data(7)
    with pytest.raises(NotFittedError, match="this ProductSpace is not fitted yet"):
        ProductSpace().transform(x)
    with pytest.raises(ValueError, match="unknown training-free aggregation 'max'; expected one of 'concat'"):
        ProductSpace(aggregation="max").fit(anchors)
    with pytest.raises(ValueError, match="similarities must be a non-empty list"):
        ProductSpace([]).fit(anchors)
    with pytest.raises(ValueError, match="similarities must be a non-empty list"):
        ProductSpace("cosine").fit(anchors)
    with pytest.raises(ValueError, match="X has 3 features, but ProductSpace is expecting 6 features as input"):
        ProductSpace().fit(anchors).transform(x[:, :3])
    with pytest.raises(ValueError, match=r"expects a stacked relative representation of shape \(n, 4, 8\)"):
        create_aggregation("mlp_sum", 4, 8)(torch.randn(3, 8))
    with pytest.raises(ValueError, match="n_subspaces must be a positive integer, got 0"):
        create_aggregation("attention", 0, 8)
