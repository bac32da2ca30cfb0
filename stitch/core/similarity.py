"""Similarity functions: the :class:`Similarity` record, the :data:`SIMILARITIES` table and its lookups.

A relative representation describes each sample by its similarity to a fixed set of anchors:
``r[i, j] = sim(x[i], anchors[j])`` (Moschella et al., ICLR 2023). Every similarity function lives in
:data:`SIMILARITIES`, a :class:`~stitch.utils.names.NameTable` open to plugins, and declares *as data* the
transform classes it is invariant to (:mod:`stitch.core.invariances`).

Sign convention: **higher always means more similar.** Similarities (``cosine``, ``dot``, ``rbf``) are
returned as they are; distances (``euclidean``, ``l1``, ``linf``, ``mahalanobis``) are returned
**negated** (``-||x - a||``), so an anchor projected on itself scores ``0``, the maximum.

Built-ins (kernels in :mod:`stitch.core.kernels`):

* ``cosine``: ``<x, a> / (|x| |a|)`` (a zero vector scores 0); invariant to orthogonal maps and isotropic
  scaling.
* ``dot``: ``<x, a>``; orthogonal.
* ``euclidean``: ``-|x - a|_2`` (norms and one GEMM); orthogonal, translation.
* ``l1``: ``-|x - a|_1``; signed permutation, translation.
* ``linf``: ``-max_k |x_k - a_k|`` (Chebyshev); signed permutation, translation.
* ``rbf``: ``exp(-|x - a|^2 / (2 sigma^2))``, ``sigma`` the median non-zero pairwise anchor distance (the
  lower median; 1 with fewer than 2 distinct anchors); orthogonal, isotropic scaling, translation.
* ``mahalanobis``: ``-|(x - a) W|_2`` with ``W W^T = S^{-1}``, ``S`` the anchors' covariance shrunk towards
  ``tr(S)/d * I`` by the Ledoit-Wolf rule; orthogonal, isotropic scaling, translation.

Invariances are listed for ``center=None``. ``mahalanobis`` would be invariant to every invertible affine map
without shrinkage, but shrinkage (needed when ``d`` exceeds the number of anchors) breaks that, so it is *not*
declared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from stitch.core.invariances import CENTERINGS, check_center, closure, derive_invariances
from stitch.core.kernels import BUILTIN_KERNELS, SELF_CHECKED, Kernel
from stitch.core.normalization import SCALE_FREE_NORMALIZATIONS, check_normalization
from stitch.utils.names import BUILTIN, NameTable, describe

__all__ = [
    "SIMILARITIES",
    "Similarity",
    "register_similarity",
    "get_similarity",
    "list_similarities",
    "similarity_invariances",
    "resolve_similarity",
]


@dataclass(frozen=True)
class Similarity:
    """A registered similarity function: a plain ``fn(x, anchors) -> (n, a)`` plus its declarations.

    ``prepare`` / ``apply`` are an optional fast path: ``prepare(anchors)`` computes everything that
    depends only on the anchors once (normalised anchors, bandwidth, whitening), and
    ``apply(x_chunk, state, out)`` scores one chunk of rows, writing into ``out`` when it can.
    Without them ``fn`` is called per chunk. ``fn`` must return "higher = more similar" scores.
    ``homogeneous`` declares ``fn(s x, s a) = s^p fn(x, a)`` for ``s > 0``: a scale-free output
    normalisation (:data:`~stitch.core.normalization.SCALE_FREE_NORMALIZATIONS`) then adds
    ``isotropic_scaling`` to the invariances. ``checks_overflow``: ``apply`` detects Inf/NaN scores itself.

    Example:
        >>> import torch
        >>> sim = get_similarity("cosine")
        >>> x = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
        >>> sim.score(x, sim.fit_state(torch.tensor([[1.0, 0.0]]))).flatten().tolist()
        [1.0, 0.0]
        >>> "orthogonal" in sim.invariances[None]
        True
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    invariances: Mapping[str | None, frozenset[str]]
    description: str = ""
    prepare: Callable[[torch.Tensor], Any] | None = None
    apply: Callable[[torch.Tensor, Any, torch.Tensor | None], torch.Tensor] | None = None
    homogeneous: bool = False
    checks_overflow: bool = False

    def fit_state(self, anchors: torch.Tensor) -> Any:
        """What :meth:`score` needs from the (centred) anchors, computed once."""
        return self.prepare(anchors) if self.prepare is not None else anchors

    def score(self, x: torch.Tensor, state: Any, out: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``(len(x), n_anchors)`` of one chunk of rows, written into ``out`` when given."""
        if self.apply is not None:
            return self.apply(x, state, out)
        result = self.fn(x, state)
        if not isinstance(result, torch.Tensor) or result.shape != (x.shape[0], state.shape[0]):
            got = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
            raise ValueError(
                f"similarity function {self.name!r} returned {got}; expected a tensor of shape "
                f"{(x.shape[0], state.shape[0])} (one score per sample and anchor)"
            )
        if out is not None and not result.requires_grad:
            return out.copy_(result)
        return result

    def invariances_under(self, center: str | None = None, normalization: str | None = None) -> frozenset[str]:
        """Declared invariances under ``center`` and an output ``normalization`` (see :func:`similarity_invariances`)."""
        declared = self.invariances[check_center(center)]
        if self.homogeneous and check_normalization(normalization) in SCALE_FREE_NORMALIZATIONS:
            declared = closure(declared | {"isotropic_scaling"})
        return declared


#: every similarity function by name, built-ins and plugins' (``stitch similarities list``)
SIMILARITIES: NameTable[Similarity] = NameTable("similarity function", list_command="stitch similarities list")


def register_similarity(
    name: str,
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    invariances: Iterable[str] | Mapping[str | None, Iterable[str]] = (),
    source: str = BUILTIN,
    description: str = "",
    aliases: Iterable[str] = (),
    prepare: Callable[[torch.Tensor], Any] | None = None,
    apply: Callable[[torch.Tensor, Any, torch.Tensor | None], torch.Tensor] | None = None,
    homogeneous: bool = False,
    checks_overflow: bool = False,
) -> Similarity:
    """Register a similarity function ``fn(x, anchors) -> (n, a)`` (higher = more similar).

    Args:
        invariances: transform class names (from :data:`stitch.core.transforms.TRANSFORM_CLASSES`) the function
            is invariant to without centering (the centered declarations are derived, see
            :func:`~stitch.core.invariances.derive_invariances`), or a mapping
            ``{None: ..., "mean": ..., "standardize": ...}``.
        source: ``"builtin"`` or the registering plugin's name.
        homogeneous: ``fn(s x, s a) = s^p fn(x, a)`` for every ``s > 0`` (true of distances and the dot
            product); scale-free output normalisations then make the projection isotropic-scale invariant.
        prepare, apply: optional fast path (see :class:`Similarity`).
        checks_overflow: ``apply`` raises :class:`~stitch.core.kernels.ScoreOverflow` itself when its scores
            overflow, so the projection skips its own pass over the scores.

    Shapes:
        fn: x ``(n, d)``, anchors ``(a, d)`` -> ``(n, a)``

    Example:
        >>> import torch
        >>> sim = register_similarity("neg_sq", lambda x, a: -torch.cdist(x, a) ** 2,
        ...                           invariances={"orthogonal", "translation"}, source="doc")
        >>> sorted(similarity_invariances("doc:neg_sq"))[:2]
        ['orthogonal', 'permutation']
        >>> SIMILARITIES.unregister_source("doc")
    """
    if not callable(fn):
        raise TypeError(f"similarity function {name!r} must be callable fn(x, anchors), got {type(fn).__name__}")
    if isinstance(invariances, Mapping):
        missing = [c for c in CENTERINGS if c not in invariances]
        if missing:
            raise ValueError(
                f"invariances for {name!r} must declare every centering option {list(CENTERINGS)}; missing {missing}"
            )
        declared = {c: closure(invariances[c]) for c in CENTERINGS}
    else:
        declared = derive_invariances([invariances] if isinstance(invariances, str) else invariances)
    sim = Similarity(
        name=name,
        fn=fn,
        invariances=declared,
        description=description or describe(fn),
        prepare=prepare,
        apply=apply,
        homogeneous=bool(homogeneous),
        checks_overflow=bool(checks_overflow),
    )
    SIMILARITIES.register(name, sim, source=source, aliases=aliases, description=sim.description)
    return sim


def get_similarity(name: str | Similarity) -> Similarity:
    """The :class:`Similarity` registered as ``name`` (bare, alias or ``plugin:name``).

    Example:
        >>> get_similarity("cosine").name
        'cosine'
    """
    if isinstance(name, Similarity):
        return name
    return SIMILARITIES.get(name)


def list_similarities(pattern: str = "*") -> list[str]:
    """Names of the registered similarity functions matching a shell-style ``pattern``.

    Example:
        >>> list_similarities("l*")
        ['l1', 'linf']
    """
    return SIMILARITIES.names(pattern)


def similarity_invariances(
    name: str | Similarity, center: str | None = None, normalization: str | None = None
) -> frozenset[str]:
    """Transform classes the similarity function ``name`` is declared invariant to under ``center``.

    The set is closed under inclusion: a function invariant to ``orthogonal`` also lists ``permutation``.
    With an output ``normalization`` in :data:`~stitch.core.normalization.SCALE_FREE_NORMALIZATIONS`, a
    homogeneous function (any distance, ``dot``) is also invariant to ``isotropic_scaling``.

    Example:
        >>> sorted(similarity_invariances("cosine"))
        ['isotropic_scaling', 'orthogonal', 'permutation', 'signed_permutation']
        >>> "translation" in similarity_invariances("cosine", center="mean")
        True
        >>> "isotropic_scaling" in similarity_invariances("euclidean", normalization="l2")
        True
    """
    return get_similarity(name).invariances_under(center, normalization)


def resolve_similarity(similarity: str | Similarity | Callable[..., torch.Tensor]) -> Similarity:
    """A registered name, a :class:`Similarity`, or an ad-hoc callable ``fn(x, anchors)`` (declaring nothing).

    Example:
        >>> resolve_similarity(lambda x, a: x @ a.T).invariances[None]
        frozenset()
    """
    if isinstance(similarity, (str, Similarity)):
        return get_similarity(similarity)
    if callable(similarity):
        name = getattr(similarity, "__name__", "callable")
        return Similarity(name=name, fn=similarity, invariances=derive_invariances(()))
    raise TypeError(
        f"similarity must be a registered name (see list_similarities()) or a callable fn(x, anchors), "
        f"got {type(similarity).__name__}"
    )


for _name, (_prepare, _apply, _inv, _homogeneous, _aliases, _desc) in BUILTIN_KERNELS.items():
    register_similarity(_name, Kernel(_prepare, _apply), invariances=_inv, description=_desc, aliases=_aliases,
                        prepare=_prepare, apply=_apply, homogeneous=_homogeneous,
                        checks_overflow=_name in SELF_CHECKED)
