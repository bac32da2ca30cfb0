"""Translators recover known maps; OT discovers hidden anchor correspondences."""

from __future__ import annotations

import pytest
import torch

from stitch.errors import MatchingWarning, NotFittedError, UnknownNameError
from stitch.core.matching import RELIABLE, Matching, match_anchors
from stitch.core.translate import (
    Affine, InverseRelative, Linear, OTTranslator, Procrustes, Ridge, create_translator, list_translators,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _orthogonal(d: int, g: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q


def test_procrustes_recovers_rotation_scale_and_shift() -> None:
    g = _gen()
    x = torch.randn(80, 6, generator=g, dtype=torch.float64)
    q = _orthogonal(6, g)
    y = 2.5 * x @ q + torch.arange(6, dtype=torch.float64)
    t = Procrustes().fit(x, y)
    assert torch.allclose(t.rotation_, q, atol=1e-10)
    assert t.scale_ == pytest.approx(2.5)
    new = torch.randn(10, 6, generator=g, dtype=torch.float64)
    assert torch.allclose(t.transform(new), 2.5 * new @ q + torch.arange(6, dtype=torch.float64))


def test_procrustes_between_spaces_of_different_dimension() -> None:
    g = _gen(1)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64)
    embed = _orthogonal(7, g)[:4]  # (4, 7) with orthonormal rows: an isometric embedding
    y = x @ embed
    t = Procrustes(center=False, scale=False).fit(x, y)
    assert t.transform(x).shape == (60, 7)
    assert torch.allclose(t.transform(x), y, atol=1e-10)


def test_procrustes_cannot_fit_an_anisotropic_map() -> None:
    # non-invariance: an orthogonal map with one global scale cannot express per-axis stretching
    g = _gen(2)
    x = torch.randn(100, 3, generator=g, dtype=torch.float64)
    y = x * torch.tensor([1.0, 5.0, 0.2], dtype=torch.float64)
    residual = (Procrustes().fit_transform(x, y) - y).norm() / y.norm()
    assert residual > 0.3
    assert torch.allclose(Linear().fit_transform(x, y), y, atol=1e-10)


def test_procrustes_without_centering_misses_a_shift() -> None:
    g = _gen(3)
    x = torch.randn(50, 3, generator=g, dtype=torch.float64)
    y = x + 10.0
    assert torch.allclose(Procrustes().fit_transform(x, y), y, atol=1e-10)
    assert (Procrustes(center=False).fit_transform(x, y) - y).abs().max() > 1.0


def test_affine_recovers_affine_map_and_linear_does_not() -> None:
    g = _gen(4)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    w = torch.randn(5, 3, generator=g, dtype=torch.float64)
    b = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    t = Affine().fit(x, x @ w + b)
    assert torch.allclose(t.coef_, w, atol=1e-10) and torch.allclose(t.intercept_, b, atol=1e-10)
    assert (Linear().fit_transform(x, x @ w + b) - (x @ w + b)).abs().max() > 0.5


def test_ridge_matches_closed_form_reference_in_both_regimes() -> None:
    g = _gen(5)
    for n, d in ((50, 4), (6, 20)):  # primal (n > d) and dual (n < d) solves
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = torch.randn(n, 2, generator=g, dtype=torch.float64)
        alpha = 0.7
        xc, yc = x - x.mean(0), y - y.mean(0)
        w_ref = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(d, dtype=torch.float64), xc.T @ yc)
        t = Ridge(alpha=alpha).fit(x, y)
        assert torch.allclose(t.coef_, w_ref, atol=1e-8)
        assert torch.allclose(t.intercept_, y.mean(0) - x.mean(0) @ w_ref, atol=1e-8)


def test_ridge_with_zero_alpha_is_affine_and_large_alpha_shrinks() -> None:
    g = _gen(6)
    x = torch.randn(30, 3, generator=g, dtype=torch.float64)
    y = x @ torch.randn(3, 2, generator=g, dtype=torch.float64)
    assert torch.allclose(Ridge(alpha=0.0).fit(x, y).coef_, Affine().fit(x, y).coef_, atol=1e-10)
    assert Ridge(alpha=1e8).fit(x, y).coef_.abs().max() < 1e-5
    with pytest.raises(ValueError, match="alpha must be a number >= 0, got -1"):
        Ridge(alpha=-1).fit(x, y)  # validated in fit, as scikit-learn estimators do


