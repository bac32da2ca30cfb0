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

With ``--layers 0,6,12`` (exactly one or two encoders), the audit is layer x layer instead.
List metrics with ``stitch metrics list``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

_KEYS = {
    "encoders", "dataset", "split", "metrics", "n", "seed", "permutations", "bootstrap", "confidence", "out",
    "layers", "metric_options", "cache", "data_root",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch audit`` to the top-level parser."""
    p = subparsers.add_parser(
        "audit", help="similarity audit of several encoders on one dataset",
        description="Encode DATASET with every encoder (through the latent cache), compute every metric for "
        "every encoder pair, and write a model x model matrix per metric (JSON, CSV, heatmap PNG) and "
        "report.md under --out. Metrics: `stitch metrics list`.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__,
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
    p.add_argument("--cache", metavar="DIR", help="latent cache root (default: $STITCH_CACHE)")
    p.add_argument("--data", metavar="DIR", dest="data_root",
                   help="directory holding the dataset's files (default: $STITCH_DATA)")
    p.add_argument("--data-root", dest="data_root", help=argparse.SUPPRESS)  # deprecated spelling of --data
    p.add_argument("--out", metavar="DIR", help="output directory")
    p.set_defaults(func=run)


def _split_list(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


def _load_config(path: str) -> dict[str, Any]:
    import tomllib

    from stitch.errors import ConfigError

    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} not found; pass an existing TOML file to --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected some of {sorted(_KEYS)}")
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
    from stitch.audit import _parse_value

    out = {k: dict(v) for k, v in base.items()}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        metric, dot, opt = key.partition(".")
        if not (eq and dot and metric and opt):
            raise ValueError(f"--option {pair!r} is not of the form METRIC.KEY=VALUE (e.g. mutual_knn.k=20)")
        out.setdefault(metric, {})[opt] = _parse_value(value)
    return out


def run(args: argparse.Namespace) -> int:
    from stitch.audit import audit, audit_layers

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
                  out=out, cache_root=pick("cache"), dataset_root=pick("data_root"))
    layers = pick("layers")
    if layers is not None:
        layers = [int(v) for v in _split_list(layers)] if not isinstance(layers, list) else [int(v) for v in layers]
        names = list(encoders.values()) if isinstance(encoders, dict) else encoders
        if len(names) not in (1, 2):
            raise ValueError(f"--layers compares one or two encoders layer by layer, got {len(names)}: {names}")
        res = audit_layers(names[0], names[-1], dataset, layers, **common)
    else:
        res = audit(encoders=encoders, dataset=dataset, permutations=pick("permutations", 0),
                    bootstrap=pick("bootstrap", 0), confidence=pick("confidence", 0.95), **common)
    print(f"audited {len(res.rows)} x {len(res.cols)} models on {res.config['n_samples']} samples, "
          f"{len(res.metrics)} metrics -> {out}/report.md", file=sys.stderr)
    return 0
