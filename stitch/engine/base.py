"""The engine interface, and the engine that runs everything in this process.

An engine knows how to run work, not what the work is: it encodes datasets through the latent cache
(:meth:`Engine.encode_many`) and maps a pure function over tasks (:meth:`Engine.map`). The stitching matrix
and the audits hand it their own functions (:func:`~stitch.experiment.matrix.compute_row`,
:func:`~stitch.audits.compare.cell_value`, ...), so this package imports neither :mod:`stitch.experiment` nor
:mod:`stitch.audits`, and a new engine (Dask, Slurm, ...) is one class with these two methods.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from stitch.engine.options import EncoderResources

if TYPE_CHECKING:
    import torch

    from stitch.data import Dataset
    from stitch.encoder import Encoder

__all__ = ["Engine", "LocalEngine", "as_engine", "checked_splits", "split_names"]


def checked_splits(dataset: Dataset, splits: Sequence[str | None]) -> list[str | None]:
    """``splits`` as a list, each checked to be a split of ``dataset`` before any encoding.

    Example:
        >>> import stitch
        >>> checked_splits(stitch.load_dataset("digits"), "train")
        Traceback (most recent call last):
        ...
        TypeError: splits must be a list of split names, e.g. ['train'] (None: the whole dataset); got 'train'
    """
    if isinstance(splits, str) or splits is None:
        raise TypeError(f"splits must be a list of split names, e.g. [{splits!r}] (None: the whole dataset); "
                        f"got {splits!r}")
    for split in splits:
        dataset.indices(split)  # an unknown split fails before any encoding
    return list(splits)


def split_names(splits: Sequence[str | None]) -> str:
    """How phase lines name a list of splits (``None`` is the whole dataset).

    Example:
        >>> split_names(["train", None])
        'train, all'
    """
    return ", ".join("all" if s is None else s for s in splits)


class Engine(abc.ABC):
    """Where long-running work runs. Subclasses set :attr:`kind` and implement the two methods.

    Every engine must give the numbers the local engine gives: tasks are pure functions of their inputs, and
    results land in the caller's cache or store, so a run can start on one engine and resume on another.
    """

    #: the engine's name (``--engine <kind>``)
    kind: ClassVar[str]

    @abc.abstractmethod
    def encode_many(self, encoders: Mapping[str, Encoder], dataset: Dataset, splits: Sequence[str | None], *,
                    cache: Any = None, progress: bool | None = None, batch_size: int | None = None,
                    resources: Mapping[str, EncoderResources | None] | None = None
                    ) -> dict[str, list[torch.Tensor]]:
        """``{label: [latents of dataset[split] for split in splits]}``, read from or written to ``cache``
        (a :class:`~stitch.encoder.cache.LatentCache`, its root directory, or ``None`` for the default).

        ``resources`` are per-encoder overrides for engines that place work (Ray); others ignore them.

        Shapes:
            each ``(n_split, dim)`` float32, the rows of ``dataset.split_ids(split)``
        """

    @abc.abstractmethod
    def map(self, fn: Callable[..., Any], tasks: Sequence[Any], *, shared: Mapping[str, Any] | None = None,
            what: str = "tasks", progress: bool | None = None,
            on_start: Callable[[int, Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(tasks[i], **shared))`` for every task, in the order they finish.

        ``fn`` must be a pure function of its arguments (a module-level function or a ``functools.partial``
        of one, so that it can be shipped to other processes); ``shared`` holds large inputs every task reads
        (latents), sent once per call, not once per task. ``on_start(i, task)`` is called before a task runs
        where tasks run one after another in this process (phase lines); engines that run them concurrently
        elsewhere report finished tasks on one progress bar named ``what`` instead.
        """


class LocalEngine(Engine):
    """Runs everything in this process, in order (the default engine).

    Example:
        >>> engine = LocalEngine()
        >>> sorted(engine.map(lambda t, *, k: t * k, [1, 2, 3], shared={"k": 10}, progress=False))
        [(0, 10), (1, 20), (2, 30)]
    """

    kind = "local"

    def encode_many(self, encoders: Mapping[str, Encoder], dataset: Dataset, splits: Sequence[str | None], *,
                    cache: Any = None, progress: bool | None = None, batch_size: int | None = None,
                    resources: Mapping[str, EncoderResources | None] | None = None
                    ) -> dict[str, list[torch.Tensor]]:
        """See :meth:`Engine.encode_many`; every encoder in turn, with torch's thread settings as they are.

        Example:
            >>> import stitch, tempfile
            >>> ds = stitch.load_dataset("digits")
            >>> enc = stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1)  # doctest: +SKIP
            >>> out = LocalEngine().encode_many({"cnn": enc}, ds, ["test"], cache=tempfile.mkdtemp())  # doctest: +SKIP
            >>> out["cnn"][0].shape  # doctest: +SKIP
            torch.Size([359, 96])
        """
        from stitch.encoder.cache import LatentCache
        from stitch.utils.progress import phase

        splits = checked_splits(dataset, splits)
        cache = cache if isinstance(cache, LatentCache) else LatentCache(cache)
        out = {}
        for i, (label, enc) in enumerate(encoders.items(), 1):
            phase(f"encoding {i}/{len(encoders)}: {label} on {dataset.name} ({split_names(splits)})",
                  enabled=progress)
            out[label] = [cache.encode(enc, dataset, split, batch_size=batch_size, progress=progress)
                          for split in splits]
        return out

    def map(self, fn: Callable[..., Any], tasks: Sequence[Any], *, shared: Mapping[str, Any] | None = None,
            what: str = "tasks", progress: bool | None = None,
            on_start: Callable[[int, Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """See :meth:`Engine.map`; one task after another, in order."""
        from stitch.utils.progress import progress_bar

        kwargs = dict(shared or {})
        with progress_bar(len(tasks), what, enabled=progress, unit="task") as bar:
            for i, task in enumerate(tasks):
                if on_start is not None:
                    on_start(i, task)
                yield i, fn(task, **kwargs)
                bar.update(1)


def as_engine(engine: Engine | str | None) -> Engine:
    """The engine to run on: ``None`` and ``"local"`` give a :class:`LocalEngine`, an engine is kept.

    Example:
        >>> as_engine(None).kind, as_engine("local").kind
        ('local', 'local')
        >>> as_engine(42)
        Traceback (most recent call last):
        ...
        TypeError: engine must be an Engine (stitch.engine.create_engine('ray')), 'local' or None; got int (42)
    """
    if engine is None or engine == "local":
        return LocalEngine()
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be an Engine (stitch.engine.create_engine('ray')), 'local' or None; got "
                        f"{type(engine).__name__} ({engine!r})")
    return engine
