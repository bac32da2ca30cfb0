"""The ReSi measure set against independent naive implementations written here (numpy / scipy, loops).

Where ReSi's own ``repsim`` package defines a measure differently, the difference is stated in the measure's
docstring and tested here by its definition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import torch

from stitch import metrics as M


def pair(n: int = 80, d1: int = 6, d2: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d1)) * np.linspace(0.5, 2.0, d1) + 1.5
    y = np.tanh(x @ rng.normal(size=(d1, d2))) + 0.3 * rng.normal(size=(n, d2)) - 0.7
    return x, y


def centred_unit(z: np.ndarray) -> np.ndarray:
    z = z - z.mean(0)
    return z / np.linalg.norm(z)


def padded(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = max(x.shape[1], y.shape[1])
    return (np.pad(x, ((0, 0), (0, d - x.shape[1]))), np.pad(y, ((0, 0), (0, d - y.shape[1]))))


def test_procrustes_family_matches_scipy_on_zero_padded_inputs() -> None:
    x, y = pair()
    xn, yn = padded(centred_unit(x), centred_unit(y))
    q, _ = scipy.linalg.orthogonal_procrustes(yn, xn)
    dist = np.linalg.norm(xn - yn @ q)
    assert M.procrustes_euclidean(x, y) == pytest.approx(dist, abs=1e-10)
    nuclear = np.linalg.svd(centred_unit(x).T @ centred_unit(y), compute_uv=False).sum()
    assert M.bures_similarity(x, y) == pytest.approx(nuclear, abs=1e-12)
    assert math.cos(M.procrustes(x, y)) == pytest.approx(M.bures_similarity(x, y), abs=1e-12)


def test_normalised_bures_is_the_gram_matrix_formula() -> None:
    x, y = pair(n=30)
    xc, yc = x - x.mean(0), y - y.mean(0)
    kx, ky = xc @ xc.T, yc @ yc.T
    root = scipy.linalg.sqrtm(kx)
    value = np.trace(scipy.linalg.sqrtm(root @ ky @ root)).real / math.sqrt(np.trace(kx) * np.trace(ky))
    assert M.bures_similarity(x, y) == pytest.approx(value, abs=1e-6)


def test_shape_metric_interpolates_between_procrustes_and_whitened_procrustes() -> None:
    x, y = pair(n=200)
    assert M.shape_metric(x, y, alpha=1.0) == pytest.approx(M.procrustes(x, y), abs=1e-12)

    def whiten(z: np.ndarray, alpha: float) -> np.ndarray:
        zc = z - z.mean(0)
        c = zc.T @ zc / len(z)
        return zc @ (alpha * np.eye(z.shape[1]) + (1 - alpha) * np.linalg.inv(scipy.linalg.sqrtm(c).real))

    for alpha in (0.0, 0.3):
        a, b = centred_unit(whiten(x, alpha)), centred_unit(whiten(y, alpha))
        ref = math.acos(min(1.0, np.linalg.svd(a.T @ b, compute_uv=False).sum()))
        assert M.shape_metric(x, y, alpha=alpha) == pytest.approx(ref, abs=1e-9)
    # fully whitened, the angle depends only on the canonical correlations (affine invariance)
    w = np.random.default_rng(3).normal(size=(6, 6))
    assert M.shape_metric(x @ w + 2, y, alpha=0.0) == pytest.approx(M.shape_metric(x, y, alpha=0.0), abs=1e-8)
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        M.shape_metric(x, y, alpha=1.5)
    with pytest.raises(ValueError, match=r"x's covariance is singular .* only 5 samples for 6 features"):
        M.shape_metric(x[:5], y[:5], alpha=0.5)


def test_aligned_cosine_is_the_mean_row_cosine_after_scipys_rotation() -> None:
    x, y = pair()
    xc, yc = padded(x - x.mean(0), y - y.mean(0))
    q, _ = scipy.linalg.orthogonal_procrustes(xc, yc)
    xr = xc @ q
    ref = np.mean([a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in zip(xr, yc)])
    assert M.aligned_cosine(x, y) == pytest.approx(ref, abs=1e-10)


def test_correlation_matches_by_their_definitions() -> None:
    x, y = pair()
    corr = np.corrcoef(x.T, y.T)[: x.shape[1], x.shape[1]:]
    rows, cols = scipy.optimize.linear_sum_assignment(corr, maximize=True)
    assert M.get_metric("hard_correlation_match")(x, y) == pytest.approx(corr[rows, cols].mean(), abs=1e-12)
    soft = (corr.max(1).mean() + corr.max(0).mean()) / 2
    assert M.soft_correlation_match(x, y) == pytest.approx(soft, abs=1e-12)


def test_eigenspace_overlap_from_numpy_bases() -> None:
    x, y = pair()
    ux = np.linalg.svd(x, full_matrices=False)[0]
    uy = np.linalg.svd(y, full_matrices=False)[0]
    assert M.eigenspace_overlap(x, y) == pytest.approx(np.linalg.norm(ux.T @ uy) ** 2 / 6, abs=1e-12)
    # a rank-deficient side contributes only its rank
    x_low = np.c_[x[:, :3], x[:, :3] @ np.ones((3, 3))]
    u_low = np.linalg.svd(x_low, full_matrices=False)[0][:, :3]
    assert M.eigenspace_overlap(x_low, y) == pytest.approx(np.linalg.norm(u_low.T @ uy) ** 2 / 6, abs=1e-10)


@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_gulp_matches_the_predictor_distance_in_sample_space(lam: float) -> None:
    # GULP as the distance between the n x n "hat" operators of ridge regression from each space.
    x, y = pair(n=60)
    n = len(x)
    a, b = (math.sqrt(n) * centred_unit(z) for z in (x, y))

    def ridge_hat(z: np.ndarray) -> np.ndarray:
        cov = z.T @ z / n
        inv = np.linalg.pinv(cov) if lam == 0 else np.linalg.inv(cov + lam * np.eye(z.shape[1]))
        return z @ inv @ z.T / n  # maps targets (n,) to ridge predictions, scaled

    ha, hb = ridge_hat(a), ridge_hat(b)
    ref = math.sqrt(max(0.0, np.trace(ha @ ha) + np.trace(hb @ hb) - 2 * np.trace(ha @ hb)))
    assert M.gulp(x, y, lam=lam) == pytest.approx(ref, abs=1e-8)
    with pytest.raises(ValueError, match=r"gulp lam must be a number >= 0"):
        M.gulp(x, y, lam=-1)


def test_distance_correlation_matches_the_textbook_formula() -> None:
    x, y = pair(n=50)

    def centred_distances(z: np.ndarray) -> np.ndarray:
        d = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(z))
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred_distances(x), centred_distances(y)
    ref = math.sqrt((a * b).mean() / math.sqrt((a * a).mean() * (b * b).mean()))
    # cdist's GEMM form of distances rounds at ~1e-8 relative for close pairs (on centred data)
    assert M.distance_correlation(x, y) == pytest.approx(ref, abs=1e-9)


def test_rsm_norm_difference_is_the_frobenius_norm_of_the_distance_matrices() -> None:
    import scipy.spatial.distance as sd

    x, y = pair(n=40)
    ref = np.linalg.norm(sd.squareform(sd.pdist(x)) - sd.squareform(sd.pdist(y)))
    assert M.rsm_norm_difference(x, y) == pytest.approx(ref, rel=1e-12)


def _cos_knn(z: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    # kneighbors() without X leaves each sample out of its own neighbours
    return NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(z).kneighbors(
        return_distance=False)


def test_second_order_cosine_matches_a_loop() -> None:
    x, y = pair(n=70)
    k = 5
    nx, ny = _cos_knn(x, k), _cos_knn(y, k)
    ux, uy = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    scores = []
    for i in range(len(x)):
        union = sorted(set(nx[i]) | set(ny[i]))
        a, b = ux[union] @ ux[i], uy[union] @ uy[i]
        scores.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert M.second_order_cosine(x, y, k=k) == pytest.approx(np.mean(scores), abs=1e-10)


def test_rank_similarity_and_joint_rank_jaccard_match_loops() -> None:
    x, y = pair(n=70)
    k = 6
    nx, ny = _cos_knn(x, k), _cos_knn(y, k)
    rank_scores, joint_scores = [], []
    for i in range(len(x)):
        shared = set(nx[i]) & set(ny[i])
        if not shared:
            rank_scores.append(0.0)
            joint_scores.append(0.0)
            continue
        s = sum(2 / ((1 + abs(list(nx[i]).index(j) - list(ny[i]).index(j)))
                     * (list(nx[i]).index(j) + list(ny[i]).index(j) + 2)) for j in shared)
        rank = s / sum(1 / r for r in range(1, len(shared) + 1))
        rank_scores.append(rank)
        joint_scores.append(rank * len(shared) / len(set(nx[i]) | set(ny[i])))
    assert M.rank_similarity(x, y, k=k) == pytest.approx(np.mean(rank_scores), abs=1e-12)
    assert M.joint_rank_jaccard(x, y, k=k) == pytest.approx(np.mean(joint_scores), abs=1e-12)


def test_statistic_differences_by_definition() -> None:
    from scipy.special import logsumexp

    x, y = pair(n=60)
    assert M.magnitude_difference(x, y) == pytest.approx(abs(np.linalg.norm(x.mean(0)) - np.linalg.norm(y.mean(0))))

    def conc(z: np.ndarray) -> float:
        m = z.mean(0)
        return np.mean(z @ m / (np.linalg.norm(z, axis=1) * np.linalg.norm(m)))

    assert M.concentricity_difference(x, y) == pytest.approx(abs(conc(x) - conc(y)), abs=1e-12)

    def unif(z: np.ndarray, t: float = 2.0) -> float:
        d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
        return logsumexp(-t * d2) - 2 * math.log(len(z))

    assert M.uniformity_difference(x, y) == pytest.approx(abs(unif(x) - unif(y)), abs=1e-10)
    # uniformity of a huge-spread cloud is ~log(1/n) (only i = j pairs count): no underflow to -inf
    far = torch.arange(50, dtype=torch.float64)[:, None] * 1e3
    assert M.statistics.uniformity(far) == pytest.approx(-math.log(50), abs=1e-9)
    with pytest.raises(ValueError, match=r"x's mean is the zero vector"):
        M.concentricity_difference(x - x.mean(0), y)
