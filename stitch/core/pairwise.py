"""Blocked L1 and L-infinity distance kernels for the CPU (numba), at a few times the cost of a GEMM, and the
one-pass finish of GEMM-form Euclidean distances.

``torch.cdist`` with ``p=1`` or ``p=inf`` runs 15-45x slower than the matrix product of the same inputs on a
CPU. These kernels keep a ``4 x 4`` block of (row, anchor) accumulators in registers while they stream the
feature axis, so every loaded value serves four pairs, and LLVM vectorises the reduction (for L-infinity
through the ``llvm.maxnum`` intrinsic, which it vectorises where a Python ``max`` would stay scalar). Rows are
split across numba's threads, as many as torch uses. Results equal ``torch.cdist`` to rounding: each pair is
accumulated in the input dtype in feature order, so a row's values do not depend on how rows are chunked.

The first call per dtype compiles the kernel (a second or two; numba caches it on disk). Autograd inputs and
CUDA tensors go to ``torch.cdist``; so does everything when numba is not installed.

Example:
    >>> import torch
    >>> x, a = torch.randn(9, 5), torch.randn(6, 5)
    >>> torch.allclose(pairwise_distances(x, a, "l1"), -torch.cdist(x, a, p=1), atol=1e-5)
    True
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["pairwise_distances", "screen_squared_distances", "count_above", "available", "NEAR_PER_ROW"]

_R, _J = 4, 4  # rows x anchors per register block (measured fastest on AVX-512 and AVX2: benchmarks/)


def available() -> bool:
    """Whether the compiled kernels can run (numba is installed).

    Example:
        >>> isinstance(available(), bool)
        True
    """
    return importlib.util.find_spec("numba") is not None


@functools.lru_cache(maxsize=None)
def _maxnum() -> Any:
    """A numba intrinsic for ``llvm.maxnum`` (float32 and float64): a max the vectoriser can reduce."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def maxnum(typingctx: Any, a: Any, b: Any) -> Any:
        if a != b or a not in (types.float32, types.float64):
            return None
        width, llty = (32, ir.FloatType()) if a == types.float32 else (64, ir.DoubleType())

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            fnty = ir.FunctionType(llty, [llty, llty])
            return builder.call(cgutils.get_or_insert_function(builder.module, fnty, f"llvm.maxnum.f{width}"), args)

        return a(a, a), codegen

    return maxnum


def _source(kind: str) -> str:
    """The kernel: a ``_R x _J`` block of accumulators per (row block, anchor block), then the ragged edges."""
    step = "s{r}_{c} += abs(u{r} - b{c})" if kind == "l1" else "s{r}_{c} = maxnum(s{r}_{c}, abs(u{r} - b{c}))"
    edge = "s += abs(x[i, k] - a[j, k])" if kind == "l1" else "s = maxnum(s, abs(x[i, k] - a[j, k]))"
    R, J = _R, _J
    lines = [
        "def kernel(x, a, out):",
        "    n, d = x.shape",
        "    m = a.shape[0]",
        "    zero = x[0, 0] - x[0, 0]",
        f"    full_rows, full_cols = n - n % {R}, m - m % {J}",
        f"    for block in prange(n // {R}):",
        f"        i = block * {R}",
        *[f"        x{r} = x[i + {r}]" for r in range(R)],
        f"        for j in range(0, full_cols, {J}):",
        *[f"            a{c} = a[j + {c}]" for c in range(J)],
        *[f"            s{r}_{c} = zero" for r in range(R) for c in range(J)],
        "            for k in range(d):",
        *[f"                u{r} = x{r}[k]" for r in range(R)],
        *[f"                b{c} = a{c}[k]" for c in range(J)],
        *["                " + step.format(r=r, c=c) for r in range(R) for c in range(J)],
        *[f"            out[i + {r}, j + {c}] = -s{r}_{c}" for r in range(R) for c in range(J)],
        "        for j in range(full_cols, m):",
        f"            for r in range({R}):",
        "                s = zero",
        "                for k in range(d):",
        "                    " + edge.replace("x[i, k]", "x[i + r, k]"),
        "                out[i + r, j] = -s",
        "    for i in prange(full_rows, n):",
        "        for j in range(m):",
        "            s = zero",
        "            for k in range(d):",
        "                " + edge,
        "            out[i, j] = -s",
    ]
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _kernel(kind: str) -> Callable[..., None]:
    from numba import njit, prange

    namespace = {"prange": prange, "maxnum": _maxnum()}
    exec(compile(_source(kind), f"<stitch.core.pairwise:{kind}>", "exec"), namespace)  # noqa: S102 - our template
    return njit(parallel=True, fastmath=True, nogil=True)(namespace["kernel"])


def pairwise_distances(x: torch.Tensor, anchors: torch.Tensor, kind: str,
                       out: torch.Tensor | None = None) -> torch.Tensor:
    """``-|x_i - a_j|_1`` or ``-max_k |x_ik - a_jk|`` for every row and anchor (negated: higher = more similar).

    Args:
        x, anchors: float32 or float64, same dtype.
        kind: ``"l1"`` or ``"linf"``.
        out: where to write the ``(n, a)`` result (a CPU tensor of the inputs' dtype), else a new tensor.

    Shapes:
        x: ``(n, d)``, anchors: ``(a, d)`` -> ``(n, a)``

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
        >>> pairwise_distances(x, x, "linf").tolist()
        [[-0.0, -2.0], [-2.0, -0.0]]
    """
    if kind not in ("l1", "linf"):
        raise ValueError(f"unknown pairwise distance {kind!r}; expected 'l1' or 'linf'")
    grad = torch.is_grad_enabled() and (x.requires_grad or anchors.requires_grad)
    if grad or x.device.type != "cpu" or not available() or x.dtype not in (torch.float32, torch.float64):
        d = torch.cdist(x, anchors, p=1.0 if kind == "l1" else math.inf)
        if grad:
            return d.neg()
        d.neg_()
        return d if out is None else out.copy_(d)
    if out is None:
        out = torch.empty(x.shape[0], anchors.shape[0], dtype=x.dtype)
    if x.shape[0] and anchors.shape[0]:
        import numba

        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        _kernel(kind)(x.detach().contiguous().numpy(), anchors.detach().contiguous().numpy(), out.numpy())
    return out


