"""Similarity measures between paired latent spaces: one registry, one set of definitions, all tested.

Two layers, as in torchmetrics:

* functional: ``stitch.metrics.linear_cka(x, y)``, ``debiased_cka``, ``mutual_knn``, ... — plain
  functions of two ``(n, d1)``/``(n, d2)`` matrices (torch or numpy) returning a float;
* registry: :data:`METRICS` maps names to :class:`Metric` records that add validation (ids, labels,
  minimum samples) and declare, as data, kind (score / distance), range, symmetry, invariances (names
  from :data:`stitch.core.transforms.TRANSFORM_CLASSES`), labels needed and minimum samples. Plugins add
  their own with :func:`register_metric` (a plain ``fn(x, y) -> float`` plus metadata is enough).

Conventions every built-in follows: rows are samples (``(n, d)``, never features x samples); scores
grow with similarity, distances shrink; accumulation is float64; NaN/Inf, constant inputs, mismatched
lengths or ids and too few samples raise errors instead of returning NaN.

Example:
    >>> import torch
    >>> from stitch.metrics import get_metric, linear_cka
    >>> x = torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
    >>> round(linear_cka(x, 2 * x), 6), get_metric("linear_cka").kind
    (1.0, 'score')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stitch.utils.names import BUILTIN, NameTable
from stitch.metrics._base import Metric
from stitch.metrics.cca import canonical_correlations, eigenspace_overlap, mean_cca, pwcca, svcca
from stitch.metrics.cka import StreamingCKA, debiased_cka, linear_cka, minibatch_cka, rbf_cka
from stitch.metrics.gw import gromov_wasserstein
from stitch.metrics.neighbors import (
    chance_for,
    cycle_knn,
    cycle_knn_chance,
    joint_rank_jaccard,
    knn_indices,
    knn_jaccard_chance,
    mrr_chance,
    mutual_knn,
    rank_similarity,
    relrep_cosine,
    retrieval_mrr,
    second_order_cosine,
)
from stitch.metrics.predictive import gulp, linear_r2, stitching_score
from stitch.metrics.procrustes import (
    aligned_cosine,
    bures_similarity,
    permutation_match,
    procrustes,
    procrustes_euclidean,
    shape_metric,
    soft_correlation_match,
)
from stitch.metrics.rsa import distance_correlation, rdm, rsa, rsa_pearson, rsa_spearman, rsm_norm_difference
from stitch.metrics.statistics import concentricity_difference, magnitude_difference, uniformity_difference

__all__ = [
    "METRICS",
    "UNAVAILABLE_MEASURES",
    "Metric",
    "register_metric",
    "get_metric",
    "list_metrics",
    "describe_metrics",
    # functional API
    "linear_cka",
    "rbf_cka",
    "debiased_cka",
    "minibatch_cka",
    "StreamingCKA",
    "mean_cca",
    "svcca",
    "pwcca",
    "canonical_correlations",
    "procrustes",
    "procrustes_euclidean",
    "bures_similarity",
    "shape_metric",
    "aligned_cosine",
    "permutation_match",
    "soft_correlation_match",
    "eigenspace_overlap",
    "gulp",
    "distance_correlation",
    "rsm_norm_difference",
    "second_order_cosine",
    "rank_similarity",
    "joint_rank_jaccard",
    "magnitude_difference",
    "concentricity_difference",
    "uniformity_difference",
    "rdm",
    "rsa",
    "rsa_pearson",
    "rsa_spearman",
    "knn_indices",
    "mutual_knn",
    "knn_jaccard_chance",
    "cycle_knn",
    "cycle_knn_chance",
    "retrieval_mrr",
    "mrr_chance",
    "relrep_cosine",
    "linear_r2",
    "stitching_score",
    "gromov_wasserstein",
]

#: Every registered metric (built-ins and plugins).
METRICS: NameTable[Metric] = NameTable("metric", list_command="stitch metrics list")

#: Measures of the ReSi benchmark that are deliberately not provided, and why (shown by ``stitch metrics list``).
UNAVAILABLE_MEASURES: dict[str, str] = {
    "rtd": "Representation Topology Divergence needs persistent homology of the barcodes (ripser++ on a GPU); "
           "latent-stitch ships no topology library, and a toy reimplementation would not match the published one",
    "imd": "Intrinsic Multi-scale Distance needs the heat-kernel trace estimates of the msid package, which is "
           "not on PyPI",
}


def register_metric(
    name: str,
    metric: Metric | Callable[..., float],
    *,
    source: str = BUILTIN,
    kind: str = "score",
    range: tuple[float, float] = (-math.inf, math.inf),
    symmetric: bool = False,
    invariances: Iterable[str] = (),
    needs_labels: bool = False,
    min_samples: int = 2,
    paired: bool = True,
    order_dependent: bool = False,
    chance: Callable[[int, Mapping[str, Any]], float] | None = None,
    defaults: Mapping[str, Any] | None = None,
    description: str = "",
    reference: str = "",
    caveat: str = "",
    aliases: Iterable[str] = (),
) -> Metric:
    """Register a metric: a :class:`Metric`, or a plain ``fn(x, y, **options) -> float`` plus its metadata.

    Metadata keywords are used only with a plain function (a :class:`Metric` carries its own). The
    defaults are the cautious choice: a score, unbounded, asymmetric, with no declared invariance.

    Example:
        >>> import torch
        >>> m = register_metric("doc_demo", lambda x, y: 0.0, source="docs", kind="distance", range=(0.0, 1.0))
        >>> get_metric("docs:doc_demo")(torch.randn(5, 2), torch.randn(5, 3))
        0.0
        >>> METRICS.unregister_source("docs")
    """
    if not isinstance(metric, Metric):
        if not callable(metric):
            raise TypeError(
                f"register_metric({name!r}, ...) expects a Metric or a callable fn(x, y) -> float, "
                f"got {type(metric).__name__}"
            )
        from stitch.utils.names import describe

        metric = Metric(
            name=name,
            fn=metric,
            kind=kind,
            range=tuple(range),  # type: ignore[arg-type]
            symmetric=symmetric,
            invariances=tuple(invariances),
            needs_labels=needs_labels,
            min_samples=min_samples,
            paired=paired,
            order_dependent=order_dependent,
            chance=chance,
            defaults=dict(defaults or {}),
            description=description or describe(metric),
            reference=reference,
            caveat=caveat,
        )
    METRICS.register(name, metric, source=source, aliases=aliases, description=metric.description)
    return metric


def get_metric(name: str | Metric) -> Metric:
    """The :class:`Metric` registered as ``name`` (bare, alias or ``plugin:name``).

    Example:
        >>> get_metric("debiased_cka").min_samples
        4
    """
    if isinstance(name, Metric):
        return name
    return METRICS.get(name)


def list_metrics(pattern: str = "*") -> list[str]:
    """Registered metric names matching a shell-style ``pattern`` (``"*cka*"``), sorted.

    Example:
        >>> list_metrics("*cka")
        ['debiased_cka', 'linear_cka', 'minibatch_cka', 'rbf_cka']
    """
    return METRICS.names(pattern)


def describe_metrics(pattern: str = "*") -> list[dict[str, Any]]:
    """Declarations of every metric matching ``pattern``, with its source (for ``stitch metrics list``).

    Example:
        >>> describe_metrics("procrustes")[0]["kind"]
        'distance'
    """
    return [{**e.obj.to_dict(), "source": e.source} for e in METRICS.entries(pattern)]


_SHAPE = ("orthogonal", "isotropic_scaling", "translation")
_ANGLE = ("orthogonal", "isotropic_scaling")
# Known failure modes of the CCA family (Kornblith et al., ICML 2019, section 3; Ding et al., NeurIPS 2021)
_CCA_CAVEAT = ("invariant to every invertible linear map, so it reports near 1 whenever samples barely outnumber "
               "dimensions, and it ignores how much variance each direction carries; prefer CKA to rank models")
_SVCCA_CAVEAT = ("depends on how many directions the SVD step keeps (keep=0.99 of the variance) and can rank an "
                 "unrelated model above a related one (Ding et al., NeurIPS 2021); read it beside CKA")


def _register_builtins() -> None:
    unit = (0.0, 1.0)
    corr = (-1.0, 1.0)
    table: list[tuple[Callable[..., float], dict[str, Any]]] = [
        (linear_cka, dict(range=unit, symmetric=True, invariances=_SHAPE, defaults={"method": "auto"},
                          reference="Kornblith et al., ICML 2019")),
        (rbf_cka, dict(range=unit, symmetric=True, invariances=_SHAPE, defaults={"threshold": 1.0},
                       reference="Kornblith et al., ICML 2019 (median-distance bandwidth)")),
        (debiased_cka, dict(range=corr, symmetric=True, invariances=_SHAPE, min_samples=4,
                            reference="Song et al., JMLR 2012 unbiased HSIC; Nguyen et al., ICLR 2021")),
        (minibatch_cka, dict(range=corr, symmetric=True, invariances=_SHAPE, min_samples=4, order_dependent=True,
                             defaults={"batch_size": 512}, reference="Nguyen et al., ICLR 2021")),
        (mean_cca, dict(range=unit, symmetric=True, invariances=("affine",), min_samples=3,
                        reference="Hotelling 1936", caveat=_CCA_CAVEAT)),
        (svcca, dict(range=unit, symmetric=True, invariances=_SHAPE, min_samples=3, defaults={"keep": 0.99},
                     reference="Raghu et al., NeurIPS 2017", caveat=_SVCCA_CAVEAT)),
        (pwcca, dict(range=unit, symmetric=False, min_samples=3,
                     invariances=("signed_permutation", "isotropic_scaling", "translation"),
                     reference="Morcos et al., NeurIPS 2018", caveat=_CCA_CAVEAT)),
        (procrustes, dict(kind="distance", range=(0.0, math.pi / 2), symmetric=True, invariances=_SHAPE,
                          reference="Williams et al., NeurIPS 2021 (angular shape metric)")),
        (procrustes_euclidean, dict(kind="distance", range=(0.0, math.sqrt(2.0)), symmetric=True, invariances=_SHAPE,
                                    reference="Ding et al., NeurIPS 2021 (orthogonal Procrustes on normalised data)")),
        (bures_similarity, dict(range=unit, symmetric=True, invariances=_SHAPE,
                                reference="Tang et al., NeurIPS 2020 (normalised Bures similarity)")),
        (shape_metric, dict(kind="distance", range=(0.0, math.pi / 2), symmetric=True,
                            invariances=("orthogonal", "translation"), defaults={"alpha": 0.5},
                            reference="Williams et al., NeurIPS 2021 (partial whitening)")),
        (aligned_cosine, dict(range=corr, symmetric=True, invariances=_SHAPE,
                              reference="Hamilton et al., ACL 2016 (aligned cosine similarity)")),
        (permutation_match, dict(range=corr, symmetric=True, aliases=("hard_correlation_match",),
                                 invariances=("permutation", "anisotropic_scaling", "translation"),
                                 reference="Li et al., ICLR 2016 (Hungarian matching of units; hard correlation "
                                           "match)")),
        (soft_correlation_match, dict(range=corr, symmetric=True,
                                      invariances=("permutation", "anisotropic_scaling", "translation"),
                                      reference="Li et al., ICLR 2016 (soft correlation match)")),
        (eigenspace_overlap, dict(range=unit, symmetric=True, invariances=("invertible_linear",),
                                  reference="May et al., NeurIPS 2019 (eigenspace overlap score)")),
        (gulp, dict(kind="distance", range=(0.0, math.inf), symmetric=True, invariances=("affine",),
                    defaults={"lam": 0.0}, reference="Boix-Adsera et al., NeurIPS 2022 (GULP)")),
        (distance_correlation, dict(range=unit, symmetric=True, invariances=_SHAPE,
                                    reference="Szekely, Rizzo & Bakirov, Ann. Stat. 2007")),
        (rsm_norm_difference, dict(kind="distance", range=(0.0, math.inf), symmetric=True,
                                   invariances=("orthogonal", "translation"),
                                   reference="Shahbazi et al., NeuroImage 2021 (RSM norm difference)")),
        (rsa_spearman, dict(range=corr, symmetric=True, invariances=_SHAPE, min_samples=3,
                            defaults={"rdm_metric": "euclidean"}, reference="Kriegeskorte et al., 2008")),
        (rsa_pearson, dict(range=corr, symmetric=True, invariances=_SHAPE, min_samples=3,
                           defaults={"rdm_metric": "euclidean"}, reference="Kriegeskorte et al., 2008")),
        (mutual_knn, dict(range=unit, symmetric=True, invariances=_SHAPE, min_samples=3,
                          defaults={"k": 10, "metric": "euclidean"}, chance=lambda n, o: chance_for("mutual_knn", n, o),
                          reference="Jaccard@k as in Moschella et al., ICLR 2023")),
        (cycle_knn, dict(range=unit, symmetric=False, invariances=_SHAPE, min_samples=3,
                         defaults={"k": 10, "metric": "euclidean"}, chance=lambda n, o: chance_for("cycle_knn", n, o),
                         reference="Huh et al., ICML 2024")),
        (second_order_cosine, dict(range=corr, symmetric=True, invariances=_ANGLE, min_samples=3,
                                   defaults={"k": 10}, reference="Hamilton et al., EMNLP 2016")),
        (rank_similarity, dict(range=unit, symmetric=True, invariances=_ANGLE, min_samples=3,
                               defaults={"k": 10, "metric": "cosine"}, reference="Wang et al., 2022")),
        (joint_rank_jaccard, dict(range=unit, symmetric=True, invariances=_ANGLE, min_samples=3,
                                  defaults={"k": 10, "metric": "cosine"}, reference="Wang et al., 2022")),
        (magnitude_difference, dict(kind="distance", range=(0.0, math.inf), symmetric=True, paired=False,
                                    invariances=("orthogonal",), reference="Wang et al., 2020; ReSi")),
        (concentricity_difference, dict(kind="distance", range=(0.0, 2.0), symmetric=True, paired=False,
                                        invariances=_ANGLE, reference="Wang et al., 2020; ReSi")),
        (uniformity_difference, dict(kind="distance", range=(0.0, math.inf), symmetric=True, paired=False,
                                     invariances=("orthogonal", "translation"), defaults={"t": 2.0},
                                     reference="Wang & Isola, ICML 2020")),
        (retrieval_mrr, dict(range=unit, symmetric=False, invariances=_ANGLE, order_dependent=True,
                             defaults={"n_anchors": 300, "seed": 0}, chance=lambda n, o: mrr_chance(n),
                             reference="Moschella et al., ICLR 2023")),
        (relrep_cosine, dict(range=corr, symmetric=True, invariances=_ANGLE, order_dependent=True,
                             defaults={"n_anchors": 300, "seed": 0}, reference="Moschella et al., ICLR 2023")),
        (linear_r2, dict(range=(-math.inf, 1.0), symmetric=False, invariances=_SHAPE, min_samples=10,
                         order_dependent=True, defaults={"alpha": 1e-6, "n_folds": 5, "seed": 0},
                         reference="cross-validated ridge regression")),
        (gromov_wasserstein, dict(kind="distance", range=(0.0, math.inf), symmetric=True, invariances=_SHAPE,
                                  paired=False, defaults={"max_samples": 500, "seed": 0},
                                  reference="Memoli 2011; POT gromov_wasserstein2")),
        (stitching_score, dict(range=unit, symmetric=False, invariances=_ANGLE, needs_labels=True, min_samples=4,
                               order_dependent=True, defaults={"n_anchors": 300, "test_fraction": 0.5, "seed": 0},
                               reference="zero-shot stitching, Moschella et al., ICLR 2023")),
    ]
    from stitch.utils.names import describe

    for fn, meta in table:
        register_metric(fn.__name__, fn, description=describe(fn), **meta)


_register_builtins()