def test_dtypes_follow_inputs() -> None:
    x = torch.randn(20, 3)
    assert Procrustes().fit(x, x).transform(x).dtype == torch.float32
    assert Procrustes().fit(x, x).transform(x.double()).dtype == torch.float64
    assert Affine().fit(x.half(), x.half()).transform(x.half()).dtype == torch.float32


def test_inverse_relative_ignores_norms_that_no_linear_map_undoes() -> None:
    g = _gen(5)
    u = torch.nn.functional.normalize(torch.randn(100, 6, generator=g, dtype=torch.float64), dim=1)
    y = 3 * torch.cat([u, -u]) + 1.0  # constant norm around a shared mean
    norms = (0.3 + 2 * torch.rand(100, 1, generator=g, dtype=torch.float64)).repeat(2, 1)
    x = ((y - 1.0) @ _orthogonal(6, g)) * norms
    t = InverseRelative().fit(x, y)
    assert torch.allclose(t.transform(x), y) and float(t.norm_) == pytest.approx(3.0)
    residual = (Affine().fit(x, y).transform(x) - y).norm() / (y - y.mean(0)).norm()
    assert residual > 0.2  # the best affine map misses by a fifth at least
    # a shift of the source is absorbed by the centring; a rescaled sample keeps its direction, loses its norm
    assert torch.allclose(InverseRelative().fit(x + 7, y).transform(x[:3] + 7), y[:3])
    z = 5 * x[:1] / norms[:1]
    assert torch.allclose(t.transform(z), y[:1])
    assert not torch.allclose(InverseRelative(center=False).fit(x + 7, y).transform(x[:3] + 7), y[:3], atol=0.1)


def test_inverse_relative_drops_the_targets_weak_directions() -> None:
    g = _gen(6)
    y = torch.randn(300, 5, generator=g, dtype=torch.float64)
    y[:, 4] *= 1e-9  # a dead coordinate, as in all-MiniLM-L6's final LayerNorm
    x = y[:, :4] @ _orthogonal(4, g) + 0.01 * torch.randn(300, 4, generator=g, dtype=torch.float64)
    kept = InverseRelative().fit(x, y).transform(x)
    plain = InverseRelative(rcond=0.0).fit(x, y).transform(x)
    assert float(kept[:, 4].abs().max()) < 1e-6 < float(plain[:, 4].abs().max())
    with pytest.raises(ValueError, match=r"rcond must be a number in \[0, 1\), got 1\.5"):
        InverseRelative(rcond=1.5).fit(x, y)


def test_translators_save_and_load_their_whole_state(tmp_path) -> None:
    x, y = torch.randn(40, 3, dtype=torch.float64), torch.randn(40, 2, dtype=torch.float64)
    for cls in (Procrustes, Ridge, InverseRelative):
        t = cls().fit(x, y)
        t.save(tmp_path / f"{cls.__name__}.safetensors")
        assert torch.equal(cls.load(tmp_path / f"{cls.__name__}.safetensors").transform(x), t.transform(x))
    with pytest.raises(ValueError, match=r"a fitted InverseRelative needs the tensors coef, intercept, mean_in, norm; "
                                         r"mean_in, norm missing"):
        InverseRelative.from_state({}, Affine().fit(x, y).state_tensors())


def test_translator_errors() -> None:
    with pytest.raises(NotFittedError, match="this Procrustes is not fitted yet"):
        Procrustes().transform(torch.zeros(2, 3))
    t = Affine().fit(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match="x has 5 features but this Affine was fitted on 3"):
        t.transform(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"x \(source anchors\) has 10 samples but y \(target anchors\) has 9"):
        Linear().fit(torch.randn(10, 3), torch.randn(9, 3))
    with pytest.raises(UnknownNameError, match="unknown translation method 'procrustez'; did you mean 'procrustes'"):
        create_translator("procrustez")
    with pytest.raises(TypeError, match=r"translation method 'ridge' got invalid options \['beta'\].*it accepts: alpha"):
        create_translator("ridge", beta=1)


def test_registry_lists_every_method() -> None:
    assert {"procrustes", "affine", "linear", "ridge", "inverse-relative", "ot"} <= set(list_translators())
    assert isinstance(create_translator("orthogonal"), Procrustes)


