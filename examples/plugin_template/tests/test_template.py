"""The plugin's own tests: the latent-stitch contract kit, run on everything this plugin registers."""

import pytest
import torch

import stitch
from stitch.testing import check_lightweight_registration, check_registered_encoder, encoder_params


@pytest.mark.parametrize("name", encoder_params("template:*"))
def test_encoder_contract(name):
    check_registered_encoder(name)


def test_registration_is_light_and_offline():
    seen = check_lightweight_registration(plugins=["template"])
    assert seen["encoders"] == ["ngram-hash"]


def test_angular_similarity_is_used_by_relative_projection():
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    rel = stitch.relative_projection(x, x[:3], similarity="template:angular")
    assert rel.shape == (5, 3)
    assert torch.allclose(rel[:3].diagonal(), torch.ones(3), atol=1e-3)  # each anchor is itself at angle 0
    assert float(rel.min()) >= 0.0 and float(rel.max()) <= 1.0 + 1e-6
