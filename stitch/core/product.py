"""Product of invariances (Cannistraci et al., ICLR 2024): several relative spaces, aggregated.

:class:`ProductSpace` projects samples onto the same anchors with several similarity functions, each
invariant to a different transform class, and aggregates the subspaces without training: ``concat``,
``mean`` or ``sum``. For a trainable aggregation inside a decoder (:mod:`stitch.core.aggregation`), take the
stacked ``(n, k, a)`` tensor from ``ProductSpace.transform(x, stacked=True)``.

Each subspace is normalised before aggregation (``normalization``, default ``"standardize"``: every column
standardised with statistics fitted on the anchors' own relative representation), because the raw scales of
cosine similarities and negated distances are not comparable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stitch.core.kernels import needs_grad
from stitch.core.projection import RelativeProjection
from stitch.utils.checks import as_matrix, check_choice, check_fitted, check_same_dim, compute_dtype
from stitch.utils.estimator import Estimator, load_fitted, save_fitted

__all__ = ["TRAINING_FREE_AGGREGATIONS", "ProductSpace"]

#: Aggregations ProductSpace applies itself (no parameters to train).
TRAINING_FREE_AGGREGATIONS: tuple[str, ...] = ("concat", "mean", "sum")


class ProductSpace(Estimator):
    """Several relative projections onto the same anchors, aggregated into one representation.

    Args:
        similarities: similarity function names (or callables), one subspace each.
        aggregation: ``concat`` (``(n, k * a)``), ``mean`` or ``sum`` (``(n, a)``); for a trainable
            aggregation use ``transform(x, stacked=True)`` and :func:`~stitch.core.aggregation.create_aggregation`.
        center: centering for every subspace (``None``, ``"mean"``, ``"standardize"``).
        normalization: per-subspace output normalisation (see
            :func:`~stitch.core.normalization.normalize_relative`); ``"standardize"`` (default) uses column
            statistics fitted on the anchors.
        chunk_size: rows per chunk (default: bounded memory, see :mod:`stitch.core.projection`).
        k, temperature: parameters of the ``topk`` and ``softmax`` normalisations.

    Learned attributes: ``projections_`` (one fitted :class:`~stitch.core.projection.RelativeProjection` per
    similarity), ``n_anchors_``, ``n_features_in_``.

    Shapes:
        fit: anchors ``(a, d)``; transform: x ``(n, d)`` -> ``(n, k * a)`` (concat), ``(n, a)`` (mean/sum),
        ``(n, k, a)`` (stacked)

    Example:
        >>> import torch
        >>> space = ProductSpace(["cosine", "euclidean"]).fit(torch.randn(6, 4))
        >>> space.transform(torch.randn(3, 4)).shape, space.transform(torch.randn(3, 4), stacked=True).shape
        (torch.Size([3, 12]), torch.Size([3, 2, 6]))
    """

    _estimator_kind = "transformer"
    _fitted_attributes = ("projections_",)

    def __init__(
        self,
        similarities: Sequence[str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = (
            "cosine",
            "euclidean",
            "l1",
            "linf",
        ),
        aggregation: str = "concat",
        center: str | None = None,
        normalization: str | None = "standardize",
        *,
        chunk_size: int | None = None,
        k: int = 10,
        temperature: float = 1.0,
    ) -> None:
        self.similarities = similarities
        self.aggregation = aggregation
        self.center = center
        self.normalization = normalization
        self.chunk_size = chunk_size
        self.k = k
        self.temperature = temperature

    def fit(self, anchors: Any, y: Any = None) -> ProductSpace:
        """Fit one :class:`~stitch.core.projection.RelativeProjection` per similarity on ``anchors``.

        Shapes:
            anchors: ``(a, d)``
        """
        check_choice(self.aggregation, TRAINING_FREE_AGGREGATIONS, "training-free aggregation")
        if isinstance(self.similarities, str) or not len(self.similarities):
            raise ValueError(
                f"similarities must be a non-empty list of similarity names, got {self.similarities!r}; "
                "e.g. ['cosine', 'euclidean']"
            )
        anchors = as_matrix(anchors, "anchors")
        self.projections_ = [
            RelativeProjection(s, center=self.center, normalization=self.normalization, chunk_size=self.chunk_size,
                               k=self.k, temperature=self.temperature).fit(anchors)
            for s in self.similarities
        ]
        self.n_anchors_, self.n_features_in_ = anchors.shape
        return self

    @property
    def invariances(self) -> frozenset[str]:
        """Transform classes every subspace is invariant to (the product is invariant to their intersection)."""
        check_fitted(self, ["projections_"])
        return frozenset.intersection(*(p.invariances for p in self.projections_))

    @property
    def output_dim(self) -> int:
        """Width of ``transform(x)``: ``k * a`` for concat, ``a`` otherwise."""
        check_fitted(self, ["projections_"])
        k = len(self.projections_)
        return k * self.n_anchors_ if self.aggregation == "concat" else self.n_anchors_

    def transform(self, x: Any, *, stacked: bool = False) -> torch.Tensor:
        """Aggregated relative representation of ``x``, or the ``(n, k, a)`` stack with ``stacked=True``.

        Shapes:
            x: ``(n, d)`` -> ``(n, k * a)`` / ``(n, a)`` / ``(n, k, a)``
        """
        check_fitted(self, ["projections_"])
        x = as_matrix(x, "x")
        check_same_dim(x, self.projections_[0].anchors_, estimator=type(self).__name__)
        dtype = compute_dtype(x, self.projections_[0].anchors_)
        projections = self.projections_
        if dtype != projections[0].anchors_.dtype:  # float64 samples, float32 anchors: refit in float64
            projections = [type(p)(**p.get_params(deep=False)).fit(p.fit_anchors_.to(dtype)) for p in projections]
        x = x.to(dtype)
        n, k, a = x.shape[0], len(projections), self.n_anchors_
        keep_stack = stacked or self.aggregation == "concat"
        # Rows in chunks, every subspace per chunk: temporaries stay one chunk wide whatever n is.
        step = min(p.chunk_rows(n) for p in projections)
        if needs_grad(x, projections[0].fit_anchors_):
            parts = [self._aggregate([p.project(x[s : s + step]) for p in projections], keep_stack)
                     for s in range(0, n, step)]
            out = torch.cat(parts)
        else:
            out = torch.empty((n, k, a) if keep_stack else (n, a), dtype=dtype, device=x.device)
            for start in range(0, n, step):
                xc = x[start : start + step]
                if keep_stack:
                    for i, proj in enumerate(projections):
                        proj.project(xc, out[start : start + step, i])
                else:
                    out[start : start + step] = self._aggregate([p.project(xc) for p in projections], False)
        return out if stacked or not keep_stack else out.reshape(n, k * a)

    def _aggregate(self, parts: list[torch.Tensor], keep_stack: bool) -> torch.Tensor:
        if keep_stack:
            return torch.stack(parts, dim=1)
        total = sum(parts[1:], parts[0])
        return total / len(parts) if self.aggregation == "mean" else total

    def fit_transform(self, anchors: Any, y: Any = None, *, stacked: bool = False) -> torch.Tensor:
        """Fit on ``anchors`` and return their own (aggregated or stacked) representation."""
        return self.fit(anchors).transform(anchors, stacked=stacked)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the fitted product space (parameters and anchors) to a safetensors file; returns its sha256.

        Example:
            >>> import tempfile, torch
            >>> space = ProductSpace(["cosine", "l1"], aggregation="mean").fit(torch.randn(5, 3))
            >>> p = tempfile.mkdtemp() + "/product.safetensors"
            >>> _ = space.save(p)
            >>> x = torch.randn(2, 3)
            >>> torch.equal(ProductSpace.load(p).transform(x), space.transform(x))
            True
        """
        check_fitted(self, ["projections_"])
        return save_fitted(path, self, {"anchors": self.projections_[0].fit_anchors_})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProductSpace:
        """A product space saved with :meth:`save`, fitted again on its stored anchors (verified on read)."""
        params, tensors = load_fitted(path, cls, required=("anchors",))
        return cls(**params).fit(tensors["anchors"])
