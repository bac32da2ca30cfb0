"""``stitch audit``: every metric for every pair of encoders on one dataset, written as matrices and a report.

Encoders are named as registered, with options after ``?``: ``hf:bert-base-uncased?layer=6&pooling=cls``.
Everything can also come from a TOML file (``--config``); flags given on the command line win::

    dataset = "digits"
    split = "test"
    n = 2000
    metrics = ["linear_cka", "mutual_knn"]
    out = "audit-digits"

    [encoders]            # label = "name?options", or a list of names
    small = "file:small.safetensors"
    big = "file:big.safetensors"

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
from stitch.cli.engine import add_engine_flags, engine_from_args

_KEYS = {
    "encoders", "dataset", "split", "metrics", "n", "seed", "permutations", "bootstrap", "confidence", "out",
    "layers", "metric_options", "cache", "data_root", "color_range", "order", "sanity",
    "sanity_train",
}


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
    p.add_argument("--config", metavar="TOML", help="read every option from a TOML file (flags override it)")
    p.add_argument("--encoders", metavar="A,B,...", action="append",
                   help="comma-separated encoder names, options after '?', e.g. 'hf:bert?layer=3' (repeatable)")
    p.add_argument("--dataset", metavar="NAME", help="registered dataset name")
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
    p.add_argument("--no-progress", action="store_true", help="no phase lines or progress bars")
    p.set_defaults(func=run)


def _split_list(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


def _load_config(path: str) -> dict[str, Any]:
    import difflib
    import tomllib

    from stitch.errors import ConfigError

    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} not found; pass an existing TOML file to --config") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path!r} is a directory; pass a TOML file to --config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    problems = []
    for key in sorted(set(cfg) - _KEYS):
        close = difflib.get_close_matches(key, sorted(_KEYS), n=1)
        problems.append(f"{key}: unknown key ({f'did you mean {close[0]!r}?' if close else 'check its spelling'})")
    if problems:
        raise ConfigError(f"invalid audit config {path}:\n  " + "\n  ".join(problems))
    return cfg


def _encoders_from_config(value: Any, path: str) -> list[str] | dict[str, str]:
    from stitch.errors import ConfigError

    if isinstance(value, (list, str)):
        return _split_list(value)
    if isinstance(value, dict):
        out = {}
        for label, spec in value.items():
            if isinstance(spec, str):
                out[label] = spec
            elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
                opts = "&".join(f"{k}={v}" for k, v in spec.items() if k != "name")
                out[label] = spec["name"] + (f"?{opts}" if opts else "")
            else:
                raise ConfigError(f"{path}: encoders.{label} must be a string or a table with a 'name' key")
        return out
    raise ConfigError(f"{path}: encoders must be a list of names or a table label = name")


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


def run(args: argparse.Namespace) -> int:
    from stitch.audits import audit, audit_layers

    cfg = _load_config(args.config) if args.config else {}

    def pick(name: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else cfg.get(name, default)

    if args.encoders:
        encoders: list[str] | dict[str, str] = _split_list(args.encoders)
    else:
        encoders = _encoders_from_config(cfg.get("encoders", []), args.config)
    dataset, out = pick("dataset"), pick("out")
    if not encoders:
        raise ValueError("no encoders: pass --encoders A,B or set encoders in the --config file")
    if not dataset:
        raise ValueError("no dataset: pass --dataset NAME or set dataset in the --config file")
    if not out:
        raise ValueError("no output directory: pass --out DIR or set out in the --config file")
    split = pick("split", "test")
    split = None if split == "all" else split
    metrics = _split_list(pick("metrics")) if pick("metrics") else None
    metric_options = _options(args.option, cfg.get("metric_options", {}))
    common = dict(split=split, metrics=metrics, n=pick("n"), seed=pick("seed", 0), metric_options=metric_options,
                  cache_root=pick("cache"), data_root=pick("data_root"), engine=engine_from_args(args),
                  progress=False if args.no_progress else None)
    layers = pick("layers")
    names = list(encoders.values()) if isinstance(encoders, dict) else encoders
    if layers is not None:
        layers = [int(v) for v in _split_list(layers)] if not isinstance(layers, list) else [int(v) for v in layers]
        if len(names) not in (1, 2):
            raise ValueError(f"--layers compares one or two encoders layer by layer, got {len(names)}: {names}")
        res = audit_layers(names[0], names[-1], dataset, layers, **common)
    else:
        if len(names) < 2:
            raise ValueError(f"an audit compares models pairwise and needs at least two encoders, got {names}; "
                             "pass --encoders A,B (or --layers for the layers of one encoder)")
        res = audit(encoders=encoders, dataset=dataset, permutations=pick("permutations", 0),
                    bootstrap=pick("bootstrap", 0), confidence=pick("confidence", 0.95), **common)
    if pick("sanity", False):
        from stitch.audits.sanity import run_sanity

        res.sanity = run_sanity(res, encoders=encoders, dataset=dataset, layers=layers,
                                train=pick("sanity_train"), **common)
    res.save(out, color_range=pick("color_range", "data"), order=pick("order", "cluster"))
    print(f"audited {len(res.rows)} x {len(res.cols)} models on {res.config['n_samples']} samples, "
          f"{len(res.metrics)} metrics -> {out}/report.md", file=sys.stderr)
    return 0
