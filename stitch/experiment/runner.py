"""Running an experiment file: check everything, run its protocol, report.

:func:`check_experiment` runs every rule the run runs — the file's structure and its protocol's rules
(:mod:`stitch.experiment.files`), registry names (timm model names included), loading the dataset's labels,
splits, the anchor count against the data, stratified anchors against the classes — before any training;
``stitch run --check`` calls exactly it. :func:`run_experiment` then runs the file's protocol
(:mod:`stitch.experiment.protocols`: ``frozen`` builds or trains the encoders, encodes through the latent
cache and fills the stitching matrix row by row; ``end-to-end`` trains every encoder with each space as a
layer and stitches the models), reusing every trained file whose recipe matches and every finished row, so
an interrupted run resumes; and writes ``results.json`` (with the configuration, the encoders' provenance,
seeds, anchor ids and library versions), ``results.csv``, figures and ``report.md``.

CPU threads are set for the run, in torch and in the BLAS / OpenMP pools alike
(:func:`~stitch.utils.threads.cpu_threads`): training, encoding and decoders use ``threads`` (the argument,
else the file's, else :func:`~stitch.utils.threads.free_cores`: on a shared machine threads beyond the free
cores only wait on each other, on an idle one every core helps). The count is recorded in ``results.json``;
re-running with the same count gives identical numbers, another count may move the last digits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stitch.errors import ConfigError
from stitch.experiment.config import ExperimentConfig
from stitch.experiment.files import check_protocol, load_experiment, parse_experiment
from stitch.experiment.results import ExperimentResult, summarize
from stitch.utils.deprecation import renamed_kwargs
from stitch.utils.progress import phase
from stitch.utils.roots import using_models_root
from stitch.utils.threads import cpu_threads, free_cores

__all__ = ["ExperimentPlan", "check_experiment", "run_experiment"]


@dataclass(frozen=True)
class ExperimentPlan:
    """What a checked experiment will do (``stitch run --check`` prints it): its size, and the pretrained models
    it will download on first use (``downloads``).

    Example:
        >>> plan = ExperimentPlan("t", "digits", 2, 3, 1, 18, 1078, 359, 64)
        >>> print(plan)
        t: valid. 2 encoders x 3 spaces x 1 seed(s) = 18 cells on 'digits' (1078 train / 359 test samples, 64 anchors)
    """

    name: str
    dataset: str
    n_encoders: int
    n_spaces: int
    n_seeds: int
    n_cells: int
    n_train: int
    n_test: int
    n_anchors: int
    downloads: tuple[str, ...] = ()

    def __str__(self) -> str:
        downloads = f"; downloads on first use: {', '.join(self.downloads)}" if self.downloads else ""
        return (f"{self.name}: valid. {self.n_encoders} encoders x {self.n_spaces} spaces x {self.n_seeds} seed(s) = "
                f"{self.n_cells} cells on {self.dataset!r} ({self.n_train} train / {self.n_test} test samples, "
                f"{self.n_anchors} anchors){downloads}")


def _config(config: ExperimentConfig | str | os.PathLike[str] | Mapping[str, Any]) -> ExperimentConfig:
    if isinstance(config, ExperimentConfig):
        return check_protocol(config)
    if isinstance(config, Mapping):
        return parse_experiment(dict(config))
    return load_experiment(config)


def _invalid(cfg: ExperimentConfig, problems: list[str]) -> ConfigError:
    return ConfigError(f"invalid experiment {cfg.name!r}:\n  " + "\n  ".join(problems))


def _check_anchors(cfg: ExperimentConfig, dataset: Any, y_train: np.ndarray | None, n_train: int) -> list[str]:
    """The anchor rules that need the data: how many there are to choose from, and per class."""
    n, problems = cfg.anchors.n, []
    split = cfg.dataset.train_split
    if n > n_train:
        problems.append(f"anchors.n: {n} anchors cannot be chosen among the {n_train} samples of split {split!r} "
                        f"of dataset {dataset.name!r}; use n <= {n_train}")
    if cfg.anchors.strategy != "stratified":
        return problems
    if y_train is None:
        return [*problems, f"anchors.strategy: 'stratified' draws anchors per class, but decoder.kind="
                           f"{cfg.decoder.kind!r} has no class labels; use strategy 'random', 'fps' or 'kmeans'"]
    classes, counts = np.unique(y_train, return_counts=True)
    k = len(classes)
    if n % k:
        below, above = (n // k) * k, (n // k + 1) * k
        nearby = f"n={below} or n={above}" if below else f"n={above}"
        problems.append(f"anchors.n: strategy 'stratified' draws the same number of anchors from each of the {k} "
                        f"classes of dataset {dataset.name!r} (split {split!r}), but n={n} is not a multiple of {k}; "
                        f"use {nearby}")
    elif n // k > counts.min():
        c = classes[int(np.argmin(counts))]
        problems.append(f"anchors.n: strategy 'stratified' needs {n // k} anchors per class (n={n} over {k} classes) "
                        f"but class {c.item()!r} has only {counts.min()} samples in split {split!r}; use "
                        f"n<={counts.min() * k} or strategy 'random'")
    return problems


def check_experiment(
    config: ExperimentConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    data_root: str | os.PathLike[str] | None = None,
    models_root: str | os.PathLike[str] | None = None,
    full: bool = False,
) -> tuple[ExperimentPlan, Any]:
    """Run every check the run runs, without training or encoding; returns ``(plan, dataset)``.

    The dataset returned is cut to ``dataset.subset`` unless ``full``. ``models_root`` (else the file's
    ``models_root``, else ``$STITCH_MODELS``) is where local pretrained weights are looked up.

    Raises :class:`~stitch.errors.ConfigError` listing each problem with its field path (one per line).

    Example:
        >>> plan, _ = check_experiment({"name": "t", "dataset": {"name": "digits"}, "spaces": ["absolute"],
        ...                             "encoders": [{"name": "timm:resnet10t"}], "anchors": {"n": 5000}})
        Traceback (most recent call last):
        ...
        stitch.errors.ConfigError: invalid experiment 't':
          anchors.n: 5000 anchors cannot be chosen among the 1078 samples of split 'train' of dataset 'digits'; use n <= 1078
    """
    cfg = _config(config)
    with using_models_root(models_root or cfg.models_root):
        return _check(cfg, data_root, full)


def _check(cfg: ExperimentConfig, data_root: str | os.PathLike[str] | None, full: bool) -> tuple[ExperimentPlan, Any]:
    from stitch.plugins import get_encoder_spec, get_dataset_info, load_dataset

    problems = []
    for path, lookup, name in [("dataset.name", get_dataset_info, cfg.dataset.name),
                               *((f"encoders[{i}].name", get_encoder_spec, e.name) for i, e in enumerate(cfg.encoders))]:
        try:
            lookup(name)
        except LookupError as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        raise _invalid(cfg, problems)
    root = data_root if data_root is not None else cfg.data_root
    dataset = load_dataset(cfg.dataset.name, data_root=root, **cfg.dataset.options)
    for field in ("train_split", "test_split"):
        split = getattr(cfg.dataset, field)
        if split not in dataset.splits:
            problems.append(f"dataset.{field}: dataset {dataset.name!r} has no split {split!r}; available: "
                            f"{', '.join(map(repr, dataset.splits))}")
    if cfg.dataset.subset and not full:
        try:
            dataset = dataset.subsample(cfg.dataset.subset, seed=cfg.dataset.subset_seed)
        except ValueError as exc:
            problems.append(f"dataset.subset: {exc}")
    if problems:
        raise _invalid(cfg, problems)
    classification = cfg.decoder.task == "classification"
    if not classification and dataset.transductive:
        problems.append(f"decoder.kind: 'reconstruction' rebuilds each sample's input, but dataset {dataset.name!r} "
                        "is transductive (one graph); use a classification decoder ('linear' or 'mlp')")
    y_train = dataset.split_labels(cfg.dataset.train_split) if classification else None
    n_train = len(dataset.indices(cfg.dataset.train_split))
    problems += _check_anchors(cfg, dataset, y_train, n_train)
    downloads, missing = _check_weights(cfg)
    problems += missing
    if problems:
        raise _invalid(cfg, problems)
    plan = ExperimentPlan(cfg.name, dataset.name, len(cfg.encoders), len(cfg.spaces), len(cfg.seeds),
                          len(cfg.spaces) * len(cfg.seeds) * len(cfg.encoders) ** 2, n_train,
                          len(dataset.indices(cfg.dataset.test_split)), cfg.anchors.n, tuple(downloads))
    return plan, dataset


def _check_weights(cfg: ExperimentConfig) -> tuple[list[str], list[str]]:
    """Where each pretrained encoder's weights come from, before any work: ``(downloads, problems)``. A model
    that is neither local nor in the hub cache is a download; with the hub unreachable it is a problem (the
    run would encode other models for minutes and then fail)."""
    from stitch.encoder.refs import hub_unreachable
    from stitch.plugins import create_encoder

    downloads, problems, remote = [], [], []
    for i, enc in enumerate(cfg.encoders):
        if enc.train is not None:  # trained from scratch by the run
            continue
        try:
            where = getattr(create_encoder(enc.name, **enc.options), "remote_weights", lambda: None)()
        except (OSError, ValueError, TypeError, ImportError) as exc:
            problems.append(f"encoders[{i}].name: {' '.join(str(exc).split())}")
            continue
        if where is not None:
            remote.append((i, enc, where))
    reason = hub_unreachable() if remote else None
    for i, enc, where in remote:
        if reason is None:
            downloads.append(f"{enc.display} from {where}")
        else:
            problems.append(f"encoders[{i}].name: {enc.name!r} is not a local model and not in the hub cache, and "
                            f"{where} cannot be reached: {reason}; pass --models DIR (or set models_root / "
                            "$STITCH_MODELS) to a folder holding it, or connect once to download it")
    return downloads, problems


@renamed_kwargs(output="out")
def run_experiment(
    config: ExperimentConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    out: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    models_root: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    report: bool = True,
    engine: Any = None,
    full: bool = False,
) -> ExperimentResult:
    """Run a stitching experiment end to end and (by default) write its report.

    Args:
        config: an :class:`ExperimentConfig`, a path to a TOML/YAML/JSON file, or a dict.
        out: output directory (overrides the config's ``out``).
        data_root: directory holding the dataset's files (overrides the file's ``data_root``; default
            ``$STITCH_DATA``).
        models_root: directory of local pretrained weights (overrides the file's ``models_root`` and
            ``$STITCH_MODELS``): ``timm:<model>`` with ``pretrained = true`` reads ``<dir>/<model>.safetensors``,
            ``hf:<name>`` reads ``<dir>/<name>/``.
        cache_root: latent cache directory (overrides the file's ``cache_root``; default ``$STITCH_CACHE``).
        threads: CPU threads for training, encoding and decoders, in torch and the BLAS / OpenMP pools
            (default: the config's ``threads``, else the free cores).
        progress: phase lines and progress bars on stderr (``None``: when stderr is a terminal).
        report: write ``results.json``, ``results.csv``, figures and ``report.md``.
        engine: where encoding and matrix rows run: ``None`` (the file's ``[engine]`` table, by default this
            process), ``"local"`` (this process, whatever the file says) or an engine of :mod:`stitch.engine`
            (``create_engine("ray")``); the numbers are the same either way.
        full: run on the whole splits, ignoring the file's ``dataset.subset``.

    Re-running the same experiment into the same directory reuses trained encoders, cached latents and
    finished matrix rows, so an interrupted run resumes where it stopped.

    Example:
        >>> run_experiment("examples/digits.toml", out="runs/digits")  # doctest: +SKIP
    """
    cfg = _config(config)
    with using_models_root(models_root or cfg.models_root):
        return _run(cfg, out, data_root, cache_root, threads, progress, report, engine, full)


def check_engine(cfg: ExperimentConfig, kind: str) -> None:
    """Refuse an engine the experiment's protocol cannot run on, before the engine starts (a local Ray takes
    half a minute to start and would then be turned away).

    Example:
        >>> from stitch.experiment import parse_experiment
        >>> cfg = parse_experiment({"name": "e", "protocol": "end-to-end", "dataset": {"name": "digits"},
        ...                         "encoders": [{"name": "timm:test_resnet", "train": {"epochs": 1}}],
        ...                         "spaces": ["relative:cosine"]})
        >>> check_engine(cfg, "ray")
        Traceback (most recent call last):
        ...
        stitch.errors.ConfigError: experiment 'e': protocol 'end-to-end' trains its models in this process; run it with the local engine (drop --engine ray)
    """
    from stitch.experiment.protocols import get_protocol

    if kind != "local" and get_protocol(cfg.protocol).in_process:
        raise ConfigError(f"experiment {cfg.name!r}: protocol {cfg.protocol!r} trains its models in this process; "
                          "run it with the local engine (drop --engine ray)")


def _run(cfg: ExperimentConfig, out: Any, data_root: Any, cache_root: Any, threads: int | None,
         progress: bool | None, report: bool, engine: Any, full: bool) -> ExperimentResult:
    from stitch.experiment.decoders import DECODERS
    from stitch.utils.provenance import library_versions

    from stitch.engine import as_engine, create_engine
    from stitch.experiment.protocols import RunContext, get_protocol

    _, dataset = _check(cfg, data_root, full)
    if engine is None:
        engine = create_engine(cfg.engine.kind, **cfg.engine.model_dump(exclude={"kind"}))
    engine = as_engine(engine)
    check_engine(cfg, engine.kind)
    protocol = get_protocol(cfg.protocol)
    out_dir = Path(out) if out is not None else cfg.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    n_threads = threads or cfg.threads or free_cores()
    context = RunContext(cfg=cfg, dataset=dataset, out_dir=out_dir, cache_root=cache_root or cfg.cache_root,
                         engine=engine, progress=progress, encode_threads=n_threads)
    with cpu_threads(n_threads):
        cells, anchors, encoder_info = protocol.run(context)
    train_seeds = {e.display: e.train.seed if e.train is not None else None for e in cfg.encoders}
    cells = [{**c, "decoder_train_seed": train_seeds[c["decoder_encoder"]],
              "test_train_seed": train_seeds[c["test_encoder"]]} for c in cells]
    decoder_cls = DECODERS.get(cfg.decoder.kind)
    result = ExperimentResult(
        name=cfg.name, task=decoder_cls.task, metric=decoder_cls.metric,
        greater_is_better=decoder_cls.greater_is_better,
        encoders=[e.display for e in cfg.encoders], spaces=[s.display for s in cfg.spaces], seeds=list(cfg.seeds),
        cells=cells, summary=summarize(cells, decoder_cls.metric), anchors=anchors,
        chance=1.0 / dataset.num_classes if cfg.decoder.task == "classification" else None,
        config={**cfg.model_dump(mode="json"), "threads": n_threads, "full": full}, versions=library_versions(),
        encoder_info=encoder_info, output_dir=out_dir,
    )
    if report:
        from stitch.experiment.report import write_report

        phase(f"writing the report to {out_dir}", enabled=progress)
        write_report(result, out_dir)
    return result
