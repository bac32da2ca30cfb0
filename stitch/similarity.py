"""Similarity functions and the relative projection (Moschella et al., ICLR 2023).

A relative representation describes each sample by its similarity to a fixed set of anchors:
``r[i, j] = sim(x[i], anchors[j])``. Every similarity function lives in :data:`SIMILARITIES`, a
:class:`~stitch._names.NameTable` open to plugins, and declares *as data* the transform classes
(:data:`stitch.transforms.TRANSFORM_CLASSES`) it is invariant to, for each centering option.

Sign convention: **higher always means more similar.** Similarities (``cosine``, ``dot``, ``rbf``) are
returned as they are; distances (``euclidean``, ``l1``, ``linf``, ``mahalanobis``) are returned
**negated** (``-||x - a||``), so an anchor projected on itself scores ``0``, the maximum.

Built-ins:

========== ============================================== ===========================================
name       value                                          invariant to (``center=None``)
========== ============================================== ===========================================
cosine     ``<x, a> / (|x| |a|)``; a zero vector scores 0 orthogonal, isotropic scaling
dot        ``<x, a>``                                     orthogonal
euclidean  ``-|x - a|_2`` (norms + one GEMM)              orthogonal, translation
l1         ``-|x - a|_1``                                 signed permutation, translation
linf       ``-max_k |x_k - a_k|`` (Chebyshev)             signed permutation, translation
rbf        ``exp(-|x - a|^2 / (2 sigma^2))``, ``sigma`` = orthogonal, isotropic scaling, translation
           median non-zero pairwise anchor distance
           (lower median; 1 if < 2 distinct anchors)
mahalanobis ``-|W (x - a)|_2`` with ``W = S^{-1/2}``, ``S`` orthogonal, isotropic scaling, translation
           the anchors' covariance shrunk towards
           ``tr(S)/d * I`` by the Ledoit-Wolf rule
========== ============================================== ===========================================

``mahalanobis`` would be invariant to every invertible affine map without shrinkage, but shrinkage
(needed when ``d`` exceeds the number of anchors) breaks that, so it is *not* declared.

Centering (statistics always fitted on the anchors and applied to both ``x`` and the anchors):

* ``None``: raw inputs.
* ``"mean"``: subtract the anchors' mean. Adds ``translation`` to every declaration (and ``affine`` to any
  function invariant to ``invertible_linear``).
* ``"standardize"``: subtract the anchors' mean, divide each coordinate by the anchors' standard deviation
  (population; a constant coordinate is divided by 1). Every function becomes invariant to ``translation``,
  ``isotropic_scaling`` and ``anisotropic_scaling``; it keeps ``permutation`` / ``signed_permutation`` when it
  had them and loses everything else (a rotation mixes coordinates with different scales).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from stitch._checks import as_matrix, check_choice, check_fitted, check_positive_int, check_same_dim, compute_dtype
from stitch._names import BUILTIN, NameTable, describe
from stitch.transforms import TRANSFORM_CLASSES, implied_by

__all__ = [
    "SIMILARITIES",
    "CENTERINGS",
    "NORMALIZATIONS",
    "SCALE_FREE_NORMALIZATIONS",
    "Similarity",
    "register_similarity",
    "get_similarity",
    "list_similarities",
    "similarity_invariances",
    "relative_projection",
    "RelativeProjection",
    "normalize_relative",
    "standardize_stats",
    "derive_invariances",
]

#: Centering options accepted by every projection (``None`` means no centering).
CENTERINGS: tuple[str | None, ...] = (None, "mean", "standardize")

#: Output normalisations for any relative space (see :func:`normalize_relative`).
NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "standardize", "layernorm", "topk", "softmax")

#: Output normalisations that cancel a positive factor on the whole relative representation.
SCALE_FREE_NORMALIZATIONS: tuple[str, ...] = ("l2", "standardize", "layernorm")

#: Bytes of temporaries (beyond inputs and output) a projection may allocate per chunk of rows.
MEMORY_BUDGET_BYTES = 256 * 2**20

_STANDARDIZE_GROUP = frozenset({"translation", "isotropic_scaling", "anisotropic_scaling"})


# -- declarations ---------------------------------------------------------------------------------------
def _closure(classes: Iterable[str]) -> frozenset[str]:
    """``classes`` plus every class they contain (invariance to orthogonal maps implies to permutations)."""
    given = set(classes)
    for kind in given:
        if kind not in TRANSFORM_CLASSES:
            raise ValueError(
                f"unknown transform class {kind!r} in an invariance declaration; "
                f"expected names from stitch.transforms.TRANSFORM_CLASSES: {', '.join(TRANSFORM_CLASSES)}"
            )
    return frozenset(k for k in TRANSFORM_CLASSES if k in given or any(p in given for p in implied_by(k)))


def derive_invariances(base: Iterable[str]) -> dict[str | None, frozenset[str]]:
    """Invariances under each centering option, derived from those without centering.

    Used when a plugin declares only the ``center=None`` set; the rules are in the module docstring.

    Example:
        >>> sorted(derive_invariances({"orthogonal"})["mean"])
        ['orthogonal', 'permutation', 'signed_permutation', 'translation']
    """
    none = _closure(base)
    mean = set(none) | {"translation"}
    if "invertible_linear" in none:
        mean.add("affine")
    standardize = set(_STANDARDIZE_GROUP) | (none & {"permutation", "signed_permutation"})
    return {None: none, "mean": _closure(mean), "standardize": _closure(standardize)}


# -- the table --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Similarity:
    """A registered similarity function: a plain ``fn(x, anchors) -> (n, a)`` plus its declarations.

    ``prepare`` / ``apply`` are an optional fast path: ``prepare(anchors)`` computes everything that
    depends only on the anchors once (normalised anchors, bandwidth, whitening), and
    ``apply(x_chunk, state, out)`` scores one chunk of rows, writing into ``out`` when it can.
    Without them ``fn`` is called per chunk. ``fn`` must return "higher = more similar" scores.
    ``homogeneous`` declares ``fn(s x, s a) = s^p fn(x, a)`` for ``s > 0``: a scale-free output
    normalisation (:data:`SCALE_FREE_NORMALIZATIONS`) then adds ``isotropic_scaling`` to the invariances.

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
        if out is not None:
            out.copy_(result)
            return out
        return result


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
) -> Similarity:
    """Register a similarity function ``fn(x, anchors) -> (n, a)`` (higher = more similar).

    Args:
        invariances: transform class names (from :data:`stitch.transforms.TRANSFORM_CLASSES`) the function is
            invariant to without centering (the centered declarations are derived, see
            :func:`derive_invariances`), or a mapping ``{None: ..., "mean": ..., "standardize": ...}``.
        source: ``"builtin"`` or the registering plugin's name.
        homogeneous: ``fn(s x, s a) = s^p fn(x, a)`` for every ``s > 0`` (true of distances and the dot
            product); scale-free output normalisations then make the projection isotropic-scale invariant.
        prepare, apply: optional fast path (see :class:`Similarity`).

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
        declared = {c: _closure(invariances[c]) for c in CENTERINGS}
    else:
        if isinstance(invariances, str):
            invariances = [invariances]
        declared = derive_invariances(invariances)
    sim = Similarity(
        name=name,
        fn=fn,
        invariances=declared,
        description=description or describe(fn),
        prepare=prepare,
        apply=apply,
        homogeneous=bool(homogeneous),
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
    With an output ``normalization`` in :data:`SCALE_FREE_NORMALIZATIONS`, a homogeneous function (any
    distance, ``dot``) is also invariant to ``isotropic_scaling``.

    Example:
        >>> sorted(similarity_invariances("cosine"))
        ['isotropic_scaling', 'orthogonal', 'permutation', 'signed_permutation']
        >>> "translation" in similarity_invariances("cosine", center="mean")
        True
        >>> "isotropic_scaling" in similarity_invariances("euclidean", normalization="l2")
        True
    """
    sim = get_similarity(name)
    return _invariances(sim, _check_center(center), normalization)


