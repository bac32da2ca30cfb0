"""The Ray engine: encoding on Ray Data actor pools, mapped tasks (stitching rows, audit cells) as Ray tasks.

Nothing is lost when a worker dies: tasks retry (``max_retries``) and Ray Data restarts dead encoding
actors and re-runs their batches; the driver is the only writer — a latent-cache entry is written once, atomically, from
every shard after all arrived, and each finished stitching row or audit cell is recorded once under its key
as it arrives — so a retried task can never write a result twice, and a killed driver resumes from what was
recorded. Inputs go to the object store once: an encoder's splits once per encoding pass, a map's shared inputs
(the latents) once per call (not once per task).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stitch.engine.base import Engine, checked_splits, split_names
from stitch.engine.options import EncoderResources, EngineOptions
from stitch.utils.extras import require

__all__ = ["RayEngine"]

#: seconds to wait for a cluster address to answer before giving up (a reachable head answers in ms)
CONNECT_TIMEOUT_S = 5.0


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


class RayEngine(Engine):
    """Runs encoding on Ray Data actor pools and mapped tasks as Ray tasks (joins ``options.address`` or starts
    a local Ray).

    Example:
        >>> RayEngine(EngineOptions(kind="ray", num_gpus=1e9))  # doctest: +SKIP
        Traceback (most recent call last):
        ValueError: the Ray cluster has no node with 1000000000.0 GPU(s) ...
    """

    kind = "ray"

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
            prepare = getattr(encoder, "_prepare", None)
            if callable(prepare):  # inputs of the wrong kind fail here in one line, as locally, not in an actor
                for i in batched:
                    prepare(parts[i][:1])
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

        splits = checked_splits(dataset, splits)
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
            phase(f"encoding {i}/{len(encoders)} on Ray: {label} on {dataset.name} ({split_names(splits)})",
                  enabled=progress)
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

    # -- tasks -----------------------------------------------------------------------------------------------------
    def map(self, fn: Callable[..., Any], tasks: Sequence[Any], *, shared: Mapping[str, Any] | None = None,
            what: str = "tasks", progress: bool | None = None,
            on_start: Callable[[int, Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """See :meth:`Engine.map`: one Ray task per task (``num_cpus`` / ``num_gpus`` / ``max_retries`` of the
        engine's options), ``shared`` put in the object store once; results yielded as tasks finish, on one
        progress bar. Tasks run concurrently, so ``on_start`` is not called.
        """
        if not tasks:
            return
        refs = {key: self.ray.put(value) for key, value in (shared or {}).items()}  # once per call, not per task
        remote = self._remote(_run_task)
        pending = {remote.remote(fn, task, refs): i for i, task in enumerate(tasks)}
        yield from self._as_finished({i: ref for ref, i in pending.items()}, f"{what} (Ray)", progress)


def _run_task(fn: Callable[..., Any], task: Any, refs: Mapping[str, Any]) -> Any:
    """A mapped task on a Ray worker: resolve the shared inputs, use the CPUs Ray gave it, call ``fn``."""
    import ray

    # as many torch threads as CPUs assigned (1 by default, as the local runner trains decoders): same numbers
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    torch.set_num_threads(max(1, int(cpus or 1)))
    return fn(task, **{key: ray.get(ref) for key, ref in refs.items()})
