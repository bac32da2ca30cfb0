"""Properties every registered metric must show, driven by its own declarations (kind, range, symmetry,
invariances, pairing). A metric that declares something false fails here."""

from __future__ import annotations

import math

import pytest
import torch

from stitch.metrics import get_metric, list_metrics
from stitch.core.transforms import TRANSFORM_CLASSES, implied_by, sample_transform

N, D1, D2 = 150, 6, 4
BUILTINS = list_metrics()

# Options that keep the slow ones fast and the anchor-based ones deterministic over row orders.
OPTIONS = {"gromov_wasserstein": {"max_samples": 200}, "retrieval_mrr": {"n_anchors": 40},
           "relrep_cosine": {"n_anchors": 40}, "stitching_score": {"n_anchors": 40},
           "minibatch_cka": {"batch_size": 50},
           # keep < 1 so SVCCA truncates directions (with all kept it equals mean CCA, affine-invariant)
           "svcca": {"keep": 0.9}}
# Identity reaches the declared best except where the definition itself prevents it: k-NN relations are
# not symmetric (cycle_knn), and a held-out classifier rarely scores exactly 1 (stitching_score).
IDENTITY_NOT_AT_BOUND = {"cycle_knn", "stitching_score"}
# Pairing gap required: joint_rank_jaccard multiplies two k-NN overlaps, so its values are small by construction
# (a 10x drop here is 0.035).
PAIRING_GAP = {"joint_rank_jaccard": 0.02}
DISCRETE = {"mutual_knn", "cycle_knn", "retrieval_mrr", "stitching_score", "rsa_spearman"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D1, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2.0, D1, dtype=torch.float64)
    # y: a nonlinear, noisy, lower-dimensional view of x, so every metric sees a clear but imperfect relation.
    y = torch.tanh(x @ torch.randn(D1, D2, generator=g, dtype=torch.float64)) + 0.3 * torch.randn(
        N, D2, generator=g, dtype=torch.float64)
    labels = (x[:, 0] + x[:, 1] > 0).long()
    return {"x": x, "y": y, "labels": labels}


def call(name: str, x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> float:
    m = get_metric(name)
    kw = dict(OPTIONS.get(name, {}))
    if m.needs_labels:
        kw["labels"] = labels
    return m(x, y, **kw)


def close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


@pytest.mark.parametrize("name", BUILTINS)
def test_declarations_are_valid(name: str) -> None:
    m = get_metric(name)
    assert m.kind in ("score", "distance")
    assert set(m.invariances) <= set(TRANSFORM_CLASSES)
    assert m.range[0] < m.range[1]
    assert m.description, f"{name} has no description"


@pytest.mark.parametrize("name", BUILTINS)
def test_value_in_range_and_identity_is_best(name: str, data: dict[str, torch.Tensor]) -> None:
    m = get_metric(name)
    x, y, lab = data["x"], data["y"], data["labels"]
    v_xy, v_xx = call(name, x, y, lab), call(name, x, x, lab)
    for v in (v_xy, v_xx):
        assert m.range[0] - 1e-9 <= v <= m.range[1] + 1e-9
    better = (lambda a, b: a >= b) if m.kind == "score" else (lambda a, b: a <= b)
    assert better(v_xx, v_xy)
    if name not in IDENTITY_NOT_AT_BOUND:
        assert close(v_xx, m.best, 1e-6), f"{name}(x, x) = {v_xx}, declared best {m.best}"


@pytest.mark.parametrize("name", BUILTINS)
def test_symmetry_as_declared(name: str, data: dict[str, torch.Tensor]) -> None:
    x, y, lab = data["x"], data["y"], data["labels"]
    a, b = call(name, x, y, lab), call(name, y, x, lab)
    if get_metric(name).symmetric:
        assert close(a, b, 1e-8)
    else:
        assert not close(a, b, 1e-4), f"{name} is declared asymmetric but s(x,y) == s(y,x) == {a}"


@pytest.mark.parametrize("name", BUILTINS)
def test_joint_row_permutation_changes_nothing(name: str, data: dict[str, torch.Tensor]) -> None:
    m = get_metric(name)
    x, y, lab = data["x"], data["y"], data["labels"]
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    a, b = call(name, x, y, lab), call(name, x[perm], y[perm], lab[perm])
    # Order-dependent metrics batch, subsample or draw anchors/folds by position: only estimator noise moves.
    assert close(a, b, 0.2 if m.order_dependent else 1e-8), (a, b)


@pytest.mark.parametrize("name", [n for n in BUILTINS if get_metric(n).paired])
def test_breaking_the_pairing_drops_toward_chance(name: str, data: dict[str, torch.Tensor]) -> None:
    m = get_metric(name)
    x, y, lab = data["x"], data["y"], data["labels"]
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(2))
    paired, shuffled = call(name, x, y, lab), call(name, x, y[perm], lab)
    gap = paired - shuffled if m.kind == "score" else shuffled - paired
    assert gap > PAIRING_GAP.get(name, 0.05), f"{name}: paired {paired}, one side shuffled {shuffled}"
    if m.chance is not None:
        chance = m.chance(N, {**m.defaults, **OPTIONS.get(name, {})})
        assert abs(shuffled - chance) < abs(paired - chance)


