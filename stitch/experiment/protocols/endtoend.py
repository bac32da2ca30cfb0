"""The ``end-to-end`` protocol (the relative-representations paper's): every encoder trained with each space as a
layer and a decoder (:func:`~stitch.experiment.endtoend.train_end_to_end`), then the encoder of each model
stitched with the decoder of every other (:func:`~stitch.experiment.endtoend.stitch_end_to_end`).

Models are files under ``<out>/end-to-end/`` named by a hash of their recipe (as trained encoders are), so a
re-run reuses them. Each encoder starts from the same initialisation for every space and seed
(:func:`~stitch.experiment.protocols.base.init_seed`); run seed ``s`` picks the anchors (``anchors.seed + s``),
shared by all models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stitch.experiment.protocols.base import (Protocol, ProtocolOutput, RunContext, encoder_recipe, init_seed,
                                              reuse_or_train)

if TYPE_CHECKING:
    from stitch.experiment.config import EncoderConfig, ExperimentConfig, SpaceConfig

__all__ = ["EndToEndProtocol"]

#: anchor strategies that need no latents (end-to-end models do not exist before training)
_LATENT_FREE_STRATEGIES = ("random", "stratified")


class EndToEndProtocol(Protocol):
    """Every encoder trained from scratch with the space between it and its decoder; decoders then read every
    other model's encoder zero-shot.

    Example:
        >>> from stitch.experiment import parse_experiment
        >>> cfg = parse_experiment({"name": "t", "dataset": {"name": "digits"}, "spaces": ["absolute"],
        ...                         "encoders": [{"name": "timm:resnet10t", "train": {}}], "protocol": "end-to-end"})
        >>> EndToEndProtocol().check(cfg.model_copy(update={"spaces": [], "encoders": [cfg.encoders[0].model_copy(
        ...     update={"train": None})]}))
        ["encoders[0]: protocol 'end-to-end' trains every encoder with its space and decoder, but 'timm:resnet10t' has no train table; add train = { seed = 0, epochs = ... }"]
    """

    name = "end-to-end"
    in_process = True

    def check(self, cfg: ExperimentConfig) -> list[str]:
        from stitch.spaces import end_to_end_kinds

        problems = [f"encoders[{i}]: protocol 'end-to-end' trains every encoder with its space and decoder, but "
                    f"{e.display!r} has no train table; add train = {{ seed = 0, epochs = ... }}"
                    for i, e in enumerate(cfg.encoders) if e.train is None]
        problems += [f"spaces[{i}]: {s.name!r} cannot be trained end to end (a {s.kind!r} space maps between two "
                     f"trained models); use one of the kinds that can: {', '.join(end_to_end_kinds())}"
                     for i, s in enumerate(cfg.spaces) if not s.space.end_to_end]
        if cfg.anchors.strategy not in _LATENT_FREE_STRATEGIES:
            problems.append(f"anchors.strategy: {cfg.anchors.strategy!r} chooses anchors by their latents, which do "
                            "not exist before end-to-end training; use 'random' or 'stratified'")
        if cfg.anchors.discover is not None:
            problems.append("anchors.discover: end-to-end training embeds the anchors with every model it trains, so "
                            "there is no hidden pairing to discover; remove it or use protocol 'frozen'")
        return [*problems, *super().check(cfg)]

    def run(self, ctx: RunContext) -> ProtocolOutput:
        import torch

        from stitch.core.anchors import select_anchors
        from stitch.experiment.endtoend import split_targets, stitch_end_to_end
        from stitch.utils.progress import phase

        cfg, dataset = ctx.cfg, ctx.dataset
        task, train_split = cfg.decoder.task, cfg.dataset.train_split
        y_train = split_targets(dataset, train_split, task)
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
                                 labels=y_train if task == "classification" else None, seed=anchor_seed,
                                 **cfg.anchors.options).tolist()
            anchors[seed] = {"seed": anchor_seed, "reference": "training rows", "indices": idx,
                             "ids": [ids[i] for i in idx]}
            for space in cfg.spaces:
                models = {}
                for enc in cfg.encoders:
                    done += 1
                    phase(f"end-to-end model {done}/{total}: {enc.display} with {space.display} (seed {seed})",
                          enabled=ctx.progress)
                    models[enc.display], path = _model(enc, cfg, ctx, space, idx)
                    info[enc.display]["models"][f"{space.display} / seed {seed}"] = {
                        # what produced the weights, not how long it took: results.json is identical when resumed
                        "file": str(path),
                        "training": {k: v for k, v in models[enc.display].metrics.items() if k != "seconds"}}
                cells += stitch_end_to_end(models, dataset, split=train_split, test_split=cfg.dataset.test_split,
                                           groups=groups, seed=seed, anchor_seed=anchor_seed)
        return cells, anchors, info


def _model(enc: EncoderConfig, cfg: ExperimentConfig, ctx: RunContext, space: SpaceConfig,
           anchor_rows: list[int]) -> tuple[Any, Path]:
    """One end-to-end model: reused from its file while the recipe matches, else trained."""
    from stitch.experiment.endtoend import load_end_to_end, train_end_to_end

    d, t = cfg.decoder, enc.train
    recipe = {**encoder_recipe(enc, cfg, ctx.dataset), "protocol": "end-to-end", "space": space.model_dump(),
              "anchor_rows": anchor_rows, "decoder": {"kind": d.kind, "hidden": d.hidden, "normalize": d.normalize}}

    def train(path: Path, full_recipe: dict[str, Any]) -> Any:
        return train_end_to_end(enc.name, ctx.dataset, space=space, anchor_rows=anchor_rows, out=path, schedule=t,
                                decoder=d, seed=recipe["init_seed"], split=cfg.dataset.train_split,
                                encoder_options=enc.options, progress=ctx.progress, recipe=full_recipe, **t.options)

    return reuse_or_train(ctx.out_dir / "end-to-end", f"{enc.display}-{space.display}", recipe,
                          load=lambda path: load_end_to_end(path, ctx.dataset), train=train)
