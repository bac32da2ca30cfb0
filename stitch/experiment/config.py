"""Experiment files: pydantic models, loading from TOML/YAML, and errors that name the field path.

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

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from stitch.engine.options import EncoderResources, EngineOptions
from stitch.errors import ConfigError

if TYPE_CHECKING:
    from stitch.spaces import Space

__all__ = [
    "ExperimentConfig",
    "DatasetConfig",
    "EncoderConfig",
    "TrainConfig",
    "AnchorConfig",
    "DiscoverConfig",
    "SpaceConfig",
    "DecoderConfig",
    "load_experiment",
    "parse_experiment",
]

def _lookup(table: Any, name: str) -> None:
    # pydantic reports only ValueError/AssertionError with a field path; registry misses are LookupErrors.
    try:
        table.entry(name)
    except LookupError as exc:
        raise ValueError(str(exc)) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainConfig(_Model):
    """Train the encoder from scratch (with a linear head) on the dataset's training split first.

    ``seed`` is the run's seed; the encoder's initialisation seed is derived from it and the encoder's name
    (:func:`~stitch.experiment.runner.init_seed`), so two architectures trained with ``seed = 0`` do not start
    from correlated weights. ``patience`` stops training after that many epochs without validation
    improvement (unset: every one of ``epochs`` runs); the best epoch is kept either way and the epochs run
    are recorded in ``results.json``.
    """

    seed: int = 0
    epochs: int = Field(5, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(64, ge=1)
    patience: int | None = Field(None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)


class EncoderConfig(_Model):
    """One encoder: a registry name with options, optionally trained from scratch (``train``).

    ``resources`` (``num_cpus``, ``num_gpus``, ``batch_size``, ``concurrency``) override the ``[engine]``
    table's for encoding this encoder on Ray (a large model on a GPU, small ones on CPUs).
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
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