def _hidden_permutation(n: int, d: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    perm = torch.randperm(n, generator=g)
    y = (x @ _orthogonal(d, g) + noise * torch.randn(n, d, generator=g, dtype=torch.float64))[perm]
    return x, y, torch.argsort(perm)  # x[i] corresponds to y[truth[i]]


def test_sinkhorn_on_relative_spaces_recovers_hidden_permutation_from_three_pairs() -> None:
    x, y, truth = _hidden_permutation(120, 16, noise=0.05, seed=7)
    known = [(i, int(truth[i])) for i in range(3)]
    m = match_anchors(x, y, known=known, method="sinkhorn")
    assert m.method == "sinkhorn"
    assert m.n_correct(truth) == 117
    assert m.scores.shape == (120, 120)


def test_gromov_wasserstein_recovers_hidden_permutation_without_pairs() -> None:
    x, y, truth = _hidden_permutation(60, 8, noise=0.0, seed=1)
    m = match_anchors(x, y, method="gromov")
    assert m.method == "gromov"
    assert m.n_correct(truth) == 60


def test_self_learning_recovers_a_noisy_permutation_without_any_known_pair() -> None:
    x, y, truth = _hidden_permutation(150, 12, noise=0.1, seed=3)
    m = match_anchors(x, y)
    assert (m.method, m.known) == ("self-learning", ())
    assert m.recovery(truth) >= 0.95
    # every start was tried and the returned one has the best objective
    names = [name for name, _ in m.candidates]
    assert names == ["sorted/schedule", *(f"sorted/stochastic#{r}" for r in range(3)), "gromov@0.6/schedule",
                     "gromov@1.0/schedule"]
    assert dict(m.candidates)[m.start] == max(score for _, score in m.candidates)


def test_self_learning_skips_gromov_starts_with_enough_pairs_or_when_asked() -> None:
    x, y, truth = _hidden_permutation(80, 8, noise=0.05, seed=2)
    known = [(i, int(truth[i])) for i in range(10)]
    assert [n for n, _ in match_anchors(x, y, known=known).candidates] == ["known/schedule", "sorted/schedule",
                                                                          "procrustes/schedule"]
    plain = match_anchors(x, y, known=known[:3], method="self-learning")
    assert [n for n, _ in plain.candidates] == ["known/schedule", "sorted/schedule",
                                                *(f"sorted/stochastic#{r}" for r in range(3))]
    assert plain.n_correct(truth) == 77


def test_auto_finds_matchings_that_one_start_alone_misses() -> None:
    # no pair known: the sorted-similarity start recovers what exact Gromov-Wasserstein cannot
    x, y, truth = _hidden_permutation(200, 32, noise=0.2, seed=5)
    auto = match_anchors(x, y)
    assert (auto.recovery(truth), auto.start) == (1.0, "sorted/schedule")
    with pytest.warns(MatchingWarning):  # and says so
        assert match_anchors(x, y, method="gromov").recovery(truth) < 0.1
    # five pairs under heavy noise: relative coordinates w.r.t. them are too noisy to start from, the
    # Wasserstein-Procrustes start is not, and the objective tells the two apart
    x, y, truth = _hidden_permutation(200, 32, noise=0.5, seed=5)
    auto = match_anchors(x, y, known=[(i, int(truth[i])) for i in range(5)])
    assert auto.recovery(truth) == 1.0 and auto.start.startswith("procrustes/schedule")
    objective = dict(auto.candidates)
    assert objective["procrustes/schedule"] > objective["known/schedule"] + 0.3


@pytest.mark.filterwarnings("ignore::stitch.errors.MatchingWarning")  # noisy on purpose: only determinism counts
def test_stochastic_routes_are_seeded() -> None:
    x, y, _ = _hidden_permutation(60, 8, noise=0.3, seed=8)
    stochastic = lambda m: [v for k, v in m.candidates if "stochastic" in k]  # noqa: E731
    first, again = (match_anchors(x, y, method="self-learning", seed=0) for _ in range(2))
    assert first.candidates == again.candidates and torch.equal(first.target, again.target)
    other = match_anchors(x, y, method="self-learning", seed=5)
    assert stochastic(other) != stochastic(first)
    assert dict(other.candidates)["sorted/schedule"] == dict(first.candidates)["sorted/schedule"]
    assert [k for k, _ in match_anchors(x, y, refine=0).candidates] == ["sorted/schedule", "gromov@0.6/schedule",
                                                                        "gromov@1.0/schedule"]


def test_confident_matches_are_more_often_right_than_all_of_them() -> None:
    x, y, truth = _hidden_permutation(200, 32, noise=0.95, seed=5)  # so noisy that a quarter is recovered
    known = [(i, int(truth[i])) for i in range(10)]
    with pytest.warns(MatchingWarning):
        m = match_anchors(x, y, known=known)
    top = m.confident(0.25)
    assert len(top) == 10 + 48
    assert top[:10].sort().values.tolist() == list(range(10))  # known pairs first: their confidence is inf
    hits = (m.target == truth).double()
    assert float(hits[top[10:]].mean()) > m.recovery(truth) + 0.1
    assert torch.isinf(m.confidence[:10]).all() and torch.isfinite(m.confidence[10:]).all()


def test_a_recovered_matching_is_stable_and_silent() -> None:
    import warnings

    x, y, truth = _hidden_permutation(120, 16, noise=0.05, seed=7)
    known = [(i, int(truth[i])) for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MatchingWarning)
        for method in ("auto", "sinkhorn"):  # every method's matching is checked the same way
            m = match_anchors(x, y, known=known, method=method)
            assert m.recovery(truth) == 1.0 and m.reliability == 1.0
            assert torch.equal(m.stability, torch.ones(120, dtype=torch.float64))


def test_a_matching_of_unrelated_sets_says_it_is_unreliable() -> None:
    # no correspondence exists: the self-learning still ends in a self-consistent matching, but not a stable one
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randn(120, 16, generator=g, dtype=torch.float64) for _ in range(2))
    with pytest.warns(MatchingWarning, match=r"^the discovered matching is unreliable: after half of it is "
                                             r"scrambled, the self-learning comes back to only \d+% of its matches "
                                             r"\(reliable matchings come back to over 85%\)"):
        m = match_anchors(x, y, known=[(i, i) for i in range(5)])
    assert m.reliability < 0.25 < RELIABLE and m.recovery(torch.arange(120)) < 0.05
    assert torch.equal(m.stability[:5], torch.ones(5, dtype=torch.float64))  # known pairs are never scrambled


