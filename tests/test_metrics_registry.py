"""The metric registry (plugins, lookups, declarations) and the errors users can trigger."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import stitch
from stitch import metrics as M
from stitch.errors import UnknownNameError
from stitch.metrics import METRICS, Metric, get_metric, list_metrics, register_metric


def data(n: int = 20, d1: int = 4, d2: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d1, generator=g), torch.randn(n, d2, generator=g)


def test_public_facade_and_listing() -> None:
    assert stitch.get_metric("linear_cka") is get_metric("linear_cka")
    assert stitch.list_metrics("rsa_*") == ["rsa_pearson", "rsa_spearman"]
    assert {"linear_cka", "debiased_cka", "mutual_knn", "procrustes", "gromov_wasserstein"} <= set(list_metrics())
    decl = M.describe_metrics("procrustes")[0]
    assert decl["source"] == "builtin" and decl["kind"] == "distance"
    assert decl["range"] == [0.0, pytest.approx(math.pi / 2)]


def test_unknown_metric_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError,
                       match=r"unknown metric 'linear_ckaa'; did you mean 'linear_cka'.*stitch metrics list"):
        get_metric("linear_ckaa")


def test_plugin_registers_a_plain_function_with_metadata() -> None:
    def mean_abs_diff(x: torch.Tensor, y: torch.Tensor, *, power: int = 1) -> float:
        """Mean absolute difference of column means."""
        return float((x.mean(0)[:1] - y.mean(0)[:1]).abs() ** power)

    try:
        m = register_metric("mean_abs_diff", mean_abs_diff, source="myplugin", kind="distance", range=(0, math.inf),
                            symmetric=True, invariances=("permutation",))
        assert m.description == "Mean absolute difference of column means."
        assert get_metric("mean_abs_diff") is m and get_metric("myplugin:mean_abs_diff") is m
        x, y = data()
        assert get_metric("mean_abs_diff")(x, y, power=2) == pytest.approx(mean_abs_diff(x, y, power=2))
        # a plugin reusing a built-in name never shadows it: the built-in keeps the bare name, the clash is listed
        register_metric("linear_cka", lambda x, y: 0.0, source="myplugin")
        assert get_metric("linear_cka").fn is M.linear_cka
        assert get_metric("builtin:linear_cka").fn is M.linear_cka
        assert get_metric("myplugin:linear_cka")(x, y) == 0.0
        assert METRICS.clashes()["linear_cka"] == ["builtin", "myplugin"]
    finally:
        METRICS.unregister_source("myplugin")
    assert get_metric("linear_cka").fn is M.linear_cka


def test_register_metric_rejects_bad_declarations() -> None:
    with pytest.raises(ValueError, match=r"declares unknown invariances \['rotation'\]"):
        register_metric("bad", lambda x, y: 0.0, source="t", invariances=("rotation",))
    with pytest.raises(ValueError, match=r"kind must be 'score' or 'distance', got 'similarity'"):
        register_metric("bad", lambda x, y: 0.0, source="t", kind="similarity")
    with pytest.raises(TypeError, match=r"expects a Metric or a callable"):
        register_metric("bad", 3.0, source="t")  # type: ignore[arg-type]
    assert "bad" not in METRICS


def test_a_metric_returning_nan_is_an_error_not_a_value() -> None:
    m = Metric("nan_metric", lambda x, y: float("nan"))
    with pytest.raises(ValueError, match=r"metric 'nan_metric' produced nan"):
        m(*data())


# -- input errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["linear_cka", "mutual_knn", "procrustes", "rsa_spearman"])
def test_nan_and_inf_inputs_raise(name: str) -> None:
    x, y = data()
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN or Inf in 1 row\(s\), first at row 3"):
        get_metric(name)(x, y)
    x, y = data()
    y[5, 0] = float("inf")
    with pytest.raises(ValueError, match=r"y contains NaN or Inf in 1 row\(s\), first at row 5"):
        get_metric(name)(x, y)


@pytest.mark.parametrize("name", list_metrics())
def test_constant_inputs_raise(name: str) -> None:
    x, _ = data()
    with pytest.raises(ValueError, match=r"y is constant \(all 20 rows are identical\)"):
        get_metric(name)(x, torch.ones(20, 3), labels=torch.arange(20) % 2)


@pytest.mark.parametrize("name", list_metrics())
def test_mismatched_lengths_raise(name: str) -> None:
    x, y = data()
    with pytest.raises(ValueError, match=r"x has 20 samples but y has 19; paired inputs need one row per sample"):
        get_metric(name)(x, y[:19], labels=torch.arange(20) % 2)


def test_too_few_samples_for_debiased_cka() -> None:
    x, y = data(n=3)
    with pytest.raises(ValueError, match=r"debiased_cka needs at least 4 samples, got 3"):
        M.debiased_cka(x, y)
    with pytest.raises(ValueError, match=r"debiased_cka needs at least 4 samples, got 3"):
        get_metric("debiased_cka")(x, y)
    with pytest.raises(ValueError, match=r"k=10 neighbours need at least k \+ 1 = 11 samples, got 8"):
        M.mutual_knn(*data(n=8))


def test_rank_deficient_inputs_raise_for_cca_but_not_svcca() -> None:
    x, y = data(n=30)
    deficient = torch.cat([x, x[:, :1] + x[:, 1:2]], dim=1)  # 5th column = col0 + col1
    with pytest.raises(ValueError, match=r"mean_cca: x is rank-deficient after centring \(rank 4 < 5 features; some "
                                         r"features are linear combinations of others\); use 'svcca'"):
        M.mean_cca(deficient, y)
    with pytest.raises(ValueError, match=r"pwcca: y is rank-deficient after centring \(rank 9 < 12 features; it has "
                                         r"only 10 samples for 12 features\)"):
        M.pwcca(x[:10], torch.randn(10, 12))
    assert 0 <= M.svcca(deficient, y) <= 1


def test_permutation_match_rejects_constant_units() -> None:
    x, y = data()
    y[:, 1] = 2.0
    with pytest.raises(ValueError, match=r"y has 1 constant unit\(s\) \(first: column 1\)"):
        M.permutation_match(x, y)


def test_labels_required_and_checked() -> None:
    x, y = data()
    with pytest.raises(ValueError, match=r"metric 'stitching_score' needs labels"):
        get_metric("stitching_score")(x, y)
    with pytest.raises(ValueError, match=r"labels must have shape \(20,\) \(one class per sample\), got shape \(19,\)"):
        M.stitching_score(x, y, labels=np.zeros(19))


def test_bad_options_raise_with_choices() -> None:
    x, y = data()
    with pytest.raises(ValueError, match=r"unknown linear CKA method 'gramm'; expected one of 'auto', 'feature', "
                                         r"'gram'. Did you mean 'gram'\?"):
        M.linear_cka(x, y, method="gramm")
    with pytest.raises(ValueError, match=r"rbf_cka threshold must be a positive number, got -1"):
        M.rbf_cka(x, y, threshold=-1)
    with pytest.raises(ValueError, match=r"minibatch_cka batch_size must be >= 4"):
        M.minibatch_cka(x, y, batch_size=2)


# -- sample ids ----------------------------------------------------------------------------------------
def test_ids_must_match_or_be_aligned_on_request() -> None:
    x, y = data()
    ids = [f"s{i}" for i in range(20)]
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    y_shuffled, ids_shuffled = y[perm], [ids[i] for i in perm]
    m = get_metric("linear_cka")
    with pytest.raises(ValueError, match=r"same samples in different orders \(first difference at row 0: 's0' vs "
                                         rf"'{ids_shuffled[0]}'\); pass align=True"):
        m(x, y_shuffled, x_ids=ids, y_ids=ids_shuffled)
    assert m(x, y_shuffled, x_ids=ids, y_ids=ids_shuffled, align=True) == pytest.approx(m(x, y), abs=1e-12)
    assert m(x, y, x_ids=ids, y_ids=ids) == m(x, y)
    with pytest.raises(ValueError, match=r"x and y hold different samples \(in x only: \['s0'\]..., in y only: "
                                         r"\['t0'\]...\)"):
        m(x, y, x_ids=ids, y_ids=["t0", *ids[1:]], align=True)
    with pytest.raises(ValueError, match=r"got 19 x_ids for 20 rows of x"):
        m(x, y, x_ids=ids[:19], y_ids=ids)
    with pytest.raises(ValueError, match=r"pass sample ids for both sides"):
        m(x, y, x_ids=ids)