@functools.lru_cache(maxsize=None)
def _screen_kernel() -> Callable[..., int]:
    from numba import njit, prange

    # No fastmath: NaN and Inf must be seen. One pass over the (n, a) output: overflow count, near-duplicate
    # pairs marked (NaN) for an exact recomputation, and, with ``root``, every other entry turned into -sqrt.
    @njit(parallel=True, nogil=True)
    def screen(d2, xsq, sq, rel, big, root, flagged):  # noqa: ANN001, ANN202 - numba
        n, m = d2.shape
        bad = 0
        for i in prange(n):
            count = 0
            for j in range(m):
                v = d2[i, j]
                if not abs(v) <= big:
                    bad += 1
                elif v <= rel * (xsq[i] + sq[j]):
                    count += 1
                    d2[i, j] = np.nan
                elif root:
                    d2[i, j] = -np.sqrt(v)
            flagged[i] = count
        return bad

    return screen


def screen_squared_distances(d2: torch.Tensor, x_sq: torch.Tensor, a_sq: torch.Tensor, rel: float, *,
                             root: bool) -> tuple[int, torch.Tensor] | None:
    """One fused pass over GEMM-form squared distances (CPU, numba): ``(overflowed entries, near rows)``.

    Entries with ``d2 <= rel (|x|^2 + |a|^2)`` (cancellation ate their digits) become NaN for the caller to
    recompute exactly; with ``root`` the others become ``-sqrt(d2)``. Returns ``None`` where the kernel
    cannot run (no numba, not CPU, not float32/64, autograd): the caller takes the torch path.

    Shapes:
        d2: ``(n, a)`` (modified in place), x_sq: ``(n,)``, a_sq: ``(a,)``  ->  near rows: ``(k,)`` int64

    Example:
        >>> d2 = torch.tensor([[4.0, 1e-9]]); got = screen_squared_distances(d2, torch.ones(1), torch.ones(2),
        ...                                                                  1e-3, root=True)
        >>> got is None or (got[0], got[1].tolist(), d2[0, 0].item()) == (0, [0], -2.0)
        True
    """
    if (not available() or d2.device.type != "cpu" or d2.requires_grad or d2.dtype not in (torch.float32, torch.float64)
            or not d2.is_contiguous()):
        return None
    import numba

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    flagged = np.zeros(d2.shape[0], dtype=np.int64)
    bad = _screen_kernel()(d2.numpy(), x_sq.to(d2.dtype).contiguous().numpy(), a_sq.to(d2.dtype).contiguous().numpy(),
                           float(rel), float(torch.finfo(d2.dtype).max), bool(root), flagged)
    return int(bad), torch.from_numpy(np.nonzero(flagged)[0])


@functools.lru_cache(maxsize=None)
def _count_kernel() -> Callable[..., None]:
    from numba import njit, prange

    @njit(parallel=True, nogil=True)
    def count(scores, ref, tol, offset, above, near, near_idx):  # noqa: ANN001, ANN202 - numba
        n, m = scores.shape
        keep = near_idx.shape[1]
        for i in prange(n):
            r, a, k = ref[i], 0, 0
            for j in range(m):
                diff = scores[i, j] - r
                if diff > tol:
                    a += 1
                elif diff >= -tol and j != i + offset:
                    if k < keep:
                        near_idx[i, k] = j
                    k += 1
            above[i] = a
            near[i] = k

    return count


#: near columns recorded per row by :func:`count_above` (rows with more are reported for a full rescan)
NEAR_PER_ROW = 16


def count_above(scores: torch.Tensor, ref: torch.Tensor, tol: float,
                offset: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Per row ``i``: how many scores exceed ``ref[i] + tol``, how many lie within ``tol`` of ``ref[i]`` (column
    ``i + offset``, the row's own entry, left out), and the columns of the first :data:`NEAR_PER_ROW` of
    those; one pass (CPU, numba).

    Returns ``None`` where the kernel cannot run (no numba, not a contiguous float32/64 CPU tensor).

    Shapes:
        scores: ``(n, m)``, ref: ``(n,)``  ->  ``(n,)`` int64, ``(n,)`` int64, ``(n, NEAR_PER_ROW)`` int64

    Example:
        >>> got = count_above(torch.tensor([[0.5, 0.9, 0.50001]]), torch.tensor([0.5]), 1e-3)
        >>> got is None or (got[0].tolist(), got[1].tolist(), got[2][0, 0].item()) == ([1], [1], 2)
        True
    """
    if (not available() or scores.device.type != "cpu" or scores.dtype not in (torch.float32, torch.float64)
            or not scores.is_contiguous()):
        return None
    import numba

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    n = scores.shape[0]
    above, near = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    near_idx = np.full((n, NEAR_PER_ROW), -1, dtype=np.int64)
    _count_kernel()(scores.detach().numpy(), ref.to(scores.dtype).contiguous().numpy(), float(tol), int(offset),
                    above, near, near_idx)
    return torch.from_numpy(above), torch.from_numpy(near), torch.from_numpy(near_idx)
