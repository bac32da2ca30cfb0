"""The :class:`Metric` record and the input checks every similarity measure shares.

A metric is a plain function ``fn(x, y, **options) -> float`` plus metadata declared *as data*: whether it
is a score or a distance, its range, symmetry, invariances (names from
:data:`stitch.core.transforms.TRANSFORM_CLASSES`), whether it needs labels, and its minimum sample count. The
tests read these declarations and check them both ways.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stitch.utils.checks import as_matrix, check_paired
from stitch.core.transforms import TRANSFORM_CLASSES
from stitch.utils.numerics import rows_per_chunk

__all__ = ["Metric", "prepare_pair", "align_by_ids", "centered", "row_blocks", "check_full_rank",
           "CentredProducts", "centred_products"]

KINDS = ("score", "distance")


@dataclass(frozen=True)
class Metric:
    """A named similarity (``kind="score"``) or dissimilarity (``kind="distance"``) between paired latents.

    Args:
        name: registry name.
        fn: ``fn(x, y, **options) -> float`` on ``(n, d1)``, ``(n, d2)`` tensors (labels, when needed,
            arrive as ``labels=``).
        kind: ``"score"`` (higher = more similar) or ``"distance"`` (lower = more similar).
        range: ``(low, high)`` the value always lies in (``math.inf`` for unbounded).
        symmetric: ``fn(x, y) == fn(y, x)``.
        invariances: transform classes applied to either input that leave the value unchanged.
        needs_labels: ``fn`` requires ``labels=`` (``(n,)`` int class per sample).
        min_samples: fewest samples for which the value is defined.
        paired: the value uses the row correspondence (``False`` for measures that compare the two
            geometries without it, e.g. Gromov-Wasserstein).
        order_dependent: the value depends on row order through batching or subsampling (only estimator
            noise, not the pairing, changes under a joint row permutation).
        chance: ``chance(n, options) -> float``: expected value for unrelated spaces, reported beside it.
        defaults: default options, recorded in audit results.
        description: one line for listings.
        reference: the paper or estimator that defines it.
        caveat: a known failure mode a reader should weigh the value against (shown beside it in audits).

    Example:
        >>> import torch
        >>> m = Metric("mean_abs_corr", lambda x, y: 0.5, kind="score", range=(0.0, 1.0), symmetric=True)
        >>> m(torch.randn(8, 3), torch.randn(8, 2))
        0.5
    """

    name: str
    fn: Callable[..., float]
    kind: str = "score"
    range: tuple[float, float] = (-math.inf, math.inf)
    symmetric: bool = False
    invariances: tuple[str, ...] = ()
    needs_labels: bool = False
    min_samples: int = 2
    paired: bool = True
    order_dependent: bool = False
    chance: Callable[[int, Mapping[str, Any]], float] | None = field(default=None, compare=False)
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False)
    description: str = ""
    reference: str = ""
    caveat: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be 'score' or 'distance', got {self.kind!r}")
        unknown = [t for t in self.invariances if t not in TRANSFORM_CLASSES]
        if unknown:
            raise ValueError(
                f"metric {self.name!r} declares unknown invariances {unknown}; "
                f"expected names from {', '.join(TRANSFORM_CLASSES)}"
            )
        lo, hi = self.range
        if not lo <= hi:
            raise ValueError(f"metric {self.name!r}: range must be (low, high) with low <= high, got {self.range}")
        if not callable(self.fn):
            raise TypeError(f"metric {self.name!r}: fn must be callable, got {type(self.fn).__name__}")

    @property
    def best(self) -> float:
        """The value of a perfect match: the top of the range for scores, the bottom for distances."""
        return self.range[1] if self.kind == "score" else self.range[0]

    def __call__(
        self,
        x: Any,
        y: Any,
        *,
        labels: Any = None,
        x_ids: Sequence[str] | None = None,
        y_ids: Sequence[str] | None = None,
        align: bool = False,
        **options: Any,
    ) -> float:
        """Validate the pair, then compute the metric.

        ``x_ids``/``y_ids`` (one id per row) are checked: mismatched ids raise unless ``align=True``, which
        reorders ``y`` (and nothing else) to ``x``'s id order.

        Shapes:
            x: ``(n, d1)``, y: ``(n, d2)``, labels: ``(n,)``  ->  float
        """
        x, y = prepare_pair(x, y, min_samples=self.min_samples, metric=self.name)
        if x_ids is not None or y_ids is not None:
            y = align_by_ids(x_ids, y_ids, y, align=align, n=len(x))
        if self.needs_labels:
            if labels is None:
                raise ValueError(
                    f"metric {self.name!r} needs labels (one class per sample); pass labels=..., "
                    "or use a dataset with labels"
                )
            options["labels"] = labels
        value = float(self.fn(x, y, **options))
        if not math.isfinite(value):
            raise ValueError(
                f"metric {self.name!r} produced {value} for inputs of shape {tuple(x.shape)} and {tuple(y.shape)}; "
                "this is a bug in the metric, please report it"
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready declaration (used by listings and audit results)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "range": list(self.range),
            "symmetric": self.symmetric,
            "invariances": list(self.invariances),
            "needs_labels": self.needs_labels,
            "min_samples": self.min_samples,
            "paired": self.paired,
            "order_dependent": self.order_dependent,
            "defaults": dict(self.defaults),
            "description": self.description,
            "reference": self.reference,
            "caveat": self.caveat,
        }


def prepare_pair(x: Any, y: Any, *, min_samples: int = 2, metric: str = "metric") -> tuple[torch.Tensor, torch.Tensor]:
    """Validate paired latents: 2-D, finite, same number of rows, enough rows, neither side constant.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  the same, as floating tensors

    Example:
        >>> x, y = prepare_pair([[0.0, 1.0], [1.0, 0.0]], [[1.0], [2.0]])
        >>> x.shape, y.shape
        (torch.Size([2, 2]), torch.Size([2, 1]))
    """
    # a measure is a number, not a layer: inputs that carry autograd history are read as plain values
    x = as_matrix(x, "x").detach()
    y = as_matrix(y, "y").detach()
    check_paired(x, y)
    n = x.shape[0]
    if n < min_samples:
        raise ValueError(
            f"{metric} needs at least {min_samples} samples, got {n}; pass more paired rows"
        )
    for t, name in ((x, "x"), (y, "y")):
        # rows 0 and 1 differing settles it in O(d); only then is the full O(n d) comparison needed
        if not bool((t[1] != t[0]).any()) and bool((t == t[:1]).all()):
            raise ValueError(
                f"{name} is constant (all {n} rows are identical); similarity is undefined without variation "
                "across samples — check that the encoder output is not collapsed"
            )
    return x, y


def align_by_ids(
    x_ids: Sequence[str] | None, y_ids: Sequence[str] | None, y: torch.Tensor, *, align: bool, n: int
) -> torch.Tensor:
    """Check that both sides carry the same sample ids; with ``align=True`` reorder ``y`` to ``x``'s order.

    Example:
        >>> import torch
        >>> align_by_ids(["a", "b"], ["b", "a"], torch.tensor([[2.0], [1.0]]), align=True, n=2).flatten().tolist()
        [1.0, 2.0]
    """
    if x_ids is None or y_ids is None:
        raise ValueError("pass sample ids for both sides (x_ids and y_ids) or for neither")
    x_ids, y_ids = [str(i) for i in x_ids], [str(i) for i in y_ids]
    if len(x_ids) != n or len(y_ids) != len(y):
        raise ValueError(
            f"got {len(x_ids)} x_ids for {n} rows of x and {len(y_ids)} y_ids for {len(y)} rows of y; "
            "pass exactly one id per row"
        )
    if len(set(x_ids)) != len(x_ids) or len(set(y_ids)) != len(y_ids):
        raise ValueError("sample ids must be unique on each side")
    if x_ids == y_ids:
        return y
    if set(x_ids) != set(y_ids):
        missing = sorted(set(x_ids) - set(y_ids))[:3]
        extra = sorted(set(y_ids) - set(x_ids))[:3]
        raise ValueError(
            f"x and y hold different samples (in x only: {missing}..., in y only: {extra}...); "
            "compare latents of the same samples"
        )
    if not align:
        first = next(i for i, (a, b) in enumerate(zip(x_ids, y_ids)) if a != b)
        raise ValueError(
            f"x and y hold the same samples in different orders (first difference at row {first}: "
            f"{x_ids[first]!r} vs {y_ids[first]!r}); pass align=True to reorder y by id"
        )
    where = {s: i for i, s in enumerate(y_ids)}
    return y[torch.tensor([where[s] for s in x_ids])]


def centered(x: torch.Tensor) -> torch.Tensor:
    """``x`` minus its column means, in float64 (translation-invariant metrics start here).

    Shapes:
        x: ``(n, d)``  ->  ``(n, d)`` float64

    Example:
        >>> import torch
        >>> centered(torch.tensor([[1.0, 4.0], [3.0, 8.0]])).tolist()
        [[-1.0, -2.0], [1.0, 2.0]]
    """
    x = x.to(torch.float64)
    return x - x.mean(dim=0, keepdim=True)


def row_blocks(n: int, block: int) -> range:
    """Start offsets of ``block``-row chunks covering ``0..n`` (a ``block`` below 1 counts as 1).

    Example:
        >>> list(row_blocks(10, 4)), list(row_blocks(3, 0))
        ([0, 4, 8], [0, 1, 2])
    """
    return range(0, n, max(1, int(block)))


@dataclass
class CentredProducts:
    """Cross-products of the column-centred inputs, in float64 (see :func:`centred_products`).

    Attributes:
        xy: ``Xc^T Yc``, ``(d1, d2)``.
        xx, yy: ``Xc^T Xc`` and ``Yc^T Yc`` (``None`` unless asked for).
        rx, ry: squared row norms of ``Xc`` and ``Yc``, ``(n,)`` (``None`` unless asked for).
        cx, cy: squared column norms of ``Xc`` and ``Yc``, ``(d1,)`` / ``(d2,)`` (``None`` unless asked for).
    """

    xy: torch.Tensor
    xx: torch.Tensor | None = None
    yy: torch.Tensor | None = None
    rx: torch.Tensor | None = None
    ry: torch.Tensor | None = None
    cx: torch.Tensor | None = None
    cy: torch.Tensor | None = None


def _gram_upper(zb: torch.Tensor, acc: torch.Tensor, width: int = 256) -> None:
    # zb^T zb is symmetric: only the block rows' upper parts are computed (about half the FLOPs of one GEMM);
    # the lower triangle is mirrored once at the end by the caller.
    d = zb.shape[1]
    for c in range(0, d, width):
        acc[c : c + width, c:] += (zb[:, c : c + width].T @ zb[:, c:]).to(acc.dtype)


def _mirror_upper(g: torch.Tensor, width: int = 256) -> torch.Tensor:
    d = g.shape[0]
    for c in range(0, d, width):
        g[c : c + width, :c] = g[:c, c : c + width].T
        # a diagonal tile came from one GEMM of a block with a wider one, which BLAS does not promise to
        # round symmetrically: its upper triangle is the value kept, as for the off-diagonal tiles
        t = g[c : c + width, c : c + width]
        t.copy_(t.triu() + t.triu(1).T)
    return g


def centred_products(x: torch.Tensor, y: torch.Tensor, *, grams: bool = False, row_norms: bool = False,
                     col_norms: bool = False, rows: int | None = None) -> CentredProducts:
    """``Xc^T Yc`` (and optionally ``Xc^T Xc``, ``Yc^T Yc``, row and column norms) streamed over row blocks.

    Each block is centred once in the input precision (column means are taken in float64) and its products
    are computed there — float32 GEMMs run at twice the float64 rate — then accumulated in float64, so the
    rounding is that of one block, not of all ``n`` rows. The symmetric Grams compute only their upper
    block triangle. Memory: the ``d x d`` accumulators plus one block (:data:`MEMORY_BUDGET_BYTES
    <stitch.utils.numerics.MEMORY_BUDGET_BYTES>`). Runs on the inputs' device.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``  ->  ``xy``: ``(d1, d2)``, ``xx``: ``(d1, d1)``, ``yy``: ``(d2, d2)``,
        ``rx``/``ry``: ``(n,)``, ``cx``/``cy``: ``(d1,)``/``(d2,)``

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]); y = torch.tensor([[1.0], [3.0]])
        >>> p = centred_products(x, y, grams=True, col_norms=True)
        >>> p.xy.tolist(), p.xx.tolist(), p.cy.tolist()
        ([[2.0], [2.0]], [[2.0, 2.0], [2.0, 2.0]], [2.0])
    """
    n, d1, d2 = x.shape[0], x.shape[1], y.shape[1]
    dev, f64 = x.device, torch.float64
    work = x.dtype if x.dtype == y.dtype and x.dtype in (torch.float32, torch.float64) else f64
    mx = (x.sum(0, dtype=f64) / n).to(work)
    my = (y.sum(0, dtype=f64) / n).to(work)
    step = rows or rows_per_chunk(n, bytes_per_row=(d1 + d2) * torch.finfo(work).bits // 8)
    out = CentredProducts(xy=torch.zeros(d1, d2, dtype=f64, device=dev))
    if grams:
        out.xx, out.yy = torch.zeros(d1, d1, dtype=f64, device=dev), torch.zeros(d2, d2, dtype=f64, device=dev)
    if row_norms:
        out.rx, out.ry = torch.empty(n, dtype=f64, device=dev), torch.empty(n, dtype=f64, device=dev)
    if col_norms:
        out.cx, out.cy = torch.zeros(d1, dtype=f64, device=dev), torch.zeros(d2, dtype=f64, device=dev)
    for s in row_blocks(n, step):
        xb = x[s : s + step].to(work) - mx  # the one copy of this block, centred
        yb = y[s : s + step].to(work) - my
        out.xy += (xb.T @ yb).to(f64)
        if grams:
            _gram_upper(xb, out.xx)
            _gram_upper(yb, out.yy)
        if row_norms or col_norms:
            sx, sy = xb * xb, yb * yb
            if row_norms:
                out.rx[s : s + step] = sx.sum(1, dtype=f64)
                out.ry[s : s + step] = sy.sum(1, dtype=f64)
            if col_norms:
                out.cx += sx.sum(0, dtype=f64)
                out.cy += sy.sum(0, dtype=f64)
    if grams:
        _mirror_upper(out.xx)
        _mirror_upper(out.yy)
    return out


def check_full_rank(xc: torch.Tensor, name: str, metric: str, *, input_dtype: torch.dtype) -> torch.Tensor:
    """Thin SVD of a centred matrix; raise when its column rank is below its width (CCA needs full rank).

    The rank tolerance is numpy's ``matrix_rank`` rule, ``max(n, d) * eps * s_max``, with the ``eps`` of
    the *input* precision: float32 data that is rank-deficient up to rounding counts as rank-deficient.
    Returns the left singular vectors ``U`` (an orthonormal basis of the column space).

    Shapes:
        xc: ``(n, d)`` centred  ->  ``U``: ``(n, min(n, d))``

    Example:
        >>> import torch
        >>> x = centered(torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]))
        >>> check_full_rank(x, "x", "cca", input_dtype=torch.float32).shape
        torch.Size([3, 2])
        >>> check_full_rank(centered(torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])), "x", "cca",
        ...                 input_dtype=torch.float32)
        Traceback (most recent call last):
        ...
        ValueError: cca: x is rank-deficient after centring (rank 1 < 2 features; ...
    """
    n, d = xc.shape
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    tol = float(s[0]) * max(n, d) * torch.finfo(input_dtype).eps
    rank = int((s > tol).sum())
    if rank < d:
        hint = (
            f"it has only {n} samples for {d} features" if n <= d else "some features are linear combinations of others"
        )
        raise ValueError(
            f"{metric}: {name} is rank-deficient after centring (rank {rank} < {d} features; {hint}); "
            "use 'svcca' (reduces dimensions first) or reduce dimensions with PCA"
        )
    return u


def as_numpy_labels(labels: Any, n: int) -> np.ndarray:
    """``(n,)`` int64 labels from a tensor, array or list, with a clear error on length mismatch."""
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"labels must have shape ({n},) (one class per sample), got shape {arr.shape}")
    return arr
