"""Cold vs warm encoding through LatentCache: the second encode of the same data must be >= 10x faster.

Usage::

    python benchmarks/bench_cache.py [--data ../shared/data]

Each case encodes one dataset split with a fresh, empty cache (cold: the encoder runs, the entry is written
and hashed), then again with a new LatentCache object and a freshly built encoder on the same root (warm:
the entry is read and its sha256 verified). Warm time includes building the encoder and computing the key
(which hashes the weight files), so it is what a user re-running an experiment sees. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore", FutureWarning)


def _case(name: str, make_encoder, dataset, split: str, root: Path) -> list:
    import torch

    from stitch.encoder.cache import LatentCache

    t0 = time.perf_counter()
    z_cold = LatentCache(root).encode(make_encoder(), dataset, split, progress=False)
    cold = time.perf_counter() - t0
    warm_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        cache = LatentCache(root)
        z_warm = cache.encode(make_encoder(), dataset, split, progress=False)
        warm_times.append(time.perf_counter() - t0)
        if cache.hits != 1 or not torch.equal(z_cold, z_warm):
            raise SystemExit(f"{name}: warm run was not served from the cache")
    warm = min(warm_times)
    return [name, f"{dataset.name}/{split}", f"{z_cold.shape[0]}x{z_cold.shape[1]}", cold, warm, cold / warm]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()

    import stitch
    from stitch.utils.plots import markdown_table

    digits = stitch.load_dataset("digits")
    trec = stitch.load_dataset("trec", data_root=args.data)
    cora = stitch.load_dataset("cora", data_root=args.data)
    cases = [("timm:resnet18 (img 32)", lambda: stitch.create_encoder("timm:resnet18", image_size=32), digits, "train"),
             ("text-bag", lambda: stitch.create_encoder("text-bag"), trec, "train"),
             ("minilm", lambda: stitch.create_encoder("minilm"), trec, "test"),
             ("pyg:gcn", lambda: stitch.create_encoder("pyg:gcn"), cora, "test")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_case(name, make, ds, split, Path(tmp)) for name, make, ds, split in cases]
    print(markdown_table(["encoder", "data", "latents", "cold s", "warm s", "cold / warm"], rows, floatfmt=".3f"))
    worst = min(r[-1] for r in rows)
    print(f"\nslowest speed-up: {worst:.1f}x (target >= 10x)")
    if worst < 10:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
