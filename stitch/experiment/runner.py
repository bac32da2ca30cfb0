"""Running an experiment file: check everything, build or train the encoders, encode, fill the matrix, report.

:func:`check_experiment` runs every rule the run runs — registry names (timm model names included),
loading the dataset's labels, splits, the anchor count against the data, stratified anchors against the
classes — before any training; ``stitch run --check`` calls exactly it. :func:`run_experiment` then:

1. builds each encoder, or trains it from scratch into ``<out>/encoders/<label>-<recipe>.safetensors``:
   the file name carries a hash of everything that produced it (base encoder, options, training settings,
   the derived initialisation seed, the dataset's content), so a changed configuration trains a new file and
   an old file is never reused for it;
2. encodes the training and test splits through the :class:`~stitch.encoder.cache.LatentCache`;
3. fills the stitching matrix (:mod:`stitch.experiment.matrix`), appending each finished row to
   ``cells.jsonl`` under a key that covers the latents' provenance, so an interrupted run resumes and a
   changed encoder recomputes;
4. writes ``results.json`` (with the configuration, the encoders' provenance, seeds, anchor ids and library
   versions), ``results.csv``, figures and ``report.md``.

With ``protocol = "end-to-end"`` steps 1-3 are replaced by the relative-representations paper's protocol
(:mod:`stitch.experiment.endtoend`): every encoder is trained with each space as a layer and a decoder,
into ``<out>/end-to-end/`` (reused when the recipe matches), and the encoder of each model is stitched with
the decoder of every other; the results and report are the same.

Torch's CPU threads are set for the run: training and decoders use ``threads`` (the file's, default 1 —
small models gain nothing from more, on a shared machine extra threads wait on each other and run many
times slower, and a fixed count keeps results identical run to run); encoding keeps torch's default (the
machine's cores: large pretrained models do gain from threads, and the result is cached).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stitch.encoder.refs import using_models_root
from stitch.errors import ConfigError
from stitch.experiment.config import ExperimentConfig, load_experiment, parse_experiment
from stitch.experiment.endtoend import load_end_to_end, split_targets, stitch_end_to_end, train_end_to_end
from stitch.experiment.matrix import stitching_matrix
from stitch.experiment.results import CELLS_FILE, CellStore, ExperimentResult, record_hash, summarize
from stitch.utils.deprecation import renamed_kwargs
from stitch.utils.files import slug
from stitch.utils.progress import phase

__all__ = ["ExperimentPlan", "check_experiment", "run_experiment", "init_seed", "torch_threads"]


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


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads, then restore the previous count.

    Example:
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class ExperimentPlan:
    """What a checked experiment will do (``stitch run --check`` prints it).

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

    def __str__(self) -> str:
        return (f"{self.name}: valid. {self.n_encoders} encoders x {self.n_spaces} spaces x {self.n_seeds} seed(s) = "
                f"{self.n_cells} cells on {self.dataset!r} ({self.n_train} train / {self.n_test} test samples, "
                f"{self.n_anchors} anchors)")


def _config(config: ExperimentConfig | str | os.PathLike[str] | Mapping[str, Any]) -> ExperimentConfig:
    if isinstance(config, ExperimentConfig):
        return config
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
    root = data_root if data_root is not None else cfg.resolved_data_root()
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
    classification = cfg.decoder.kind != "reconstruction"
    if not classification and dataset.transductive:
        problems.append(f"decoder.kind: 'reconstruction' rebuilds each sample's input, but dataset {dataset.name!r} "
                        "is transductive (one graph); use a classification decoder ('linear' or 'mlp')")
    y_train = dataset.split_labels(cfg.dataset.train_split) if classification else None
    n_train = len(dataset.indices(cfg.dataset.train_split))
    problems += _check_anchors(cfg, dataset, y_train, n_train)
    if problems:
        raise _invalid(cfg, problems)
    plan = ExperimentPlan(cfg.name, dataset.name, len(cfg.encoders), len(cfg.spaces), len(cfg.seeds),
                          len(cfg.spaces) * len(cfg.seeds) * len(cfg.encoders) ** 2, n_train,
                          len(dataset.indices(cfg.dataset.test_split)), cfg.anchors.n)
    return plan, dataset


