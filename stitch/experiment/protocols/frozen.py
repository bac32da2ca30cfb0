"""The ``frozen`` protocol: fixed encoders (built, or trained from scratch once), decoders fitted on their latents.

1. each encoder is built from the registry, or trained from scratch into
   ``<out>/encoders/<label>-<recipe>.safetensors`` (reused while its recipe matches);
2. the training and test splits are encoded through the latent cache, on the run's engine;
3. the stitching matrix (:mod:`stitch.experiment.matrix`) is filled row by row, each finished row appended to
   ``cells.jsonl`` under a key that covers the latents' provenance, so an interrupted run resumes and a changed
   encoder recomputes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stitch.experiment.protocols.base import Protocol, ProtocolOutput, RunContext, encoder_recipe, reuse_or_train

if TYPE_CHECKING:
    from stitch.data import Dataset
    from stitch.experiment.config import EncoderConfig, ExperimentConfig

__all__ = ["FrozenProtocol"]


def _trained(path: Path) -> dict[str, Any]:
    """The provenance of a trained-encoder file, its weights verified against it (a damaged file raises)."""
    from stitch.encoder.checkpoint import read_checkpoint, read_provenance

    read_checkpoint(path)
    return read_provenance(path)


def _build_encoder(enc: EncoderConfig, cfg: ExperimentConfig, dataset: Dataset, out_dir: Path,
                   progress: bool | None) -> tuple[Any, dict[str, Any]]:
    """The encoder of ``enc`` and what to record of it: built from the registry, or trained (reused while its
    recipe matches)."""
    from stitch.experiment.training import train_encoder
    from stitch.plugins import create_encoder

    if enc.train is None:
        return create_encoder(enc.name, **enc.options), {"name": enc.name, "options": enc.options}
    recipe = encoder_recipe(enc, cfg, dataset)
    t = enc.train

    def train(path: Path, full_recipe: dict[str, Any]) -> dict[str, Any]:
        train_encoder(enc.name, dataset, out=path, schedule=t, seed=recipe["init_seed"], split=cfg.dataset.train_split,
                      encoder_options=enc.options, progress=progress, recipe=full_recipe, **t.options)
        return _trained(path)

    provenance, path = reuse_or_train(out_dir / "encoders", enc.display, recipe, load=_trained, train=train)
    # what produced the weights, not how long it took: results.json is identical for a resumed run
    metrics = {k: v for k, v in provenance.get("metrics", {}).items() if k != "seconds"}
    info = {"name": enc.name, "options": enc.options, "trained": str(path), "run_seed": t.seed,
            "init_seed": recipe["init_seed"], "recipe": provenance["recipe"]["key"], "training": metrics}
    return create_encoder(f"trained:{path}"), info


class FrozenProtocol(Protocol):
    """Encoders fixed; a decoder trained on each encoder's space is measured zero-shot on every other's.

    Example:
        >>> from stitch.experiment import parse_experiment
        >>> FrozenProtocol().check(parse_experiment({"name": "t", "dataset": {"name": "digits"},
        ...                                          "encoders": [{"name": "a"}], "spaces": ["absolute"],
        ...                                          "engine": {"kind": "ray"}}))
        []
    """

    name = "frozen"

    def run(self, ctx: RunContext) -> ProtocolOutput:
        from stitch.encoder.cache import LatentCache
        from stitch.experiment.endtoend import split_targets
        from stitch.experiment.matrix import stitching_matrix
        from stitch.experiment.results import CELLS_FILE, CellStore
        from stitch.utils.progress import phase
        from stitch.utils.threads import cpu_threads

        cfg, dataset, progress = ctx.cfg, ctx.dataset, ctx.progress
        train_split, test_split = cfg.dataset.train_split, cfg.dataset.test_split
        cache = LatentCache(ctx.cache_root)
        encoders, encoder_info = {}, {}
        for i, enc_cfg in enumerate(cfg.encoders, 1):
            verb = "training" if enc_cfg.train is not None else "building"
            phase(f"{verb} encoder {i}/{len(cfg.encoders)}: {enc_cfg.display} ({enc_cfg.name})", enabled=progress)
            encoders[enc_cfg.display], encoder_info[enc_cfg.display] = _build_encoder(enc_cfg, cfg, dataset,
                                                                                      ctx.out_dir, progress)
        with cpu_threads(ctx.encode_threads):  # every split of an encoder in one pass (one Ray actor pool)
            encoded = ctx.engine.encode_many(encoders, dataset, [train_split, test_split], cache=cache,
                                             progress=progress, batch_size=cfg.encode_batch_size,
                                             resources={e.display: e.resources for e in cfg.encoders})
        names = [s.display for s in cfg.spaces]

        def on_row(done: int, rows: int, task: Any) -> None:
            per_space = rows // (len(names) * len(cfg.seeds))
            phase(f"space {names.index(task.space.display) + 1}/{len(names)} ({task.space.display}), seed "
                  f"{task.seed}, decoder on {task.src} (row {done % per_space + 1}/{per_space}; {done}/{rows} done)",
                  enabled=progress)

        cells, anchors = stitching_matrix(
            {label: (train, test) for label, (train, test) in encoded.items()},
            split_targets(dataset, train_split, cfg.decoder.task), split_targets(dataset, test_split, cfg.decoder.task),
            cfg.spaces, decoder=cfg.decoder, anchors=cfg.anchors, seeds=cfg.seeds,
            groups={e.display: e.family for e in cfg.encoders}, train_ids=dataset.split_ids(train_split),
            store=CellStore(ctx.out_dir / CELLS_FILE),
            fingerprint={"dataset": dataset.content_hash(),
                         "latents": {label: cache.key(enc, dataset, None) for label, enc in encoders.items()}},
            progress=progress, on_row=on_row, engine=ctx.engine,
        )
        return cells, anchors, encoder_info
