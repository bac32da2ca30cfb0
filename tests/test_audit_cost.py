"""The audit's cost model: per-model statistics once per model, pair reductions once per pair, same numbers."""

from __future__ import annotations

import pytest
import torch

from stitch.audits.compare import compare
from stitch.metrics import get_metric
from stitch.metrics._shared import shared_statistics

METRICS = ["rsa_spearman", "rsa_pearson", "mutual_knn", "cycle_knn", "rank_similarity", "distance_correlation",
           "uniformity_difference"]


def _models(m: int = 4, n: int = 60) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(n, 6, generator=g)
    return {f"m{i}": base @ torch.randn(6, 5 + i, generator=g) + 0.3 * torch.randn(n, 5 + i, generator=g)
            for i in range(m)}


def test_each_model_statistic_is_computed_once_per_model_not_per_pair() -> None:
    lat = _models()
    with shared_statistics() as store:
        res = compare(lat, metrics=METRICS)
    # 4 models: one Euclidean RDM each (shared by both RSA variants), one ranking, k-NN lists for the two
    # neighbourhood metrics (Euclidean k-NN for mutual/cycle, cosine for rank similarity), and so on
    assert dict(store.computed) == {"rdm": 4, "rdm_ranks": 4, "knn": 8, "distance_stats": 4, "uniformity": 4}
    # the pair work is what scales with pairs: 10 cells per symmetric metric (upper triangle with diagonal)
    cells = sum(10 if get_metric(m).symmetric else 16 for m in METRICS)
    served = sum(store.reused.values()) + sum(store.computed.values())
    assert served == 2 * cells + 4  # two sides per cell, plus each ranking's read of its RDM
    assert res.values["rsa_spearman"].shape == (4, 4)


def test_shared_statistics_change_no_number() -> None:
    lat = _models()
    res = compare(lat, metrics=METRICS)
    names = list(lat)
    for metric in METRICS:
        direct = torch.tensor([[get_metric(metric)(lat[a], lat[b]) for b in names] for a in names],
                              dtype=torch.float64)
        shared = torch.as_tensor(res.values[metric])
        assert torch.allclose(shared, direct, rtol=1e-12, atol=1e-12), metric


def test_permuted_and_resampled_copies_are_computed_not_stored() -> None:
    lat = _models(m=3)
    with shared_statistics() as store:
        compare(lat, metrics=["rsa_spearman"], permutations=5, bootstrap=3)
    assert dict(store.computed) == {"rdm": 3, "rdm_ranks": 3}


def test_an_in_place_change_is_not_served_from_the_store() -> None:
    x, y = _models(m=2).values()
    rsa = get_metric("rsa_pearson")
    with shared_statistics([x, y]) as store:
        before = rsa(x, y)
        x[:10] *= 3.0  # new contents, same storage: the version counter tells them apart
        after = rsa(x, y)
    assert store.computed["rdm"] == 2
    assert after == pytest.approx(rsa(x, y), rel=1e-12) and after != pytest.approx(before, rel=1e-6)


def test_a_budget_of_zero_stores_nothing_and_changes_nothing() -> None:
    lat = _models(m=3)
    rsa = get_metric("rsa_pearson")
    with shared_statistics(lat.values(), budget_bytes=0) as store:
        values = [rsa(a, b) for a in lat.values() for b in lat.values()]
    assert store.computed["rdm"] == 18 and not store.reused
    assert values == [rsa(a, b) for a in lat.values() for b in lat.values()]