def _recipe(enc: Any, cfg: ExperimentConfig, dataset: Any) -> dict[str, Any]:
    return {"encoder": enc.name, "options": enc.options, "train": enc.train.model_dump(),
            "init_seed": init_seed(enc.name, enc.train.seed), "dataset": dataset.content_hash(),
            "split": cfg.dataset.train_split}


def _build_encoder(enc: Any, cfg: ExperimentConfig, dataset: Any, out_dir: Path, progress: bool | None) -> Any:
    """The encoder of ``enc``: built from the registry, or trained (reusing a file only if its recipe matches)."""
    from stitch.encoder.checkpoint import read_provenance
    from stitch.experiment.training import train_encoder
    from stitch.plugins import create_encoder

    if enc.train is None:
        return create_encoder(enc.name, **enc.options), {"name": enc.name, "options": enc.options}
    recipe = _recipe(enc, cfg, dataset)
    key = record_hash(recipe)
    path = out_dir / "encoders" / f"{slug(enc.display)}-{key[:12]}.safetensors"
    reuse = False
    if path.is_file():
        try:
            reuse = read_provenance(path).get("recipe", {}).get("key") == key
        except (OSError, ValueError):
            reuse = False  # a damaged file or sidecar is trained again
    if not reuse:
        t = enc.train
        train_encoder(enc.name, dataset, out=path, seed=recipe["init_seed"], split=cfg.dataset.train_split,
                      epochs=t.epochs, lr=t.lr, batch_size=t.batch_size, patience=t.patience,
                      encoder_options=enc.options, progress=progress, recipe={"key": key, **recipe}, **t.options)
    # what produced the weights, not how long it took: results.json is identical for a resumed run
    metrics = {k: v for k, v in read_provenance(path).get("metrics", {}).items() if k != "seconds"}
    info = {"name": enc.name, "options": enc.options, "trained": str(path), "run_seed": enc.train.seed,
            "init_seed": recipe["init_seed"], "recipe": key, "training": metrics}
    return create_encoder(f"trained:{path}"), info


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
        data_root: directory holding the dataset's files (overrides ``dataset.data_root`` / ``data_root``).
        models_root: directory of local pretrained weights (overrides the file's ``models_root`` and
            ``$STITCH_MODELS``): ``timm:<model>`` with ``pretrained = true`` reads ``<dir>/<model>.safetensors``,
            ``hf:<name>`` reads ``<dir>/<name>/``.
        cache_root: latent cache directory (default ``$STITCH_CACHE``).
        threads: torch CPU threads for training and decoders (default: the config's ``threads``, else 1;
            encoding keeps torch's default).
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


def _run(cfg: ExperimentConfig, out: Any, data_root: Any, cache_root: Any, threads: int | None,
         progress: bool | None, report: bool, engine: Any, full: bool) -> ExperimentResult:
    from stitch.experiment.decoders import DECODERS
    from stitch.utils.provenance import library_versions

    from stitch.engine import as_engine, create_engine

    _, dataset = _check(cfg, data_root, full)
    if engine is None:
        engine = create_engine(cfg.engine.kind, **cfg.engine.model_dump(exclude={"kind"}))
    engine = as_engine(engine)
    if engine.kind != "local" and cfg.protocol == "end-to-end":
        raise ConfigError(f"experiment {cfg.name!r}: protocol 'end-to-end' trains its models in this process; run it "
                          "with the local engine (drop --engine ray)")
    out_dir = Path(out) if out is not None else cfg.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    n_threads = threads or cfg.threads or 1
    encode_threads = torch.get_num_threads()
    with torch_threads(n_threads):
        if cfg.protocol == "end-to-end":
            cells, anchors, encoder_info = _end_to_end(cfg, dataset, out_dir, progress)
        else:
            cells, anchors, encoder_info = _frozen(cfg, dataset, out_dir, cache_root, progress, engine, encode_threads)
    train_seeds = {e.display: e.train.seed if e.train is not None else None for e in cfg.encoders}
    cells = [{**c, "decoder_train_seed": train_seeds[c["decoder_encoder"]],
              "test_train_seed": train_seeds[c["test_encoder"]]} for c in cells]
    decoder_cls = DECODERS.get(cfg.decoder.kind)
    result = ExperimentResult(
        name=cfg.name, task=decoder_cls.task, metric=decoder_cls.metric,
        greater_is_better=decoder_cls.greater_is_better,
        encoders=[e.display for e in cfg.encoders], spaces=[s.display for s in cfg.spaces], seeds=list(cfg.seeds),
        cells=cells, summary=summarize(cells, decoder_cls.metric), anchors=anchors,
        chance=1.0 / dataset.num_classes if cfg.decoder.kind != "reconstruction" else None,
        config={**cfg.model_dump(mode="json"), "threads": n_threads, "full": full}, versions=library_versions(),
        encoder_info=encoder_info, output_dir=out_dir,
    )
    if report:
        from stitch.experiment.report import write_report

        phase(f"writing the report to {out_dir}", enabled=progress)
        write_report(result, out_dir)
    return result


def _frozen(cfg: ExperimentConfig, dataset: Any, out_dir: Path, cache_root: Any, progress: bool | None, engine: Any,
            encode_threads: int) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[str, Any]]:
    """The frozen protocol: build or train each encoder, encode both splits (cached), fill the matrix."""
    from stitch.encoder.cache import LatentCache

    train_split, test_split = cfg.dataset.train_split, cfg.dataset.test_split
    cache = LatentCache(cache_root)
    encoder_info: dict[str, dict[str, Any]] = {}
    total = len(cfg.encoders)
    encoders = {}
    for i, enc_cfg in enumerate(cfg.encoders, 1):
        verb = "training" if enc_cfg.train is not None else "building"
        phase(f"{verb} encoder {i}/{total}: {enc_cfg.display} ({enc_cfg.name})", enabled=progress)
        encoders[enc_cfg.display], encoder_info[enc_cfg.display] = _build_encoder(enc_cfg, cfg, dataset, out_dir,
                                                                                  progress)
    with torch_threads(encode_threads):  # every split of an encoder in one pass (one Ray actor pool)
        encoded = engine.encode_many(encoders, dataset, [train_split, test_split], cache=cache, progress=progress,
                                     batch_size=cfg.encode_batch_size,
                                     resources={e.display: e.resources for e in cfg.encoders})
    latents = {label: (train, test) for label, (train, test) in encoded.items()}
    fingerprints = {label: cache.key(enc, dataset, None) for label, enc in encoders.items()}
    n_spaces = len(cfg.spaces)
    names = [s.display for s in cfg.spaces]

    def on_row(done: int, rows: int, task: Any) -> None:
        per_space = rows // (n_spaces * len(cfg.seeds))
        phase(f"space {names.index(task.space.display) + 1}/{n_spaces} ({task.space.display}), seed {task.seed}, "
              f"decoder on {task.src} (row {done % per_space + 1}/{per_space}; {done}/{rows} done)",
              enabled=progress)

    cells, anchors = stitching_matrix(
        latents, split_targets(dataset, train_split, cfg.decoder.kind),
        split_targets(dataset, test_split, cfg.decoder.kind),
        cfg.spaces, decoder=cfg.decoder, anchors=cfg.anchors, seeds=cfg.seeds,
        groups={e.display: e.family for e in cfg.encoders}, train_ids=dataset.split_ids(train_split),
        store=CellStore(out_dir / CELLS_FILE),
        fingerprint={"dataset": dataset.content_hash(), "latents": fingerprints}, progress=progress,
        on_row=on_row, engine=engine,
    )
    return cells, anchors, encoder_info


