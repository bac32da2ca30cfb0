"""Fitted decoders, translators and spaces saved as safetensors + JSON: equal predictions after loading, and a
file whose parameters or tensors were changed is refused with a message that names it."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from stitch.core.projection import RelativeProjection
from stitch.core.translate import TRANSLATORS, Affine, Procrustes
from stitch.experiment.decoders import LinearClassifier, MLPClassifier, ReconstructionDecoder


def _edit_header(path: Path, edit) -> None:
    """Rewrite a safetensors file's JSON header with ``edit(header)``, the tensor bytes left as they are."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


@pytest.mark.parametrize("cls", [LinearClassifier, MLPClassifier])
def test_classifiers_predict_the_same_after_loading(cls, tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    z, y = torch.randn(80, 6, generator=g), torch.arange(80) % 4
    dec = cls(epochs=4, hidden=16, seed=3).fit(z, y)
    dec.save(tmp_path / "head.safetensors")
    loaded = cls.load(tmp_path / "head.safetensors")
    assert torch.equal(loaded.predict_logits(z), dec.predict_logits(z))
    assert (loaded.num_classes_, loaded.input_shape_, loaded.get_params()) == (4, (6,), dec.get_params())
    assert {p.suffix for p in tmp_path.iterdir()} == {".safetensors"}


def test_reconstruction_and_stacked_product_decoders_round_trip(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(50, 5, generator=g)
    rec = ReconstructionDecoder(epochs=3, hidden=8).fit(z, torch.randn(50, 7, generator=g))
    rec.save(tmp_path / "rec.safetensors")
    assert torch.equal(ReconstructionDecoder.load(tmp_path / "rec.safetensors").predict(z), rec.predict(z))
    stacked = torch.randn(40, 3, 6, generator=g)
    agg = MLPClassifier(epochs=2, hidden=8, aggregation="attention").fit(stacked, torch.arange(40) % 2)
    agg.save(tmp_path / "agg.safetensors")
    assert torch.equal(MLPClassifier.load(tmp_path / "agg.safetensors").predict_logits(stacked),
                       agg.predict_logits(stacked))


@pytest.mark.parametrize("name", ["procrustes", "affine", "linear", "ridge"])
def test_translators_transform_the_same_after_loading(name, tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    cls = TRANSLATORS.get(name)
    t = cls().fit(x, x @ torch.randn(5, 3, generator=g, dtype=torch.float64))
    t.save(tmp_path / "t.safetensors")
    assert torch.equal(cls.load(tmp_path / "t.safetensors").transform(x), t.transform(x))


def test_a_file_of_another_class_or_unfitted_estimator_is_refused(tmp_path: Path) -> None:
    x = torch.randn(20, 3, dtype=torch.float64)
    Procrustes().fit(x, x).save(tmp_path / "p.safetensors")
    with pytest.raises(ValueError, match=r"p\.safetensors holds a stitch\.core\.translate\.Procrustes, not a "
                                         r"stitch\.core\.translate\.Affine; load it with that class"):
        Affine.load(tmp_path / "p.safetensors")
    with pytest.raises(Exception, match=r"not fitted"):
        LinearClassifier().save(tmp_path / "x.safetensors")


def test_an_edited_parameter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "space.safetensors"
    RelativeProjection("cosine", k=10).fit(torch.randn(6, 3)).save(path)

    def edit(header):
        params = json.loads(header["__metadata__"]["params"])
        header["__metadata__"]["params"] = json.dumps({**params, "k": 19}, sort_keys=True)

    _edit_header(path, edit)
    with pytest.raises(ValueError, match=r"space\.safetensors: the parameters do not match the sha256 in the file's "
                                         r"header \(edited, or written by a latent-stitch without parameter "
                                         r"checksums\); save the estimator again"):
        RelativeProjection.load(path)
