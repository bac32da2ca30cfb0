"""Invariance probe: recovers the class that generated y from x, and names the covering similarities."""

from __future__ import annotations

import json

import pytest
import torch

import stitch
from stitch.core.probe import PROBE_CLASSES, fit_map, probe_invariance
from stitch.core.projection import relative_projection
from stitch.core.transforms import sample_transform


def _x(seed: int = 0, n: int = 120, d: int = 8) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 1.0


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("orthogonal", "orthogonal"),
        ("permutation", "orthogonal"),
        ("isotropic_scaling", "scaled_orthogonal"),
        ("translation", "similarity"),
        ("anisotropic_scaling", "linear"),
        ("invertible_linear", "linear"),
        ("affine", "affine"),
    ],
)
@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_probe_recovers_the_generating_class(kind: str, expected: str, noise: float) -> None:
    x = _x()
    y = sample_transform(kind, x.shape[1], seed=4)(x)
    y = y + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    report = stitch.probe_invariance(x, y)
    assert report.best_class == expected, report.residuals
    assert report.residuals[expected] < 0.05
    # every strictly simpler class the generator does not belong to is clearly worse
    for simpler in list(PROBE_CLASSES)[: list(PROBE_CLASSES).index(expected)]:
        assert report.residuals[simpler] > 0.1, (simpler, report.residuals)


def test_similarity_composition_with_scale_and_shift() -> None:
    x = _x(1)
    q = sample_transform("orthogonal", 8, seed=2)
    y = 3.0 * q(x) + torch.arange(8, dtype=torch.float64)
    report = probe_invariance(x, y)
    assert report.best_class == "similarity"
    assert report.fit_residuals["similarity"] < 1e-10


def test_covering_similarities_really_are_invariant() -> None:
    x = _x(2)
    y = sample_transform("translation", 8, seed=5)(5.0 * sample_transform("orthogonal", 8, seed=6)(x))
    report = probe_invariance(x, y)
    assert report.best_class == "similarity"
    assert "rbf" in report.covering and "cosine[center=mean]" in report.covering
    assert "cosine" not in report.covering and "euclidean" not in report.covering
    anchors_x, anchors_y = x[:10], y[:10]
    for entry in report.covering:
        name, _, center = entry.partition("[center=")
        center = center.rstrip("]") or None
        rx = relative_projection(x, anchors_x, name, center=center)
        ry = relative_projection(y, anchors_y, name, center=center)
        torch.testing.assert_close(rx, ry, rtol=1e-7, atol=1e-7)


def test_no_builtin_covers_a_general_affine_map() -> None:
    x = _x(3)
    report = probe_invariance(x, sample_transform("affine", 8, seed=1)(x), similarities=["cosine", "mahalanobis"])
    assert report.best_class == "affine" and report.covering == []
    assert "none of the registered similarity functions" in str(report)


def test_held_out_residuals_do_not_reward_memorising() -> None:
    # Unrelated spaces, fewer samples than dimensions: a linear map fits the fitting rows exactly but
    # explains nothing on held-out rows, so no class may look good.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(15, 20, generator=g, dtype=torch.float64)
    y = torch.randn(15, 20, generator=g, dtype=torch.float64)
    report = probe_invariance(x, y, folds=3)
    assert report.fit_residuals["linear"] < 1e-6
    assert all(r > 0.9 for r in report.residuals.values()), report.residuals
    assert any("under-determined" in note for note in report.notes)
    assert not probe_invariance(_x(), _x(1)).notes  # 120 samples for 8 dims


def test_different_widths() -> None:
    x = _x(4, d=6)
    q = sample_transform("orthogonal", 9, seed=3).matrix[:, :6]  # isometric embedding of R^6 into R^9
    report = probe_invariance(x, x @ q.T)
    assert report.best_class == "orthogonal"
    assert report.dims == (6, 9) and "differ in width" in report.notes[0]


def test_report_is_json_and_reproducible() -> None:
    x = _x(5)
    y = sample_transform("affine", 8, seed=2)(x)
    a, b = probe_invariance(x, y, seed=3), probe_invariance(x, y, seed=3)
    assert a.to_dict() == b.to_dict()
    record = json.loads(json.dumps(a.to_dict()))
    assert record["best_class"] == "affine" and record["seed"] == 3 and set(record["residuals"]) == set(PROBE_CLASSES)


def test_fit_map_closed_forms() -> None:
    x = _x(6, n=50, d=5)
    t = sample_transform("orthogonal", 5, seed=1)
    m, b = fit_map(x, 2.5 * t(x), "scaled_orthogonal")
    torch.testing.assert_close(m, 2.5 * t.matrix.T)
    torch.testing.assert_close(b, torch.zeros(5, dtype=torch.float64))
    a = sample_transform("affine", 5, seed=2)
    m, b = fit_map(x, a(x), "affine")
    torch.testing.assert_close(m, a.matrix.T)
    torch.testing.assert_close(b, a.bias)


def test_errors() -> None:
    x = _x(7)
    with pytest.raises(ValueError, match="x has 120 samples but y has 119"):
        probe_invariance(x, x[:-1])
    with pytest.raises(ValueError, match="needs at least 10 paired samples for 5-fold cross-validation, got 6"):
        probe_invariance(x[:6], x[:6])
    bad = x.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match="y contains NaN or Inf in 1 row.*first at row 3"):
        probe_invariance(x, bad)
    with pytest.raises(ValueError, match="unknown probe class 'rigid'"):
        fit_map(x, x, "rigid")
