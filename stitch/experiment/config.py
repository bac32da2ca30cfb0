"""The models of an experiment file (pydantic); :mod:`stitch.experiment.files` reads and validates files.

A file is validated completely before any work starts: unknown keys, wrong types, unknown space kinds,
similarities, translation methods, decoders and anchor strategies all raise :class:`~stitch.errors.ConfigError`
with the path of the field (``spaces[2]``, ``encoders[0].train.epochs``) and the allowed values.

Example file (TOML)::

    name = "digits-demo"
    seeds = [0, 1]
    out = "runs/digits-demo"

    [dataset]
    name = "digits"

    [[encoders]]
    name = "timm:resnet10t"
    options = { in_chans = 1, img_size = 32 }
    train = { seed = 0, epochs = 3, patience = 5 }

    [anchors]
    strategy = "random"
    n = 128

    spaces = ["absolute", "relative:cosine", "product:cosine,euclidean", "translate:procrustes"]

    [decoder]
    kind = "mlp"
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, PrivateAttr, field_validator, model_validator

from stitch.encoder.refs import DatasetRef, EncoderRef
from stitch.engine.options import EncoderResources, EngineOptions
from stitch.utils.configfiles import StrictModel
from stitch.utils.deprecation import REMOVED_IN

if TYPE_CHECKING:
    from stitch.spaces import Space

__all__ = [
    "ExperimentConfig",
    "DatasetConfig",
    "EncoderConfig",
    "TrainConfig",
    "Schedule",
    "AnchorConfig",
    "DiscoverConfig",
    "SpaceConfig",
    "DecoderConfig",
]


def _lookup(table: Any, name: str) -> None:
    # pydantic reports only ValueError/AssertionError with a field path; registry misses are LookupErrors.
    try:
        table.entry(name)
    except LookupError as exc:
        raise ValueError(str(exc)) from None


class Schedule(StrictModel):
    """A training schedule: AdamW with early stopping (``patience=None`` runs every epoch; the best epoch is kept).

    The defaults are :func:`~stitch.experiment.training.train_encoder`'s and
    :func:`~stitch.experiment.endtoend.train_end_to_end`'s.

    Example:
        >>> Schedule(epochs=10).lr, Schedule.model_validate({"patience": None}).patience
        (0.003, None)
    """

    epochs: int = Field(30, ge=1)
    lr: float = Field(3e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(1e-4, ge=0, allow_inf_nan=False)
    batch_size: int = Field(64, ge=1)
    patience: int | None = Field(5, ge=1)

    @classmethod
    def of(cls, schedule: Schedule | Mapping[str, Any] | None) -> Schedule:
        """``schedule`` as a :class:`Schedule` (its schedule fields only; ``None``: the defaults).

        Example:
            >>> Schedule.of({"epochs": 2}).epochs, Schedule.of(TrainConfig(seed=3, epochs=4)).epochs
            (2, 4)
        """
        if schedule is None:
            return cls()
        if isinstance(schedule, Schedule):
            return cls.model_validate(schedule.model_dump(include=set(cls.model_fields)))
        if not isinstance(schedule, Mapping):
            raise TypeError(f"schedule must be a Schedule or a mapping of its fields ({', '.join(cls.model_fields)}), "
                            f"got {type(schedule).__name__}")
        from stitch.utils.configfiles import validate

        return validate(cls, dict(schedule), what="schedule", source="argument")


#: the keywords of :func:`~stitch.experiment.training.train_encoder` an experiment's ``train.options`` may set
#: (the protocol sets the rest: encoder, dataset, split, schedule, seed, ...)
TRAIN_OPTIONS = ("num_threads", "test_split", "val_split")


class TrainConfig(Schedule):
    """Train the encoder from scratch (with a linear head) on the dataset's training split first.

    ``seed`` is the run's seed; the encoder's initialisation seed is derived from it and the encoder's name
    (:func:`~stitch.experiment.protocols.base.init_seed`), so two architectures trained with ``seed = 0`` do not
    start from correlated weights. The schedule (:class:`Schedule`) has other defaults here: 5 epochs at
    ``lr = 1e-3``, no early stopping unless ``patience`` is set; the best epoch is kept either way and the epochs
    run are recorded in ``results.json``. ``options`` go to the training function (e.g. ``val_split``).
    """

    seed: int = 0
    epochs: int = Field(5, ge=1)
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    patience: int | None = Field(None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _not_the_schedule(cls, v: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(v) & set(Schedule.model_fields))
        if clash:
            raise ValueError(f"{', '.join(map(repr, clash))} belong(s) in the train table itself, not in train.options "
                             f"(train = {{ {clash[0]} = ... }})")
        unknown = sorted(set(v) - set(TRAIN_OPTIONS))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))}; train.options accepts "
                             f"{', '.join(TRAIN_OPTIONS)}")
        return v


class EncoderConfig(EncoderRef):
    """One encoder: a registry name with options (or a ``"name?key=value"`` string), optionally trained from
    scratch (``train``).

    ``resources`` (``num_cpus``, ``num_gpus``, ``batch_size``, ``concurrency``) override the ``[engine]``
    table's for encoding this encoder on Ray (a large model on a GPU, small ones on CPUs).
    """

    group: str | None = None
    train: TrainConfig | None = None
    resources: EncoderResources | None = None

    @property
    def display(self) -> str:
        """The label used in tables (default: the name, plus ``-s<seed>`` for trained encoders)."""
        if self.label:
            return self.label
        return f"{self.name}-s{self.train.seed}" if self.train else self.name

    @property
    def family(self) -> str:
        """Group for same- vs cross-architecture summaries (default: the registry name)."""
        return self.group or self.name


class DatasetConfig(DatasetRef):
    """Dataset name and options (or a ``"name?key=value"`` string), and which splits train decoders / measure
    them (where its files are is the experiment's ``data_root``).

    ``subset`` cuts splits to a seeded stratified subset (``{train = 2000, test = 1000}``, seed
    ``subset_seed``; :meth:`stitch.data.Dataset.subsample`) so slow encoders finish in minutes;
    ``stitch run --full`` ignores it and runs on the whole splits.
    """

    train_split: str = "train"
    test_split: str = "test"
    subset: dict[str, int] | None = None
    subset_seed: int = 0

    @field_validator("subset")
    @classmethod
    def _positive_sizes(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        bad = {k: n for k, n in (v or {}).items() if n < 1}
        if bad:
            raise ValueError(f"subset sizes must be positive sample counts, got {bad}")
        return v


class DiscoverConfig(StrictModel):
    """Discover the anchor pairing between encoders instead of trusting it (``[anchors.discover]``).

    For every pair of encoders the second one's anchors are shuffled (seeded by the run's anchor seed), only
    ``known`` true pairs are kept, and :func:`~stitch.core.matching.match_anchors` recovers the rest; relative
    and product spaces of a stitched pair are then built on the discovered partners, and the cells record how
    many pairs were recovered and how confident the matching was. ``translate:ot`` is given ``known`` pairs too.
    """

    known: int = Field(10, ge=0)
    method: str = "auto"

    @field_validator("method")
    @classmethod
    def _known_method(cls, v: str) -> str:
        from stitch.core.matching import MATCHING_METHODS
        from stitch.utils.checks import check_choice

        return check_choice(v, MATCHING_METHODS, "matching method")


class AnchorConfig(StrictModel):
    """Anchor choice: strategy, number, seed (run seed ``s`` uses ``seed + s``), and strategy options.

    ``discover`` (a :class:`DiscoverConfig`, e.g. ``discover = { known = 10 }``) hides the pairing of the
    anchors across encoders and stitches through the discovered one.
    """

    strategy: str = "random"
    n: int = Field(128, ge=1)
    seed: int = 0
    reference: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    discover: DiscoverConfig | None = None

    @model_validator(mode="after")
    def _something_to_discover(self) -> AnchorConfig:
        if self.discover is not None and self.discover.known >= self.n:
            raise ValueError(f"discover.known = {self.discover.known} known pairs leave none of the n = {self.n} "
                             "anchors to discover; use known < n")
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        from stitch.core.anchors import ANCHOR_STRATEGIES

        _lookup(ANCHOR_STRATEGIES, v)
        return v


class SpaceConfig(StrictModel):
    """A latent space to compare: ``absolute``, ``relative:<sim>``, ``product:<sim>,<sim>...``, ``translate:<method>``
    or a plugin's kind (:data:`stitch.spaces.SPACES`).

    ``options`` go to the space (:func:`stitch.spaces.create_space`): the projection's (``center``,
    ``normalization``), the product's (``aggregation`` and its options) or the translator's (e.g. ``alpha`` for
    ridge; ``n_known`` for ``ot``: how many true anchor pairs it is given).
    """

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    _space: Any = PrivateAttr(None)

    @property
    def space(self) -> Space:
        """The :class:`~stitch.spaces.Space` this entry names, built (and checked) once."""
        return self._space

    @property
    def kind(self) -> str:
        return self.space.kind

    @property
    def argument(self) -> str:
        return self.space.argument

    @property
    def display(self) -> str:
        return self.label or self.name

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check(self) -> SpaceConfig:
        from stitch.spaces import create_space

        try:
            self._space = create_space(self.name, **self.options)
        except LookupError as exc:
            raise ValueError(str(exc)) from None
        return self


class DecoderConfig(StrictModel):
    """The decoder trained on each encoder's space (see :mod:`stitch.experiment.decoders`)."""

    kind: str = "mlp"
    hidden: int = Field(256, ge=1)
    epochs: int = Field(100, ge=1)
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    batch_size: int = Field(256, ge=1)
    patience: int = Field(10, ge=1)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    normalize: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from stitch.experiment.decoders import DECODERS

        _lookup(DECODERS, v)
        return v

    @property
    def task(self) -> str:
        """What the decoder predicts, as its class declares: ``"classification"`` or ``"reconstruction"``.

        Example:
            >>> DecoderConfig(kind="mlp").task, DecoderConfig(kind="reconstruction").task
            ('classification', 'reconstruction')
        """
        from stitch.experiment.decoders import DECODERS

        return DECODERS.get(self.kind).task


