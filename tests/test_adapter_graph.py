"""PyG adapter: contract for every architecture, Cora node embeddings, networkx, pooling, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import stitch
from stitch.adapters.graph import ARCHITECTURES, GNNEncoder, to_pyg
from stitch.testing import check_encoder, check_registered_encoder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_contract_on_graph_batches(arch):
    report = check_registered_encoder(f"pyg:{arch}", hidden_channels=16, in_channels=4)
    assert "order" in report.passed


@pytest.fixture(scope="module")
def cora(shared_data):
    return stitch.load_dataset("cora", data_root=shared_data)


def test_cora_node_embeddings_through_contract_kit(cora):
    enc = stitch.create_encoder("pyg:sage", hidden_channels=16)
    report = check_encoder(enc, cora.inputs, n_rows=2708)
    assert "deterministic" in report.passed and "order" in report.skipped
    assert enc.spec.options["in_channels"] == 1433


def test_cached_cora_splits_are_rows_of_the_full_graph(cora, tmp_path):
    enc = stitch.create_encoder("pyg:gcn", hidden_channels=8)
    cache = stitch.LatentCache(tmp_path)
    full = enc.encode(cora.inputs)
    torch.testing.assert_close(cache.encode(enc, cora, "test"), full[torch.as_tensor(cora.splits["test"])])
    torch.testing.assert_close(cache.encode(enc, cora, "train"), full[torch.as_tensor(cora.splits["train"])])
    assert cache.misses == 1 and cache.hits == 1


def test_graph_embedding_is_the_pooled_node_embedding():
    import networkx as nx

    g1, g2 = nx.path_graph(4), nx.cycle_graph(6)
    for pool, ref in (("mean", lambda z: z.mean(0)), ("add", lambda z: z.sum(0)), ("max", lambda z: z.max(0).values)):
        enc = GNNEncoder("gin", hidden_channels=8, pool=pool)
        z = enc.encode([g1, g2])
        torch.testing.assert_close(z[0], ref(enc.encode(g1)), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(z[1], ref(enc.encode(g2)), atol=1e-5, rtol=1e-5)


def test_networkx_node_features_are_used():
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from([(0, {"x": [1.0, 0.0]}), (1, {"x": [0.0, 1.0]}), (2, {"x": [1.0, 1.0]})])
    g.add_edges_from([(0, 1), (1, 2)])
    data = to_pyg(g)
    assert data.x.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]] and data.edge_index.shape == (2, 4)
    assert to_pyg(nx.path_graph(3)).x.tolist() == [[1.0], [1.0], [1.0]]  # structure only


def test_seeded_init_and_fingerprint_ignore_inferred_in_channels():
    import networkx as nx

    a, b = GNNEncoder("gcn", seed=1), GNNEncoder("gcn", seed=2)
    fp = a.fingerprint()
    za = a.encode(nx.path_graph(5))
    assert a.fingerprint() == fp  # inferring in_channels does not change the cache key
    assert not torch.allclose(za, b.encode(nx.path_graph(5)))
    torch.testing.assert_close(za, GNNEncoder("gcn", seed=1).encode(nx.path_graph(5)))


def test_errors_name_the_problem():
    import networkx as nx
    from torch_geometric.data import Data

    enc = GNNEncoder("gat", hidden_channels=8)
    with pytest.raises(ValueError, match="graph has no nodes"):
        enc.encode(nx.Graph())
    with pytest.raises(ValueError, match=r"inputs\[1\] has no nodes"):
        enc.encode([nx.path_graph(2), nx.Graph()])
    with pytest.raises(ValueError, match="has no node features `x`"):
        enc.encode(Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=3))
    with pytest.raises(TypeError, match="a graph encoder takes one graph .* got str"):
        enc.encode("cora")
    with pytest.raises(ValueError, match="inputs are empty"):
        enc.encode([])
    enc.encode(nx.path_graph(3))
    with pytest.raises(ValueError, match="has 2 node features but pyg:gat was built for in_channels=1"):
        enc.encode(Data(x=torch.ones(3, 2), edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="unknown graph pooling 'sum'"):
        GNNEncoder("gcn", pool="sum")
    with pytest.raises(stitch.UnknownNameError, match="unknown graph architecture 'pyg:gnn'.*Available: pyg:gcn"):
        stitch.create_encoder("pyg:gnn")


def test_gnns_trained_by_name_infer_in_channels_from_the_graph(shared_data, tmp_path):
    from stitch.experiment import load_experiment, run_experiment

    example = load_experiment(Path(__file__).resolve().parents[1] / "examples" / "cora.toml")
    assert all("in_channels" not in e.options for e in example.encoders)  # the example relies on inference
    cfg = {"name": "t", "dataset": {"name": "cora"}, "spaces": ["relative:cosine"], "seeds": [0],
           "encoders": [{"name": f"pyg:{a}", "label": a, "options": {"hidden_channels": 8},
                         "train": {"epochs": 2, "lr": 1e-2}} for a in ("gcn", "gat")],
           "anchors": {"strategy": "stratified", "n": 14}, "decoder": {"kind": "linear", "epochs": 2}}
    result = run_experiment(cfg, out=tmp_path, data_root=shared_data, progress=False, report=False)
    assert len(result.cells) == 4
    for arch in ("gcn", "gat"):
        enc = stitch.create_encoder(f"trained:{result.encoder_info[arch]['trained']}")
        assert enc.spec.options["in_channels"] == 1433  # recorded, so the trained file loads without the graph
        assert enc.encode(_tiny_graph(1433)).shape == (3, 8)


def _tiny_graph(width: int):
    from torch_geometric.data import Data

    return Data(x=torch.zeros(3, width), edge_index=torch.tensor([[0, 1], [1, 2]]))
