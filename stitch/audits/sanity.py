"""Grounding tests: does a similarity measure track what the user's own models *do*?

A measure can be mathematically sound and still blind to the differences that matter. These tests,
run on the audited encoders and data (``stitch audit ... --sanity``), score every measure by rank
correlations between its values and a ground truth it should follow:

* ``layer_monotonicity`` (ReSi, Klabunde et al., test 6): in a layer x layer audit of one model, similarity
  to a reference layer must fall as layer distance grows. Score: mean Spearman rho between similarity and
  ``-|layer_i - layer_j|`` per reference layer; also the fraction of violated orderings.
* ``pca_deletion`` (Ding, Denain & Steinhardt 2021): removing the top-``k`` principal components of a
  representation must lower its similarity to the original as ``k`` grows, in step with the linear-probe
  accuracy it destroys. Score: mean Spearman rho between similarity and probe accuracy over ``k``.
* ``output_correspondence`` (ReSi tests 1-2): across model pairs, similarity must track functional
  agreement. Score: Spearman rho between similarity and ``-disagreement`` of the models' linear probes
  (fraction of held-out samples they classify differently); also against ``-|accuracy difference|``.
* ``label_randomisation`` (ReSi test 3, opt-in: it trains models): an architecture of the user's choice is
  trained from scratch on the training split with 0 %, 50 % and 100 % of the labels shuffled, several seeds
  each; pairs trained at the same level must look more similar than pairs across levels. Score: the
  AUPRC of separating same-level from cross-level pairs by similarity, rescaled so chance is 0 and a
  perfect separation 1 (``(AUPRC - base rate) / (1 - base rate)``).

Distances are negated first, so for every test and measure *higher rho = better grounded*. A test passes at
``rho >= PASS_RHO``. Probes are seeded logistic regressions on a fixed half of the audited rows, scored on
the other half.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from stitch.audits.result import AuditResult

__all__ = ["SANITY_TESTS", "PASS_RHO", "layer_monotonicity", "pca_deletion", "output_correspondence",
           "label_randomisation", "run_sanity", "rank_measures", "RANDOMISATION_LEVELS",
           "RANDOMISATION_SEEDS"]

#: the grounding tests ``--sanity`` runs, in report order
SANITY_TESTS = ("layer_monotonicity", "pca_deletion", "output_correspondence", "label_randomisation")
#: fractions of training labels shuffled in the label-randomisation test
RANDOMISATION_LEVELS = (0.0, 0.5, 1.0)
#: the seeds trained at each randomisation level
RANDOMISATION_SEEDS = (0, 1)
#: Spearman rho at or above which a measure passes a grounding test
PASS_RHO = 0.5
#: principal components removed by the deletion test (those below the representation's width)
DELETIONS = (0, 1, 2, 4, 8, 16, 32, 64)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    return float(spearmanr(a[ok], b[ok]).statistic)


def _oriented(decl: Mapping[str, Any], values: np.ndarray) -> np.ndarray:
    return values if decl["kind"] == "score" else -values


def layer_monotonicity(result: AuditResult) -> dict[str, dict[str, Any]]:
    """Per measure: mean Spearman rho of similarity vs ``-|layer distance|``, and the violated-order fraction.

    Needs a layer x layer audit of one encoder (``audit_layers(enc, enc, ...)``); the diagonal is left out.

    Example:
        >>> sim = np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.7], [0.5, 0.7, 1.0]])
        >>> r = AuditResult(["a@0", "a@1", "a@2"], ["a@0", "a@1", "a@2"], {"m": sim}, {"m": {"kind": "score"}},
        ...                 {"m": {}}, {"m": None}, config={"layers": [0, 1, 2], "layers_b": [0, 1, 2],
        ...                 "encoder_a": "a", "encoder_b": "a"})
        >>> layer_monotonicity(r)["m"]["violations"]
        0.0
    """
    cfg = result.config
    layers, layers_b = cfg.get("layers"), cfg.get("layers_b")
    if not layers or cfg.get("encoder_a") != cfg.get("encoder_b") or list(layers) != list(layers_b):
        raise ValueError("layer monotonicity needs a layer x layer audit of one encoder with the same layers on "
                         "both sides (stitch audit --encoders ENC --layers 0,2,4,6)")
    if len(layers) < 3:
        raise ValueError(f"layer monotonicity needs at least 3 layers, got {list(layers)}")
    pos = np.asarray(layers, dtype=float)
    out = {}
    for metric, values in result.values.items():
        sim = _oriented(result.declarations[metric], np.asarray(values, dtype=float))
        rhos, bad, total = [], 0, 0
        for i in range(len(pos)):
            others = [j for j in range(len(pos)) if j != i]
            dist = np.abs(pos[others] - pos[i])
            s = sim[i, others]
            rho = _spearman(s, -dist)
            if rho is not None:
                rhos.append(rho)
            for a in range(len(others)):
                for b in range(len(others)):
                    if dist[a] < dist[b] and np.isfinite(s[a]) and np.isfinite(s[b]):
                        total += 1
                        bad += bool(s[a] < s[b])
        out[metric] = {"rho": float(np.mean(rhos)) if rhos else None,
                       "violations": bad / total if total else None}
    return out


def _probe(z: torch.Tensor, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions of a seeded logistic-regression probe and the held-out mask."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    n = len(z)
    test = np.zeros(n, dtype=bool)
    test[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    x = StandardScaler().fit(z[~test].numpy()).transform(z.numpy())
    clf = LogisticRegression(max_iter=500).fit(x[~test], labels[~test])
    return clf.predict(x[test]), test


def _delete_top_pcs(z: torch.Tensor, k: int) -> torch.Tensor:
    if k == 0:
        return z
    zc = z.double() - z.double().mean(0)
    _, _, vt = torch.linalg.svd(zc, full_matrices=False)
    top = vt[:k]
    return (z.double() - (zc @ top.T) @ top).to(z.dtype)


def _metric_value(metric: str, x: torch.Tensor, y: torch.Tensor, options: Mapping[str, Any],
                  labels: np.ndarray | None) -> float:
    from stitch.metrics import get_metric

    m = get_metric(metric)
    try:
        return m(x, y, labels=labels if m.needs_labels else None, **options)
    except ValueError:
        return math.nan  # undefined for this pair (e.g. a rank-deficient deletion for CCA): left out


def pca_deletion(latents: Mapping[str, torch.Tensor], labels: np.ndarray, metrics: Sequence[str],
                 options: Mapping[str, Mapping[str, Any]], *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per measure: mean over models of Spearman rho(similarity to the original, probe accuracy) over deletions.

    Also reports ``monotone``: the mean Spearman rho of similarity vs ``-k`` (1 = falls with every deletion).

    Shapes:
        latents: ``{model: (n, d)}``, labels: ``(n,)``

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = np.arange(200) % 4
        >>> z = torch.randn(200, 12, generator=g) + 3 * torch.nn.functional.one_hot(torch.tensor(y), 12).float()
        >>> r = pca_deletion({"m": z}, y, ["linear_cka"], {"linear_cka": {}})
        >>> r["linear_cka"]["monotone"] > 0.9
        True
    """
    labels = np.asarray(labels)
    per_metric: dict[str, dict[str, list[float]]] = {m: {"rho": [], "monotone": []} for m in metrics}
    for z in latents.values():
        ks = [k for k in DELETIONS if k < min(z.shape[1], len(z) - 1)]
        deleted = [_delete_top_pcs(z, k) for k in ks]
        acc = []
        for zk in deleted:
            pred, test = _probe(zk, labels, seed)
            acc.append(float((pred == labels[test]).mean()))
        for metric in metrics:
            decl = _declaration(metric)
            sims = _oriented(decl, np.array([_metric_value(metric, z, zk, options.get(metric, {}), labels)
                                             for zk in deleted]))
            for key, truth in (("rho", acc), ("monotone", [-k for k in ks])):
                rho = _spearman(sims, truth)
                if rho is not None:
                    per_metric[metric][key].append(rho)
    return {m: {k: float(np.mean(v)) if v else None for k, v in d.items()} for m, d in per_metric.items()}


