"""The relative projection: every sample described by its similarity to every anchor.

:func:`relative_projection` is the functional form, :class:`RelativeProjection` the estimator (fit on anchors,
transform any samples; scikit-learn's protocol: ``clone``, ``get_params``/``set_params``, pickling, and a
``save``/``load`` of the fitted space). Rows are scored in chunks so temporaries stay under
:data:`~stitch.utils.numerics.MEMORY_BUDGET_BYTES`; without autograd each chunk is written straight into the
output. When the inputs or the anchors require gradients (a relative layer trained end to end), the
differentiable kernels run instead and gradients flow to both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from stitch.core.invariances import check_center
from stitch.core.kernels import ScoreOverflow, needs_grad
from stitch.core.normalization import check_normalization, normalize_relative, standardize_stats
from stitch.core.similarity import Similarity, resolve_similarity
from stitch.utils.checks import as_matrix, check_fitted, check_positive_int, check_same_dim, compute_dtype
from stitch.utils.estimator import Estimator, load_fitted, save_fitted
from stitch.utils.numerics import nonzero_scale, rows_per_chunk

__all__ = ["relative_projection", "RelativeProjection", "center_stats"]


def center_stats(anchors: torch.Tensor, center: str | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(mean, scale)`` of the anchors for ``center`` (``None``: no centering), accumulated in float64.

    Shapes:
        anchors: ``(a, d)`` -> ``(d,)``, ``(d,)`` (or ``None``)

    Example:
        >>> m, s = center_stats(torch.tensor([[0.0, 1.0], [2.0, 1.0]]), "standardize")
        >>> m.tolist(), s.tolist()
        ([1.0, 1.0], [1.0, 1.0])
    """
    if center is None:
        return None, None
    a64 = anchors.double()
    mean = a64.mean(0)
    if center == "mean":
        return mean.to(anchors.dtype), None
    return mean.to(anchors.dtype), nonzero_scale(a64.std(0, correction=0), anchors.dtype).to(anchors.dtype)


