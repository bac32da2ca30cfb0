"""The :class:`Protocol` interface, and what every protocol shares: recipes, seeds, reuse of trained files.

A stitching protocol says how the models of an experiment are obtained and stitched: ``frozen`` (encoders
fixed, decoders fitted on their latents afterwards) or ``end-to-end`` (every encoder trained with the space
as a layer). A protocol is a :class:`Protocol` subclass registered in
:data:`stitch.experiment.protocols.PROTOCOLS`: :meth:`~Protocol.check` adds its rules to the validation of
an experiment file, :meth:`~Protocol.run` produces the cells of the stitching matrix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from stitch.experiment.results import record_hash
from stitch.utils.files import slug

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.engine import Engine
    from stitch.experiment.config import EncoderConfig, ExperimentConfig

__all__ = ["Protocol", "RunContext", "ProtocolOutput", "init_seed", "encoder_recipe", "reuse_or_train"]

T = TypeVar("T")

#: ``(cells, anchors by run seed, encoder information)``: what a protocol's run returns
ProtocolOutput = tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RunContext:
    """Everything a protocol's run reads: the checked configuration and dataset (cut to its subset), where
    files go, the latent cache, the engine, progress, and the torch threads for encoding (training and
    decoders run with the experiment's ``threads``)."""

    cfg: ExperimentConfig
    dataset: Dataset
    out_dir: Path
    cache_root: Any
    engine: Engine
    progress: bool | None
    encode_threads: int


class Protocol:
    """A stitching protocol. Subclasses set :attr:`name`, may set :attr:`in_process`, and implement :meth:`run`.

    Example:
        >>> from stitch.experiment.protocols import PROTOCOLS
        >>> sorted(PROTOCOLS.names()), PROTOCOLS.get("end-to-end").in_process
        (['end-to-end', 'frozen'], True)
    """

    #: the name experiment files give (``protocol = "<name>"``)
    name: ClassVar[str]
    #: whether the protocol runs only in this process (it trains models, which no engine distributes yet)
    in_process: ClassVar[bool] = False

    def check(self, cfg: ExperimentConfig) -> list[str]:
        """The protocol's rules on an experiment, as ``"field.path: what is wrong; how to fix it"`` lines."""
        if self.in_process and cfg.engine.kind != "local":
            return [f"engine.kind: protocol {self.name!r} runs in this process; remove the [engine] table"]
        return []

    def run(self, ctx: RunContext) -> ProtocolOutput:
        """Obtain the models, stitch every pair, return ``(cells, anchors by run seed, encoder information)``."""
        raise NotImplementedError


def init_seed(encoder_name: str, seed: int) -> int:
    """The initialisation seed of encoder ``encoder_name`` trained with run seed ``seed`` (31-bit, stable).

    Different architectures trained with the same run seed start from unrelated weights (a shared seed gives
    e.g. GCN and GAT identical first layers, which makes their absolute spaces look stitchable).

    Example:
        >>> init_seed("pyg:gcn", 0) != init_seed("pyg:gat", 0), init_seed("pyg:gcn", 0) == init_seed("pyg:gcn", 0)
        (True, True)
    """
    digest = hashlib.sha256(f"{encoder_name}\x1f{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def encoder_recipe(enc: EncoderConfig, cfg: ExperimentConfig, dataset: Dataset) -> dict[str, Any]:
    """Everything that determines the weights of an encoder trained from scratch (its ``train`` table).

    Example:
        >>> import stitch
        >>> from stitch.experiment import parse_experiment
        >>> cfg = parse_experiment({"name": "t", "dataset": {"name": "digits"}, "spaces": ["absolute"],
        ...                         "encoders": [{"name": "timm:resnet10t", "train": {"seed": 1}}]})
        >>> r = encoder_recipe(cfg.encoders[0], cfg, stitch.load_dataset("digits"))
        >>> r["init_seed"] == init_seed("timm:resnet10t", 1), r["split"]
        (True, 'train')
    """
    return {"encoder": enc.name, "options": enc.options, "train": enc.train.model_dump(),
            "init_seed": init_seed(enc.name, enc.train.seed), "dataset": dataset.content_hash(),
            "split": cfg.dataset.train_split}


def reuse_or_train(directory: Path, stem: str, recipe: Mapping[str, Any], *, load: Callable[[Path], T],
                   train: Callable[[Path, dict[str, Any]], T]) -> tuple[T, Path]:
    """A trained file reused when its recipe matches, else trained: ``(loaded or trained thing, path)``.

    The file is ``<directory>/<stem>-<recipe hash>.safetensors``, so a changed configuration trains a new
    file and an old one is never reused for it. ``load(path)`` reads (and verifies) a file whose recorded
    recipe key matches; a damaged file or sidecar (``OSError`` / ``ValueError`` while loading) is trained
    again. ``train(path, recipe)`` writes the file with ``recipe`` (the given one plus its ``key``) in its
    provenance and returns what ``load`` would.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> reuse_or_train(d, "m", {"a": 1}, load=lambda p: "loaded", train=lambda p, r: "trained")[0]
        'trained'
    """
    from stitch.encoder.checkpoint import read_provenance

    key = record_hash(recipe)
    path = directory / f"{slug(stem)}-{key[:12]}.safetensors"
    if path.is_file():
        try:
            if read_provenance(path).get("recipe", {}).get("key") == key:
                return load(path), path
        except (OSError, ValueError):
            pass  # a damaged file or sidecar is trained again
    return train(path, {"key": key, **recipe}), path
