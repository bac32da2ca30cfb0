"""The blocked L1 / L-infinity kernels against the naive reference, on random shapes, ragged edges and views."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stitch.core import pairwise
from stitch.core.pairwise import pairwise_distances

pytestmark = pytest.mark.skipif(not pairwise.available(), reason="numba is not installed")


def naive(x: torch.Tensor, a: torch.Tensor, kind: str) -> torch.Tensor:
    """The definition, in float64, one pair at a time (by broadcasting)."""
    diff = (x.double()[:, None, :] - a.double()[None, :, :]).abs()
    return -(diff.sum(-1) if kind == "l1" else diff.amax(-1))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 13), m=st.integers(1, 11), d=st.integers(1, 70), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["l1", "linf"]), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_matches_the_definition_on_every_shape(n: int, m: int, d: int, seed: int, kind: str,
                                               dtype: torch.dtype) -> None:
    # Shapes below and above the 4 x 4 register block exercise the full blocks and both ragged edges.
    g = torch.Generator().manual_seed(seed)
    x, a = torch.randn(n, d, generator=g, dtype=dtype), torch.randn(m, d, generator=g, dtype=dtype)
    ref = naive(x, a, kind)
    got = pairwise_distances(x, a, kind)
    assert got.dtype == dtype and got.shape == (n, m)
    eps = torch.finfo(dtype).eps
    # L1 sums d terms in the input dtype: the rounding grows with d; L-infinity is exact (a max of exact |a-b|
    # up to one rounding of the difference).
    tol = (4 * d if kind == "l1" else 2) * eps
    torch.testing.assert_close(got.double(), ref, rtol=tol, atol=tol * ref.abs().max().item())


def test_agrees_with_cdist_at_float32_on_a_realistic_size() -> None:
    g = torch.Generator().manual_seed(0)
    x, a = torch.randn(257, 768, generator=g), torch.randn(130, 768, generator=g)
    for kind, p in (("l1", 1.0), ("linf", float("inf"))):
        torch.testing.assert_close(pairwise_distances(x, a, kind), -torch.cdist(x, a, p=p), rtol=1e-5, atol=0)


def test_writes_into_a_strided_view_and_leaves_the_rest_alone() -> None:
    # The product space writes each similarity into its slice of one wide buffer.
    x, a = torch.randn(9, 6), torch.randn(5, 6)
    buf = torch.full((9, 12), 7.0)
    view = buf[:, 3:8]
    assert not view.is_contiguous()
    ret = pairwise_distances(x, a, "l1", out=view)
    assert ret.data_ptr() == view.data_ptr()
    torch.testing.assert_close(buf[:, 3:8], naive(x, a, "l1").float(), rtol=1e-5, atol=1e-5)
    assert (buf[:, :3] == 7).all() and (buf[:, 8:] == 7).all()


def test_non_contiguous_inputs_and_empty_sides() -> None:
    x = torch.randn(6, 10)[:, ::2]
    a = torch.randn(5, 4).T
    torch.testing.assert_close(pairwise_distances(x, a, "linf"), naive(x, a, "linf").float(), rtol=1e-6, atol=0)
    assert pairwise_distances(torch.empty(0, 3), torch.randn(2, 3), "l1").shape == (0, 2)
    assert pairwise_distances(torch.randn(2, 3), torch.empty(0, 3), "l1").shape == (2, 0)


def test_gradients_take_the_differentiable_path() -> None:
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    a = torch.randn(3, 4, dtype=torch.float64)
    out = pairwise_distances(x, a, "l1")
    assert out.requires_grad
    out.sum().backward()
    # d/dx of -sum_j |x - a_j|_1 is -sum_j sign(x - a_j).
    torch.testing.assert_close(x.grad, -torch.sign(x.detach()[:, None] - a[None]).sum(1))


def test_unknown_kind_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown pairwise distance 'l2'; expected 'l1' or 'linf'"):
        pairwise_distances(torch.randn(2, 2), torch.randn(2, 2), "l2")


def test_follows_torch_thread_count() -> None:
    import numba

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        pairwise_distances(torch.randn(8, 3), torch.randn(4, 3), "l1")
        assert numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("fused", [True, False])
def test_euclidean_scores_are_exact_at_near_duplicates_and_overflow_is_caught(fused: bool, monkeypatch) -> None:
    import stitch

    if not fused:  # the torch path (CUDA tensors, no numba) must give the same answers
        monkeypatch.setattr(pairwise, "available", lambda: False)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 64, generator=g) * 50 + 1000  # large norms: the GEMM form cancels badly
    anchors = torch.cat([x[:10], x[10:20] + 1e-3])  # exact copies and near-duplicates of samples
    got = stitch.relative_projection(x, anchors, "euclidean")
    ref = -torch.cdist(x.double(), anchors.double(), compute_mode="donot_use_mm_for_euclid_dist")
    assert torch.equal(got[torch.arange(10), torch.arange(10)], torch.zeros(10))  # a sample to itself: exactly 0
    torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match=r"similarity 'euclidean' overflowed to Inf/NaN"):
        stitch.relative_projection(torch.full((3, 4), 1e19), torch.full((2, 4), -1e19), "euclidean")
    with pytest.raises(ValueError, match=r"similarity 'cosine' overflowed to Inf/NaN"):
        stitch.relative_projection(torch.full((3, 4), 3e38), torch.ones(2, 4), "cosine")
