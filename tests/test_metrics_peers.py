"""Agreement with peer libraries on the same inputs (skipped where a peer is not installed; dev extras bring them).

ReSi's own ``repsim`` is not on PyPI (the PyPI package of that name is an unrelated CKA library), so its
measures are checked against definitions written out in ``test_metrics_resi.py`` instead.
"""

from __future__ import annotations

import pytest
import torch

from stitch import metrics as M


@pytest.fixture(scope="module")
def xy() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 20, generator=g, dtype=torch.float64)
    return x, torch.tanh(x @ torch.randn(20, 10, generator=g, dtype=torch.float64)) + 0.2 * torch.randn(
        300, 10, generator=g, dtype=torch.float64)


def test_cka_family_agrees_with_ckatorch(xy: tuple[torch.Tensor, torch.Tensor]) -> None:
    ckatorch = pytest.importorskip("ckatorch")
    x, y = xy
    assert M.linear_cka(x, y) == pytest.approx(float(ckatorch.cka_base(x, y, kernel="linear")), abs=1e-12)
    assert M.debiased_cka(x, y) == pytest.approx(
        float(ckatorch.cka_base(x, y, kernel="linear", unbiased=True)), abs=1e-12)
    # same median-distance bandwidth rule; ckatorch takes the median in its own order of operations
    assert M.rbf_cka(x, y) == pytest.approx(float(ckatorch.cka_base(x, y, kernel="rbf")), abs=1e-6)