class DatasetConfig(_Model):
    """Dataset name, options, and which splits train decoders / measure them (``root`` is an old spelling).

    ``subset`` cuts splits to a seeded stratified subset (``{train = 2000, test = 1000}``, seed
    ``subset_seed``; :meth:`stitch.data.Dataset.subsample`) so slow encoders finish in minutes;
    ``stitch run --full`` ignores it and runs on the whole splits.
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    data_root: str | None = Field(None, validation_alias=AliasChoices("data_root", "root"))
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


class DiscoverConfig(_Model):
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


class AnchorConfig(_Model):
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


class SpaceConfig(_Model):
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


class DecoderConfig(_Model):
    """The decoder trained on each encoder's space (see :mod:`stitch.experiment.decoders`)."""

    kind: str = "mlp"
    hidden: int = Field(256, ge=1)
    epochs: int = Field(100, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
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


class ExperimentConfig(_Model):
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
    threads: int | None = Field(None, ge=1)
    encode_batch_size: int = Field(256, ge=1)
    engine: EngineOptions = Field(default_factory=EngineOptions)
    protocol: Literal["frozen", "end-to-end"] = "frozen"
    report_same_seed: bool = False

    @model_validator(mode="after")
    def _end_to_end_rules(self) -> ExperimentConfig:
        if self.protocol != "end-to-end":
            return self
        from stitch.spaces import end_to_end_kinds

        problems = [f"encoders[{i}]: protocol 'end-to-end' trains every encoder with its space and decoder, but "
                    f"{e.display!r} has no train table; add train = {{ seed = 0, epochs = ... }}"
                    for i, e in enumerate(self.encoders) if e.train is None]
        problems += [f"spaces[{i}]: {s.name!r} cannot be trained end to end (a {s.kind!r} space maps between two "
                     f"trained models); use one of the kinds that can: {', '.join(end_to_end_kinds())}"
                     for i, s in enumerate(self.spaces) if not s.space.end_to_end]
        if self.anchors.strategy not in ("random", "stratified"):
            problems.append(f"anchors.strategy: {self.anchors.strategy!r} chooses anchors by their latents, which do "
                            "not exist before end-to-end training; use 'random' or 'stratified'")
        if self.engine.kind != "local":
            problems.append("engine.kind: protocol 'end-to-end' runs in this process; remove the [engine] table")
        if self.anchors.discover is not None:
            problems.append("anchors.discover: end-to-end training embeds the anchors with every model it trains, so "
                            "there is no hidden pairing to discover; remove it or use protocol 'frozen'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

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

    def resolved_data_root(self) -> str | None:
        """``dataset.data_root``, else ``data_root``, else ``$STITCH_DATA`` (or ``None``)."""
        return self.dataset.data_root or self.data_root or os.environ.get("STITCH_DATA") or None

    def resolved_models_root(self) -> str | None:
        """``models_root``, else ``$STITCH_MODELS`` (or ``None``): where ``pretrained = true`` timm models and
        ``hf:<name>`` folders are looked up (:func:`stitch.encoder.refs.local_model`)."""
        return self.models_root or os.environ.get("STITCH_MODELS") or None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "model-")) or part in ("str", "dict[str,any]"):
            continue  # pydantic's validator-name segments mean nothing to a user
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The field names the model at ``loc`` (a path into ExperimentConfig) accepts."""
    model: Any = ExperimentConfig
    for part in loc[:-1]:
        if isinstance(part, int) or not isinstance(model, type) or not issubclass(model, BaseModel):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return []
        model = _model_of(info.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return sorted(model.model_fields)


def _model_of(annotation: Any) -> Any:
    import typing

    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for inner in typing.get_args(arg):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def _message(exc: ValidationError, source: str) -> str:
    import difflib

    lines = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _fields_at(err["loc"])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "check its spelling"
            msg = f"unknown field ({hint}); allowed here: {', '.join(known)}" if known else f"unknown field ({hint})"
        elif err["type"] == "literal_error":
            msg = f"got {err['input']!r}; {msg[0].lower()}{msg[1:]}"
        lines.append(f"{_path(err['loc'])}: {msg}")
    return f"invalid experiment {source}:\n  " + "\n  ".join(lines)


def parse_experiment(data: Any, *, source: str = "config") -> ExperimentConfig:
    """Validate a dict (as read from TOML/YAML) into an :class:`ExperimentConfig`.

    Raises :class:`ConfigError` naming every bad field path and the allowed values.

    Example:
        >>> cfg = parse_experiment({"name": "t", "dataset": {"name": "digits"},
        ...                         "encoders": [{"name": "a"}], "spaces": ["relative:cosine"]})
        >>> cfg.spaces[0].kind, cfg.spaces[0].argument
        ('relative', 'cosine')
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid experiment {source}: expected a table/mapping at the top level, got {type(data).__name__}"
        )
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_message(exc, source)) from None


def load_experiment(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate an experiment file (``.toml``, ``.yaml`` / ``.yml``, or ``.json``).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.toml"
        >>> _ = p.write_text('name = "t"\\nspaces = ["absolute"]\\n[dataset]\\nname = "digits"\\n'
        ...                  '[[encoders]]\\nname = "a"\\n')
        >>> load_experiment(p).name
        't'
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"experiment file {str(path)!r} is a directory; pass the path of a .toml, .yaml or .json "
                          "file (see examples/)")
    if not path.is_file():
        raise FileNotFoundError(f"experiment file {str(path)!r} not found")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"experiment file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            import json

            data = json.loads(text)
        else:
            raise ConfigError(
                f"cannot read experiment file {str(path)!r}: unknown extension {suffix!r}; "
                "expected '.toml', '.yaml', '.yml' or '.json'"
            )
    except ConfigError:
        raise
    except Exception as exc:  # TOML/YAML/JSON syntax errors: name the file and keep the parser's position
        raise ConfigError(f"cannot parse experiment file {str(path)!r}: {exc}") from None
    return parse_experiment(data, source=f"file {str(path)!r}")
