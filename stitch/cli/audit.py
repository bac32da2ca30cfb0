"""``stitch audit``: every metric for every pair of encoders on one dataset, written as matrices and a report.

Encoders are named as registered, with options after ``?``: ``hf:bert-base-uncased?layer=6&pooling=cls``; a
dataset the same way (``text-folder?path=docs``). Everything can also come from a file (``--config``, TOML,
YAML or JSON: :mod:`stitch.audits.config`, the experiment files' encoder syntax); flags given on the command
line win::

    dataset = "digits"
    split = "test"
    n = 2000
    metrics = ["linear_cka", "mutual_knn"]
    out = "audit-digits"

    [[encoders]]
    name = "file:small.safetensors"
    label = "small"
    [[encoders]]
    name = "file:big.safetensors"
    label = "big"

    [metric_options.mutual_knn]
    k = 20

With ``--layers 0,6,12`` (exactly one or two encoders), the audit is layer x layer instead. ``--sanity``
adds the grounding tests (which measures track function on these models) to the report. List metrics with
``stitch metrics list``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stitch.cli.cache import add_cache_flag
from stitch.cli.engine import add_engine_flags, add_threads_flag, engine_from_args

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch audit`` to the top-level parser."""
    from stitch.cli import add_models_flag, plain

    p = subparsers.add_parser(
        "audit", help="similarity audit of several encoders on one dataset",
        description="Encode DATASET with every encoder (through the latent cache), compute every metric for "
        "every encoder pair, and write a model x model matrix per metric (JSON, CSV, LaTeX, heatmap PNG) and "
        "report.md under --out. Metrics: `stitch metrics list`.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=plain(__doc__),
    )
    p.add_argument("--config", metavar="FILE", help="read every option from an audit file (TOML, YAML or JSON; flags "
                   "override it)")
    p.add_argument("--encoders", metavar="A,B,...", action="append",
                   help="comma-separated encoder names, options after '?', e.g. 'hf:bert?layer=3' (repeatable)")
    p.add_argument("--dataset", metavar="NAME", help="registered dataset name, options after '?' "
                   "(e.g. 'text-folder?path=docs')")
    p.add_argument("--split", help="dataset split (default: test; 'all' for every sample)")
    p.add_argument("--metrics", metavar="M,N,...", help="comma-separated metric names (default: all that apply)")
    p.add_argument("--n", type=int, help="audit a seeded random subset of N samples (default: all)")
    p.add_argument("--seed", type=int, help="seed for subsampling, permutations and bootstrap (default: 0)")
    p.add_argument("--permutations", type=int, help="permutation-test draws per cell for p-values (default: 0)")
    p.add_argument("--bootstrap", type=int, help="bootstrap resamples per cell for confidence intervals (default: 0)")
    p.add_argument("--confidence", type=float, help="confidence level of bootstrap intervals (default: 0.95)")
    p.add_argument("--option", metavar="METRIC.KEY=VALUE", action="append", default=[],
                   help="metric option, e.g. mutual_knn.k=20 (repeatable)")
    p.add_argument("--layers", metavar="L1,L2,...",
                   help="layer x layer audit of one or two encoders whose adapter takes layer=")
    add_cache_flag(p)
    p.add_argument("--data", metavar="DIR", dest="data_root",
                   help="directory holding the dataset's files (default: $STITCH_DATA)")
    p.add_argument("--data-root", dest="data_root", help=argparse.SUPPRESS)  # deprecated spelling of --data
    add_models_flag(p)
    p.add_argument("--out", metavar="DIR", help="output directory")
    p.add_argument("--sanity", action="store_true", default=None,
                   help="run the grounding tests and rank the metrics by how well they track function")
    p.add_argument("--sanity-train", metavar="ENCODER", default=None,
                   help="also run the label-randomisation test, training this architecture from scratch "
                        "(e.g. text-bag; 6 short trainings)")
    p.add_argument("--color-range", choices=("data", "declared"), default=None,
                   help="heatmap colours fitted to the values (default) or spanning each metric's declared range")
    p.add_argument("--order", choices=("cluster", "given"), default=None,
                   help="heatmap order: hierarchical clustering with a dendrogram (default) or as listed")
    add_engine_flags(p)
    add_threads_flag(p)
    p.add_argument("--no-progress", action="store_true", help="no phase lines or progress bars")
    p.set_defaults(func=run)


