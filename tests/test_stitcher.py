"""The Stitcher (method chosen by cross-validation on the anchors, a label-free forecast) and the StitchedModel
(saved as safetensors + JSON, loaded back verified, predicting exactly as before)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import numpy as np
import torch

import stitch
from stitch.experiment.decoders import LinearClassifier
from stitch.stitcher import AUTO_CANDIDATES, Stitcher, StitchedModel, load_stitched
from stitch.utils.files import ChecksumError


def _pair(kind: str, n: int = 300, d: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, d, generator=g, dtype=torch.float64)
    if kind == "rotation":
        x = y @ torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0]
    elif kind == "affine":
        x = y @ torch.randn(d, d, generator=g, dtype=torch.float64) + 5.0
    elif kind == "norms":  # a rotation with every sample's norm scrambled: angle-preserving, not linear
        u = torch.nn.functional.normalize(torch.randn(n // 2, d, generator=g, dtype=torch.float64), dim=1)
        y = torch.cat([u, -u])  # symmetric, so both sides' anchor means are exactly zero
        norms = (0.2 + 2.8 * torch.rand(n // 2, 1, generator=g, dtype=torch.float64)).repeat(2, 1)
        x = (y @ torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0]) * norms
    else:  # unrelated
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, y


@pytest.mark.parametrize(("kind", "expected"), [("rotation", "procrustes"), ("affine", "affine"),
                                               ("norms", "inverse-relative")])
def test_auto_picks_the_map_that_made_the_pair(kind, expected) -> None:
    x, y = _pair(kind)
    s = Stitcher().fit(x, y)
    rows = {c["label"]: c for c in s.report_["candidates"]}
    # the right family is the choice or tied with it; a wrong family (rotation for an affine map) is not
    assert s.method_ == expected or rows[expected]["tied"]
    if kind == "affine":
        assert not rows["procrustes"]["tied"] and rows["procrustes"]["mean"] < rows["affine"]["mean"] - 0.1
    if kind == "norms":  # no linear map undoes per-sample norms; the relative space does not see them
        assert s.method_ == "inverse-relative" and not any(c["tied"] for c in rows.values() if c is not rows[expected])
        assert max(c["mean"] for c in rows.values() if c is not rows[expected]) < 0.9 < rows[expected]["mean"]
    assert torch.allclose(s.transform(x[:5]), y[:5], atol=1e-6)


def test_the_report_holds_every_candidate_and_the_noise_floor() -> None:
    x, y = _pair("affine", seed=3)
    s = Stitcher(folds=4, seed=1).fit(x, y)
    r = s.report_
    assert (r["score"], r["folds"], r["seed"], r["n_anchors"]) == ("r2", 4, 1, 300)
    assert len(r["candidates"]) == len(AUTO_CANDIDATES) == 9 and all(len(c["scores"]) == 4 for c in r["candidates"])
    best = next(c for c in r["candidates"] if c["label"] == r["choice"])
    assert best["diff_to_best"] == 0 and best["tied"] and all(c["diff_to_best"] >= -1e-12 for c in r["candidates"])
    assert Stitcher(folds=4, seed=1).fit(x, y).report_ == r  # seeded folds: the same report
    assert s.table().splitlines()[0] == "| method | r2 (4 folds) | vs best | tied |"


def test_a_forecast_says_pass_for_a_rotation_and_fail_for_unrelated_latents() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randn(400, 8, generator=g)
    head = LinearClassifier(epochs=40, lr=1e-2).fit(y, (y[:, 0] + y[:, 1] > 0).long())
    x_rot, _ = _pair("rotation", n=400, d=8)
    x_rot = y.double() @ torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))[0]
    good = Stitcher("procrustes").fit(x_rot, y).forecast(head)
    assert good.verdict == "pass" and good.agreement > 0.97 and good.interval[0] <= good.agreement <= 1.0
    bad = Stitcher("procrustes").fit(torch.randn(400, 8, generator=g), y).forecast(head)
    assert bad.verdict == "fail" and bad.agreement < 0.7 and len(bad.folds) == 5
    with pytest.raises(ValueError, match=r"thresholds must satisfy 0 <= fail_below <= pass_at <= 1, got "
                                         r"fail_below=0\.9, pass_at=0\.5"):
        good = Stitcher("procrustes").fit(x_rot, y).forecast(head, pass_at=0.5, fail_below=0.9)


def test_a_decoder_given_to_fit_makes_the_choice_by_its_agreement() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randn(300, 6, generator=g)
    head = LinearClassifier(epochs=30, lr=1e-2).fit(y, (y[:, 0] > 0).long())
    s = Stitcher().fit(y * 2 + 1, y, decoder=head)
    assert s.report_["score"] == "agreement" and all(0 <= v <= 1 for c in s.report_["candidates"]
                                                     for v in c["scores"])


class _SignHead:
    """A classifier on the sign of the first coordinate, no bias: halving its input keeps every label (the same
    agreement) and halves its logits (less confidence)."""

    def predict_logits(self, z: torch.Tensor) -> torch.Tensor:
        return 3 * torch.stack([-z[:, 0], z[:, 0]], 1)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.predict_logits(z).argmax(1)


class _LabelsOnly(_SignHead):
    """The same classifier without probabilities (``predict`` only)."""

    predict_logits = None

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return (z[:, 0] > 0).long()


def test_a_decoder_s_confidence_breaks_ties_in_agreement() -> None:
    from stitch.core.selection import compare

    y = torch.randn(300, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    maps = {"halved": lambda v: 0.5 * v, "as is": lambda v: v}
    fit = lambda name, options, a, b: (maps[name], lambda v: v)  # noqa: E731
    rows, best = compare([("halved", {}), ("as is", {})], fit, y, y, folds=5, seed=0, decoder=_SignHead())
    assert [r["mean"] for r in rows] == [1.0, 1.0] and rows[0]["tied"] and rows[1]["tied"]
    assert rows[0]["confidence"] < rows[1]["confidence"] - 0.01 and rows[best]["label"] == "as is"
    plain, first = compare([("halved", {}), ("as is", {})], fit, y, y, folds=5, seed=0, decoder=_LabelsOnly())
    assert first == 0 and all("confidence" not in r for r in plain)  # without probabilities: the first of the tied
    head = LinearClassifier(epochs=30, lr=1e-2).fit(y.float(), (y[:, 0] > 0).long())
    s = Stitcher().fit(y, y, decoder=head)
    assert s.table().splitlines()[0] == "| method | agreement (5 folds) | vs best | tied | confidence |"
    assert s.report_["choice"] == max((c for c in s.report_["candidates"] if c["tied"]),
                                      key=lambda c: c["confidence"])["label"]


def test_unpaired_anchors_are_matched_first_and_the_matching_is_reported() -> None:
    x, y = _pair("rotation", n=120, d=6, seed=5)
    perm = torch.randperm(120, generator=torch.Generator().manual_seed(1))
    s = Stitcher("procrustes").fit(x, y[perm], paired=False, known=[(0, int(torch.argsort(perm)[0]))])
    assert s.matching_.n_correct(torch.argsort(perm)) == 119  # every pair but the known one, recovered
    assert torch.allclose(s.transform(x), y) and s.report_["pairing"]["known"] == 1
    assert s.report_["pairing"]["reliability"] == 1.0
    with pytest.raises(ValueError, match=r"known pairs are for anchors whose pairing is discovered; pass "
                                         r"paired=False with them"):
        Stitcher().fit(x, y, known=[(0, 0)])


def test_a_relative_space_method_serves_a_universal_head(tmp_path: Path) -> None:
    x, y = _pair("rotation", seed=2)
    s = Stitcher("relative:cosine").fit(x, y)
    torch.testing.assert_close(s.transform(x[:4]), stitch.RelativeProjection("cosine").fit(y).transform(y[:4]))
    s.save(tmp_path / "s.safetensors")
    assert torch.equal(Stitcher.load(tmp_path / "s.safetensors").transform(x), s.transform(x))


def test_an_inverse_relative_choice_saves_its_whole_map(tmp_path: Path) -> None:
    x, y = _pair("norms", seed=4)
    s = Stitcher("inverse-relative", options={"rcond": 0.05}).fit(x.float(), y.float())
    s.save(tmp_path / "s.safetensors")
    loaded = Stitcher.load(tmp_path / "s.safetensors")
    assert torch.equal(loaded.transform(x.float()), s.transform(x.float())) and loaded.transform_.rcond == 0.05


def test_without_folds_a_fixed_method_is_fitted_as_is_and_nothing_is_forecast() -> None:
    x, y = _pair("affine", n=12)  # fewer pairs than 2 per fold would need
    s = Stitcher("affine", folds=None).fit(x, y)
    torch.testing.assert_close(s.transform(x), stitch.create_translator("affine").fit(x, y).transform(x))
    assert (s.report_["score"], s.report_["folds"], s.report_["choice"]) == (None, None, "affine")
    head = LinearClassifier(epochs=2).fit(y, (y[:, 0] > 0).long())
    for call, what in [(lambda: s.forecast(head), "a forecast"), (s.table, "the candidates table")]:
        with pytest.raises(ValueError, match=f"{what} needs the cross-validation this Stitcher was fitted without "
                                             r"\(folds=None\); fit it with folds=5"):
            call()
    with pytest.raises(ValueError, match=r"method='auto' chooses by cross-validation; pass folds >= 2 \(default 5\), "
                                         r"or a fixed method with folds=None"):
        Stitcher(folds=None).fit(x, y)


def test_reliability_is_the_heads_confidence_and_ranks_stitching_errors_first() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randn(600, 6, generator=g)
    head = LinearClassifier(epochs=40, lr=1e-2).fit(y, (y[:, 0] > 0).long())
    x = y + 0.5 * torch.randn(600, 6, generator=g)  # a noisy copy: errors where the noise crosses the boundary
    s = Stitcher("affine").fit(x[:300], y[:300])
    r = s.reliability(x[300:], head)
    torch.testing.assert_close(r, head.predict_logits(s.transform(x[300:])).softmax(1).max(1).values)
    wrong = head.predict(s.transform(x[300:])) != head.predict(y[300:])
    assert 0 < int(wrong.sum()) < 150 and float(r[wrong].mean()) < float(r[~wrong].mean()) - 0.1
    from stitch.experiment.decoders import ReconstructionDecoder

    with pytest.raises(ValueError, match=r"reliability needs a classifier decoder \(with predict_logits, or "
                                         r"scikit-learn's predict_proba\), got ReconstructionDecoder; a regressor's "
                                         r"outputs carry no confidence"):
        s.reliability(x[:2], ReconstructionDecoder())


def test_a_scikit_learn_head_is_a_decoder_like_any_other() -> None:
    # users' heads are often scikit-learn pipelines: predict returns arrays, confidence comes from predict_proba
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    g = torch.Generator().manual_seed(0)
    y = torch.randn(600, 6, generator=g)
    head = make_pipeline(StandardScaler(), LogisticRegression()).fit(y[:300].numpy(), (y[:300, 0] > 0).numpy())
    x = y @ torch.linalg.qr(torch.randn(6, 6, generator=g))[0] + 0.3 * torch.randn(600, 6, generator=g)
    s = Stitcher(folds=5).fit(x[300:], y[300:], decoder=head)
    agreement = float((head.predict(s.transform(x[:300]).numpy()) == head.predict(y[:300].numpy())).mean())
    assert agreement > 0.85 and s.forecast(head).agreement > 0.85
    r = s.reliability(x[:300], head)
    np.testing.assert_allclose(r.numpy(), head.predict_proba(s.transform(x[:300]).numpy()).max(1), rtol=1e-6)


def test_save_and_load_transform_exactly(tmp_path: Path) -> None:
    x, y = _pair("affine")
    s = Stitcher().fit(x.float(), y.float())
    s.save(tmp_path / "s.safetensors")
    loaded = Stitcher.load(tmp_path / "s.safetensors")
    assert torch.equal(loaded.transform(x.float()), s.transform(x.float()))
    assert loaded.report_ == json.loads(json.dumps(s.report_)) and loaded.method_ == s.method_


def test_unpaired_latents_add_lsts_procrustes_and_are_kept_through_save_and_load(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.1, 1.0, 10.0, 100.0] * 4, dtype=torch.float64)
    x = torch.randn(1200, 16, generator=g, dtype=torch.float64) * scales + 3
    y = (x - 3) / scales @ torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))[0]
    y = y + 0.3 * torch.randn(1200, 16, generator=g, dtype=torch.float64)
    plain = Stitcher().fit(x[:20], y[:20])
    helped = Stitcher().fit(x[:20], y[:20], encoder_unpaired=x[20:1000], decoder_unpaired=y[20:1000])
    labels = [c["label"] for c in helped.report_["candidates"]]
    assert "procrustes(standardize=True)" in labels and labels[:-1] == [c["label"] for c in plain.report_["candidates"]]
    assert helped.report_["choice"] == "procrustes(standardize=True)"
    err = lambda s: float((s.transform(x[1000:]) - y[1000:]).norm() / y[1000:].norm())  # noqa: E731
    assert err(helped) < 0.8 * err(plain)
    helped.save(tmp_path / "s.safetensors")
    loaded = Stitcher.load(tmp_path / "s.safetensors")
    assert torch.equal(loaded.unpaired_[1], helped.unpaired_[1])
    assert torch.equal(loaded.transform(x), helped.transform(x))
    with pytest.raises(ValueError, match=r"encoder_unpaired was given without decoder_unpaired: pass unpaired latents "
                                         r"of both sides"):
        Stitcher().fit(x[:20], y[:20], encoder_unpaired=x[20:])
    with pytest.raises(ValueError, match=r"decoder_unpaired has 3 features but its anchors have 16; pass latents "
                                         r"of the same encoder as its anchors"):
        Stitcher().fit(x[:20], y[:20], encoder_unpaired=x[20:], decoder_unpaired=y[20:, :3])


@pytest.mark.parametrize(("make", "call", "error", "match"), [
    (lambda: Stitcher(folds=10), lambda s: s.fit(*_pair("rotation", n=15)), ValueError,
     r"cross-validation needs folds >= 2 and at least 2 anchor pairs per fold; got folds=10 for 15 pairs"),
    (lambda: Stitcher("absolute"), lambda s: s.fit(*_pair("rotation")), ValueError,
     r"method 'absolute' is not a translator or a relative / product space"),
    (lambda: Stitcher(options={"alpha": 1.0}), lambda s: s.fit(*_pair("rotation")), ValueError,
     r"options=\{'alpha': 1\.0\} apply to one method; with method='auto' every candidate has its own"),
    (lambda: Stitcher(), lambda s: s.fit(torch.zeros(30, 3), torch.zeros(29, 3)), ValueError,
     r"encoder_anchors has 30 samples but decoder_anchors has 29; paired inputs need one row per sample in both"),
    (lambda: Stitcher("linear").fit(*_pair("rotation")), lambda s: s.transform(torch.zeros(2, 5)), ValueError,
     r"latents have 5 features but this Stitcher was fitted on 12; pass latents of the encoder it was fitted for"),
    (lambda: Stitcher(), lambda s: s.transform(torch.zeros(2, 5)), Exception, r"not fitted"),
])
def test_bad_input_is_named(make, call, error, match) -> None:
    with pytest.raises(error, match=match):
        call(make())


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    ds = stitch.load_dataset("digits")
    opts = {"image_size": 8, "in_chans": 1, "crop_pct": 1.0}
    a = stitch.create_encoder("timm:test_resnet", seed=0, **opts)
    b = stitch.create_encoder("timm:test_resnet", seed=1, **opts)
    train = ds.split_inputs("train")[:300]
    za, zb = a.encode(train), b.encode(train)
    head = LinearClassifier(epochs=20, lr=1e-2).fit(za, ds.split_labels("train")[:300])
    s = Stitcher().fit(zb[:150], za[:150])
    model = StitchedModel(b, s, head, forecast=s.forecast(head))
    return model, ds.split_inputs("test")[:50], tmp_path_factory.mktemp("stitched")


def test_a_stitched_model_saves_loads_and_predicts_exactly(stitched, monkeypatch) -> None:
    from stitch.utils.roots import using_models_root

    model, inputs, out = stitched
    monkeypatch.chdir(out)
    with using_models_root("weights"):  # recorded resolved, the default root when loading from anywhere
        model.save(out / "m")
    assert sorted(p.name for p in (out / "m").iterdir()) == ["decoder.safetensors", "manifest.json",
                                                             "stitcher.safetensors"]
    loaded = load_stitched(out / "m")
    assert torch.equal(loaded(inputs), model(inputs)) and torch.equal(loaded.predict(inputs), model.predict(inputs))
    (pred, rel), (pred_loaded, rel_loaded) = (m.predict(inputs, reliability=True) for m in (model, loaded))
    assert torch.equal(pred, model.predict(inputs)) and torch.equal(pred_loaded, pred) and torch.equal(rel_loaded, rel)
    assert rel.shape == (50,) and bool(((rel > 0) & (rel <= 1)).all())
    manifest = json.loads((out / "m" / "manifest.json").read_text())
    assert manifest["encoder"]["models_root"] == str((out / "weights").resolve())
    assert manifest["encoder"]["name"] == "timm:test_resnet" and manifest["forecast"]["verdict"] in (
        "pass", "warn", "fail")
    assert loaded.forecast == model.forecast


def test_a_tampered_stitched_model_is_refused(stitched, tmp_path: Path) -> None:
    model, _, _ = stitched
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    other = dict(manifest, encoder={**manifest["encoder"], "options": {**manifest["encoder"]["options"], "seed": 2}})
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match=r"encoder 'timm:test_resnet' built now differs from the one the model was "
                                         r"stitched for \(fingerprint"):
        load_stitched(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    blob = (tmp_path / "m" / "decoder.safetensors").read_bytes()
    (tmp_path / "m" / "decoder.safetensors").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(ChecksumError):
        load_stitched(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "decoder"}))
    with pytest.raises(ValueError, match=r"manifest\.json lacks 'decoder' or has it in the wrong form; it is "
                                         r"damaged: save the model again"):
        load_stitched(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match=r"no stitched model at .* \(manifest\.json is missing\)"):
        load_stitched(tmp_path / "nothing")


def test_stitched_model_errors_name_the_fix(stitched, tmp_path: Path) -> None:
    model, _, _ = stitched
    with pytest.raises(ValueError, match=r"the stitcher is not fitted; call stitcher\.fit\(encoder_anchors, "
                                         r"decoder_anchors\) first"):
        StitchedModel(model.encoder, Stitcher(), model.decoder)
    with pytest.raises(ValueError, match=r"the decoder is not fitted; train it on the decoder-side latents first"):
        StitchedModel(model.encoder, model.stitcher, LinearClassifier())
    import copy

    unnamed = StitchedModel(copy.copy(model.encoder), model.stitcher, model.decoder)  # not built by create_encoder
    with pytest.raises(ValueError, match=r"encoder 'timm:test_resnet' was not built by stitch\.create_encoder, so a "
                                         r"loaded model could not rebuild it by name"):
        unnamed.save(tmp_path / "unnamed")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match=r"manifest\.json is not a stitched-model manifest \(format 'something-else', "
                                         r"expected 'latent-stitch/stitched-model-1'\)"):
        load_stitched(tmp_path / "foreign")
