"""The stitching matrix: decoders trained on each encoder's space, measured zero-shot on every encoder's space.

:func:`run_experiment` turns an :class:`~stitch.experiment.config.ExperimentConfig` into latents (encoders
from the registry or trained from scratch, encoded through the :class:`~stitch.cache.LatentCache`) and hands
them to :func:`stitching_matrix`, which works on latents alone (so it can be tested on synthetic spaces).

Resume: every finished row of the matrix (one decoder, all test encoders) is appended, fsynced, to
``cells.jsonl`` in the output directory under a hash of everything that determines it. A re-run skips the
rows it finds there (a torn last line from a crash is ignored), and the latent cache skips encoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stitch.experiment.config import AnchorConfig, DecoderConfig, ExperimentConfig, SpaceConfig, load_experiment

__all__ = ["ExperimentResult", "CellStore", "stitching_matrix", "run_experiment", "summarize"]

CELLS_FILE = "cells.jsonl"


# -- resume store ------------------------------------------------------------------------------------------------
class CellStore:
    """Append-only JSONL of finished matrix rows, keyed by a hash of their configuration.

    Example:
        >>> import tempfile, pathlib
        >>> store = CellStore(pathlib.Path(tempfile.mkdtemp()) / "cells.jsonl")
        >>> store.add("k1", [{"accuracy": 1.0}])
        >>> CellStore(store.path).get("k1")
        [{'accuracy': 1.0}]
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._torn = False
        if self.path is not None and self.path.is_file():
            text = self.path.read_text(encoding="utf-8")
            self._torn = bool(text) and not text.endswith("\n")  # the next record must start on a new line
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                    self._rows[record["key"]] = record["cells"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line torn by an interruption: that row is simply recomputed

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The stored cells of ``key``, or ``None``."""
        return self._rows.get(key)

    def add(self, key: str, cells: list[dict[str, Any]]) -> None:
        """Record a finished row (durably, before returning)."""
        self._rows[key] = cells
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": key, "cells": cells}, sort_keys=True, default=_jsonable) + "\n"
        if self._torn:
            line, self._torn = "\n" + line, False
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def __len__(self) -> int:
        return len(self._rows)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_jsonable).encode()).hexdigest()[:24]


# -- spaces --------------------------------------------------------------------------------------------------
_TRANSLATE_ONLY = ("n_known",)


def _decoder_aggregation(space: SpaceConfig) -> tuple[str | None, dict[str, Any]]:
    """The trainable aggregation a product space hands to the decoder, if any."""
    if space.kind != "product":
        return None, {}
    from stitch.product import TRAINING_FREE_AGGREGATIONS

    agg = space.options.get("aggregation", "concat")
    if agg in TRAINING_FREE_AGGREGATIONS:
        return None, {}
    return agg, dict(space.options.get("aggregation_options", {}))


def _projector(space: SpaceConfig, anchors: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Fit the space on one encoder's anchors; return its ``transform``."""
    opts = {k: v for k, v in space.options.items() if k not in ("aggregation", "aggregation_options")}
    if space.kind == "relative":
        from stitch.similarity import RelativeProjection

        return RelativeProjection(space.argument, **opts).fit(anchors).transform
    from stitch.product import ProductSpace

    agg, _ = _decoder_aggregation(space)
    sims = [s.strip() for s in space.argument.split(",")]
    product = ProductSpace(sims, aggregation="concat" if agg else space.options.get("aggregation", "concat"), **opts)
    product.fit(anchors)
    return (lambda x: product.transform(x, stacked=True)) if agg else product.transform


def _translate(
    space: SpaceConfig, src_anchors: torch.Tensor, tgt_anchors: torch.Tensor, x: torch.Tensor, seed: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Translate ``x`` from the source to the target absolute space; OT reports the anchors it recovered."""
    from stitch.translate import OTTranslator, get_translator

    opts = {k: v for k, v in space.options.items() if k not in _TRANSLATE_ONLY}
    method = space.argument
    translator = get_translator(method, **opts)
    if not isinstance(translator, OTTranslator):
        return translator.fit(src_anchors, tgt_anchors).transform(x), {}
    # The anchors are parallel by construction; hide the pairing (shuffle the target side) and let OT find it.
    n = len(src_anchors)
    n_known = int(space.options.get("n_known", 10))
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)  # shuffled[k] = tgt[perm[k]]
    truth = torch.argsort(perm)  # src[i] pairs with shuffled[truth[i]]
    known = [(i, int(truth[i])) for i in range(min(n_known, n))]
    translator.fit(src_anchors, tgt_anchors[perm], known=known)
    recovered = translator.matching_.n_correct(truth)
    return translator.transform(x), {"anchors_recovered": recovered, "anchors_to_recover": n - len(known)}


# -- the matrix ----------------------------------------------------------------------------------------------
def stitching_matrix(
    latents: Mapping[str, tuple[Any, Any]],
    y_train: Any,
    y_test: Any,
    spaces: Sequence[SpaceConfig | str],
    *,
    decoder: DecoderConfig | None = None,
    anchors: AnchorConfig | None = None,
    seeds: Sequence[int] = (0,),
    groups: Mapping[str, str] | None = None,
    train_ids: Sequence[str] | None = None,
    store: CellStore | None = None,
    fingerprint: Any = None,
    progress: bool | None = None,
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Train a decoder on every encoder's space and score it on every encoder's space, per space and seed.

    Args:
        latents: encoder label -> ``(train latents, test latents)``, rows aligned across encoders
            (the same samples in the same order).
        y_train, y_test: labels ``(n,)`` (classification) or flattened inputs ``(n, d_in)`` (reconstruction).
        spaces: space specs (``"absolute"``, ``"relative:cosine"``, ...).
        decoder: decoder settings; anchors: anchor settings (run seed ``s`` uses ``anchors.seed + s``).
        seeds: run seeds (decoder initialisation and anchor choice).
        groups: encoder label -> architecture group (for same- vs cross-group summaries).
        train_ids: sample ids of the training rows (recorded for the anchors).
        store: resume store; rows found there are not recomputed.
        fingerprint: identity of the latents' provenance, part of every row's resume key.

    Returns ``(cells, anchors_by_seed)``: one dict per (space, seed, decoder encoder, test encoder) with the
    metrics, and for each seed the anchor indices (and ids) into the training rows.

    Shapes:
        latents[e]: ``((n_train, d_e), (n_test, d_e))``; every encoder may have its own ``d_e``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(300, 8, generator=g); y = (x[:, 0] > 0).long()
        >>> q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
        >>> lat = {"A": (x[:200], x[200:]), "B": (x[:200] @ q, x[200:] @ q)}
        >>> cells, _ = stitching_matrix(lat, y[:200], y[200:], ["relative:cosine"],
        ...                             decoder=DecoderConfig(kind="linear", epochs=30, lr=1e-2),
        ...                             anchors=AnchorConfig(n=32))
        >>> len(cells), all(c["accuracy"] > 0.8 for c in cells)
        (4, True)
    """
    from stitch._checks import as_matrix
    from stitch._progress import progress_bar
    from stitch.anchors import select_anchors
    from stitch.decoders import get_decoder

    decoder = decoder or DecoderConfig()
    anchors = anchors or AnchorConfig()
    spaces = [s if isinstance(s, SpaceConfig) else SpaceConfig.model_validate(s) for s in spaces]
    labels = list(latents)
    if not labels:
        raise ValueError("latents is empty; pass at least one encoder's (train, test) latents")
    lat = {
        k: (as_matrix(v[0], f"latents[{k!r}][0]"), as_matrix(v[1], f"latents[{k!r}][1]")) for k, v in latents.items()
    }
    n_train, n_test = len(lat[labels[0]][0]), len(lat[labels[0]][1])
    for k, (tr, te) in lat.items():
        if len(tr) != n_train or len(te) != n_test:
            raise ValueError(
                f"encoder {k!r} has {len(tr)} train / {len(te)} test rows but {labels[0]!r} has {n_train} / {n_test}; "
                "every encoder must embed the same samples"
            )
    classification = decoder.kind != "reconstruction"
    y_train = np.asarray(y_train)
    y_test = np.asarray(y_test)
    if len(y_train) != n_train or len(y_test) != n_test:
        raise ValueError(
            f"got {len(y_train)} train / {len(y_test)} test targets for {n_train} / {n_test} latent rows"
        )
    groups = dict(groups or {})
    reference = anchors.reference or labels[0]
    store = store if store is not None else CellStore(None)
    decoder_params = decoder.model_dump(exclude={"kind"})

    anchors_by_seed: dict[int, dict[str, Any]] = {}
    cells: list[dict[str, Any]] = []
    total = len(spaces) * len(seeds) * len(labels)
    with progress_bar(total, "stitching matrix", enabled=progress, unit="decoder") as bar:
        for seed in seeds:
            anchor_seed = anchors.seed + seed
            idx = select_anchors(
                lat[reference][0], anchors.n, anchors.strategy, labels=y_train if classification else None,
                seed=anchor_seed, **anchors.options,
            )
            anchor_record: dict[str, Any] = {"seed": anchor_seed, "reference": reference, "indices": idx.tolist()}
            if train_ids is not None:
                anchor_record["ids"] = [train_ids[i] for i in idx.tolist()]
            anchors_by_seed[seed] = anchor_record
            anchor_lat = {k: tr[idx] for k, (tr, _) in lat.items()}
            absolute_decoders: dict[str, Any] = {}
            for space in spaces:
                projectors = (
                    {k: _projector(space, anchor_lat[k]) for k in labels}
                    if space.kind in ("relative", "product") else None
                )
                agg, agg_opts = _decoder_aggregation(space)
                for src in labels:
                    key = _hash({
                        "fingerprint": fingerprint, "encoders": labels, "space": space.model_dump(), "seed": seed,
                        "decoder_encoder": src, "decoder": decoder.model_dump(), "anchors": anchors.model_dump(),
                    })
                    done = store.get(key)
                    if done is not None:
                        cells.extend(done)
                        bar.update(1)
                        continue

                    def rep(k: str, split: int, projectors: Any = projectors) -> torch.Tensor:
                        z = lat[k][split]
                        return projectors[k](z) if projectors is not None else z

                    model = absolute_decoders.get(src) if space.kind in ("absolute", "translate") else None
                    if model is None:
                        model = get_decoder(
                            decoder.kind, seed=seed, aggregation=agg, aggregation_options=agg_opts,
                            progress=progress, **decoder_params,
                        ).fit(rep(src, 0), y_train)
                        if space.kind in ("absolute", "translate"):
                            absolute_decoders[src] = model
                    row = []
                    for tgt in labels:
                        extra: dict[str, Any] = {}
                        if space.kind == "translate":
                            z, extra = _translate(space, anchor_lat[tgt], anchor_lat[src], lat[tgt][1], seed)
                        else:
                            z = rep(tgt, 1)
                        if tuple(z.shape[1:]) == model.input_shape_:
                            scores = model.score(z, y_test)
                        else:  # absolute spaces of different widths: nothing to decode, not a failure to report
                            scores = dict.fromkeys(model.metrics)
                            extra["skipped"] = (
                                f"{tgt} latents have shape {tuple(z.shape[1:])}, the decoder takes {model.input_shape_}"
                            )
                        row.append({
                            "space": space.display, "space_spec": space.name, "space_options": dict(space.options),
                            "seed": seed, "anchor_seed": anchor_seed, "decoder_seed": seed,
                            "decoder_encoder": src, "test_encoder": tgt, "stitched": src != tgt,
                            "decoder_group": groups.get(src, src), "test_group": groups.get(tgt, tgt),
                            "epochs_trained": len(model.history_), **scores, **extra,
                        })
                    store.add(key, row)
                    cells.extend(row)
                    bar.update(1)
    return cells, anchors_by_seed


# -- summaries -----------------------------------------------------------------------------------------------
def summarize(cells: Sequence[Mapping[str, Any]], metric: str) -> dict[str, dict[str, float | None]]:
    """Per space: mean and std over seeds of the diagonal (non-stitched), stitched, same-group and cross-group means.

    Example:
        >>> cells = [{"space": "s", "seed": 0, "decoder_encoder": a, "test_encoder": b, "stitched": a != b,
        ...           "decoder_group": "g", "test_group": "g", "accuracy": 1.0 if a == b else 0.5}
        ...          for a in "AB" for b in "AB"]
        >>> summarize(cells, "accuracy")["s"]["stitched_mean"]
        0.5
    """
    out: dict[str, dict[str, float | None]] = {}
    spaces = list(dict.fromkeys(c["space"] for c in cells))
    for space in spaces:
        mine = [c for c in cells if c["space"] == space]
        seeds = sorted({c["seed"] for c in mine})
        parts: dict[str, list[float]] = {"diagonal": [], "stitched": [], "same_group": [], "cross_group": []}
        for seed in seeds:
            sel = [c for c in mine if c["seed"] == seed]
            sel = [c for c in sel if c.get(metric) is not None]  # skipped cells (incompatible widths)
            groups = {
                "diagonal": [c[metric] for c in sel if not c["stitched"]],
                "stitched": [c[metric] for c in sel if c["stitched"]],
                "same_group": [c[metric] for c in sel if c["stitched"] and c["decoder_group"] == c["test_group"]],
                "cross_group": [c[metric] for c in sel if c["stitched"] and c["decoder_group"] != c["test_group"]],
            }
            for name, values in groups.items():
                if values:
                    parts[name].append(float(np.mean(values)))
        summary: dict[str, float | None] = {}
        for name, values in parts.items():  # None, not NaN: no such pair (results.json stays strict JSON)
            summary[f"{name}_mean"] = float(np.mean(values)) if values else None
            summary[f"{name}_std"] = float(np.std(values)) if values else None
        recovered = [c["anchors_recovered"] / max(c["anchors_to_recover"], 1) for c in mine if "anchors_recovered" in c]
        if recovered:
            summary["anchors_recovered_fraction"] = float(np.mean(recovered))
        out[space] = summary
    return out


@dataclass
class ExperimentResult:
    """Everything a run produced: cells, summary, anchors, config and versions (``results.json``)."""

    name: str
    task: str
    metric: str
    greater_is_better: bool
    encoders: list[str]
    spaces: list[str]
    seeds: list[int]
    cells: list[dict[str, Any]]
    summary: dict[str, dict[str, float | None]]
    anchors: dict[int, dict[str, Any]]
    chance: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    output_dir: Path | None = None

    def matrix(self, space: str, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` over seeds of the ``(decoder encoder, test encoder)`` matrix of ``space``.

        Shapes:
            -> ``(k, k)``, ``(k, k)`` with rows = decoder's encoder, columns = test encoder (``encoders`` order)
        """
        metric = metric or self.metric
        if space not in self.spaces:
            raise ValueError(f"no space {space!r} in this result; available: {', '.join(map(repr, self.spaces))}")
        k = len(self.encoders)
        pos = {e: i for i, e in enumerate(self.encoders)}
        values: list[list[list[float]]] = [[[] for _ in range(k)] for _ in range(k)]
        for c in self.cells:
            if c["space"] == space and c.get(metric) is not None:
                values[pos[c["decoder_encoder"]]][pos[c["test_encoder"]]].append(c[metric])
        mean = np.array([[np.mean(v) if v else np.nan for v in row] for row in values])
        std = np.array([[np.std(v) if v else np.nan for v in row] for row in values])
        return mean, std

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (what ``results.json`` holds)."""
        return {
            "name": self.name, "task": self.task, "metric": self.metric, "greater_is_better": self.greater_is_better,
            "encoders": self.encoders, "spaces": self.spaces, "seeds": self.seeds, "chance": self.chance,
            "summary": self.summary, "anchors": {str(k): v for k, v in self.anchors.items()},
            "config": self.config, "versions": self.versions, "cells": self.cells,
        }


# -- from a config -------------------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("latent-stitch", "torch", "numpy", "timm", "transformers", "torch-geometric", "POT"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _build_encoder(enc: Any, dataset: Any, cfg: ExperimentConfig, out_dir: Path, progress: bool | None) -> Any:
    from stitch.plugins import get_encoder

    if enc.train is None:
        return get_encoder(enc.name, **enc.options)
    from stitch.training import train_encoder

    from stitch.training import sidecar_path

    path = out_dir / "encoders" / f"{_slug(enc.display)}.safetensors"
    if not (path.is_file() and sidecar_path(path).is_file()):  # resume: reuse an encoder an earlier run trained
        t = enc.train
        train_encoder(
            enc.name, dataset, out=path, seed=t.seed, split=cfg.dataset.train_split, epochs=t.epochs, lr=t.lr,
            batch_size=t.batch_size, encoder_options=enc.options, progress=progress, **t.options,
        )
    return get_encoder(f"trained:{path}")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def _targets(dataset: Any, split: str, classification: bool) -> np.ndarray:
    if classification:
        return dataset.split_labels(split)
    if dataset.transductive:
        raise ValueError(
            f"decoder.kind='reconstruction' rebuilds each sample's input, but dataset {dataset.name!r} is transductive "
            "(one graph); use a classification decoder ('linear' or 'mlp')"
        )
    inputs = np.asarray(dataset.split_inputs(split), dtype=np.float32)
    return inputs.reshape(len(inputs), -1)


def _preflight(cfg: ExperimentConfig) -> None:
    """Check registry names before any work, naming the field path (a typo must not cost a training run)."""
    from stitch.errors import ConfigError
    from stitch.plugins import get_dataset_info, get_encoder_spec

    checks = [("dataset.name", get_dataset_info, cfg.dataset.name)]
    checks += [(f"encoders[{i}].name", get_encoder_spec, e.name) for i, e in enumerate(cfg.encoders)]
    for path, lookup, name in checks:
        try:
            lookup(name)
        except LookupError as exc:
            raise ConfigError(f"invalid experiment {cfg.name!r}:\n  {path}: {exc}") from None


def _check_anchor_count(cfg: ExperimentConfig, dataset: Any, labels: np.ndarray | None) -> None:
    """Check the anchor count against the loaded dataset, before any training (naming the field path)."""
    from stitch.errors import ConfigError

    if cfg.anchors.strategy != "stratified":
        return
    if labels is None:
        raise ConfigError(
            f"invalid experiment {cfg.name!r}:\n  anchors.strategy: 'stratified' draws anchors per class, but "
            f"decoder.kind={cfg.decoder.kind!r} has no class labels; use strategy 'random', 'fps' or 'kmeans'"
        )
    classes, counts = np.unique(labels, return_counts=True)
    k, n = len(classes), cfg.anchors.n
    if n % k:
        below, above = (n // k) * k, (n // k + 1) * k
        nearby = f"n={below} or n={above}" if below else f"n={above}"
        raise ConfigError(
            f"invalid experiment {cfg.name!r}:\n  anchors.n: strategy 'stratified' draws the same number of anchors "
            f"from each of the {k} classes of dataset {dataset.name!r} (split {cfg.dataset.train_split!r}), but "
            f"n={n} is not a multiple of {k}; use {nearby}"
        )
    if n // k > counts.min():
        c = classes[int(np.argmin(counts))]
        raise ConfigError(
            f"invalid experiment {cfg.name!r}:\n  anchors.n: strategy 'stratified' needs {n // k} anchors per class "
            f"(n={n} over {k} classes) but class {c.item()!r} has only {counts.min()} samples in split "
            f"{cfg.dataset.train_split!r}; use n<={counts.min() * k} or strategy 'random'"
        )


def run_experiment(
    config: ExperimentConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    output: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    report: bool = True,
) -> ExperimentResult:
    """Run a stitching experiment end to end and (by default) write its report.

    Args:
        config: an :class:`ExperimentConfig`, a path to a TOML/YAML file, or a dict.
        output: output directory (overrides the config's ``output``).
        data_root: directory holding the dataset's files (overrides ``dataset.root`` / ``data_root``).
        progress: progress bars for encoding and training (``None``: when stderr is a terminal).
        report: write ``results.json``, ``results.csv``, figures and ``report.md``.

    Re-running the same experiment into the same directory reuses trained encoders, cached latents and
    finished matrix rows, so an interrupted run resumes where it stopped.

    Example:
        >>> run_experiment("examples/digits.toml", output="runs/digits")  # doctest: +SKIP
    """
    from stitch.cache import LatentCache
    from stitch.decoders import DECODERS
    from stitch.experiment.config import parse_experiment
    from stitch.plugins import get_dataset

    if isinstance(config, Mapping):
        cfg = parse_experiment(dict(config))
    elif isinstance(config, ExperimentConfig):
        cfg = config
    else:
        cfg = load_experiment(config)
    _preflight(cfg)
    out_dir = Path(output) if output is not None else cfg.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    root = data_root if data_root is not None else cfg.resolved_data_root()
    dataset = get_dataset(cfg.dataset.name, root=root, **cfg.dataset.options)
    train_split, test_split = cfg.dataset.train_split, cfg.dataset.test_split
    dataset.indices(train_split), dataset.indices(test_split)  # unknown split: fail before any work
    classification = cfg.decoder.kind != "reconstruction"
    y_train = _targets(dataset, train_split, classification)
    _check_anchor_count(cfg, dataset, y_train if classification else None)

    cache = LatentCache()
    latents: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    fingerprints: dict[str, Any] = {}
    for enc_cfg in cfg.encoders:
        encoder = _build_encoder(enc_cfg, dataset, cfg, out_dir, progress)
        kw = {"batch_size": cfg.encode_batch_size, "progress": progress}
        latents[enc_cfg.display] = (
            cache.encode(encoder, dataset, train_split, **kw), cache.encode(encoder, dataset, test_split, **kw)
        )
        fingerprints[enc_cfg.display] = cache.key(encoder, dataset, None)
    decoder_cls = DECODERS.get(cfg.decoder.kind)
    cells, anchors = stitching_matrix(
        latents,
        y_train,
        _targets(dataset, test_split, classification),
        cfg.spaces,
        decoder=cfg.decoder,
        anchors=cfg.anchors,
        seeds=cfg.seeds,
        groups={e.display: e.family for e in cfg.encoders},
        train_ids=dataset.split_ids(train_split),
        store=CellStore(out_dir / CELLS_FILE),
        fingerprint={"dataset": dataset.content_hash(), "latents": fingerprints},
        progress=progress,
    )
    result = ExperimentResult(
        name=cfg.name,
        task=decoder_cls.task,
        metric=decoder_cls.metric,
        greater_is_better=decoder_cls.greater_is_better,
        encoders=list(latents),
        spaces=[s.display for s in cfg.spaces],
        seeds=list(cfg.seeds),
        cells=cells,
        summary=summarize(cells, decoder_cls.metric),
        anchors=anchors,
        chance=1.0 / dataset.num_classes if classification else None,
        config=cfg.model_dump(mode="json"),
        versions=_versions(),
        output_dir=out_dir,
    )
    if report:
        from stitch.experiment.report import write_report

        write_report(result, out_dir)
    return result
