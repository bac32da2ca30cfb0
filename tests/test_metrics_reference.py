"""Agreement with reference implementations (scipy, sklearn, plain formulas written here) and the
estimator-specific identities: Gram vs feature CKA, streaming CKA, Jaccard from overlaps, blocked k-NN."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from stitch import metrics as M

rng = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("one_thread")


def pair(n: int = 80, d1: int = 7, d2: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, d1))
    y = np.tanh(x @ r.normal(size=(d1, d2))) + 0.5 * r.normal(size=(n, d2))
    return x, y


# -- CKA ---------------------------------------------------------------------------------------------
def hsic_biased(k: np.ndarray, l: np.ndarray) -> float:
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h))


def hsic_song(k: np.ndarray, l: np.ndarray) -> float:
    # Song et al. (2012), eq. 5, written term by term.
    n = len(k)
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    one = np.ones(n)
    return float(
        (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
         - 2 / (n - 2) * one @ kt @ lt @ one) / (n * (n - 3))
    )


def test_linear_cka_matches_the_hsic_formula_and_both_forms_agree() -> None:
    x, y = pair()
    k, l = x @ x.T, y @ y.T
    ref = hsic_biased(k, l) / math.sqrt(hsic_biased(k, k) * hsic_biased(l, l))
    for method in ("feature", "gram", "auto"):
        assert M.linear_cka(x, y, method=method) == pytest.approx(ref, abs=1e-12)


def test_linear_cka_wide_inputs_use_gram_form_and_agree() -> None:
    x, y = pair(n=20, d1=60, d2=45)
    assert M.linear_cka(x, y, method="feature") == pytest.approx(M.linear_cka(x, y, method="gram"), abs=1e-12)


def test_debiased_cka_matches_song_et_al_and_both_forms_agree() -> None:
    x, y = pair(n=30)
    k, l = x @ x.T, y @ y.T
    ref = hsic_song(k, l) / math.sqrt(hsic_song(k, k) * hsic_song(l, l))
    for method in ("feature", "gram"):
        assert M.debiased_cka(x, y, method=method) == pytest.approx(ref, abs=1e-12)


def test_debiased_cka_is_near_zero_for_independent_wide_inputs_where_linear_cka_is_not() -> None:
    r = np.random.default_rng(1)
    x, y = r.normal(size=(40, 400)), r.normal(size=(40, 400))
    assert M.linear_cka(x, y) > 0.5  # the known upward bias with d >> n
    assert abs(M.debiased_cka(x, y)) < 0.1


def test_rbf_cka_matches_the_reference_recipe() -> None:
    x, y = pair(n=40)

    def gram_rbf(z: np.ndarray, threshold: float = 1.0) -> np.ndarray:
        # Kornblith et al.'s recipe: sigma^2 = threshold^2 * median squared distance (diagonal included).
        dots = z @ z.T
        sq = np.diag(dots)
        d2 = -2 * dots + sq[:, None] + sq[None, :]
        return np.exp(-d2 / (2 * threshold**2 * np.median(d2)))

    k, l = gram_rbf(x, 0.8), gram_rbf(y, 0.8)
    ref = hsic_biased(k, l) / math.sqrt(hsic_biased(k, k) * hsic_biased(l, l))
    assert M.rbf_cka(x, y, threshold=0.8) == pytest.approx(ref, abs=1e-9)


def test_streaming_cka_one_batch_equals_debiased_and_ignores_batch_order() -> None:
    x, y = pair(n=120)
    one = M.StreamingCKA().update(x, y).compute()
    assert one == pytest.approx(M.debiased_cka(x, y), abs=1e-12)
    batches = [(x[s : s + 30], y[s : s + 30]) for s in range(0, 120, 30)]
    forward, backward = M.StreamingCKA(), M.StreamingCKA()
    for b in batches:
        forward.update(*b)
    for b in reversed(batches):
        backward.update(*b)
    assert forward.compute() == pytest.approx(backward.compute(), abs=1e-14)
    # ... and equals the ratio of batch-averaged unbiased HSIC written out here.
    hs = np.array([[hsic_song(a @ a.T, b @ b.T), hsic_song(a @ a.T, a @ a.T), hsic_song(b @ b.T, b @ b.T)]
                   for a, b in batches]).mean(0)
    assert forward.compute() == pytest.approx(hs[0] / math.sqrt(hs[1] * hs[2]), abs=1e-12)
    assert M.minibatch_cka(x, y, batch_size=30) == pytest.approx(forward.compute(), abs=1e-14)
    forward.reset()
    with pytest.raises(ValueError, match=r"compute\(\) called before any update"):
        forward.compute()


def test_minibatch_cka_folds_a_tiny_last_batch_into_the_previous_one() -> None:
    x, y = pair(n=62)
    acc = M.StreamingCKA().update(x[:30], y[:30]).update(x[30:], y[30:])
    assert M.minibatch_cka(x, y, batch_size=30) == pytest.approx(acc.compute(), abs=1e-14)


# -- CCA ---------------------------------------------------------------------------------------------
def test_canonical_correlations_are_cosines_of_scipy_principal_angles() -> None:
    from scipy.linalg import subspace_angles

    x, y = pair()
    ref = np.sort(np.cos(subspace_angles(x - x.mean(0), y - y.mean(0))))[::-1]
    got = M.canonical_correlations(x, y).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-10)
    assert M.mean_cca(x, y) == pytest.approx(ref.mean(), abs=1e-10)


def test_svcca_keeps_the_top_variance_directions() -> None:
    from scipy.linalg import subspace_angles

    x, y = pair(n=100, d1=8, d2=6)

    def top(z: np.ndarray, keep: float) -> np.ndarray:
        zc = z - z.mean(0)
        u, s, _ = np.linalg.svd(zc, full_matrices=False)
        k = int(np.searchsorted(np.cumsum(s**2) / (s**2).sum(), keep)) + 1
        return u[:, :k] * s[:k]

    ref = np.cos(subspace_angles(top(x, 0.8), top(y, 0.8))).mean()
    assert M.svcca(x, y, keep=0.8) == pytest.approx(ref, abs=1e-10)


def test_pwcca_weights_by_projection_on_x() -> None:
    x, y = pair()
    xc, yc = x - x.mean(0), y - y.mean(0)
    qx, _ = np.linalg.qr(xc)
    qy, _ = np.linalg.qr(yc)
    a, rho, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    h = qx @ a
    w = np.abs(h.T @ xc).sum(1)
    assert M.pwcca(x, y) == pytest.approx(float((w / w.sum()) @ rho), abs=1e-10)


# -- Procrustes / matching ---------------------------------------------------------------------------
def test_procrustes_matches_scipy_orthogonal_procrustes() -> None:
    from scipy.linalg import orthogonal_procrustes

    x, y = pair(d1=5, d2=5)
    xc, yc = x - x.mean(0), y - y.mean(0)
    xc, yc = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    _, nuclear = orthogonal_procrustes(xc, yc)
    assert M.procrustes(x, y) == pytest.approx(math.acos(nuclear), abs=1e-10)


def test_procrustes_pads_narrower_side_implicitly() -> None:
    x, y = pair(d1=6, d2=3)
    padded = np.concatenate([y, np.zeros((len(y), 3))], axis=1)
    assert M.procrustes(x, y) == pytest.approx(M.procrustes(x, padded), abs=1e-12)


def test_permutation_match_equals_brute_force_over_all_matchings() -> None:
    x, y = pair(d1=4, d2=4)
    corr = np.corrcoef(x.T, y.T)[:4, 4:]
    best = max(np.mean([corr[i, p[i]] for i in range(4)]) for p in itertools.permutations(range(4)))
    assert M.permutation_match(x, y) == pytest.approx(best, abs=1e-10)


# -- RSA ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rdm_metric", ["euclidean", "correlation", "cosine"])
def test_rsa_matches_scipy(rdm_metric: str) -> None:
    from scipy.spatial.distance import pdist
    from scipy.stats import pearsonr, spearmanr

    x, y = pair(n=40)
    a, b = pdist(x, rdm_metric), pdist(y, rdm_metric)
    np.testing.assert_allclose(M.rdm(x, rdm_metric).numpy(), a, atol=1e-10)
    assert M.rsa_spearman(x, y, rdm_metric=rdm_metric) == pytest.approx(spearmanr(a, b)[0], abs=1e-10)
    assert M.rsa_pearson(x, y, rdm_metric=rdm_metric) == pytest.approx(pearsonr(a, b)[0], abs=1e-10)


def test_rsa_spearman_averages_tied_ranks_like_scipy() -> None:
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    x = np.repeat(np.arange(6.0), 2)[:, None] % 3  # many equal distances
    y = np.arange(12.0)[:, None] ** 2
    assert M.rsa_spearman(x, y) == pytest.approx(spearmanr(pdist(x), pdist(y))[0], abs=1e-12)


# -- neighbourhoods ----------------------------------------------------------------------------------
def test_knn_indices_match_sklearn_and_do_not_depend_on_block_size() -> None:
    from sklearn.neighbors import NearestNeighbors

    x, _ = pair(n=90)
    ref = NearestNeighbors(n_neighbors=6).fit(x).kneighbors(x, return_distance=False)[:, 1:]
    for block in (None, 1, 7, 200):
        got = M.knn_indices(x, 5, block=block).numpy()
        np.testing.assert_array_equal(np.sort(got, 1), np.sort(ref, 1))
    cos = NearestNeighbors(n_neighbors=6, metric="cosine").fit(x).kneighbors(x, return_distance=False)[:, 1:]
    np.testing.assert_array_equal(np.sort(M.knn_indices(x, 5, metric="cosine", block=13).numpy(), 1), np.sort(cos, 1))


def test_mutual_knn_is_the_mean_of_m_over_2k_minus_m() -> None:
    x, y = pair(n=90)
    k = 6
    nx, ny = M.knn_indices(x, k).numpy(), M.knn_indices(y, k).numpy()
    overlaps = [len(set(a) & set(b)) for a, b in zip(nx, ny)]
    jac = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(nx, ny)]
    np.testing.assert_allclose(jac, [m / (2 * k - m) for m in overlaps])
    assert M.mutual_knn(x, y, k=k) == pytest.approx(np.mean(jac), abs=1e-12)
    assert M.mutual_knn(x, y, k=k, block=5) == pytest.approx(np.mean(jac), abs=1e-12)


def test_knn_jaccard_chance_enumerates_exactly() -> None:
    n, k = 7, 2  # the 6 other samples, two random 2-subsets
    subsets = list(itertools.combinations(range(n - 1), k))
    exact = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a in subsets for b in subsets])
    assert M.knn_jaccard_chance(n, k) == pytest.approx(exact, abs=1e-12)


def test_cycle_knn_matches_a_loop() -> None:
    x, y = pair(n=70)
    k = 4
    nx, ny = M.knn_indices(x, k).numpy(), M.knn_indices(y, k).numpy()
    ref = np.mean([any(i in nx[j] for j in ny[i]) for i in range(70)])
    assert M.cycle_knn(x, y, k=k) == pytest.approx(ref, abs=1e-12)


def test_retrieval_mrr_and_relrep_cosine_match_loops() -> None:
    x, y = pair(n=60)
    rx, ry = (r.numpy() for r in M.neighbors.relative_pair(torch.from_numpy(x), torch.from_numpy(y),
                                                           n_anchors=10, seed=3))
    idx = torch.randperm(60, generator=torch.Generator().manual_seed(3))[:10].numpy()
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    np.testing.assert_allclose(rx, [[unit(a) @ unit(b) for b in x[idx]] for a in x], atol=1e-12)
    ranks = []
    for i in range(60):
        sims = np.array([unit(rx[i]) @ unit(ry[j]) for j in range(60)])
        ranks.append(1 + (sims > sims[i]).sum())
    assert M.retrieval_mrr(x, y, n_anchors=10, seed=3, block=7) == pytest.approx(np.mean(1 / np.array(ranks)))
    cos = np.mean([unit(rx[i]) @ unit(ry[i]) for i in range(60)])
    assert M.relrep_cosine(x, y, n_anchors=10, seed=3) == pytest.approx(cos, abs=1e-12)
    assert M.mrr_chance(60) == pytest.approx(np.mean(1 / np.arange(1, 61)))


# -- predictive --------------------------------------------------------------------------------------
def test_linear_r2_matches_sklearn_ridge_on_the_same_folds() -> None:
    from sklearn.linear_model import Ridge

    x, y = pair(n=100)
    alpha = 0.1
    pred = np.empty_like(y)
    for test in torch.randperm(100, generator=torch.Generator().manual_seed(4)).tensor_split(5):
        test = test.numpy()
        train = np.setdiff1d(np.arange(100), test)
        xc = x[train] - x[train].mean(0)
        ridge = alpha * np.trace(xc.T @ xc) / x.shape[1]
        pred[test] = Ridge(alpha=ridge).fit(x[train], y[train]).predict(x[test])
    ref = 1 - ((y - pred) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()
    assert M.linear_r2(x, y, alpha=alpha, seed=4) == pytest.approx(ref, abs=1e-10)


def test_stitching_score_tracks_class_structure() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    centres = torch.randn(3, 10, generator=g, dtype=torch.float64) * 3
    x = centres[labels] + torch.randn(300, 10, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(10, 10, generator=g, dtype=torch.float64))
    assert M.stitching_score(x, 2 * x @ q, labels=labels, n_anchors=30) > 0.95
    noise = torch.randn(300, 10, generator=g, dtype=torch.float64)
    assert M.stitching_score(x, noise, labels=labels, n_anchors=30) < 0.55


# -- Gromov-Wasserstein ------------------------------------------------------------------------------
def test_gromov_wasserstein_is_zero_for_isometric_spaces_and_matches_pot() -> None:
    import ot

    x, y = pair(n=40)
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    assert M.gromov_wasserstein(x, 3 * x @ q + 2) == pytest.approx(0.0, abs=1e-12)

    def norm_dist(z: np.ndarray) -> np.ndarray:
        d = ot.dist(z, z, metric="euclidean")
        return d / d[~np.eye(len(z), dtype=bool)].mean()

    p = ot.unif(40)
    ref = ot.gromov.gromov_wasserstein2(norm_dist(x), norm_dist(y), p, p, "square_loss", G0=np.eye(40) / 40)
    assert M.gromov_wasserstein(x, y) == pytest.approx(float(ref), abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_centred_products_match_the_float64_definition_across_blocks(dtype: torch.dtype) -> None:
    # Widths above the 256-column Gram tile check the mirrored lower triangle; rows=300 forces 4 row blocks
    # (one ragged), and an offset of 50 makes centring in the input precision matter.
    from stitch.metrics._base import centred_products

    g = torch.Generator().manual_seed(3)
    x = (torch.randn(1000, 300, generator=g, dtype=torch.float64) + 50).to(dtype)
    y = (torch.randn(1000, 7, generator=g, dtype=torch.float64) - 20).to(dtype)
    xc, yc = x.double() - x.double().mean(0), y.double() - y.double().mean(0)
    p = centred_products(x, y, grams=True, row_norms=True, col_norms=True, rows=300)
    tol = 1000 * torch.finfo(dtype).eps  # one block's rounding, relative to the entries' scale
    for got, ref in ((p.xy, xc.T @ yc), (p.xx, xc.T @ xc), (p.yy, yc.T @ yc), (p.rx, (xc * xc).sum(1)),
                     (p.ry, (yc * yc).sum(1)), (p.cx, (xc * xc).sum(0)), (p.cy, (yc * yc).sum(0))):
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, ref, rtol=0, atol=tol * ref.abs().max().item())
    assert torch.equal(p.xx, p.xx.T)


def test_linear_cka_float32_fast_path_agrees_with_a_float64_reference() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3000, 96, generator=g)
    y = x @ torch.randn(96, 64, generator=g) + 0.5 * torch.randn(3000, 64, generator=g)
    xc, yc = x.double() - x.double().mean(0), y.double() - y.double().mean(0)
    ref = float((xc.T @ yc).square().sum() / ((xc.T @ xc).norm() * (yc.T @ yc).norm()))
    assert abs(M.linear_cka(x, y, method="feature") - ref) < 1e-6


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_every_knn_backend_finds_sklearns_neighbour_sets(metric: str) -> None:
    from sklearn.neighbors import NearestNeighbors

    from stitch.utils.extras import extra_available

    g = torch.Generator().manual_seed(5)
    x = torch.randn(400, 24, generator=g, dtype=torch.float64)
    ref = NearestNeighbors(n_neighbors=8, metric=metric, algorithm="brute").fit(x.numpy()).kneighbors(
        return_distance=False)
    backends = ["torch", "faiss"] if extra_available("fast") else ["torch"]
    for backend in backends:
        for dtype in (torch.float64, torch.float32):
            got = M.knn_indices(x.to(dtype), 8, metric=metric, backend=backend).numpy()
            np.testing.assert_array_equal(np.sort(got, 1), np.sort(ref, 1), err_msg=f"{backend} {dtype}")


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_knn_excludes_the_sample_itself_even_among_exact_duplicates(backend: str) -> None:
    from stitch.utils.extras import extra_available

    if backend == "faiss" and not extra_available("fast"):
        pytest.skip("faiss is not installed")
    x = torch.tensor([[0.0, 0.0]] * 4 + [[5.0, 5.0], [9.0, 9.0]])
    got = M.knn_indices(x, 3, backend=backend)
    for i in range(4):
        assert i not in got[i].tolist() and sorted(got[i].tolist()) == sorted(set(range(4)) - {i})


def test_knn_backend_is_checked() -> None:
    with pytest.raises(ValueError, match="k-NN backend"):
        M.knn_indices(torch.randn(5, 2), 1, backend="annoy")


def test_retrieval_mrr_in_float32_counts_ranks_like_an_exact_float64_loop_even_at_near_ties() -> None:
    # Rows 1..24 of y are row 0 plus a perturbation far below float32 resolution: for query 0 their
    # similarity differs from the own match only in float64, so a float32-only count would get it wrong.
    def exact_mrr(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        rx, ry = M.neighbors.relative_pair(x, y, n_anchors=12, seed=1)
        ux, uy = rx / rx.norm(dim=1, keepdim=True), ry / ry.norm(dim=1, keepdim=True)
        out = []
        for sims in (ux @ uy.T, ux.float() @ uy.float().T):
            ranks = 1 + (sims > sims.diagonal()[:, None]).sum(1)
            out.append(float((1.0 / ranks.double()).mean()))
        return out[0], out[1]

    g = torch.Generator().manual_seed(6)
    float32_only_was_wrong = 0
    for trial in range(5):
        x = torch.randn(120, 16, generator=g, dtype=torch.float64)
        y = x @ torch.randn(16, 16, generator=g, dtype=torch.float64) + 0.3 * torch.randn(
            120, 16, generator=g, dtype=torch.float64)
        # 24 near copies: more than the fused kernel records per row (NEAR_PER_ROW), so its rescan runs too
        y[1:25] = y[0] + 1e-11 * torch.randn(24, 16, generator=g, dtype=torch.float64)
        ref, float32_only = exact_mrr(x, y)
        float32_only_was_wrong += abs(float32_only - ref) > 1e-9
        assert M.retrieval_mrr(x, y, n_anchors=12, seed=1) == pytest.approx(ref, abs=1e-12)
        assert M.retrieval_mrr(x, y, n_anchors=12, seed=1, block=7) == pytest.approx(ref, abs=1e-12)
    assert float32_only_was_wrong  # the recheck is what makes the difference