def output_correspondence(result: AuditResult, latents: Mapping[str, torch.Tensor], labels: np.ndarray, *,
                          seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per measure: Spearman rho of similarity vs ``-disagreement`` and vs ``-|accuracy difference|`` over pairs.

    Needs a model x model audit of at least 3 models (3 pairs).

    Shapes:
        latents: ``{model: (n, d)}`` for every model of ``result``, labels: ``(n,)``
    """
    names = result.rows
    if result.rows != result.cols or len(names) < 3:
        raise ValueError(f"output correspondence needs a model x model audit of at least 3 models, got rows "
                         f"{result.rows} and columns {result.cols}")
    labels = np.asarray(labels)
    preds, accs = {}, {}
    for name in names:
        pred, test = _probe(latents[name], labels, seed)
        preds[name], accs[name] = pred, float((pred == labels[test]).mean())
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    disagree = [-float((preds[names[i]] != preds[names[j]]).mean()) for i, j in pairs]
    acc_gap = [-abs(accs[names[i]] - accs[names[j]]) for i, j in pairs]
    out = {}
    for metric, values in result.values.items():
        sim = _oriented(result.declarations[metric], np.asarray(values, dtype=float))
        # a symmetric view: asymmetric measures are averaged over both directions
        s = [(sim[i, j] + sim[j, i]) / 2 for i, j in pairs]
        out[metric] = {"rho": _spearman(s, disagree), "rho_accuracy": _spearman(s, acc_gap)}
    out["_probes"] = {"accuracy": accs}
    return out


def _shuffled_labels(dataset: Any, fraction: float, seed: int) -> Any:
    import dataclasses

    labels = np.array(dataset.labels, copy=True)
    train = np.asarray(dataset.indices("train"))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(train, size=int(round(fraction * len(train))), replace=False)
    labels[chosen] = labels[rng.permutation(chosen)]
    return dataclasses.replace(dataset, name=f"{dataset.name}-shuffled{fraction:g}-s{seed}", labels=labels)


def _separation(scores: Sequence[float], same: Sequence[bool]) -> float | None:
    from sklearn.metrics import average_precision_score

    scores, same = np.asarray(scores, dtype=float), np.asarray(same, dtype=bool)
    ok = np.isfinite(scores)
    if ok.sum() < 3 or same[ok].all() or not same[ok].any():
        return None
    base = float(same[ok].mean())
    return (float(average_precision_score(same[ok], scores[ok])) - base) / (1.0 - base)


def label_randomisation(dataset: Any, architecture: str, metrics: Sequence[str],
                        options: Mapping[str, Mapping[str, Any]], *, split: str | None, work_dir: Any,
                        rows: np.ndarray | None = None, epochs: int = 10, seed: int = 0,
                        progress: bool | None = None) -> dict[str, dict[str, Any]]:
    """Per measure: how well similarity separates same-level from cross-level pairs of label-shuffled models.

    Trains ``architecture`` (an encoder name that :func:`~stitch.experiment.training.train_encoder` accepts,
    e.g. ``"text-bag"``) once per level of :data:`RANDOMISATION_LEVELS` and seed of
    :data:`RANDOMISATION_SEEDS`, into ``work_dir``; encodes ``split`` (``rows`` of it) with each.
    """
    from pathlib import Path

    from stitch.encoder.cache import encode
    from stitch.experiment.training import train_encoder
    from stitch.plugins import create_encoder
    from stitch.utils.progress import phase

    models: dict[tuple[float, int], torch.Tensor] = {}
    for level in RANDOMISATION_LEVELS:
        for s in RANDOMISATION_SEEDS:
            phase(f"sanity: training {architecture} with {level:.0%} of the labels shuffled (seed {s})",
                  enabled=progress)
            shuffled = _shuffled_labels(dataset, level, seed + s)
            trained = train_encoder(architecture, shuffled, out=Path(work_dir) / f"{level:g}-{s}.safetensors",
                                    schedule={"epochs": epochs, "patience": None}, seed=s, val_split=None,
                                    test_split=None, progress=False)
            z = encode(create_encoder(trained.name), dataset, split, cache=False, progress=False).latents
            models[(level, s)] = z if rows is None else z[torch.from_numpy(rows)]
    keys = list(models)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    same = [a[0] == b[0] for a, b in pairs]
    out = {}
    for metric in metrics:
        decl = _declaration(metric)
        vals = np.array([_metric_value(metric, models[a], models[b], options.get(metric, {}), None)
                         if not decl["needs_labels"] else math.nan for a, b in pairs])
        out[metric] = {"rho": _separation(_oriented(decl, vals), same)}
    return out


def _declaration(metric: str) -> dict[str, Any]:
    from stitch.metrics import get_metric

    return get_metric(metric).to_dict()


def run_sanity(result: AuditResult, *, encoders: Sequence[str] | Mapping[str, str], dataset: Any,
               layers: Sequence[int] | None = None, split: str | None = "test", metrics: Sequence[str] | None = None,
               n: int | None = None, seed: int = 0, metric_options: Mapping[str, Mapping[str, Any]] | None = None,
               cache_root: Any = None, data_root: Any = None, engine: Any = None, progress: bool | None = None,
               train: str | None = None, work_dir: Any = None, **_: Any) -> dict[str, Any]:
    """Every grounding test that applies to ``result``'s audit, on the same latents (read back from the cache).

    ``train``: an architecture to train from scratch for the label-randomisation test (into ``work_dir``,
    default a temporary folder); without it that test is reported as not run.

    Returns ``{"tests": {test: {metric: scores} | {"skipped": why}}, "ranking": [...], "pass_rho": PASS_RHO}``.
    """
    from stitch.audits.runner import encode_all, layer_refs
    from stitch.audits.statistics import subsample_rows
    from stitch.utils.progress import phase

    if isinstance(encoders, Mapping):
        refs = dict(encoders)
    else:
        refs = {e: e for e in encoders}
    if layers is not None:
        names = list(refs.values())
        refs = layer_refs(names[0], layers)
        if len(names) == 2 and names[1] != names[0]:
            refs.update(layer_refs(names[1], layers))
    latents, ds = encode_all(refs, dataset, split, cache_root=cache_root, data_root=data_root, progress=progress,
                             engine=engine)
    labels = np.asarray(ds.split_labels(split))
    n_total = len(labels)
    idx = subsample_rows(n_total, n, seed)
    if idx is not None:
        latents = {k: v[torch.from_numpy(idx)] for k, v in latents.items()}
        labels = labels[idx]
    metric_names = list(result.values)
    options = {m: dict(result.options.get(m, {})) for m in metric_names}
    tests: dict[str, Any] = {}
    phase("sanity: layer monotonicity", enabled=progress)
    try:
        tests["layer_monotonicity"] = layer_monotonicity(result)
    except ValueError as exc:
        tests["layer_monotonicity"] = {"skipped": str(exc)}
    phase("sanity: PCA deletion", enabled=progress)
    rows = {k: latents[k] for k in result.rows}
    tests["pca_deletion"] = pca_deletion(rows, labels, metric_names, options, seed=seed)
    phase("sanity: output correspondence", enabled=progress)
    try:
        tests["output_correspondence"] = output_correspondence(result, latents, labels, seed=seed)
    except ValueError as exc:
        tests["output_correspondence"] = {"skipped": str(exc)}
    if train is None:
        tests["label_randomisation"] = {"skipped": "it trains models: pass an architecture to train (stitch audit "
                                                   "--sanity-train text-bag, or run_sanity(..., train=...))"}
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            tests["label_randomisation"] = label_randomisation(
                ds, train, metric_names, options, split=split, work_dir=work_dir or tmp, rows=idx, seed=seed,
                progress=progress)
    return {"tests": tests, "ranking": rank_measures(tests, metric_names), "pass_rho": PASS_RHO}


def rank_measures(tests: Mapping[str, Any], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Measures ordered by their mean grounding rho over the tests that ran (best first), with pass counts.

    Example:
        >>> rank_measures({"t": {"a": {"rho": 0.9}, "b": {"rho": 0.1}}}, ["a", "b"])[0]["metric"]
        'a'
    """
    rows = []
    for metric in metrics:
        scores = {t: r[metric]["rho"] for t, r in tests.items() if metric in r and r[metric].get("rho") is not None}
        mean = float(np.mean(list(scores.values()))) if scores else None
        rows.append({"metric": metric, "mean_rho": mean, "scores": scores,
                     "passed": sum(v >= PASS_RHO for v in scores.values()), "ran": len(scores)})
    # measures no test could score (undefined on these inputs) go last
    return sorted(rows, key=lambda r: math.inf if r["mean_rho"] is None else -r["mean_rho"])
