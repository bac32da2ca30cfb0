"""Does drawing anchors among the decoder's own training nodes cost accuracy on Cora?

A training node that is also an anchor has a similarity of 1 to itself in its relative representation,
a feature no test node has; with 105 anchors among Cora's 140 training nodes that is 75 % of the decoder's
training rows. This script trains a GCN and a GAT once (200 epochs, no early stopping) and compares, without
stitching, the absolute space with relative cosine spaces on 35 or 105 anchors drawn either among the training
nodes or among the 1,068 unlabelled nodes (neither train, val nor test), 3 seeds each.

    python examples/cora_anchor_overlap.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

import stitch
from stitch.core.projection import RelativeProjection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="directory holding planetoid/Cora/raw (default $STITCH_DATA)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ds = stitch.load_dataset("cora", data_root=args.data)
    y, train, test = np.asarray(ds.labels), ds.indices("train"), ds.indices("test")
    unlabelled = np.setdiff1d(np.arange(len(y)), np.concatenate([train, test, ds.indices("val")]))

    def accuracy(z_train: torch.Tensor, z_test: torch.Tensor, seed: int) -> float:
        dec = stitch.create_decoder("mlp", hidden=128, epochs=200, lr=5e-3, patience=20, seed=seed)
        return dec.fit(z_train, y[train]).evaluate(z_test, y[test])["accuracy"]

    print("| encoder | space | anchors | drawn among | training rows that are anchors | accuracy (3 seeds) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, lr in (("pyg:gcn", 1e-2), ("pyg:gat", 5e-3)):
            trained = stitch.train_encoder(name, ds, out=f"{tmp}/{name[4:]}.safetensors", seed=0,
                                           schedule={"epochs": 200, "lr": lr, "patience": None},
                                           encoder_options={"hidden_channels": 64})
            z = stitch.create_encoder(trained.name).encode(ds.inputs)
            absolute = np.mean([accuracy(z[train], z[test], s) for s in range(3)])
            print(f"| {name} | absolute | - | - | - | {absolute:.3f} |")
            for n in (35, 105):
                for pool_name, pool in (("training nodes", train), ("unlabelled nodes", unlabelled)):
                    scores = []
                    for s in range(3):
                        anchors = pool[stitch.select_anchors(z[pool], n, "random", seed=s).numpy()]
                        proj = RelativeProjection("cosine").fit(z[anchors])
                        scores.append(accuracy(proj.transform(z[train]), proj.transform(z[test]), s))
                    share = np.isin(train, anchors).mean()
                    print(f"| {name} | relative:cosine | {n} | {pool_name} | {share:.0%} | {np.mean(scores):.3f} |")


if __name__ == "__main__":
    main()