def _invariances(sim: Similarity, center: str | None, normalization: str | None) -> frozenset[str]:
    declared = sim.invariances[center]
    if normalization is not None:
        check_choice(normalization, NORMALIZATIONS, "normalization")
    if sim.homogeneous and normalization in SCALE_FREE_NORMALIZATIONS:
        declared = _closure(declared | {"isotropic_scaling"})
    return declared


def _resolve(similarity: str | Similarity | Callable[..., torch.Tensor]) -> Similarity:
    if isinstance(similarity, (str, Similarity)):
        return get_similarity(similarity)
    if callable(similarity):
        # An ad-hoc callable: usable, but it declares nothing.
        name = getattr(similarity, "__name__", "callable")
        return Similarity(name=name, fn=similarity, invariances=derive_invariances(()))
    raise TypeError(
        f"similarity must be a registered name (see list_similarities()) or a callable fn(x, anchors), "
        f"got {type(similarity).__name__}"
    )


# -- built-in kernels -----------------------------------------------------------------------------------
def _mm(x: torch.Tensor, anchors_t: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        return x @ anchors_t
    return torch.mm(x, anchors_t, out=out)


def _unit(x: torch.Tensor) -> torch.Tensor:
    # A zero vector stays zero (eps clamp), so it scores 0 against every anchor instead of NaN.
    return F.normalize(x, dim=1, eps=1e-12)


def _prepare_cosine(anchors: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"anchors_t": _unit(anchors).T.contiguous()}


def _apply_cosine(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    return _mm(_unit(x), state["anchors_t"], out)


def _prepare_dot(anchors: torch.Tensor) -> dict[str, Any]:
    return {"anchors_t": anchors.T.contiguous()}


def _apply_dot(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    return _mm(x, state["anchors_t"], out)


def _prepare_euclidean(anchors: torch.Tensor) -> dict[str, Any]:
    # Shifting by the anchors' mean (exact for a translation-invariant distance) shrinks the norms and
    # with them the cancellation error of |x|^2 + |a|^2 - 2<x, a>.
    shift = anchors.mean(dim=0, dtype=torch.float64).to(anchors.dtype)
    a = anchors - shift
    sq = a.pow(2).sum(1, dtype=torch.float64).to(a.dtype)
    # [-2a, |a|^2, 1] against [x, 1, |x|^2]: one GEMM yields the whole |x|^2 + |a|^2 - 2<x, a> (exact scaling
    # by a power of two), with no elementwise passes over the (n, a) output.
    augmented = torch.cat([-2.0 * a, sq[:, None], torch.ones_like(sq)[:, None]], dim=1)
    return {"anchors": a, "augmented_t": augmented.T.contiguous(), "sq": sq, "shift": shift}


def _squared_distances(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    n, d = x.shape
    x_aug = torch.empty(n, d + 2, dtype=x.dtype, device=x.device)
    xs = torch.sub(x, state["shift"], out=x_aug[:, :d])
    # torch's cascaded reduction keeps |x|^2 to a few ulps without a float64 copy of the chunk
    x_sq = torch.linalg.vector_norm(xs, dim=1).square_()
    x_aug[:, d] = 1.0
    x_aug[:, d + 1] = x_sq
    d2 = _mm(x_aug, state["augmented_t"], out)
    # Where cancellation ate most of the digits (near-duplicates, tiny negatives), recompute the difference
    # directly: a sample's distance to itself becomes exactly 0 and nothing stays negative. Every other entry
    # exceeds the threshold, so one read-only screen replaces both the search and a clamp in the common case.
    rel = 1e-3 if x.dtype != torch.float64 else 1e-7
    bound = rel * float(x_sq.max() + state["sq"].max())
    if float(d2.min()) <= bound:
        rows, cols = torch.nonzero(d2 <= bound, as_tuple=True)  # candidates, then the per-pair test
        keep = d2[rows, cols] <= rel * (x_sq[rows] + state["sq"][cols])
        rows, cols = rows[keep], cols[keep]
        a = state["anchors"]
        for start in range(0, rows.numel(), 16384):
            r, c = rows[start : start + 16384], cols[start : start + 16384]
            d2[r, c] = ((xs[r].double() - a[c].double()) ** 2).sum(1).to(d2.dtype)
    return d2


def _apply_euclidean(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    return _squared_distances(x, state, out).sqrt_().neg_()


def _cdist_apply(p: float) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]:
    def apply(x: torch.Tensor, anchors: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        d = torch.cdist(x, anchors, p=p).neg_()
        if out is not None:
            out.copy_(d)
            return out
        return d

    return apply


def _median_bandwidth(anchors: torch.Tensor) -> float:
    """Median (the lower middle value for an even count) of the non-zero pairwise anchor distances; 1.0 if none."""
    a = anchors.double()
    d = torch.cdist(a, a)
    iu = torch.triu_indices(len(a), len(a), offset=1)
    pairs = d[iu[0], iu[1]]
    pairs = pairs[pairs > 0]
    return float(pairs.median()) if pairs.numel() else 1.0


def _prepare_rbf(anchors: torch.Tensor) -> dict[str, Any]:
    state = _prepare_euclidean(anchors)
    state["gamma"] = 1.0 / (2.0 * _median_bandwidth(anchors) ** 2)
    return state


def _apply_rbf(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    return _squared_distances(x, state, out).mul_(-state["gamma"]).exp_()


def _ledoit_wolf(centered: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Ledoit-Wolf shrunk covariance of already-centred rows (float64) and the shrinkage used."""
    n, d = centered.shape
    cov = centered.T @ centered / n
    mu = float(torch.trace(cov)) / d
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
    delta = float(((cov - mu * eye) ** 2).sum()) / d
    # beta: how noisy cov is as an estimate, from the spread of the rank-one terms x x^T around it.
    beta = (float(((centered**2).sum(1) ** 2).sum()) - n * float((cov**2).sum())) / (n * n * d)
    shrinkage = 1.0 if delta <= 0 else min(max(beta, 0.0), delta) / delta
    return (1 - shrinkage) * cov + shrinkage * mu * eye, shrinkage


def _prepare_mahalanobis(anchors: torch.Tensor) -> dict[str, Any]:
    a64 = anchors.double()
    mean = a64.mean(0)
    cov, shrinkage = _ledoit_wolf(a64 - mean)
    if float(torch.trace(cov)) <= 0:  # a single anchor (or identical ones): no spread to whiten by
        cov = torch.eye(anchors.shape[1], dtype=torch.float64, device=anchors.device)
    evals, evecs = torch.linalg.eigh(cov)
    floor = evals.max() * 1e-12
    whiten = (evecs * evals.clamp(min=float(floor)).rsqrt()) @ evecs.T
    whiten = whiten.to(anchors.dtype)
    state = _prepare_euclidean((anchors - mean.to(anchors.dtype)) @ whiten)
    state.update(whiten=whiten, mean=mean.to(anchors.dtype), shrinkage=shrinkage)
    return state


def _apply_mahalanobis(x: torch.Tensor, state: dict[str, Any], out: torch.Tensor | None) -> torch.Tensor:
    return _apply_euclidean((x - state["mean"]) @ state["whiten"], state, out)


def _from_state(
    prepare: Callable[[torch.Tensor], Any], apply: Callable[[torch.Tensor, Any, torch.Tensor | None], torch.Tensor]
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def fn(x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        return apply(x, prepare(anchors), None)

    return fn


def _register_builtins() -> None:
    gemm = [
        ("cosine", _prepare_cosine, _apply_cosine, {"orthogonal", "isotropic_scaling"},
         "cosine similarity; a zero vector scores 0 against every anchor"),
        ("dot", _prepare_dot, _apply_dot, {"orthogonal"}, "inner product"),
        ("euclidean", _prepare_euclidean, _apply_euclidean, {"orthogonal", "translation"},
         "negated Euclidean distance"),
        ("rbf", _prepare_rbf, _apply_rbf, {"orthogonal", "isotropic_scaling", "translation"},
         "Gaussian kernel, bandwidth = median pairwise anchor distance"),
        ("mahalanobis", _prepare_mahalanobis, _apply_mahalanobis, {"orthogonal", "isotropic_scaling", "translation"},
         "negated Mahalanobis distance, anchors' covariance with Ledoit-Wolf shrinkage"),
    ]
    for name, prepare, apply, inv, desc in gemm:
        register_similarity(name, _from_state(prepare, apply), invariances=inv, description=desc,
                            prepare=prepare, apply=apply, homogeneous=name in ("dot", "euclidean", "mahalanobis"))
    for name, p, desc, aliases in [("l1", 1.0, "negated L1 (Manhattan) distance", ("manhattan",)),
                                   ("linf", math.inf, "negated L-infinity (Chebyshev) distance", ("chebyshev",))]:
        apply = _cdist_apply(p)
        register_similarity(name, _from_state(lambda a: a, apply), invariances={"signed_permutation", "translation"},
                            description=desc, aliases=aliases, apply=apply, homogeneous=True)


_register_builtins()


# -- centering and chunking ------------------------------------------------------------------------------
def _center_stats(anchors: torch.Tensor, center: str | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if center is None:
        return None, None
    a64 = anchors.double()
    mean = a64.mean(0)
    if center == "mean":
        return mean.to(anchors.dtype), None
    std = a64.std(0, correction=0)
    # A coordinate constant over the anchors carries no scale; dividing it by 1 keeps it finite.
    std = torch.where(std > 1e-12 * std.max().clamp(min=1e-300), std, torch.ones_like(std))
    return mean.to(anchors.dtype), std.to(anchors.dtype)


def _apply_center(x: torch.Tensor, mean: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    if mean is not None:
        x = x - mean
    if scale is not None:
        x = x / scale
    return x


def _chunk_rows(chunk_size: int | None, n: int, per_row: int, itemsize: int) -> int:
    if chunk_size is not None:
        return check_positive_int(chunk_size, "chunk_size")
    return max(1, min(n, MEMORY_BUDGET_BYTES // max(1, per_row * itemsize)))


def _check_center(center: str | None) -> str | None:
    if center is None or center == "none":
        return None
    return check_choice(center, [c for c in CENTERINGS if c is not None], "center")


# -- functional API --------------------------------------------------------------------------------------
def relative_projection(
    x: Any,
    anchors: Any,
    similarity: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cosine",
    *,
    center: str | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Relative representation of ``x``: the similarity of every sample to every anchor.

    Args:
        similarity: a registered name (:func:`list_similarities`) or a callable ``fn(x, anchors)``.
        center: ``None``, ``"mean"`` or ``"standardize"``, with statistics fitted on ``anchors``.
        chunk_size: rows of ``x`` scored at a time; by default chosen so temporaries stay under
            :data:`MEMORY_BUDGET_BYTES`. Results do not depend on it.

    Returns higher-is-more-similar scores (distances negated); float16/bfloat16 inputs are computed and
    returned in float32, float64 stays float64.

    Shapes:
        x: ``(n, d)``, anchors: ``(a, d)`` -> ``(n, a)``

    Example:
        >>> import torch
        >>> a = torch.eye(3, dtype=torch.float64)
        >>> relative_projection(a, a, "cosine").diagonal().tolist()
        [1.0, 1.0, 1.0]
    """
    return RelativeProjection(similarity, center=center, chunk_size=chunk_size).fit(anchors).transform(x)


# -- output normalisation ---------------------------------------------------------------------------------
def standardize_stats(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and standard deviation of a relative space (a constant column gets std 1).

    Shapes:
        r: ``(n, a)`` -> ``(a,)``, ``(a,)``

    Example:
        >>> m, s = standardize_stats(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
        >>> m.tolist(), s.tolist()
        ([1.0, 1.0], [1.0, 1.0])
    """
    r64 = r.double()
    mean, std = r64.mean(0), r64.std(0, correction=0)
    std = torch.where(std > 1e-12 * std.max().clamp(min=1e-300), std, torch.ones_like(std))
    return mean.to(r.dtype), std.to(r.dtype)


def normalize_relative(
    r: torch.Tensor,
    method: str | None = "none",
    *,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    k: int = 10,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Normalise a relative representation row-wise or column-wise.

    Methods:
        * ``none`` / ``None``: unchanged.
        * ``l2``: each row scaled to unit L2 norm (a zero row stays zero).
        * ``standardize``: each column ``(r - mean) / std`` with **fitted** statistics ``stats`` (from
          :func:`standardize_stats` on the anchors' own relative representation); without ``stats``,
          the columns of ``r`` itself are used.
        * ``layernorm``: each row standardised by its own mean and std (per sample, no learned affine).
        * ``topk``: keep each row's ``k`` largest values, set the rest to 0 (sparsification; meant for
          non-negative scores such as cosine, rbf or softmax outputs, since 0 is the top of a negated distance).
        * ``softmax``: ``softmax(r / temperature)`` per row.

    Shapes:
        r: ``(n, a)`` -> ``(n, a)``

    Example:
        >>> normalize_relative(torch.tensor([[3.0, 4.0]], dtype=torch.float64), "l2").tolist()
        [[0.6, 0.8]]
    """
    method = "none" if method is None else check_choice(method, NORMALIZATIONS, "normalization")
    if method == "none":
        return r
    if method == "l2":
        return F.normalize(r, dim=-1, eps=1e-12)
    if method == "standardize":
        mean, std = stats if stats is not None else standardize_stats(r)
        return (r - mean) / std
    if method == "layernorm":
        return F.layer_norm(r, r.shape[-1:], eps=1e-12 if r.dtype == torch.float64 else 1e-6)
    if method == "topk":
        k = check_positive_int(k, "k")
        if k >= r.shape[-1]:
            return r
        keep = torch.topk(r, k, dim=-1).indices
        return torch.zeros_like(r).scatter_(-1, keep, r.gather(-1, keep))
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return torch.softmax(r / temperature, dim=-1)


# -- estimator --------------------------------------------------------------------------------------------
class RelativeProjection:
    """Estimator form of :func:`relative_projection`: ``fit`` on anchors, ``transform`` any samples.

    Args:
        similarity: a registered name or a callable ``fn(x, anchors) -> (n, a)``.
        center: ``None``, ``"mean"`` or ``"standardize"`` (statistics fitted on the anchors).
        normalization: output normalisation (see :func:`normalize_relative`); ``standardize`` uses column
            statistics fitted on the anchors' own relative representation.
        chunk_size: rows per chunk (default: bounded by :data:`MEMORY_BUDGET_BYTES`).
        k, temperature: parameters of the ``topk`` and ``softmax`` normalisations.

    Learned attributes: ``fit_anchors_`` (as given), ``anchors_`` (centred), ``mean_``, ``scale_``,
    ``state_`` (what the similarity precomputed from the anchors), ``norm_stats_``.

    Shapes:
        fit: anchors ``(a, d)``; transform: x ``(n, d)`` -> ``(n, a)``

    Example:
        >>> import torch
        >>> proj = RelativeProjection("euclidean").fit(torch.randn(5, 3, dtype=torch.float64))
        >>> proj.transform(torch.randn(7, 3, dtype=torch.float64)).shape
        torch.Size([7, 5])
    """

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
        return _invariances(_resolve(self.similarity), _check_center(self.center), self.normalization)

    def fit(self, anchors: Any, y: Any = None) -> RelativeProjection:
        """Fit centering statistics and the similarity's anchor-dependent state on ``anchors``."""
        center = _check_center(self.center)
        if self.normalization is not None:
            check_choice(self.normalization, NORMALIZATIONS, "normalization")
        if self.chunk_size is not None:
            check_positive_int(self.chunk_size, "chunk_size")
        self.sim_ = _resolve(self.similarity)
        anchors = as_matrix(anchors, "anchors")
        self.fit_anchors_ = anchors
        self.mean_, self.scale_ = _center_stats(anchors, center)
        self.anchors_ = _apply_center(anchors, self.mean_, self.scale_)
        self.state_ = self.sim_.fit_state(self.anchors_)
        self.norm_stats_ = (
            standardize_stats(self._raw(self.anchors_)) if self.normalization == "standardize" else ()
        )
        return self

    def _raw(self, xc: torch.Tensor, out: torch.Tensor | None = None, *, normalize: bool = False) -> torch.Tensor:
        """Scores of already-centred rows, chunked (and normalised per chunk); writes into ``out`` if given."""
        n, a = xc.shape[0], self.anchors_.shape[0]
        if out is None:
            out = torch.empty(n, a, dtype=xc.dtype, device=xc.device)
        step = self.chunk_rows(n)
        for start in range(0, n, step):
            view = out[start : start + step]
            result = self.sim_.score(xc[start : start + step], self.state_, view)
            if normalize:
                # every normalisation is row-wise or uses fitted column statistics, so chunks are exact
                result = self._normalize(result)
            if result.data_ptr() != view.data_ptr():
                view.copy_(result)
        return out

    def _normalize(self, r: torch.Tensor) -> torch.Tensor:
        return normalize_relative(
            r, self.normalization, stats=self.norm_stats_ or None, k=self.k, temperature=self.temperature
        )

    def transform(self, x: Any, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """Relative representation of ``x`` against the fitted anchors (see :func:`relative_projection`).

        Shapes:
            x: ``(n, d)`` -> ``(n, a)``
        """
        check_fitted(self, ["state_"])
        x = as_matrix(x, "x")
        check_same_dim(x, self.anchors_)
        dtype = compute_dtype(x, self.anchors_)
        if dtype != self.anchors_.dtype:
            # x in float64 but anchors fitted in float32: refit in float64 rather than lose precision.
            return type(self)(**self.get_params()).fit(self.fit_anchors_.to(dtype)).transform(x, out=out)
        if out is not None and (out.shape != (x.shape[0], self.anchors_.shape[0]) or out.dtype != dtype):
            raise ValueError(
                f"out has shape {tuple(out.shape)} and dtype {out.dtype}; expected "
                f"{(x.shape[0], self.anchors_.shape[0])} and {dtype}"
            )
        return self._project(x.to(dtype), out)

    def _project(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Transform of validated rows already in the fitted dtype (callers chunk and check)."""
        return self._raw(_apply_center(x, self.mean_, self.scale_), out, normalize=True)

    def chunk_rows(self, n: int) -> int:
        """Rows per chunk this projection uses for ``n`` samples (``chunk_size`` or the memory budget)."""
        check_fitted(self, ["state_"])
        d, a = self.anchors_.shape[1], self.anchors_.shape[0]
        # per row: an augmented / normalised copy of x (d) plus at most two (a)-wide masks or scratch rows
        return _chunk_rows(self.chunk_size, n, d + 2 * a, self.anchors_.element_size())

    def fit_transform(self, anchors: Any, y: Any = None) -> torch.Tensor:
        """Fit on ``anchors`` and return their own relative representation ``(a, a)``."""
        return self.fit(anchors).transform(anchors)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style), JSON-recordable when ``similarity`` is a name."""
        return {
            "similarity": self.similarity,
            "center": self.center,
            "normalization": self.normalization,
            "chunk_size": self.chunk_size,
            "k": self.k,
            "temperature": self.temperature,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"RelativeProjection({params})"