def _end_to_end(cfg: ExperimentConfig, dataset: Any, out_dir: Path, progress: bool | None
                ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[str, Any]]:
    """The end-to-end protocol: per (seed, space), train every encoder with that space and a decoder, then stitch.

    Models are files under ``<out>/end-to-end/`` named by a hash of their recipe (as trained encoders are),
    so a re-run reuses them. Each encoder starts from the same initialisation for every space and seed
    (:func:`init_seed`); run seed ``s`` picks the anchors (``anchors.seed + s``), shared by all models.
    """
    from stitch.core.anchors import select_anchors

    kind, train_split = cfg.decoder.kind, cfg.dataset.train_split
    y_train = split_targets(dataset, train_split, kind)
    n_train = len(dataset.indices(train_split))
    ids = dataset.split_ids(train_split)
    rows_ref = torch.arange(n_train, dtype=torch.float32)[:, None]  # random/stratified read no features
    groups = {e.display: e.family for e in cfg.encoders}
    cells: list[dict[str, Any]] = []
    anchors: dict[int, dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {e.display: {"name": e.name, "options": e.options, "run_seed": e.train.seed,
                                                    "init_seed": init_seed(e.name, e.train.seed), "models": {}}
                                       for e in cfg.encoders}
    total, done = len(cfg.seeds) * len(cfg.spaces) * len(cfg.encoders), 0
    for seed in cfg.seeds:
        anchor_seed = cfg.anchors.seed + seed
        idx = select_anchors(rows_ref, cfg.anchors.n, cfg.anchors.strategy,
                             labels=y_train if kind != "reconstruction" else None, seed=anchor_seed,
                             **cfg.anchors.options).tolist()
        anchors[seed] = {"seed": anchor_seed, "reference": "training rows", "indices": idx,
                         "ids": [ids[i] for i in idx]}
        for space in cfg.spaces:
            models = {}
            for enc in cfg.encoders:
                done += 1
                phase(f"end-to-end model {done}/{total}: {enc.display} with {space.display} (seed {seed})",
                      enabled=progress)
                models[enc.display], path, metrics = _end_to_end_model(enc, cfg, dataset, space, idx, out_dir,
                                                                       progress)
                info[enc.display]["models"][f"{space.display} / seed {seed}"] = {"file": str(path), "training": metrics}
            cells += stitch_end_to_end(models, dataset, split=train_split, test_split=cfg.dataset.test_split,
                                       groups=groups, seed=seed, anchor_seed=anchor_seed)
    return cells, anchors, info


def _end_to_end_model(enc: Any, cfg: ExperimentConfig, dataset: Any, space: Any, anchor_rows: list[int],
                      out_dir: Path, progress: bool | None) -> tuple[Any, Path, dict[str, Any]]:
    """One end-to-end model: reused from its file when the recipe matches, else trained."""
    from stitch.encoder.checkpoint import read_provenance

    d = cfg.decoder
    recipe = {**_recipe(enc, cfg, dataset), "protocol": "end-to-end", "space": space.model_dump(),
              "anchor_rows": anchor_rows, "decoder": {"kind": d.kind, "hidden": d.hidden, "normalize": d.normalize}}
    key = record_hash(recipe)
    path = out_dir / "end-to-end" / f"{slug(enc.display)}-{slug(space.display)}-{key[:12]}.safetensors"
    model = None
    if path.is_file():
        try:
            if read_provenance(path).get("recipe", {}).get("key") == key:
                model = load_end_to_end(path, dataset)
        except (OSError, ValueError):
            model = None  # a damaged file or sidecar is trained again
    if model is None:
        t = enc.train
        model = train_end_to_end(enc.name, dataset, space=space, anchor_rows=anchor_rows, out=path,
                                 seed=recipe["init_seed"], decoder=d.kind, hidden=d.hidden, normalize=d.normalize,
                                 split=cfg.dataset.train_split, epochs=t.epochs, lr=t.lr, batch_size=t.batch_size,
                                 patience=t.patience, encoder_options=enc.options, progress=progress,
                                 recipe={"key": key, **recipe}, **t.options)
    # what produced the weights, not how long it took: results.json is identical for a resumed run
    return model, path, {k: v for k, v in model.metrics.items() if k != "seconds"}
