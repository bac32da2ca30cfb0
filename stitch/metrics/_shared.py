"""Per-model statistics computed once per audit, not once per pair.

An audit of ``M`` models fills ``O(M^2)`` cells per metric, and many measures start from a statistic of each
side alone: its RDM (and the RDM's ranks), its k-nearest-neighbour lists, the row means of its distance
matrix, its concentricity or uniformity. Inside :func:`shared_statistics`, the functions decorated with
:func:`per_model` compute such a statistic once per (model, options) and reuse it for every pair the model
is in, so an audit costs ``O(M)`` per-model statistics plus ``O(M^2)`` pair reductions (the cost model
``tests/test_audit_cost.py`` checks by counting).

Only the registered models' own tensors are served from the store: a permuted or resampled copy (the
permutation test, the bootstrap) is computed, never stored. A tensor is recognised by its storage, shape,
strides, dtype, device and version counter (an in-place change invalidates it), and the store holds a
reference to it, so its memory cannot be reused by another tensor while an entry exists. The store is
bounded (``budget_bytes``, least recently used entries go first). Outside a block nothing is cached.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import torch

__all__ = ["SharedStatistics", "shared_statistics", "per_model"]

F = TypeVar("F", bound=Callable[..., Any])

#: Default bound of one store: a few thousand samples' RDMs of a dozen models.
DEFAULT_BUDGET_BYTES = 2 * 2**30


def _ident(z: torch.Tensor) -> tuple[Any, ...]:
    return (z.data_ptr(), tuple(z.shape), z.stride(), z.dtype, str(z.device), z._version)


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 64


class SharedStatistics:
    """The store of one :func:`shared_statistics` block.

    Attributes:
        computed: statistic name -> how many times it was computed (a miss).
        reused: statistic name -> how many times a stored value was served (a hit).
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = int(budget_bytes)
        self._models: dict[tuple[Any, ...], torch.Tensor] = {}
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self.computed: Counter[str] = Counter()
        self.reused: Counter[str] = Counter()

    def register(self, tensors: Iterable[torch.Tensor]) -> None:
        """Serve the statistics of these tensors (the audit's models) from the store."""
        for z in tensors:
            if isinstance(z, torch.Tensor):
                self._models[_ident(z)] = z

    def get(self, name: str, z: Any, options: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        ident = _ident(z) if isinstance(z, torch.Tensor) else None
        if ident not in self._models:
            return compute()
        key = (name, ident, options)
        if key in self._entries:
            self._entries.move_to_end(key)
            self.reused[name] += 1
            return self._entries[key][0]
        value = compute()
        self.computed[name] += 1
        size = _nbytes(value)
        if size <= self.budget_bytes:
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.budget_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return value


_ACTIVE: ContextVar[SharedStatistics | None] = ContextVar("stitch_shared_statistics", default=None)


@contextlib.contextmanager
def shared_statistics(models: Iterable[torch.Tensor] = (), *,
                      budget_bytes: int = DEFAULT_BUDGET_BYTES) -> Iterator[SharedStatistics]:
    """Compute each registered model's per-model statistics once inside the block.

    A nested block adds its models to the enclosing store (so an outer block sees what an audit computed).

    Example:
        >>> import torch
        >>> from stitch.metrics import get_metric
        >>> xs = [torch.randn(50, 4, generator=torch.Generator().manual_seed(s)) for s in range(3)]
        >>> with shared_statistics(xs) as store:
        ...     _ = [get_metric("rsa_spearman")(a, b) for a in xs for b in xs]
        >>> dict(store.computed)  # 3 models: 3 RDMs and 3 rankings for 9 pairs
        {'rdm': 3, 'rdm_ranks': 3}
    """
    outer = _ACTIVE.get()
    if outer is not None:
        outer.register(models)
        yield outer
        return
    store = SharedStatistics(budget_bytes)
    store.register(models)
    token = _ACTIVE.set(store)
    try:
        yield store
    finally:
        _ACTIVE.reset(token)


def per_model(name: str) -> Callable[[F], F]:
    """Decorate ``fn(z, ...)``, a statistic of one model's latents, to be shared inside :func:`shared_statistics`.

    The options (the other arguments, defaults filled in) are part of the key. The returned value is shared:
    callers must not change it in place.
    """

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def shared(z: Any, *args: Any, **kwargs: Any) -> Any:
            store = _ACTIVE.get()
            if store is None:
                return fn(z, *args, **kwargs)
            bound = signature.bind(z, *args, **kwargs)
            bound.apply_defaults()
            options = tuple(list(bound.arguments.items())[1:])
            return store.get(name, z, options, lambda: fn(z, *args, **kwargs))

        return shared  # type: ignore[return-value]

    return wrap
