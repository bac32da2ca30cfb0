"""Anchor selection: every strategy returns distinct real samples, is seeded, and fails clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import stitch
from stitch.core.anchors import ANCHOR_STRATEGIES, AnchorSelection, register_anchor_strategy, select_anchors
from stitch.errors import UnknownNameError

STRATEGIES = ["random", "stratified", "fps", "kmeans", "balanced"]


def _blobs(seed: int = 0, per: int = 30, k: int = 4, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g, dtype=torch.float64) * 10
    x = torch.cat([c + torch.randn(per, d, generator=g, dtype=torch.float64) for c in centres])
    return x, torch.arange(k).repeat_interleave(per)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_returns_distinct_indices_reproducibly(strategy: str) -> None:
    x, labels = _blobs()
    idx = select_anchors(x, 8, strategy, labels=labels, seed=3)
    assert idx.dtype == torch.long and idx.shape == (8,)
    assert len(set(idx.tolist())) == 8 and int(idx.min()) >= 0 and int(idx.max()) < len(x)
    assert torch.equal(idx, select_anchors(x, 8, strategy, labels=labels, seed=3))
    x, labels = _blobs(per=5)
    assert torch.equal(stitch.select_anchors(x, len(x), strategy, labels=labels).sort().values, torch.arange(len(x)))


@pytest.mark.parametrize("strategy", ["random", "stratified", "fps"])
def test_seed_changes_the_draw(strategy: str) -> None:
    x, labels = _blobs()
    draws = [select_anchors(x, 8, strategy, labels=labels, seed=s) for s in range(4)]
    # every seed draws its own set (fps: its own start, hence its own traversal), not a relabelling of one draw
    sets = [frozenset(d.tolist()) for d in draws]
    assert len(set(sets)) == 4
    assert all(len(a & b) < 8 for i, a in enumerate(sets) for b in sets[i + 1:])


def test_stratified_draws_equally_per_class() -> None:
    x, labels = _blobs(k=4)
    idx = select_anchors(x, 12, "stratified", labels=labels.numpy(), seed=1)
    assert np.bincount(labels[idx].numpy(), minlength=4).tolist() == [3, 3, 3, 3]
    string_labels = np.array(["a", "b", "c", "d"])[labels.numpy()]
    idx = select_anchors(x, 8, "stratified", labels=string_labels)
    assert sorted(np.unique(string_labels[idx.numpy()], return_counts=True)[1].tolist()) == [2, 2, 2, 2]


def test_fps_golden_and_spread() -> None:
    # points on a line: after a start at one end, FPS must jump to the other end, then to the middle
    x = torch.arange(11, dtype=torch.float64)[:, None]
    start = int(select_anchors(x, 1, "fps", seed=5))
    idx = select_anchors(x, 3, "fps", seed=5).tolist()
    assert idx[0] == start
    far = 10 if start < 5 else 0
    assert idx[1] == far
    # FPS covers every blob before repeating one; random draws usually do not
    x, labels = _blobs(per=50, k=4)
    assert set(labels[select_anchors(x, 4, "fps", seed=0)].tolist()) == {0, 1, 2, 3}


def test_fps_with_duplicates_still_returns_distinct_rows() -> None:
    x = torch.zeros(6, 3)
    assert sorted(select_anchors(x, 6, "fps").tolist()) == list(range(6))


@pytest.mark.parametrize("strategy", ["kmeans", "balanced"])
def test_cluster_strategies_pick_one_real_sample_per_blob(strategy: str) -> None:
    x, labels = _blobs(per=25, k=4)
    idx = select_anchors(x, 4, strategy, seed=0)
    assert set(labels[idx].tolist()) == {0, 1, 2, 3}


def test_balanced_clusters_are_equal_sized_where_kmeans_is_not() -> None:
    # 72 points in a tight blob and 8 spread far away, 4 clusters: k-means minimises inertia and spends 3
    # anchors on the spread blob; equal-mass clusters (20 samples each) cannot cover a blob of 8 twice.
    g = torch.Generator().manual_seed(0)
    tight = torch.randn(72, 2, generator=g, dtype=torch.float64) * 0.1
    spread = torch.randn(8, 2, generator=g, dtype=torch.float64) * 2 + 30
    x = torch.cat([tight, spread])
    for seed in range(2):
        assert int((select_anchors(x, 4, "kmeans", seed=seed) < 72).sum()) == 1
        assert int((select_anchors(x, 4, "balanced", seed=seed) < 72).sum()) >= 3


def test_return_info_records_everything_as_json() -> None:
    x, labels = _blobs()
    info = select_anchors(x, 6, "kmeans", seed=7, return_info=True, n_init=2)
    assert isinstance(info, AnchorSelection)
    record = json.loads(json.dumps(info.to_dict()))
    assert record == {
        "indices": info.indices.tolist(),
        "strategy": "kmeans",
        "seed": 7,
        "n_reference": len(x),
        "params": {"n_init": 2},
    }
    again = select_anchors(x, record["params"] and 6, record["strategy"], seed=record["seed"], **record["params"])
    assert again.tolist() == record["indices"]


def test_plugin_strategy_registration() -> None:
    register_anchor_strategy("last", lambda x, n, **kw: torch.arange(len(x) - n, len(x)), source="testplugin")
    try:
        assert "last" in stitch.list_anchor_strategies()
        assert select_anchors(torch.randn(5, 2), 2, "last").tolist() == [3, 4]
        register_anchor_strategy("broken", lambda x, n, **kw: torch.zeros(n), source="testplugin")
        with pytest.raises(ValueError, match="anchor strategy 'broken' returned 2 indices .*bug in the strategy"):
            select_anchors(torch.randn(5, 2), 2, "broken")
    finally:
        ANCHOR_STRATEGIES.unregister_source("testplugin")
    assert stitch.list_anchor_strategies() == sorted(STRATEGIES)


def test_errors_are_clear() -> None:
    x, labels = _blobs(per=3, k=4)
    with pytest.raises(ValueError, match="cannot select 13 anchors from a reference set of 12 samples"):
        select_anchors(x, 13)
    with pytest.raises(ValueError, match=r"n \(number of anchors\) must be a positive integer, got 0"):
        select_anchors(x, 0)
    with pytest.raises(ValueError, match="strategy 'stratified' needs labels=..."):
        select_anchors(x, 4, "stratified")
    with pytest.raises(ValueError, match="n=6 is not a multiple of the 4 classes; use n=8"):
        select_anchors(x, 6, "stratified", labels=labels)
    uneven = labels.clone()
    uneven[:2] = 1  # class 0 keeps a single sample
    with pytest.raises(ValueError, match="class 0 has only 1 samples but strategy 'stratified' needs 2 per class"):
        select_anchors(x, 8, "stratified", labels=uneven)
    with pytest.raises(ValueError, match=r"labels must have shape \(12,\)"):
        select_anchors(x, 4, "stratified", labels=labels[:5])
    bad = x.clone()
    bad[7, 2] = float("inf")
    with pytest.raises(ValueError, match="x contains NaN or Inf in 1 row.*first at row 7"):
        select_anchors(bad, 3, "fps")
    with pytest.raises(UnknownNameError, match="unknown anchor strategy 'kmean'; did you mean 'kmeans'"):
        select_anchors(x, 3, "kmean")
    with pytest.raises(ValueError, match=r"reg \(entropic regularisation.*must be > 0"):
        select_anchors(x, 3, "balanced", reg=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_init'"):
        select_anchors(x, 3, "random", n_init=3)