class ExperimentConfig(StrictModel):
    """A whole stitching experiment (see the module docstring for a file).

    ``protocol``: ``"frozen"`` (default) fits decoders on each encoder's fixed latents; ``"end-to-end"``
    trains every encoder (each needs a ``train`` table) with each space as a layer and the decoder, on
    ``random`` or ``stratified`` anchors re-embedded at every step (:mod:`stitch.experiment.endtoend`); the
    ``decoder`` table then shapes the head (``kind``, ``hidden``, ``normalize``) and each encoder's ``train``
    table is the schedule.

    ``report_same_seed``: also report cross-group pairs whose encoders were trained with the same run seed
    apart from the others (every encoder's initialisation seed is derived from its name and run seed, so the
    two should agree; a gap points at a shared source of randomness).
    """

    name: str = Field(min_length=1)
    dataset: DatasetConfig
    encoders: list[EncoderConfig] = Field(min_length=1)
    anchors: AnchorConfig = Field(default_factory=AnchorConfig)
    spaces: list[SpaceConfig] = Field(min_length=1)
    decoder: DecoderConfig = Field(default_factory=DecoderConfig)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    out: str | None = Field(None, validation_alias=AliasChoices("out", "output"))
    data_root: str | None = None
    models_root: str | None = None
    cache_root: str | None = None
    threads: int | None = Field(None, ge=1)
    encode_batch_size: int = Field(256, ge=1)
    engine: EngineOptions = Field(default_factory=EngineOptions)
    protocol: str = Field("frozen", min_length=1)
    report_same_seed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _dataset_root(cls, data: Any) -> Any:
        """``dataset.data_root`` / ``dataset.root`` (old spellings) become the top-level ``data_root``."""
        dataset = data.get("dataset") if isinstance(data, dict) else None
        old = [k for k in ("data_root", "root") if isinstance(dataset, dict) and k in dataset]
        if not old:
            return data
        import warnings

        warnings.warn(f"dataset.{old[0]} is deprecated and will be removed in latent-stitch {REMOVED_IN}; set "
                      "data_root at the top level of the file", DeprecationWarning, stacklevel=2)
        value = dataset[old[0]]
        if data.get("data_root") not in (None, value) or len({str(dataset[k]) for k in old}) > 1:
            raise ValueError(f"dataset.{old[0]} = {value!r} and data_root = {data.get('data_root')!r} name two data "
                             "roots; keep only the top-level data_root")
        return {**data, "data_root": value, "dataset": {k: v for k, v in dataset.items() if k not in old}}

    @model_validator(mode="after")
    def _unique(self) -> ExperimentConfig:
        for what, labels in (
            ("encoders", [e.display for e in self.encoders]),
            ("spaces", [s.display for s in self.spaces]),
            ("seeds", [str(s) for s in self.seeds]),
        ):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            if dup:
                raise ValueError(
                    f"{what} must be unique, {', '.join(map(repr, dup))} appear(s) twice; give each a distinct label"
                )
        if self.anchors.reference is not None and self.anchors.reference not in [e.display for e in self.encoders]:
            raise ValueError(
                f"anchors.reference {self.anchors.reference!r} is not an encoder label; expected one of "
                + ", ".join(repr(e.display) for e in self.encoders)
            )
        return self

    @property
    def output_dir(self) -> Path:
        """``out`` or ``runs/<name>``."""
        return Path(self.out) if self.out else Path("runs") / self.name
