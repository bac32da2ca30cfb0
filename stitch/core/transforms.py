"""Classes of latent-space transforms, named once and shared by similarity functions, metrics and probes.

Similarity functions and metrics declare, as data, which of these classes they are invariant to; tests
draw a random member of each class with :func:`sample_transform` and check the declaration both ways.
A transform is ``y = x @ matrix.T + bias``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["TRANSFORM_CLASSES", "Transform", "sample_transform", "implied_by"]

#: Every transform class, with the one-line meaning shown in docs and listings.
TRANSFORM_CLASSES: dict[str, str] = {
    "permutation": "reordering of the coordinates",
    "signed_permutation": "reordering of the coordinates with sign flips",
    "orthogonal": "rotation / reflection (Q^T Q = I)",
    "isotropic_scaling": "multiplication by one positive scalar",
    "anisotropic_scaling": "a different positive scale per coordinate",
    "translation": "adding one constant vector to every sample",
    "invertible_linear": "any invertible matrix",
    "affine": "any invertible matrix followed by a translation",
}

# Each class is a special case of the classes listed for it (used to reason about invariance coverage).
_SUBSET_OF: dict[str, tuple[str, ...]] = {
    "permutation": ("signed_permutation", "orthogonal", "invertible_linear", "affine"),
    "signed_permutation": ("orthogonal", "invertible_linear", "affine"),
    "orthogonal": ("invertible_linear", "affine"),
    "isotropic_scaling": ("anisotropic_scaling", "invertible_linear", "affine"),
    "anisotropic_scaling": ("invertible_linear", "affine"),
    "translation": ("affine",),
    "invertible_linear": ("affine",),
    "affine": (),
}


def implied_by(kind: str) -> tuple[str, ...]:
    """Classes that contain ``kind``: invariance to any of them implies invariance to ``kind``.

    Example:
        >>> "orthogonal" in implied_by("permutation")
        True
    """
    if kind not in _SUBSET_OF:
        raise ValueError(f"unknown transform class {kind!r}; expected one of {', '.join(TRANSFORM_CLASSES)}")
    return _SUBSET_OF[kind]


@dataclass(frozen=True)
class Transform:
    """``y = x @ matrix.T + bias``; ``kind`` names its class.

    Shapes:
        matrix: ``(d, d)``, bias: ``(d,)``;  ``__call__``: ``(n, d)``  ->  ``(n, d)``

    Example:
        >>> t = Transform("translation", torch.eye(2), torch.tensor([1.0, -1.0]))
        >>> t(torch.zeros(3, 2)).tolist()
        [[1.0, -1.0], [1.0, -1.0], [1.0, -1.0]]
    """

    kind: str
    matrix: torch.Tensor
    bias: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.T.to(x.dtype) + self.bias.to(x.dtype)


def sample_transform(kind: str, dim: int, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> Transform:
    """Draw a random, well-conditioned member of transform class ``kind`` acting on ``dim`` coordinates.

    Scales are drawn away from 1 and translations away from 0, so a non-invariant function visibly changes.

    Shapes:
        matrix: ``(dim, dim)``, bias: ``(dim,)``

    Example:
        >>> t = sample_transform("orthogonal", 4, seed=1)
        >>> torch.allclose(t.matrix @ t.matrix.T, torch.eye(4, dtype=torch.float64))
        True
    """
    if kind not in TRANSFORM_CLASSES:
        raise ValueError(f"unknown transform class {kind!r}; expected one of {', '.join(TRANSFORM_CLASSES)}")
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(dim, dtype=dtype)
    zero = torch.zeros(dim, dtype=dtype)

    def orthogonal() -> torch.Tensor:
        q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=dtype))
        return q * torch.sign(torch.diagonal(r))  # sign fix makes q Haar-distributed

    def scales() -> torch.Tensor:
        return torch.empty(dim, dtype=dtype).uniform_(0.3, 3.0, generator=g)

    if kind == "permutation":
        matrix = eye[torch.randperm(dim, generator=g)]
    elif kind == "signed_permutation":
        signs = torch.where(torch.rand(dim, generator=g) < 0.5, -1.0, 1.0).to(dtype)
        matrix = eye[torch.randperm(dim, generator=g)] * signs[:, None]
    elif kind == "orthogonal":
        matrix = orthogonal()
    elif kind == "isotropic_scaling":
        matrix = eye * float(torch.empty(1, dtype=dtype).uniform_(2.0, 5.0, generator=g))
    elif kind == "anisotropic_scaling":
        matrix = torch.diag(scales())
    else:  # invertible_linear, affine, translation: U diag(s) V^T keeps the condition number <= 10
        matrix = orthogonal() @ torch.diag(scales()) @ orthogonal() if kind != "translation" else eye
    bias = torch.randn(dim, generator=g, dtype=dtype) * 3.0 if kind in ("translation", "affine") else zero
    return Transform(kind=kind, matrix=matrix, bias=bias)