def _transform(kind: str, z: torch.Tensor, seed: int) -> torch.Tensor:
    return sample_transform(kind, z.shape[1], seed=seed)(z)


def _declared(name: str) -> set[str]:
    inv = set(get_metric(name).invariances)
    return {k for k in TRANSFORM_CLASSES if k in inv or inv & set(implied_by(k))}


@pytest.mark.parametrize("name", BUILTINS)
def test_declared_invariances_hold_on_both_sides(name: str, data: dict[str, torch.Tensor]) -> None:
    x, y, lab = data["x"], data["y"], data["labels"]
    base = call(name, x, y, lab)
    for kind in sorted(_declared(name)):
        for seed in (3, 4):
            assert close(call(name, _transform(kind, x, seed), y, lab), base, 1e-6), (kind, "x")
            assert close(call(name, x, _transform(kind, y, seed), lab), base, 1e-6), (kind, "y")


@pytest.mark.parametrize("name", BUILTINS)
def test_undeclared_transforms_change_the_value(name: str, data: dict[str, torch.Tensor]) -> None:
    x, y, lab = data["x"], data["y"], data["labels"]
    base = call(name, x, y, lab)
    undeclared = sorted(set(TRANSFORM_CLASSES) - _declared(name))
    for kind in undeclared:
        moved = max(abs(call(name, _transform(kind, x, 5), y, lab) - base),
                    abs(call(name, x, _transform(kind, y, 5), lab) - base))
        assert moved > 1e-4, f"{name} is unchanged by {kind} but does not declare it"
    # A nonlinear map is outside every class: some value must move (this covers affine-invariant CCA).
    moved = max(abs(call(name, x**3, y, lab) - base), abs(call(name, x, y**3, lab) - base))
    assert moved > 1e-4, f"{name} is unchanged by an elementwise cube"


@pytest.mark.parametrize("name", BUILTINS)
def test_float32_and_float64_agree(name: str, data: dict[str, torch.Tensor]) -> None:
    x, y, lab = data["x"], data["y"], data["labels"]
    a, b = call(name, x, y, lab), call(name, x.float(), y.float(), lab)
    # Rank-based metrics move in steps (one neighbour or one prediction swapped by rounding); others are smooth.
    tol = 1e-2 if name in DISCRETE else 1e-4
    assert math.isclose(a, b, rel_tol=tol, abs_tol=tol)


@pytest.mark.parametrize("name", BUILTINS)
def test_numpy_inputs_give_the_same_value(name: str, data: dict[str, torch.Tensor]) -> None:
    x, y, lab = data["x"], data["y"], data["labels"]
    assert call(name, x, y, lab) == call(name, x.numpy(), y.numpy(), lab.numpy())