def test_stable_matches_are_right_more_often_and_rank_first() -> None:
    x, y, truth = _hidden_permutation(200, 32, noise=0.95, seed=5)  # so noisy that a quarter is recovered
    with pytest.warns(MatchingWarning):
        m = match_anchors(x, y, known=[(i, int(truth[i])) for i in range(10)])
    hits, stable = (m.target == truth)[10:].double(), m.stability[10:] == 1
    assert float(hits[stable].mean()) > float(hits[~stable].mean()) + 0.4
    assert abs(m.reliability - m.recovery(truth)) < 0.15  # on this pair it tracks recovery
    # the order: stability first, the margin only between equally stable matches
    scores = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    ranked = Matching(torch.arange(3), scores, "self-learning", (), stability=torch.tensor([0.5, 1.0, 1.0]))
    assert ranked.confident(1.0).tolist() == [1, 2, 0]


def test_matching_a_smaller_set_into_a_larger_one() -> None:
    x, y, truth = _hidden_permutation(90, 10, noise=0.05, seed=6)
    rows = torch.arange(60)  # 60 of the 90 source samples, matched among all 90 targets
    m = match_anchors(x[rows], y, known=[(i, int(truth[i])) for i in range(5)])
    assert m.target.shape == (60,) and len(set(m.target.tolist())) == 60
    assert m.recovery(truth[rows]) >= 0.95


def test_matching_without_refinement_is_worse_than_with_it_under_noise() -> None:
    # the Procrustes re-assignment rounds are what make noisy matching exact
    x, y, truth = _hidden_permutation(150, 12, noise=0.15, seed=3)
    known = [(i, int(truth[i])) for i in range(4)]
    refined = match_anchors(x, y, known=known, method="sinkhorn").n_correct(truth)
    raw = match_anchors(x, y, known=known, method="sinkhorn", refine=0).n_correct(truth)
    assert refined >= raw
    assert refined >= 140


