"""Invariance probe: which class of transform connects two latent spaces, before any decoder is trained?

Given paired samples ``x`` (space A) and ``y`` (space B) — e.g. the same anchors through two encoders —
:func:`probe_invariance` fits the best map ``y ~ x M + b`` in each class below, measures how much of ``y`` it
leaves unexplained on held-out samples, and names the simplest class that fits about as well as the best
one. It then lists the similarity functions (with a centering option) whose declared invariances cover that
class, i.e. the relative spaces that should make the two models stitchable zero-shot.

========================= ===================================== ===========================================
class                     fitted map (closed form)              transform classes it needs invariance to
========================= ===================================== ===========================================
``orthogonal``            ``x Q`` (Procrustes, SVD)             orthogonal
``scaled_orthogonal``     ``s x Q``                             orthogonal, isotropic_scaling
``similarity``            ``s x Q + b`` (centred Procrustes)    orthogonal, isotropic_scaling, translation
``linear``                ``x M`` (least squares)               invertible_linear
``affine``                ``x M + b`` (least squares)           affine
========================= ===================================== ===========================================

When the two spaces have different widths the orthogonal maps are semi-orthogonal (isometries onto a
subspace). Residuals are relative: ``|y - y_hat|_F / |y - mean(y)|_F`` on held-out folds (``folds``-fold
cross-validation, seeded), so a general map cannot win by memorising few samples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from stitch.utils.checks import as_matrix, check_paired, check_positive_int

__all__ = ["PROBE_CLASSES", "InvarianceReport", "probe_invariance", "fit_map"]

#: Probe classes, simplest first, with the transform classes a similarity must be invariant to.
PROBE_CLASSES: dict[str, frozenset[str]] = {
    "orthogonal": frozenset({"orthogonal"}),
    "scaled_orthogonal": frozenset({"orthogonal", "isotropic_scaling"}),
    "similarity": frozenset({"orthogonal", "isotropic_scaling", "translation"}),
    "linear": frozenset({"invertible_linear"}),
    "affine": frozenset({"affine"}),
}


@dataclass
class InvarianceReport:
    """Result of :func:`probe_invariance`.

    Attributes:
        residuals: held-out relative residual per probe class (0 = exact, 1 = no better than the mean).
        fit_residuals: the same on the fitting samples.
        best_class: simplest class within tolerance of the lowest held-out residual.
        covering: ``"name"`` or ``"name[center=...]"`` for each similarity whose declared invariances cover
            ``best_class``.
        n_samples, dims, folds, seed, rtol, atol: what was probed and how.

    Example:
        >>> import torch
        >>> x = torch.randn(60, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> report = probe_invariance(x, 2.0 * x + 1.0)
        >>> report.best_class, report.dims, report.n_samples
        ('similarity', (4, 4), 60)
    """

    residuals: dict[str, float]
    fit_residuals: dict[str, float]
    best_class: str
    covering: list[str]
    n_samples: int
    dims: tuple[int, int]
    folds: int
    seed: int
    rtol: float
    atol: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Example:
            >>> x = torch.randn(60, 4, dtype=torch.float64)
            >>> probe_invariance(x, 2 * x).to_dict()["best_class"]
            'scaled_orthogonal'
        """
        return {
            "residuals": dict(self.residuals),
            "fit_residuals": dict(self.fit_residuals),
            "best_class": self.best_class,
            "covering": list(self.covering),
            "n_samples": self.n_samples,
            "dims": list(self.dims),
            "folds": self.folds,
            "seed": self.seed,
            "rtol": self.rtol,
            "atol": self.atol,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        rows = "\n".join(
            f"  {name:<18} {self.residuals[name]:.4g}{'  <- best' if name == self.best_class else ''}"
            for name in self.residuals
        )
        cover = ", ".join(self.covering) or "none of the registered similarity functions"
        return f"held-out relative residual per class:\n{rows}\ncovered by: {cover}"


#: probe class -> the translator that fits it (stitch.core.translate), with its options
_FITTERS: dict[str, tuple[str, dict[str, bool]]] = {
    "orthogonal": ("procrustes", {"center": False, "scale": False}),
    "scaled_orthogonal": ("procrustes", {"center": False, "scale": True}),
    "similarity": ("procrustes", {"center": True, "scale": True}),
    "linear": ("linear", {}),
    "affine": ("affine", {}),
}


def fit_map(x: torch.Tensor, y: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares map ``y ~ x @ matrix + bias`` within probe class ``kind``; returns ``(matrix, bias)``.

    Each class is fitted by the matching translator of :mod:`stitch.core.translate`.

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)`` -> matrix ``(d1, d2)``, bias ``(d2,)``

    Example:
        >>> x = torch.randn(20, 3, dtype=torch.float64)
        >>> m, b = fit_map(x, x + 1.0, "affine")
        >>> torch.allclose(b, torch.ones(3, dtype=torch.float64))
        True
    """
    from stitch.core.translate import create_translator

    if kind not in PROBE_CLASSES:
        raise ValueError(f"unknown probe class {kind!r}; expected one of {', '.join(PROBE_CLASSES)}")
    method, options = _FITTERS[kind]
    translator = create_translator(method, **options).fit(x, y)
    return translator.coef_, translator.intercept_


def _relative_residual(x: torch.Tensor, y: torch.Tensor, matrix: torch.Tensor, bias: torch.Tensor) -> float:
    spread = float(((y - y.mean(0)) ** 2).sum())
    err = float(((x @ matrix + bias - y) ** 2).sum())
    return (err / spread) ** 0.5 if spread > 0 else float(err > 0)


def _covering(best: str, similarities: Iterable[str] | None) -> list[str]:
    from stitch.core.invariances import CENTERINGS
    from stitch.core.similarity import list_similarities, similarity_invariances

    need = PROBE_CLASSES[best]
    out = []
    for name in similarities if similarities is not None else list_similarities():
        for center in CENTERINGS:
            if need <= similarity_invariances(name, center):
                out.append(name if center is None else f"{name}[center={center}]")
    return out


def probe_invariance(
    x: Any,
    y: Any,
    *,
    folds: int = 5,
    seed: int = 0,
    rtol: float = 0.1,
    atol: float = 1e-3,
    similarities: Iterable[str] | None = None,
) -> InvarianceReport:
    """Which transform class best connects paired samples ``x`` and ``y``, and which similarities cover it.

    Args:
        x, y: the same samples in two spaces (row ``i`` of each is sample ``i``).
        folds: cross-validation folds for the held-out residuals (``1`` fits and scores on all samples).
        seed: shuffles the samples into folds.
        rtol, atol: a class counts as fitting when its residual is ``<= best + max(atol, rtol * best)``;
            the simplest such class (order of :data:`PROBE_CLASSES`) is reported.
        similarities: names to check for coverage (default: every registered one).

    Shapes:
        x: ``(n, d1)``, y: ``(n, d2)``

    Example:
        >>> import torch
        >>> from stitch.core.transforms import sample_transform
        >>> x = torch.randn(200, 8, dtype=torch.float64)
        >>> probe_invariance(x, sample_transform("orthogonal", 8)(x)).best_class
        'orthogonal'
    """
    # Small dense problems: float64 on the CPU whatever device the latents live on.
    x = as_matrix(x, "x", dtype=torch.float64).cpu()
    y = as_matrix(y, "y", dtype=torch.float64).cpu()
    check_paired(x, y)
    folds = check_positive_int(folds, "folds")
    n = x.shape[0]
    if n < 2 * folds or n < 3:
        raise ValueError(
            f"probe_invariance needs at least {max(2 * folds, 3)} paired samples for {folds}-fold "
            f"cross-validation, got {n}; pass more samples or fewer folds"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    splits = perm.chunk(folds) if folds > 1 else [perm]
    residuals, fit_residuals = {}, {}
    for kind in PROBE_CLASSES:
        full = fit_map(x, y, kind)
        fit_residuals[kind] = _relative_residual(x, y, *full)
        if folds == 1:
            residuals[kind] = fit_residuals[kind]
            continue
        err = 0.0
        for test in splits:
            train = torch.ones(n, dtype=torch.bool)
            train[test] = False
            m, b = fit_map(x[train], y[train], kind)
            err += float(((x[test] @ m + b - y[test]) ** 2).sum())
        spread = float(((y - y.mean(0)) ** 2).sum())
        residuals[kind] = (err / spread) ** 0.5 if spread > 0 else float(err > 0)
    lowest = min(residuals.values())
    best = next(k for k, r in residuals.items() if r <= lowest + max(atol, rtol * lowest))
    notes = []
    if x.shape[1] != y.shape[1]:
        notes.append(
            f"the spaces differ in width ({x.shape[1]} vs {y.shape[1]}): orthogonal maps are semi-orthogonal "
            "and 'invariance' means the relative spaces agree, not that the maps are invertible"
        )
    if n <= x.shape[1] + 1:
        notes.append(f"only {n} samples for {x.shape[1]} dimensions: linear and affine fits are under-determined")
    return InvarianceReport(
        residuals=residuals,
        fit_residuals=fit_residuals,
        best_class=best,
        covering=_covering(best, similarities),
        n_samples=n,
        dims=(x.shape[1], y.shape[1]),
        folds=folds,
        seed=seed,
        rtol=rtol,
        atol=atol,
        notes=notes,
    )
