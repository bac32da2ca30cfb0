"""file:<path> adapter: serving stored latents by sample id, through the registry and the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stitch
from stitch.adapters.datasets import load_arrays
from stitch.adapters.precomputed import save_precomputed
from stitch.testing import check_encoder


@pytest.fixture
def stored(tmp_path):
    ds = load_arrays(inputs=np.zeros((12, 2)), labels=np.arange(12) % 3, name="toy")
    z = torch.randn(12, 5, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "z.safetensors"
    save_precomputed(path, ds.ids, z, modality="tabular", source="unit test")
    return ds, z, path


def test_contract_and_rows_by_id(stored):
    ds, z, path = stored
    enc = stitch.create_encoder(f"file:{path}")
    assert enc.dim == 5 and enc.modality == "tabular" and "unit test" in enc.spec.description
    check_encoder(enc, list(ds.ids[:6]))
    torch.testing.assert_close(enc.encode([ds.ids[3], ds.ids[0]]), z[[3, 0]])


def test_cache_passes_sample_ids(stored, tmp_path):
    ds, z, path = stored
    enc = stitch.create_encoder(f"file:{path}")
    out = stitch.LatentCache(tmp_path / "c").encode(enc, ds, "test")
    torch.testing.assert_close(out, z[torch.as_tensor(ds.splits["test"])])


def test_fingerprint_follows_the_file_content(stored):
    ds, z, path = stored
    before = stitch.create_encoder(f"file:{path}").fingerprint()
    save_precomputed(path, ds.ids, z + 1)
    assert stitch.create_encoder(f"file:{path}").fingerprint() != before


def test_missing_ids_and_bad_files(stored, tmp_path):
    ds, z, path = stored
    enc = stitch.create_encoder(f"file:{path}")
    with pytest.raises(KeyError, match=r"1 of 2 sample ids are not in z.safetensors \(e.g. \['nope'\]\)"):
        enc.encode([ds.ids[0], "nope"])
    with pytest.raises(TypeError, match="takes sample ids"):
        enc.encode(np.zeros((2, 3)))
    with pytest.raises(FileNotFoundError, match="latents file '/no/such' does not exist"):
        stitch.create_encoder("file:/no/such")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        stitch.create_encoder(f"file:{junk}")
    with pytest.raises(ValueError, match="ids are not unique"):
        save_precomputed(tmp_path / "d.safetensors", ["a", "a"], torch.zeros(2, 2))
    with pytest.raises(ValueError, match="3 ids for 2 latent rows"):
        save_precomputed(tmp_path / "d.safetensors", ["a", "b", "c"], torch.zeros(2, 2))