def _options(pairs: list[str], base: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from stitch.encoder.refs import parse_value

    out = {k: dict(v) for k, v in base.items()}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        metric, dot, opt = key.partition(".")
        if not (eq and dot and metric and opt):
            raise ValueError(f"--option {pair!r} is not of the form METRIC.KEY=VALUE (e.g. mutual_knn.k=20)")
        out.setdefault(metric, {})[opt] = parse_value(value)
    return out


#: flag (argparse dest) -> audit-file field, for the flags that override a file's value
_FLAGS = {**{k: k for k in ("encoders", "dataset", "split", "metrics", "n", "seed", "permutations", "bootstrap",
                            "confidence", "out", "layers", "data_root", "color_range", "order", "sanity",
                            "sanity_train")},
          "cache": "cache_root", "models": "models_root"}


def run(args: argparse.Namespace) -> int:
    from stitch.audits import audit, audit_layers
    from stitch.audits.config import load_audit, parse_audit
    from stitch.plugins import load_dataset
    from stitch.utils.roots import using_models_root

    base = load_audit(args.config).model_dump(exclude_unset=True) if args.config else {}
    flags = {field: getattr(args, dest) for dest, field in _FLAGS.items() if getattr(args, dest, None) is not None}
    data = {**base, **flags, "metric_options": _options(args.option, base.get("metric_options", {}))}
    for key, hint in (("encoders", "--encoders A,B"), ("dataset", "--dataset NAME"), ("out", "--out DIR")):
        if key not in data:
            raise ValueError(f"no {key}: pass {hint} or set {key} in the --config file")
    cfg = parse_audit(data, source=f"file {args.config!r} with flags" if args.config else "flags")
    with using_models_root(cfg.models_root):  # --models is in cfg too: flags win over the file
        dataset = load_dataset(cfg.dataset.name, data_root=cfg.data_root, **cfg.dataset.options)
        common = dict(split=cfg.split_name, metrics=cfg.metrics, n=cfg.n, seed=cfg.seed,
                      metric_options=cfg.metric_options, cache_root=cfg.cache_root, engine=engine_from_args(args),
                      progress=False if args.no_progress else None)
        encoders = cfg.references
        names = list(encoders.values())
        if cfg.layers is not None:
            if len(names) not in (1, 2):
                raise ValueError(f"--layers compares one or two encoders layer by layer, got {len(names)}: {names}")
            res = audit_layers(names[0], names[-1], dataset, cfg.layers, **common)
        else:
            if len(names) < 2:
                raise ValueError(f"an audit compares models pairwise and needs at least two encoders, got {names}; "
                                 "pass --encoders A,B (or --layers for the layers of one encoder)")
            res = audit(encoders=encoders, dataset=dataset, permutations=cfg.permutations, bootstrap=cfg.bootstrap,
                        confidence=cfg.confidence, **common)
        if cfg.sanity:
            from stitch.audits.sanity import run_sanity

            res.sanity = run_sanity(res, encoders=encoders, dataset=dataset, layers=cfg.layers,
                                    train=cfg.sanity_train, **common)
    res.save(cfg.out, color_range=cfg.color_range, order=cfg.order)
    from stitch.audits.report import verdict_markdown

    print(verdict_markdown(res))  # the first screen of report.md: what the measures agree on
    print(f"audited {len(res.rows)} x {len(res.cols)} models on {res.config['n_samples']} samples, "
          f"{len(res.metrics)} metrics -> {cfg.out}/report.md", file=sys.stderr)
    return 0
