"""timm adapter: contract, preprocessing against timm's own transform, input layouts, weights, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stitch
from stitch.adapters.vision import TimmEncoder, images_to_tensor
from stitch.utils.files import save_tensors
from stitch.testing import check_encoder, check_registered_encoder

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"image_size": 16, "channels": (8, 16, 32, 64)}
VIT = {"img_size": 16, "patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2}


@pytest.mark.parametrize(("name", "options"), [("timm:resnet10t", SMALL), ("timm:vit_tiny_patch16_224", VIT)])
def test_contract_through_the_registry(name, options):
    report = check_registered_encoder(name, **options)
    assert "order" in report.passed and not report.skipped


def test_factory_is_lazy_and_dim_comes_from_the_model():
    enc = stitch.create_encoder("timm:vit_tiny_patch16_224", **VIT)
    assert not enc._loaded
    assert enc.dim == 32 and enc._loaded


def test_preprocessing_matches_timm_eval_transform():
    # 18x18 -> timm resizes the shorter side to floor(16 / 0.875) = 18 (a no-op) and centre-crops 16x16.
    import timm.data
    from PIL import Image

    enc = TimmEncoder("resnet10t", image_size=16, crop_pct=0.875)
    img = np.random.default_rng(0).integers(0, 256, (18, 18, 3), dtype=np.uint8)
    cfg = enc.data_config
    ref = timm.data.create_transform(input_size=(3, 16, 16), crop_pct=0.875, mean=cfg["mean"], std=cfg["std"],
                                     interpolation="bicubic")(Image.fromarray(img))
    ours = enc._prepare(img[None])[0:1][0]
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_layouts_pil_and_dtypes_give_the_same_latent():
    from PIL import Image

    enc = TimmEncoder("resnet10t", **SMALL)
    rgb = np.random.default_rng(1).integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)
    ref = enc.encode(rgb)
    torch.testing.assert_close(enc.encode(rgb.transpose(0, 3, 1, 2)), ref)  # NCHW
    torch.testing.assert_close(enc.encode(torch.from_numpy(rgb)), ref)
    torch.testing.assert_close(enc.encode([Image.fromarray(a) for a in rgb]), ref)
    torch.testing.assert_close(enc.encode(rgb.astype(np.float32) / 255), ref, atol=1e-5, rtol=1e-5)
    rgba = np.concatenate([rgb, np.full((3, 12, 12, 1), 255, np.uint8)], axis=-1)
    torch.testing.assert_close(enc.encode(rgba), ref)


def test_grayscale_is_broadcast_to_three_channels():
    enc = TimmEncoder("resnet10t", **SMALL)
    gray = np.random.default_rng(2).random((4, 8, 8)).astype(np.float32)
    torch.testing.assert_close(enc.encode(gray), enc.encode(np.repeat(gray[..., None], 3, axis=-1)))
    one = TimmEncoder("resnet10t", in_chans=1, **SMALL)
    assert one.data_config["input_size"][0] == 1 and one.encode(gray).shape == (4, 64)


def test_seed_sets_the_random_init_and_the_fingerprint():
    x = np.random.default_rng(3).random((2, 8, 8))
    a, b, c = (TimmEncoder("resnet10t", seed=s, **SMALL) for s in (0, 0, 1))
    torch.testing.assert_close(a.encode(x), b.encode(x))
    assert not torch.allclose(a.encode(x), c.encode(x))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.spec.weights == "random init (seed=0)"


def test_checkpoint_round_trip_ignores_a_classifier_head(tmp_path):
    src = TimmEncoder("resnet10t", seed=5, **SMALL)
    x = np.random.default_rng(4).random((3, 8, 8))
    state = dict(src.module.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(10, 64), torch.zeros(10)  # as in hub checkpoints
    path = tmp_path / "model.safetensors"
    digest = save_tensors(path, state)
    loaded = stitch.create_encoder("timm:resnet10t", checkpoint=path, **SMALL)
    torch.testing.assert_close(loaded.encode(x), src.encode(x))
    assert loaded.fingerprint()["weights"] == {"checkpoint_sha256": digest}  # of the bytes that were loaded
    assert loaded.spec.weights == f"local file: {path}"


def test_checkpoint_for_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_tensors(path, TimmEncoder("resnet10t", image_size=16).module.state_dict())
    enc = TimmEncoder("resnet10t", checkpoint=path, **SMALL)
    with pytest.raises(ValueError, match=r"does not fit the model: .* with other shapes .* Use the same architecture"):
        enc.encode(np.zeros((1, 8, 8)))
    with pytest.raises(FileNotFoundError, match="checkpoint '/no/such.safetensors' does not exist"):
        TimmEncoder("resnet10t", checkpoint="/no/such.safetensors")
    with pytest.raises(ValueError, match="either pretrained=True .* or checkpoint=PATH"):
        TimmEncoder("resnet10t", pretrained=True, checkpoint=path)


def test_input_errors_name_the_problem():
    enc = TimmEncoder("resnet10t", **SMALL)
    with pytest.raises(TypeError, match="an image encoder takes images .* got text"):
        enc.encode(["a cat", "a dog"])
    with pytest.raises(ValueError, match="inputs is empty"):
        enc.encode(np.zeros((0, 8, 8)))
    with pytest.raises(ValueError, match=r"inconsistent sizes: item 0 is 8x8x1 but item 1 is 9x9x1"):
        enc.encode([np.zeros((8, 8)), np.zeros((9, 9))])
    with pytest.raises(ValueError, match=r"cannot tell the channel axis of shape \(2, 5, 8, 8\)"):
        enc.encode(np.zeros((2, 5, 8, 8)))
    with pytest.raises(ValueError, match=r"for one image add a batch axis"):
        enc.encode(np.zeros((8,)))
    with pytest.raises(ValueError, match="images contain NaN or Inf"):
        enc.encode(np.full((1, 8, 8), np.nan))
    with pytest.raises(TypeError, match="images must be uint8 .* got dtype torch.bool"):
        enc.encode(np.zeros((1, 8, 8), dtype=bool))


def test_unknown_model_suggests_close_names():
    with pytest.raises(stitch.UnknownNameError, match="unknown timm model 'resnet10'; did you mean 'timm:resnet10t'"):
        stitch.create_encoder("timm:resnet10")


def test_images_to_tensor_layouts_put_each_pixel_where_it_belongs():
    # distinct values per (image, row, column, channel): a transposed or mixed-up axis cannot go unnoticed
    hwc = np.arange(2 * 5 * 6 * 3, dtype=np.uint8).reshape(2, 5, 6, 3)
    chw = torch.from_numpy(hwc).permute(0, 3, 1, 2)
    assert torch.equal(images_to_tensor(hwc), chw)
    assert torch.equal(images_to_tensor(chw.contiguous()), chw)
    assert torch.equal(images_to_tensor(list(hwc)), chw)  # a list of (h, w, c) images
    assert torch.equal(images_to_tensor([np.moveaxis(im, -1, 0) for im in hwc]), chw)  # a list of (c, h, w)
    gray = hwc[..., 0]
    assert torch.equal(images_to_tensor(gray), torch.from_numpy(gray)[:, None])
    assert images_to_tensor(gray).dtype == torch.uint8 and images_to_tensor(gray / 255.0).dtype == torch.float64


def test_checks_out_with_the_contract_kit_on_digits():
    ds = stitch.load_dataset("digits")
    enc = TimmEncoder("resnet10t", **SMALL)
    check_encoder(enc, ds.split_inputs("test")[:6])


def _unreachable(*args, **kwargs):
    raise ConnectionError("no network")


def test_pretrained_offline_says_how_to_get_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty hub cache: nothing to find offline
    enc = stitch.create_encoder("timm:resnet10t", pretrained=True, image_size=16)
    assert enc.spec.weights == "pretrained: timm hub weights of resnet10t"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
    monkeypatch.setattr("huggingface_hub.hf_hub_download", _unreachable)  # offline without saying so
    for use in (enc.fingerprint, lambda: enc.encode(np.zeros((1, 8, 8)))):  # the identity needs the bytes too
        with pytest.raises(OSError, match="could not get the pretrained weights of 'resnet10t' .* checkpoint=<local"):
            use()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # said: refused at once, before the hub client is asked
    monkeypatch.setattr("huggingface_hub.hf_hub_download", None)
    with pytest.raises(FileNotFoundError, match=r"model 'resnet10t' is not a local folder or file and the hub is off "
                                                r"\(HF_HUB_OFFLINE\); pass a models root holding resnet10t\.safetensors "
                                                r"or resnet10t/model\.safetensors \(--models DIR or \$STITCH_MODELS\)"):
        enc.encode(np.zeros((1, 8, 8)))


def test_pretrained_from_the_models_root_uses_timms_own_preprocessing(shared_models, monkeypatch):
    # EfficientNet-Lite0 with ImageNet weights, read from ../shared/models: grey 28x28 Fashion-MNIST-like images
    # become 3 channels at the model's 224 px, normalised with its mean/std -- timm's eval transform, which
    # on a PIL image of the same pixels gives the same tensor up to PIL's and torch's bicubic kernels.
    import hashlib

    import timm.data
    from PIL import Image

    from stitch.utils.roots import using_models_root

    with using_models_root(shared_models):
        enc = stitch.create_encoder("timm:tf_efficientnet_lite0", pretrained=True)
    assert enc.spec.weights == f"pretrained: {shared_models / 'tf_efficientnet_lite0.safetensors'} (models root)"
    cfg = enc.data_config
    assert cfg["input_size"] == (3, 224, 224) and cfg["interpolation"] == "bicubic"
    assert cfg["mean"] == timm.data.resolve_data_config({}, model=enc.module)["mean"]
    grey = np.random.default_rng(5).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    ours = enc._prepare(grey)[:]  # prepared lazily, one batch at a time
    assert ours.shape == (2, 3, 224, 224)
    ref = torch.stack([timm.data.create_transform(**cfg)(Image.fromarray(g).convert("RGB")) for g in grey])
    assert float((ours - ref).abs().mean()) < 0.02  # kernels differ at edges; a wrong size or mean/std is ~0.5+
    torch.testing.assert_close(enc.encode(grey), enc.encode(np.repeat(grey[..., None], 3, axis=-1)))
    digest = hashlib.sha256((shared_models / "tf_efficientnet_lite0.safetensors").read_bytes()).hexdigest()
    assert enc.fingerprint()["weights"] == {"pretrained": "tf_efficientnet_lite0", "weights_sha256": digest}


def test_pretrained_weights_missing_from_the_models_root_say_where_to_put_them(tmp_path, monkeypatch):
    from stitch.utils.roots import using_models_root

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is not asked: this machine is offline
    with using_models_root(tmp_path):
        enc = stitch.create_encoder("timm:tf_efficientnet_lite0", pretrained=True)
    assert enc.spec.weights == "pretrained: timm hub weights of tf_efficientnet_lite0"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("huggingface_hub.hf_hub_download", None)  # a root is given: the hub is never asked
    with pytest.raises(FileNotFoundError, match=rf"model 'tf_efficientnet_lite0' is not in the models root {tmp_path}: "
                                                rf"looked for {tmp_path}/tf_efficientnet_lite0\.safetensors, "
                                                rf"{tmp_path}/tf_efficientnet_lite0/model\.safetensors; put it there, "
                                                r"or unset the models root \(--models / \$STITCH_MODELS\)"):
        enc.encode(np.zeros((1, 28, 28), np.uint8))
    with using_models_root(tmp_path / "nowhere"):
        enc = stitch.create_encoder("timm:tf_efficientnet_lite0", pretrained=True)
    with pytest.raises(FileNotFoundError, match=r"is not in the models root .*nowhere \(it does not exist\)"):
        enc.encode(np.zeros((1, 28, 28), np.uint8))
