"""The stitching matrix: decoders trained on each encoder's space, measured zero-shot on every encoder's space.

:func:`stitching_matrix` works on latents alone (so it can be tested on synthetic spaces). Its unit of work is
a **row**: one (space, seed, decoder encoder) — train a decoder on that encoder's space, score it on every
encoder's space. :func:`plan_rows` lists the rows with their resume keys and :func:`compute_row` computes
one from its inputs only, so any engine (this process, or Ray tasks) runs the same rows and gets the same
cells.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stitch.experiment.config import AnchorConfig, DecoderConfig, DiscoverConfig, SpaceConfig
from stitch.experiment.results import CellStore, record_hash

__all__ = ["RowTask", "plan_rows", "compute_row", "select_run_anchors", "discover_partners", "partners",
           "stitching_matrix", "prepare_latents"]

@dataclass(frozen=True)
class RowTask:
    """One row of the matrix: a decoder trained on ``src``'s ``space`` for run ``seed``; ``key`` is its resume key."""

    space: SpaceConfig
    seed: int
    src: str
    key: str


def prepare_latents(latents: Mapping[str, tuple[Any, Any]], y_train: Any, y_test: Any
                    ) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], np.ndarray, np.ndarray]:
    """Validated ``{encoder: (train, test)}`` latents (same samples for every encoder) and targets as arrays."""
    from stitch.utils.checks import as_matrix

    labels = list(latents)
    if not labels:
        raise ValueError("latents is empty; pass at least one encoder's (train, test) latents")
    lat = {k: (as_matrix(v[0], f"latents[{k!r}][0]"), as_matrix(v[1], f"latents[{k!r}][1]"))
           for k, v in latents.items()}
    n_train, n_test = len(lat[labels[0]][0]), len(lat[labels[0]][1])
    for k, (tr, te) in lat.items():
        if len(tr) != n_train or len(te) != n_test:
            raise ValueError(
                f"encoder {k!r} has {len(tr)} train / {len(te)} test rows but {labels[0]!r} has {n_train} / {n_test}; "
                "every encoder must embed the same samples"
            )
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(y_train) != n_train or len(y_test) != n_test:
        raise ValueError(f"got {len(y_train)} train / {len(y_test)} test targets for {n_train} / {n_test} latent rows")
    return lat, y_train, y_test