def test_ot_translator_maps_like_the_true_rotation() -> None:
    x, y, truth = _hidden_permutation(100, 10, noise=0.0, seed=4)
    t = OTTranslator().fit(x, y, known=[(i, int(truth[i])) for i in range(5)])
    assert t.matching_.n_correct(truth) == 95
    assert torch.allclose(t.transform(x), y[truth], atol=1e-8)


def test_matching_counts_exclude_known_pairs() -> None:
    m = Matching(torch.tensor([0, 1, 2]), torch.eye(3), "sinkhorn", ((0, 0), (1, 1)))
    assert (m.n_correct([0, 1, 2]), m.recovery([0, 1, 2]), m.recovery([0, 1, 0])) == (1, 1.0, 0.0)
    # margins: the match's score minus the best rival in its row or column; known pairs are sure
    assert m.confidence.tolist() == [float("inf"), float("inf"), 1.0]


def test_matching_errors() -> None:
    x = torch.randn(5, 2)
    with pytest.raises(ValueError, match="method='sinkhorn' compares relative spaces built from known pairs, but "
                                         "known is empty; pass a few known \\(i, j\\) pairs or use method='auto'"):
        match_anchors(x, x, method="sinkhorn")
    with pytest.raises(ValueError, match=r"refine \(re-assignment rounds\) must be an int >= 0, got -1"):
        match_anchors(x, x, refine=-1)
    with pytest.raises(ValueError, match="csls_k must be a positive integer, got 0"):
        match_anchors(x, x, csls_k=0)
    m = Matching(torch.tensor([0, 1]), torch.eye(2), "sinkhorn", ())
    with pytest.raises(ValueError, match=r"truth has shape \(3,\) but the matching has 2 source rows"):
        m.recovery([0, 1, 2])
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 0"):
        m.confident(0)
    with pytest.raises(ValueError, match="x has 5 rows but y only 4"):
        match_anchors(x, x[:4])
    with pytest.raises(ValueError, match=r"known pair \(9, 0\) is out of range"):
        match_anchors(x, x, known=[(9, 0)])
    with pytest.raises(ValueError, match="unknown matching method 'exact'"):
        OTTranslator(method="exact").fit(x, x)


def test_procrustes_with_fewer_anchors_than_dimensions_keeps_their_span_and_drops_the_rest() -> None:
    g = _gen(7)
    x = torch.randn(300, 64, generator=g, dtype=torch.float64)
    t = Procrustes(center=False, scale=False).fit(x[:32], x[:32])  # a space onto itself from 32 of 64 dimensions
    basis = torch.linalg.qr(x[:32].T)[0]  # (64, 32): the span the anchors determine
    held_out = x[32:]
    torch.testing.assert_close(t.transform(held_out), held_out @ basis @ basis.T)  # the span kept exactly, the rest 0
    err = float((Procrustes().fit(x[:32], x[:32]).transform(held_out) - held_out).norm() / held_out.norm())
    assert 0.6 < err < 0.8  # the undetermined share of the norm (sqrt(32/64)); a full SVD rotated it: 1.07
    assert torch.allclose(Procrustes().fit(x[:65], x[:65]).transform(held_out), held_out)  # determined: exact


