"""``stitch encode`` on the local engine: every split of every encoder cached once, verified hits on a re-run."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from stitch.cli import main


def test_encode_caches_each_split_of_each_encoder_and_rereads_them(capsys, encode_argv, tmp_path: Path) -> None:
    import stitch
    from stitch.encoder.cache import LatentCache

    argv = encode_argv(tmp_path, "--json")
    refs = argv[argv.index("--encoders") + 1].split(",")
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    ds = stitch.load_dataset("digits")
    assert [(r["encoder"], r["split"]) for r in rows] == [(ref, s) for ref in refs for s in ("train", "test")]
    assert [r["shape"] for r in rows] == [[len(ds.indices(s)), 96] for _ in refs for s in ("train", "test")]
    cache = LatentCache(tmp_path)
    assert sorted(e.key for e in cache.list()) == sorted(r["key"] for r in rows)
    enc = stitch.create_encoder("timm:test_resnet", image_size=8, in_chans=1, crop_pct=1.0, seed=1)
    torch.testing.assert_close(cache.encode(enc, ds, "test", progress=False),
                               enc.encode(ds.split_inputs("test"), progress=False), rtol=0, atol=1e-6)
    assert main(encode_argv(tmp_path)) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("| encoder | dataset | split | shape | key |")
    assert err.strip().endswith("(4 already cached, 0 encoded)")