def _apply_center(x: torch.Tensor, mean: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    if mean is not None:
        x = x - mean
    if scale is not None:
        x = x / scale
    return x


def relative_projection(
    x: Any,
    anchors: Any,
    similarity: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cosine",
    *,
    center: str | None = None,
    normalization: str | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Relative representation of ``x``: the similarity of every sample to every anchor.

    Args:
        similarity: a registered name (:func:`~stitch.core.similarity.list_similarities`) or a callable
            ``fn(x, anchors)``.
        center: ``None``, ``"mean"`` or ``"standardize"``, with statistics fitted on ``anchors``.
        normalization: output normalisation (:func:`~stitch.core.normalization.normalize_relative`).
        chunk_size: rows of ``x`` scored at a time; by default chosen so temporaries stay under
            :data:`~stitch.utils.numerics.MEMORY_BUDGET_BYTES`. Results agree across chunk sizes to rounding
            (a different row count may make BLAS pick another kernel: a few ulps).

    Returns higher-is-more-similar scores (distances negated); float16/bfloat16 inputs are computed and
    returned in float32, float64 stays float64. Differentiable in ``x`` and ``anchors``.

    Shapes:
        x: ``(n, d)``, anchors: ``(a, d)`` -> ``(n, a)``

    Example:
        >>> import torch
        >>> a = torch.eye(3, dtype=torch.float64)
        >>> relative_projection(a, a, "cosine").diagonal().tolist()
        [1.0, 1.0, 1.0]
    """
    proj = RelativeProjection(similarity, center=center, normalization=normalization, chunk_size=chunk_size)
    return proj.fit(anchors).transform(x)


class RelativeProjection(Estimator):
    """Estimator form of :func:`relative_projection`: ``fit`` on anchors, ``transform`` any samples.

    Args:
        similarity: a registered name or a callable ``fn(x, anchors) -> (n, a)``.
        center: ``None``, ``"mean"`` or ``"standardize"`` (statistics fitted on the anchors).
        normalization: output normalisation (see :func:`~stitch.core.normalization.normalize_relative`);
            ``standardize`` uses column statistics fitted on the anchors' own relative representation.
        chunk_size: rows per chunk (default: bounded by :data:`~stitch.utils.numerics.MEMORY_BUDGET_BYTES`).
        k, temperature: parameters of the ``topk`` and ``softmax`` normalisations.

    Learned attributes: ``fit_anchors_`` (as given), ``anchors_`` (centred), ``mean_``, ``scale_``,
    ``state_`` (what the similarity precomputed from the anchors), ``norm_stats_``, ``n_features_in_``,
    ``n_anchors_``.

    Shapes:
        fit: anchors ``(a, d)``; transform: x ``(n, d)`` -> ``(n, a)``

    Example:
        >>> import torch
        >>> proj = RelativeProjection("euclidean").fit(torch.randn(5, 3, dtype=torch.float64))
        >>> proj.transform(torch.randn(7, 3, dtype=torch.float64)).shape
        torch.Size([7, 5])
    """

    _estimator_kind = "transformer"
    _fitted_attributes = ("state_",)

    def __init__(
        self,
        similarity: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cosine",
        center: str | None = None,
        normalization: str | None = None,
        *,
        chunk_size: int | None = None,
        k: int = 10,
        temperature: float = 1.0,
    ) -> None:
        self.similarity = similarity
        self.center = center
        self.normalization = normalization
        self.chunk_size = chunk_size
        self.k = k
        self.temperature = temperature

    @property
    def invariances(self) -> frozenset[str]:
        """Declared invariances of this similarity under this centering and output normalisation."""
        return resolve_similarity(self.similarity).invariances_under(self.center, self.normalization)

    def fit(self, anchors: Any, y: Any = None) -> RelativeProjection:
        """Fit centering statistics and the similarity's anchor-dependent state on ``anchors``.

        Shapes:
            anchors: ``(a, d)``
        """
        center = check_center(self.center)
        check_normalization(self.normalization)
        if self.chunk_size is not None:
            check_positive_int(self.chunk_size, "chunk_size")
        self.sim_: Similarity = resolve_similarity(self.similarity)
        anchors = as_matrix(anchors, "anchors")
        self.fit_anchors_ = anchors
        self.n_features_in_, self.n_anchors_ = anchors.shape[1], anchors.shape[0]
        self.mean_, self.scale_ = center_stats(anchors, center)
        self.anchors_ = _apply_center(anchors, self.mean_, self.scale_)
        self.state_ = self.sim_.fit_state(self.anchors_)
        self.norm_stats_ = (
            standardize_stats(self._scores(self.anchors_)) if self.normalization == "standardize" else ()
        )
        return self

    def _scores(self, xc: torch.Tensor, out: torch.Tensor | None = None, *, normalize: bool = False) -> torch.Tensor:
        """Scores of already-centred rows, chunked (and normalised per chunk); writes into ``out`` if given."""
        n = xc.shape[0]
        step = self.chunk_rows(n)
        if needs_grad(xc, self.anchors_):
            parts = [self._chunk(xc[s : s + step], None, normalize) for s in range(0, n, step)]
            return torch.cat(parts) if len(parts) > 1 else parts[0]
        if out is None:
            out = torch.empty(n, self.n_anchors_, dtype=xc.dtype, device=xc.device)
        for start in range(0, n, step):
            view = out[start : start + step]
            result = self._chunk(xc[start : start + step], view, normalize)
            if result.data_ptr() != view.data_ptr():
                view.copy_(result)
        return out

    def _chunk(self, xc: torch.Tensor, view: torch.Tensor | None, normalize: bool) -> torch.Tensor:
        try:
            result = self.sim_.score(xc, self.state_, view)
        except ScoreOverflow:
            result = None
        # built-in kernels check their own scores on the way (ScoreOverflow); others pay one pass here
        if result is None or (not self.sim_.checks_overflow and not bool(torch.isfinite(result.sum()))
                              and not bool(torch.isfinite(result).all())):
            raise ValueError(
                f"similarity {self.sim_.name!r} overflowed to Inf/NaN on inputs of magnitude up to "
                f"{float(xc.detach().abs().max()):.3g} (dtype {xc.dtype}); rescale the latents (e.g. "
                "center='standardize' or normalization) or pass float64 inputs"
            ) from None
        if normalize:
            # every normalisation is row-wise or uses fitted column statistics, so chunks are exact
            result = normalize_relative(
                result, self.normalization, stats=self.norm_stats_ or None, k=self.k, temperature=self.temperature
            )
        return result

    def transform(self, x: Any, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """Relative representation of ``x`` against the fitted anchors (see :func:`relative_projection`).

        Shapes:
            x: ``(n, d)`` -> ``(n, a)``
        """
        check_fitted(self, ["state_"])
        x = as_matrix(x, "x")
        check_same_dim(x, self.anchors_, estimator=type(self).__name__)
        dtype = compute_dtype(x, self.anchors_)
        if dtype != self.anchors_.dtype:
            # x in float64 but anchors fitted in float32: refit in float64 rather than lose precision.
            refit = type(self)(**self.get_params(deep=False)).fit(self.fit_anchors_.to(dtype))
            return refit.transform(x, out=out)
        if out is not None and (out.shape != (x.shape[0], self.n_anchors_) or out.dtype != dtype):
            raise ValueError(
                f"out has shape {tuple(out.shape)} and dtype {out.dtype}; expected "
                f"{(x.shape[0], self.n_anchors_)} and {dtype}"
            )
        return self.project(x.to(dtype), out)

    def project(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Transform of rows already validated and in the fitted dtype (for callers that chunk and check).

        Shapes:
            x: ``(n, d)`` -> ``(n, a)``
        """
        return self._scores(_apply_center(x, self.mean_, self.scale_), out, normalize=True)

    def chunk_rows(self, n: int) -> int:
        """Rows per chunk this projection uses for ``n`` samples (``chunk_size`` or the memory budget)."""
        check_fitted(self, ["state_"])
        if self.chunk_size is not None:
            return check_positive_int(self.chunk_size, "chunk_size")
        # per row: an augmented / normalised copy of x (d) plus at most two (a)-wide masks or scratch rows
        per_row = (self.n_features_in_ + 2 * self.n_anchors_) * self.anchors_.element_size()
        return rows_per_chunk(n, per_row)

    def fit_transform(self, anchors: Any, y: Any = None) -> torch.Tensor:
        """Fit on ``anchors`` and return their own relative representation ``(a, a)``."""
        return self.fit(anchors).transform(anchors)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the fitted projection (parameters and anchors) to a safetensors file; returns its sha256.

        Example:
            >>> import tempfile, torch
            >>> proj = RelativeProjection("cosine", center="mean").fit(torch.randn(4, 3))
            >>> p = tempfile.mkdtemp() + "/space.safetensors"
            >>> _ = proj.save(p)
            >>> x = torch.randn(2, 3)
            >>> torch.equal(RelativeProjection.load(p).transform(x), proj.transform(x))
            True
        """
        check_fitted(self, ["state_"])
        return save_fitted(path, self, {"anchors": self.fit_anchors_})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RelativeProjection:
        """A projection saved with :meth:`save`, fitted again on its stored anchors (verified on read)."""
        params, tensors = load_fitted(path, cls, required=("anchors",))
        return cls(**params).fit(tensors["anchors"])
