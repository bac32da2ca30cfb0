"""``stitch encode``: encode dataset splits with one or more encoders into the latent cache.

Every later ``stitch run`` or ``stitch audit`` over the same encoders and data reads these entries instead
of encoding again. Encoders are named as registered, with options after ``?``::

    stitch encode --encoders minilm,hf:../shared/models/paraphrase-MiniLM-L3-v2 --dataset trec \\
        --data ../shared/data --split train,test
"""

from __future__ import annotations

import argparse
import json
import sys

from stitch.cli.cache import add_cache_flag
from stitch.cli.engine import add_engine_flags, add_threads_flag, engine_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stitch encode`` to the top-level parser."""
    from stitch.cli import add_models_flag, plain

    p = subparsers.add_parser(
        "encode", help="encode dataset splits into the latent cache",
        description="Encode SPLIT(s) of DATASET with every encoder and store the latents in the verified latent "
        "cache (an entry already there is verified and kept). Prints what was cached.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=plain(__doc__),
    )
    p.add_argument("--encoders", metavar="A,B,...", action="append", required=True,
                   help="comma-separated encoder names, options after '?', e.g. 'minilm?layer=3' (repeatable)")
    p.add_argument("--dataset", metavar="NAME", required=True,
                   help="registered dataset name, options after '?' (e.g. 'text-folder?path=docs')")
    p.add_argument("--split", default="train,test", help="comma-separated splits, or 'all' (default: train,test)")
    p.add_argument("--data", metavar="DIR", help="directory holding the dataset's files (default: $STITCH_DATA)")
    p.add_argument("--batch-size", type=int, metavar="N", help="encoding batch size (default: the encoder's)")
    add_models_flag(p)
    add_cache_flag(p)
    add_engine_flags(p)
    add_threads_flag(p)
    p.add_argument("--json", action="store_true", help="print the cached entries as JSON")
    p.add_argument("--no-progress", action="store_true", help="no phase lines or progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stitch.encoder.cache import LatentCache
    from stitch.encoder.refs import DatasetRef, parse_encoder
    from stitch.engine import as_engine
    from stitch.plugins import create_encoder, load_dataset
    from stitch.utils.plots import markdown_table

    refs = [r.strip() for item in args.encoders for r in item.split(",") if r.strip()]
    ref = DatasetRef.model_validate(args.dataset)
    dataset = load_dataset(ref.name, data_root=args.data, **ref.options)
    splits = [None] if args.split == "all" else [s.strip() for s in args.split.split(",") if s.strip()]
    for split in splits:
        dataset.indices(split)  # an unknown split fails before any encoding
    encoders = {}
    for ref in refs:
        name, options = parse_encoder(ref)
        encoders[ref] = create_encoder(name, **options)
    progress = False if args.no_progress else None
    cache = LatentCache(args.cache)
    engine = as_engine(engine_from_args(args))  # every split of an encoder in one pass (one Ray actor pool)
    done = engine.encode_many(encoders, dataset, splits, cache=cache, progress=progress, batch_size=args.batch_size)
    rows = [{"encoder": ref, "dataset": dataset.name, "split": split, "shape": list(z.shape),
             "key": cache.key(encoders[ref], dataset, split)}
            for ref, zs in done.items() for split, z in zip(splits, zs)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(markdown_table(["encoder", "dataset", "split", "shape", "key"],
                             [[r["encoder"], r["dataset"], r["split"] or "(all)", "x".join(map(str, r["shape"])),
                               r["key"][:12]] for r in rows]))
        print(f"\n{len(rows)} entries in {cache.directory} ({cache.hits} already cached, {cache.misses} encoded)",
              file=sys.stderr)
    return 0