def test_least_squares_near_the_interpolation_peak_warns_and_the_choice_does_not() -> None:
    import warnings

    from stitch.errors import InterpolationWarning
    from stitch.stitcher import Stitcher

    g = _gen(8)
    x = torch.randn(240, 40, generator=g, dtype=torch.float64)
    w = torch.randn(40, 10, generator=g, dtype=torch.float64)
    y = x @ w + torch.randn(240, 10, generator=g, dtype=torch.float64)
    for cls in (Affine, Linear):
        with pytest.warns(InterpolationWarning, match=rf"{cls.__name__}: 40 anchor pairs for 40 dimensions is near "
                                                      r"the interpolation peak .*; use ridge, or "
                                                      r"Stitcher\(method='auto'\)"):
            cls().fit(x[:40], y[:40])
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterpolationWarning)
        Affine().fit(x, y)  # 240 pairs for 40 dimensions: well past the peak
        Ridge(alpha=1.0).fit(x[:40], y[:40])  # regularised: immune
        Stitcher().fit(x[:50], y[:50])  # the choice scores the candidates instead of guessing
    held_out = (x[120:], y[120:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InterpolationWarning)
        err = {m: float((create_translator(m, **o).fit(x[:40], y[:40]).transform(held_out[0]) - held_out[1]).norm())
               for m, o in (("affine", {}), ("ridge", {"alpha": 10.0}))}
    assert err["affine"] > err["ridge"]  # what the warning is about: the unregularised map generalises worse here


def test_procrustes_standardize_is_lsts_recipe_and_undoes_per_dimension_scaling() -> None:
    from stitch.core.translate import Procrustes

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g, dtype=torch.float64) * torch.arange(1, 7, dtype=torch.float64)
    scales = torch.tensor([1.0, 10.0, 0.1, 5.0, 2.0, 0.5], dtype=torch.float64)
    y = (x - x.mean(0)) / x.std(0, correction=0) * scales + 3  # each unit rescaled: not an orthogonal map
    err = lambda t: float((t.transform(x) - y).norm() / y.norm())  # noqa: E731
    assert err(Procrustes(standardize=True).fit(x, y)) < 1e3 * torch.finfo(torch.float64).eps
    assert err(Procrustes().fit(x, y)) > 0.5
    # ... and the other way round: a rotation of anisotropic data is what plain Procrustes is exact on
    q = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))[0]
    rotated = x @ q
    assert float((Procrustes().fit(x, rotated).transform(x) - rotated).norm()) < 1e-10
    assert float((Procrustes(standardize=True).fit(x, rotated).transform(x) - rotated).norm()) > 1.0


def _scaled_rotated_pair(n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Units on scales 0.1-100 around 3, read by another encoder standardised, rotated and noisy."""
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.1, 1.0, 10.0, 100.0] * 4, dtype=torch.float64)
    x = torch.randn(n, 16, generator=g, dtype=torch.float64) * scales + 3
    q = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))[0]
    return x, (x - 3) / scales @ q + 0.3 * torch.randn(n, 16, generator=g, dtype=torch.float64)


def test_procrustes_estimates_centring_and_scaling_on_each_sides_unpaired_latents() -> None:
    from stitch.core.translate import Procrustes

    x, y = _scaled_rotated_pair()
    anchors, unpaired, test = slice(0, 20), slice(20, 1000), slice(1000, 2000)
    err = lambda t: float((t.transform(x[test]) - y[test]).norm() / y[test].norm())  # noqa: E731
    alone = Procrustes(standardize=True).fit(x[anchors], y[anchors])
    helped = Procrustes(standardize=True).fit(x[anchors], y[anchors], x_unpaired=x[unpaired],
                                              y_unpaired=y[1000:1500])  # not the same samples: unpaired
    assert helped.n_unpaired_ == (980, 500) and alone.n_unpaired_ == (0, 0)
    assert torch.allclose(helped.mean_in_, x[:1000].mean(0), rtol=0, atol=1e-12)
    assert err(helped) < 0.8 * err(alone)  # 20 anchors estimate 16 means and scales poorly
    # the statistics change, the map stays one affine map: saved and loaded, it transforms the same
    loaded = Procrustes.from_state(helped.get_params(), helped.state_tensors())
    assert torch.equal(loaded.transform(x[test]), helped.transform(x[test]))
    with pytest.raises(ValueError, match=r"y_unpaired has 3 features but its anchors have 16; pass latents of the "
                                         r"same encoder as y"):
        Procrustes().fit(x[anchors], y[anchors], y_unpaired=torch.zeros(5, 3))


def test_procrustes_standardize_leaves_a_near_dead_unit_unscaled(tmp_path) -> None:
    # all-MiniLM-L6-v2 has units with std ~1e-9 (LayerNorm gamma ~1e-33): dividing by it amplified float noise
    from stitch.core.translate import Procrustes

    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 5, generator=g)
    x[:, 2] = 1e-9 * torch.randn(300, generator=g)
    y = x @ torch.linalg.qr(torch.randn(5, 5, generator=g))[0]
    t = Procrustes(standardize=True).fit(x, y)
    assert float(t.coef_.abs().max()) < 10  # the dead unit's column is not scaled by 1e9
    assert float((t.transform(x) - y).norm() / y.norm()) < 0.7
    t.save(tmp_path / "p.safetensors")
    loaded = Procrustes.load(tmp_path / "p.safetensors")
    assert loaded.standardize is True and torch.equal(loaded.transform(x), t.transform(x))
