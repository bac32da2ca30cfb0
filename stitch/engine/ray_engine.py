"""The Ray engine: encoding on Ray Data actor pools, stitching rows and audit cells as Ray tasks.

Nothing is lost when a worker dies: tasks retry (``max_retries``) and Ray Data restarts dead encoding
actors and re-runs their batches; the driver is the only writer — a latent-cache entry is written once, atomically, from
every shard after all arrived, and each finished stitching row or audit cell is recorded once under its key
as it arrives — so a retried task can never write a result twice, and a killed driver resumes from what was
recorded. Inputs go to the object store once: an encoder's splits once per encoding pass, each encoder's latents
once per matrix or audit (not once per task).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stitch.engine.options import EncoderResources, EngineOptions
from stitch.utils.extras import require

__all__ = ["RayEngine"]

#: seconds to wait for a cluster address to answer before giving up (a reachable head answers in ms)
CONNECT_TIMEOUT_S = 5.0
#: Permutation / bootstrap draws per Ray task: a cell with 1,000 permutations spreads over 40 tasks.
DRAWS_PER_TASK = 25


def _check_reachable(address: str) -> None:
    # ray.init retries an unreachable GCS for a minute or more; a plain TCP probe fails in seconds instead.
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray-address {address!r} is not host:port (e.g. 127.0.0.1:6379 or ray://head:10001)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                              f"`ray start --head` there, or omit --ray-address for a local Ray") from None


class _EncodeBatches:
    """A Ray Data callable class: loads the encoder once per actor, encodes the batch at each (part, start)."""

    def __init__(self, encoder: Any, parts: list[Any], batch_size: int) -> None:  # parts: [ref to {part: inputs}]
        import ray

        self.encoder = encoder
        self.parts = ray.get(parts[0])  # wrapped in a list so Ray passes the reference, resolved here once
        self.batch_size = batch_size
        # torch in this actor uses the CPUs Ray gave it, as many threads as a local run would on those cores
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            torch.set_num_threads(max(1, int(cpus)))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        out = []
        for p, s in zip(batch["part"], batch["start"]):
            rows = self.parts[int(p)][int(s) : int(s) + self.batch_size]
            # the same batches as a local encode (batch_size rows from multiples of batch_size): same numbers
            out.append(self.encoder.encode(rows, batch_size=self.batch_size, progress=False).numpy())
        return {"part": batch["part"], "start": batch["start"], "z": np.array(out, dtype=object)}


class RayEngine:
    """Runs encoding, stitching rows and audit cells on Ray (joins ``options.address`` or starts a local Ray).

    Example:
        >>> RayEngine(EngineOptions(kind="ray", num_gpus=1e9))  # doctest: +SKIP
        Traceback (most recent call last):
        ValueError: the Ray cluster has no node with 1000000000.0 GPU(s) ...
    """

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions(kind="ray")
        self.ray = require("ray", what="the Ray engine (--engine ray)")
        address = self.options.address or os.environ.get("RAY_ADDRESS")
        if not self.ray.is_initialized():
            if address:
                _check_reachable(address)
            self.ray.init(address=address, include_dashboard=False, log_to_driver=False,
                          ignore_reinit_error=True, configure_logging=False)
        self._check_feasible()
        # one progress bar (ours, fed by finished tasks), not Ray Data's per-operator bars and log lines
        context = self.ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    # -- resources ------------------------------------------------------------------------------------------------
    def _check_feasible(self, options: EngineOptions | None = None) -> None:
        """Refuse, before any work, resources that no node of the cluster has (Ray would wait forever)."""
        options = options or self.options
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        need = {"CPU": options.num_cpus, "GPU": options.num_gpus}
        for res, amount in need.items():
            if amount and not any(n.get(res, 0.0) >= amount for n in nodes):
                best = max((n.get(res, 0.0) for n in nodes), default=0.0)
                raise ValueError(f"the Ray cluster has no node with {amount:g} {res}(s) for one task (the largest "
                                 f"node has {best:g}); lower num_{res.lower()}s or add a node that has them")

    def _remote(self, fn: Callable[..., Any]) -> Any:
        return self.ray.remote(num_cpus=self.options.num_cpus, num_gpus=self.options.num_gpus,
                               max_retries=self.options.max_retries)(fn)

    def _as_finished(self, refs: Mapping[Any, Any], what: str, progress: bool | None) -> Any:
        """Yield ``(key, result)`` as tasks finish, feeding one progress bar."""
        from stitch.utils.progress import progress_bar

        pending = {ref: key for key, ref in refs.items()}
        with progress_bar(len(pending), what, enabled=progress, unit="task") as bar:
            while pending:
                done, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), self.ray.get(ref)
                    bar.update(1)

    # -- encoding --------------------------------------------------------------------------------------------------
    def _encode_on_ray(self, encoder: Any, parts: Sequence[Any], batch_size: int, progress: bool | None = None,
                       *, options: EngineOptions | None = None) -> list[torch.Tensor]:
        """Encode each of ``parts`` (the inputs of one cache entry each) in one Ray Data pass over all of them.

        One pass, so one actor pool and one model load per actor for every split of an encoder: starting an
        actor (a process importing torch and the encoder's library, then the model) is Ray's fixed cost.
        """
        from stitch.utils.progress import progress_bar

        options = options or self.options
        out: list[torch.Tensor | None] = [None] * len(parts)
        batched = []
        for i, inputs in enumerate(parts):
            if len(inputs) == 0:
                out[i] = encoder.encode(inputs, batch_size=batch_size, progress=False)
            elif not isinstance(inputs, (list, tuple, np.ndarray, torch.Tensor)):
                # one object (a transductive graph): encoded whole, by one task
                task = self._remote(lambda enc, x: enc.encode(x, batch_size=batch_size, progress=False))
                out[i] = self.ray.get(task.remote(encoder, inputs))
            else:
                batched.append(i)
        if batched:
            items = [{"part": i, "start": s} for i in batched for s in range(0, len(parts[i]), batch_size)]
            shared = [self.ray.put({i: parts[i] for i in batched})]  # once per pass, not once per actor
            data = self.ray.data.from_items(items).map_batches(
                _EncodeBatches, fn_constructor_kwargs={"encoder": encoder, "parts": shared, "batch_size": batch_size},
                batch_size=1, compute=self.ray.data.ActorPoolStrategy(size=options.concurrency),
                num_cpus=options.num_cpus, num_gpus=options.num_gpus or None)  # dead actors restart, batches retry
            pieces: dict[int, dict[int, np.ndarray]] = {i: {} for i in batched}
            with progress_bar(sum(len(parts[i]) for i in batched), f"encode {encoder.name} (Ray)",
                              enabled=progress) as bar:
                for row in data.iter_rows():  # streamed as actors finish batches: one bar fed by them
                    z = np.asarray(row["z"], dtype=np.float32)
                    pieces[int(row["part"])][int(row["start"])] = z
                    bar.update(len(z))
            for i in batched:
                out[i] = torch.from_numpy(np.concatenate([pieces[i][s] for s in sorted(pieces[i])]))
        return out  # type: ignore[return-value]

    def encode_many(self, encoders: Mapping[str, Any], dataset: Any, splits: Sequence[str | None], *,
                    cache: Any = None, progress: bool | None = None, batch_size: int | None = None,
                    resources: Mapping[str, EncoderResources | None] | None = None) -> dict[str, list[torch.Tensor]]:
        """``{label: [latents of dataset[split] for split in splits]}``: cache hits read here, the missing
        entries of each encoder encoded on Ray in one pass (one actor pool for all its splits) and cached.

        ``resources[label]`` overrides the engine's ``num_cpus`` / ``num_gpus`` / ``concurrency`` and the
        ``batch_size`` (the argument's too) for that encoder, checked against the cluster before any encoding.

        Shapes:
            each ``(n_split, dim)`` float32, the rows of ``dataset.split_ids(split)``

        Example:
            >>> import stitch  # doctest: +SKIP
            >>> engine = stitch.engine.create_engine("ray", concurrency=2)  # doctest: +SKIP
            >>> ds = stitch.load_dataset("digits")  # doctest: +SKIP
            >>> enc = stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1)  # doctest: +SKIP
            >>> train, test = engine.encode_many({"cnn": enc}, ds, ["train", "test"])["cnn"]  # doctest: +SKIP
            >>> train.shape  # doctest: +SKIP
            torch.Size([1078, 96])
        """
        from stitch.encoder.cache import LatentCache
        from stitch.utils.progress import phase

        if isinstance(splits, str) or splits is None:
            raise TypeError(f"splits must be a list of split names, e.g. [{splits!r}] (None: the whole dataset); "
                            f"got {splits!r}")
        for split in splits:
            dataset.indices(split)  # an unknown split fails before any encoding
        cache = cache if isinstance(cache, LatentCache) else LatentCache(cache)
        per_encoder = {label: self.options.model_copy(update=res.overrides()) if res is not None else self.options
                       for label, res in (resources or {}).items()}
        for opts in per_encoder.values():
            self._check_feasible(opts)
        out = {}
        for i, (label, enc) in enumerate(encoders.items(), 1):
            opts = per_encoder.get(label, self.options)
            res = (resources or {}).get(label)
            bs = res.batch_size if res is not None and res.batch_size else batch_size or opts.batch_size
            names = ", ".join("all" if s is None else s for s in splits)
            phase(f"encoding {i}/{len(encoders)} on Ray: {label} on {dataset.name} ({names})", enabled=progress)
            out[label] = self._encode_splits(enc, dataset, splits, cache, int(bs or getattr(enc, "batch_size", 64)),
                                             progress, opts)
        return out

    def _encode_splits(self, encoder: Any, dataset: Any, splits: Sequence[str | None], cache: Any, batch_size: int,
                       progress: bool | None, options: EngineOptions) -> list[torch.Tensor]:
        """One encoder's entries for ``splits``: the missing ones encoded in one pass, then all read through the
        cache (which keys, checks and writes them as for a local encode)."""
        missing: dict[str, str | None] = {}  # entry key -> the first split that needs it
        for split in splits:
            key = cache.key(encoder, dataset, split)
            if key not in missing and not cache.path(key).is_file():
                missing[key] = split
        fresh = dict(zip(missing.values(), self._encode_on_ray(
            encoder, [cache.inputs(encoder, dataset, s) for s in missing.values()], batch_size, progress,
            options=options))) if missing else {}

        def run(enc: Any, inputs: Any, *, split: str | None, **_: Any) -> torch.Tensor:
            # encoded above; an entry that was there but is unreadable (damaged) is encoded again here
            if split in fresh:
                return fresh.pop(split)
            return self._encode_on_ray(enc, [inputs], batch_size, progress, options=options)[0]

        return [cache.encode(encoder, dataset, split, batch_size=batch_size, progress=progress,
                             run=functools.partial(run, split=split)) for split in splits]

    # -- the stitching matrix --------------------------------------------------------------------------------------
    def stitch_rows(self, pending: Sequence[Any], lat: Mapping[str, Any], y_train: Any, y_test: Any,
                    anchors_by_seed: Mapping[int, Any], *, decoder: Any, groups: Any, store: Any,
                    progress: bool | None = None) -> None:
        """Compute every pending row as a task; each lands in ``store`` (``cells.jsonl``) as it finishes."""
        from stitch.experiment.matrix import compute_row

        if not pending:
            return
        lat_refs = {k: self.ray.put(v) for k, v in lat.items()}  # once per encoder
        y_refs = [self.ray.put(y_train), self.ray.put(y_test)]

        def row(task: Any, refs: dict[str, Any], ys: list[Any], anchors: Any) -> list[dict[str, Any]]:
            import ray

            torch.set_num_threads(1)  # as the local runner trains decoders: same numbers
            latents = {k: ray.get(r) for k, r in refs.items()}
            return compute_row(task, latents, ray.get(ys[0]), ray.get(ys[1]), anchors, decoder=decoder,
                               groups=groups, progress=False)

        remote = self._remote(row)
        refs = {t.key: remote.remote(t, lat_refs, y_refs, anchors_by_seed[t.seed]) for t in pending}
        for key, result in self._as_finished(refs, "stitching matrix (Ray)", progress):
            store.add(key, result)

    # -- audits ----------------------------------------------------------------------------------------------------
    def audit_cells(self, tasks: Sequence[Any], row_t: Mapping[str, torch.Tensor], col_t: Mapping[str, torch.Tensor],
                    kws: Mapping[str, dict[str, Any]], *, square: bool, progress: bool | None = None,
                    permutations: int = 0, bootstrap: int = 0, confidence: float = 0.95,
                    seed: int = 0) -> list[dict[str, Any]]:
        """One task per (pair, metric) cell for its value, then its permutation and bootstrap draws split into
        tasks of at most :data:`DRAWS_PER_TASK` draws; every draw has its own generator, so the numbers are
        the local ones exactly."""
        from stitch.audits.compare import cell_draws, cell_streams, cell_value, draw_chunks, finish_cell

        rows, cols = list(row_t), list(col_t)
        row_refs = {k: self.ray.put(v) for k, v in row_t.items()}
        col_refs = row_refs if square else {k: self.ray.put(v) for k, v in col_t.items()}

        def sides(t: Any) -> tuple[Any, Any]:
            return row_refs[rows[t.i]], col_refs[cols[t.j]]

        value = self._remote(lambda task, x, y, kw: cell_value(task, x, y, kw))
        refs = {i: value.remote(t, *sides(t), kws[t.metric]) for i, t in enumerate(tasks)}
        values: list[dict[str, Any]] = [{} for _ in tasks]
        for i, result in self._as_finished(refs, "audit (Ray)", progress):
            values[i] = result
        draw = self._remote(lambda task, x, y, kw, stream, chunk: cell_draws(task, x, y, kw, seed=seed, stream=stream,
                                                                              draws=chunk))
        chunks: dict[tuple[int, int, int], Any] = {}
        for i, t in enumerate(tasks):
            if "error" in values[i]:
                continue
            for stream, n in cell_streams(t, same=square and t.i == t.j, permutations=permutations,
                                          bootstrap=bootstrap).items():
                for chunk in draw_chunks(n, DRAWS_PER_TASK):
                    chunks[(i, stream, chunk.start)] = draw.remote(t, *sides(t), kws[t.metric], stream, chunk)
        drawn: dict[int, dict[int, dict[int, list[Any]]]] = {}
        for (i, stream, start), result in self._as_finished(chunks, "audit draws (Ray)", progress):
            drawn.setdefault(i, {}).setdefault(stream, {})[start] = result
        return [finish_cell(t, values[i], {stream: [v for start in sorted(parts) for v in parts[start]]
                                           for stream, parts in drawn.get(i, {}).items()}, confidence=confidence)
                if "error" not in values[i] else values[i] for i, t in enumerate(tasks)]