def select_run_anchors(lat: Mapping[str, tuple[torch.Tensor, torch.Tensor]], y_train: np.ndarray,
                       anchors: AnchorConfig, seed: int, *, classification: bool,
                       train_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Anchor indices of run ``seed`` (``anchors.seed + seed``), chosen in the reference encoder's training latents."""
    from stitch.core.anchors import select_anchors

    reference = anchors.reference or next(iter(lat))
    anchor_seed = anchors.seed + seed
    idx = select_anchors(lat[reference][0], anchors.n, anchors.strategy,
                         labels=y_train if classification else None, seed=anchor_seed, **anchors.options)
    record: dict[str, Any] = {"seed": anchor_seed, "reference": reference, "indices": idx.tolist()}
    if train_ids is not None:
        record["ids"] = [train_ids[i] for i in idx.tolist()]
    return record


def discover_partners(anchor_lat: Mapping[str, torch.Tensor], discover: DiscoverConfig,
                      seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """For every pair of encoders, the anchor of the second that each anchor of the first is matched to.

    The anchors are the same samples for every encoder, so the truth is known and recovery can be reported:
    the second encoder's anchors are shuffled with ``seed``, the first ``discover.known`` true pairs are
    given, and :func:`~stitch.core.matching.match_anchors` discovers the rest. Each pair ``(a, b)`` (``a``
    before ``b`` in ``anchor_lat``) is matched once; :func:`partners` reads it in either direction.

    Returns ``{a: {b: record}}`` with ``record``: ``partners`` (``partners[i]`` is the row of ``b``'s anchors
    matched to ``a``'s anchor ``i``), ``recovered`` / ``to_recover`` (right discovered pairs / discovered
    pairs), ``confidence`` (fraction of discovered matches that are mutual best, margin > 0), ``reliability``
    (:attr:`~stitch.core.matching.Matching.reliability`: below ``RELIABLE`` most matches are likely wrong),
    ``start``.

    Shapes:
        anchor_lat[e]: ``(a, d_e)``  ->  ``partners``: ``a`` ints

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(40, 6, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
        >>> found = discover_partners({"A": x, "B": x @ q}, DiscoverConfig(known=5), seed=0)
        >>> found["A"]["B"]["partners"] == list(range(40)), found["A"]["B"]["recovered"]
        (True, 35)
    """
    from stitch.core.matching import match_anchors

    labels = list(anchor_lat)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            n = len(anchor_lat[a])
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # shuffled[k] = b[perm[k]]
            truth = torch.argsort(perm)
            known = [(r, int(truth[r])) for r in range(min(discover.known, n))]
            m = match_anchors(anchor_lat[a], anchor_lat[b][perm], known=known, method=discover.method, seed=seed)
            discovered = torch.ones(n, dtype=torch.bool)
            discovered[: len(known)] = False
            out.setdefault(a, {})[b] = {
                "partners": perm[m.target].tolist(), "recovered": m.n_correct(truth), "to_recover": n - len(known),
                "confidence": float((m.confidence[discovered] > 0).double().mean()) if bool(discovered.any()) else 1.0,
                "reliability": m.reliability, "start": m.start,
            }
    return out


def partners(matchings: Mapping[str, Mapping[str, Mapping[str, Any]]], src: str,
             tgt: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """Rows of ``tgt``'s anchors matched to ``src``'s anchors ``0, 1, ...`` (from :func:`discover_partners`),
    and what to record in the cell (recovery, confidence and reliability of the pair's matching).

    Example:
        >>> rows, cell = partners({"A": {"B": {"partners": [1, 2, 0], "recovered": 3, "to_recover": 3,
        ...                                    "confidence": 1.0, "reliability": 1.0, "start": "known"}}}, "B", "A")
        >>> rows.tolist(), cell["anchors_recovered"], cell["match_reliability"]
        ([2, 0, 1], 3, 1.0)
    """
    if tgt in matchings.get(src, {}):
        rec = matchings[src][tgt]
        rows = torch.as_tensor(rec["partners"], dtype=torch.long)
    else:  # matched the other way round: invert the one-to-one pairing
        rec = matchings[tgt][src]
        rows = torch.argsort(torch.as_tensor(rec["partners"], dtype=torch.long))
    return rows, {"anchors_recovered": rec["recovered"], "anchors_to_recover": rec["to_recover"],
                  "match_confidence": rec["confidence"], "match_reliability": rec["reliability"]}


def plan_rows(labels: Sequence[str], spaces: Sequence[SpaceConfig], seeds: Sequence[int], *, decoder: DecoderConfig,
              anchors: AnchorConfig, fingerprint: Any) -> list[RowTask]:
    """Every row of the matrix, in the order they are reported, with its resume key.

    The key hashes everything that determines the row's cells: the latents' provenance (``fingerprint``), the
    encoders, the space, the seed, the decoder's encoder and the decoder and anchor settings.
    """
    return [
        RowTask(space, seed, src, record_hash({
            "fingerprint": fingerprint, "encoders": list(labels), "space": space.model_dump(), "seed": seed,
            "decoder_encoder": src, "decoder": decoder.model_dump(), "anchors": anchors.model_dump(),
        }))
        for seed in seeds for space in spaces for src in labels
    ]


def compute_row(task: RowTask, lat: Mapping[str, tuple[torch.Tensor, torch.Tensor]], y_train: np.ndarray,
                y_test: np.ndarray, anchor_record: Mapping[str, Any], *, decoder: DecoderConfig,
                groups: Mapping[str, str] | None = None, progress: bool | None = None,
                absolute_decoders: dict[tuple[str, int], Any] | None = None) -> list[dict[str, Any]]:
    """The cells of one row: a decoder trained on ``task.src``'s space, scored on every encoder's space.

    ``absolute_decoders`` memoises the decoder trained on a source's absolute latents (shared by the
    ``absolute`` and every ``translate:`` space of a seed); training is seeded, so a memo changes no value.
    """
    from stitch.experiment.decoders import create_decoder

    space, seed, src = task.space, task.seed, task.src
    sp = space.space
    groups = dict(groups or {})
    idx = torch.as_tensor(anchor_record["indices"], dtype=torch.long)
    anchor_lat = {k: tr[idx] for k, (tr, _) in lat.items()}
    matchings = anchor_record.get("matchings") if sp.relative else None
    # each encoder's anchors as the decoder's anchors pair with them: the same rows, or the discovered partners
    found: dict[str, dict[str, Any]] = {}
    paired = dict(anchor_lat)
    if matchings is not None:
        for k in lat:
            if k != src:
                rows, found[k] = partners(matchings, src, k)
                paired[k] = anchor_lat[k][rows]
    known = DiscoverConfig.model_validate(anchor_record.get("discover") or {}).known

    memo_key = (src, seed)
    model = absolute_decoders.get(memo_key) if absolute_decoders is not None and sp.absolute_decoder else None
    if model is None:
        agg, agg_opts = sp.decoder_aggregation()
        model = create_decoder(decoder.kind, seed=seed, aggregation=agg, aggregation_options=agg_opts,
                               progress=progress, **decoder.model_dump(exclude={"kind"})
                               ).fit(sp.fit(anchor_lat[src])(lat[src][0]), y_train)
        if absolute_decoders is not None and sp.absolute_decoder:
            absolute_decoders[memo_key] = model
    row = []
    for tgt in lat:
        z, extra = sp.stitch(anchor_lat[src], paired[tgt], lat[tgt][1], seed=seed, known=known)
        extra = {**found.get(tgt, {}), **extra}
        if tuple(z.shape[1:]) == model.input_shape_:
            scores = model.evaluate(z, y_test)
        else:  # absolute spaces of different widths: nothing to decode, not a failure to report
            scores = dict.fromkeys(model.metrics)
            extra["skipped"] = f"{tgt} latents have shape {tuple(z.shape[1:])}, the decoder takes {model.input_shape_}"
        row.append({
            "space": space.display, "space_spec": space.name, "space_options": dict(space.options),
            "seed": seed, "anchor_seed": anchor_record["seed"], "decoder_seed": seed,
            "decoder_encoder": src, "test_encoder": tgt, "stitched": src != tgt,
            "decoder_group": groups.get(src, src), "test_group": groups.get(tgt, tgt),
            "epochs_trained": len(model.history_), **scores, **extra,
        })
    return row


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
    on_row: Callable[[int, int, RowTask], None] | None = None,
    engine: Any = None,
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
        on_row: called as ``on_row(done, total, task)`` before each row that runs in this process (phase lines).
        engine: where rows run: ``None`` (here, in order) or an engine of :mod:`stitch.engine`; the rows not in
            ``store`` are mapped over it and each is added to ``store`` as it finishes.

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
    from stitch.engine import as_engine

    decoder = decoder or DecoderConfig()
    anchors = anchors or AnchorConfig()
    spaces = [s if isinstance(s, SpaceConfig) else SpaceConfig.model_validate(s) for s in spaces]
    lat, y_train, y_test = prepare_latents(latents, y_train, y_test)
    classification = decoder.task == "classification"
    store = store if store is not None else CellStore(None)
    anchors_by_seed = {seed: select_run_anchors(lat, y_train, anchors, seed, classification=classification,
                                                train_ids=train_ids) for seed in seeds}
    if anchors.discover is not None:
        for record in anchors_by_seed.values():
            record["discover"] = anchors.discover.model_dump()
            if any(s.space.relative for s in spaces):
                idx = torch.as_tensor(record["indices"], dtype=torch.long)
                record["matchings"] = discover_partners({k: tr[idx] for k, (tr, _) in lat.items()},
                                                        anchors.discover, record["seed"])
    tasks = plan_rows(list(lat), spaces, seeds, decoder=decoder, anchors=anchors, fingerprint=fingerprint)
    position = {t.key: i for i, t in enumerate(tasks)}
    pending = [t for t in tasks if store.get(t.key) is None]

    def started(_: int, task: RowTask) -> None:
        if on_row is not None:
            on_row(position[task.key], len(tasks), task)

    job = functools.partial(_row_job, decoder=decoder, groups=groups, progress=progress)
    shared = {"lat": lat, "y_train": y_train, "y_test": y_test, "anchors_by_seed": anchors_by_seed,
              "absolute_decoders": {}}
    for i, row in as_engine(engine).map(job, pending, shared=shared, what="stitching matrix", progress=progress,
                                        on_start=started):
        store.add(pending[i].key, row)
    return [c for t in tasks for c in store.get(t.key)], anchors_by_seed


def _row_job(task: RowTask, *, lat: Mapping[str, tuple[torch.Tensor, torch.Tensor]], y_train: np.ndarray,
             y_test: np.ndarray, anchors_by_seed: Mapping[int, Mapping[str, Any]], decoder: DecoderConfig,
             groups: Mapping[str, str] | None, progress: bool | None,
             absolute_decoders: dict[tuple[str, int], Any]) -> list[dict[str, Any]]:
    return compute_row(task, lat, y_train, y_test, anchors_by_seed[task.seed], decoder=decoder, groups=groups,
                       progress=progress, absolute_decoders=absolute_decoders)
