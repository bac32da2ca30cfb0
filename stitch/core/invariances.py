"""Invariance declarations: which transform classes a relative space is invariant to, as data.

Similarity functions declare the classes of :data:`stitch.core.transforms.TRANSFORM_CLASSES` they are invariant
to without centering; the sets under the other centerings follow from rules (:func:`derive_invariances`), and
a scale-free output normalisation adds ``isotropic_scaling`` to any homogeneous function. Sets are closed
under inclusion: invariance to ``orthogonal`` implies invariance to ``permutation``.

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

from collections.abc import Iterable

from stitch.core.transforms import TRANSFORM_CLASSES, implied_by

__all__ = ["CENTERINGS", "closure", "derive_invariances", "check_center"]

#: Centering options accepted by every projection (``None`` means no centering).
CENTERINGS: tuple[str | None, ...] = (None, "mean", "standardize")

_STANDARDIZE_GROUP = frozenset({"translation", "isotropic_scaling", "anisotropic_scaling"})


def closure(classes: Iterable[str]) -> frozenset[str]:
    """``classes`` plus every class they contain (invariance to orthogonal maps implies to permutations).

    Example:
        >>> sorted(closure({"orthogonal"}))
        ['orthogonal', 'permutation', 'signed_permutation']
    """
    given = set(classes)
    for kind in given:
        if kind not in TRANSFORM_CLASSES:
            raise ValueError(
                f"unknown transform class {kind!r} in an invariance declaration; "
                f"expected names from stitch.core.transforms.TRANSFORM_CLASSES: {', '.join(TRANSFORM_CLASSES)}"
            )
    return frozenset(k for k in TRANSFORM_CLASSES if k in given or any(p in given for p in implied_by(k)))


def derive_invariances(base: Iterable[str]) -> dict[str | None, frozenset[str]]:
    """Invariances under each centering option, derived from those without centering (rules above).

    Example:
        >>> sorted(derive_invariances({"orthogonal"})["mean"])
        ['orthogonal', 'permutation', 'signed_permutation', 'translation']
    """
    none = closure(base)
    mean = set(none) | {"translation"}
    if "invertible_linear" in none:
        mean.add("affine")
    standardize = set(_STANDARDIZE_GROUP) | (none & {"permutation", "signed_permutation"})
    return {None: none, "mean": closure(mean), "standardize": closure(standardize)}


def check_center(center: str | None) -> str | None:
    """``center`` normalised (``"none"`` is ``None``), or a ``ValueError`` listing the options.

    Example:
        >>> check_center("none") is None, check_center("mean")
        (True, 'mean')
    """
    from stitch.utils.checks import check_choice

    if center is None or center == "none":
        return None
    return check_choice(center, [c for c in CENTERINGS if c is not None], "center")
