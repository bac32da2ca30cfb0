"""Graph encoders from torch-geometric layers: ``pyg:gcn``, ``pyg:sage``, ``pyg:gat``, ``pyg:gin``.

One graph in (a ``torch_geometric.data.Data`` or a ``networkx`` graph) gives node embeddings, one row per
node: the transductive setting of Cora and friends. A list of graphs (or a ``Batch``) gives one row per
graph, by global ``mean``/``add``/``max`` pooling of the node embeddings. networkx graphs are converted with
``torch_geometric.utils.from_networkx``; their node attribute ``x`` becomes the features when every node has
it, otherwise every node gets the constant feature ``1`` (structure only).

The models are PyG's ``GCN``, ``GraphSAGE``, ``GAT`` and ``GIN`` (``torch_geometric.nn.models``); the latent
is the last layer's output. Weights are random (seeded) until trained with
:func:`stitch.experiment.training.train_encoder` or loaded from ``checkpoint``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pluggy

from stitch.adapters._torch import TorchEncoder
from stitch.encoder import EncoderSpec
from stitch.errors import UnknownNameError

if TYPE_CHECKING:
    import torch

hookimpl = pluggy.HookimplMarker("stitch")

__all__ = ["GNNEncoder", "ARCHITECTURES", "to_pyg"]

PREFIX = "pyg:"
#: architecture -> (torch_geometric.nn.models class, description)
ARCHITECTURES = {
    "gcn": ("GCN", "graph convolutional network (Kipf & Welling 2017)"),
    "sage": ("GraphSAGE", "GraphSAGE, mean aggregation (Hamilton et al. 2017)"),
    "gat": ("GAT", "graph attention network (Velickovic et al. 2018)"),
    "gin": ("GIN", "graph isomorphism network (Xu et al. 2019)"),
}
POOLS = ("mean", "add", "max")


def _is_nx(x: Any) -> bool:
    return type(x).__module__.startswith("networkx.") and hasattr(x, "nodes") and hasattr(x, "edges")


def _is_data(x: Any) -> bool:
    return type(x).__module__.startswith("torch_geometric.data") and hasattr(x, "edge_index")


def to_pyg(graph: Any, name: str = "graph") -> Any:
    """Validate a graph and return it as a ``torch_geometric.data.Data`` with float ``x``.

    Shapes:
        ``x``: ``(num_nodes, in_channels)``; ``edge_index``: ``(2, num_edges)``.

    Example:
        >>> import networkx as nx
        >>> to_pyg(nx.path_graph(3)).x.shape
        torch.Size([3, 1])
    """
    import torch

    from stitch.utils.extras import require

    require("torch_geometric", what="graph encoders")
    if _is_nx(graph):
        from torch_geometric.utils import from_networkx

        if graph.number_of_nodes() == 0:
            raise ValueError(f"{name} has no nodes; a graph encoder needs at least one node")
        has_x = all("x" in attrs for _, attrs in graph.nodes(data=True))
        data = from_networkx(graph, group_node_attrs=["x"] if has_x else None)
        if not has_x:
            data.x = torch.ones(graph.number_of_nodes(), 1)
        keep = {"x": data.x, "edge_index": data.edge_index}
        from torch_geometric.data import Data

        graph = Data(**keep)
    elif not _is_data(graph):
        raise TypeError(
            f"{name}: a graph encoder takes a torch_geometric.data.Data or a networkx graph (one graph: node "
            f"embeddings) or a list of them (graph embeddings), got {type(graph).__name__}"
        )
    if graph.num_nodes is None or graph.num_nodes == 0:
        raise ValueError(f"{name} has no nodes; a graph encoder needs at least one node")
    if getattr(graph, "x", None) is None:
        raise ValueError(f"{name} has no node features `x`; set data.x to a (num_nodes, in_channels) float tensor")
    if graph.x.ndim != 2 or graph.x.shape[0] != graph.num_nodes:
        raise ValueError(
            f"{name}.x must have shape (num_nodes={graph.num_nodes}, in_channels), got {tuple(graph.x.shape)}"
        )
    if not graph.x.is_floating_point():
        graph = graph.clone()
        graph.x = graph.x.float()
    return graph


class GNNEncoder(TorchEncoder):
    """A PyG GNN (``gcn``, ``sage``, ``gat``, ``gin``) as a node or graph encoder.

    Args:
        arch: one of ``gcn``, ``sage``, ``gat``, ``gin``.
        in_channels: node feature size; default inferred from the first graph encoded.
        hidden_channels: width of the hidden layers.
        out_channels: latent dimension (default ``hidden_channels``).
        num_layers: message-passing layers.
        dropout: dropout between layers while training (off in ``encode``).
        pool: global pooling for graph embeddings: ``mean``, ``add`` or ``max``.
        seed, checkpoint, batch_size, device: see :class:`~stitch.adapters._torch.TorchEncoder` (``batch_size``
            counts graphs).

    Shapes:
        encode: one graph with ``N`` nodes  ->  ``(N, dim)``;  ``n`` graphs  ->  ``(n, dim)``

    Example:
        >>> import networkx as nx
        >>> GNNEncoder("gcn", hidden_channels=8).encode(nx.cycle_graph(5)).shape
        torch.Size([5, 8])
    """

    def __init__(self, arch: str = "gcn", *, in_channels: int | None = None, hidden_channels: int = 64,
                 out_channels: int | None = None, num_layers: int = 2, dropout: float = 0.5, pool: str = "mean",
                 seed: int = 0, checkpoint: str | os.PathLike[str] | None = None, batch_size: int = 64,
                 device: str = "auto") -> None:
        from stitch.utils.checks import check_choice, check_positive_int

        self.arch = check_choice(arch, ARCHITECTURES, "graph architecture")
        self.pool = check_choice(pool, POOLS, "graph pooling")
        self.in_channels = check_positive_int(in_channels, "in_channels") if in_channels is not None else None
        self.hidden_channels = check_positive_int(hidden_channels, "hidden_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels") if out_channels is not None else None
        self.num_layers = check_positive_int(num_layers, "num_layers")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        dim = self.out_channels or self.hidden_channels
        options = {"in_channels": in_channels, "hidden_channels": hidden_channels, "out_channels": out_channels,
                   "num_layers": num_layers, "dropout": self.dropout, "pool": pool, "seed": seed,
                   "checkpoint": os.fspath(checkpoint) if checkpoint else None}
        weights = f"local file: {os.fspath(checkpoint)}" if checkpoint else f"random init (seed={seed})"
        cls_name, about = ARCHITECTURES[self.arch]
        spec = EncoderSpec(f"{PREFIX}{arch}", "graph", f"PyG {cls_name}: {about}", dim=dim, extra="graph",
                           weights=weights, license="MIT (torch_geometric)", options=options)
        super().__init__(spec, checkpoint=checkpoint, seed=seed, batch_size=batch_size, device=device)

    def _build_module(self) -> torch.nn.Module:
        from stitch.utils.extras import require

        models = require("torch_geometric.nn.models", what=f"encoder {self.name!r}")

        if self.in_channels is None:
            raise ValueError(
                f"{self.name}: in_channels is unknown until a graph is seen; pass in_channels=... or encode a "
                "graph first"
            )
        cls = getattr(models, ARCHITECTURES[self.arch][0])
        return cls(in_channels=self.in_channels, hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                   out_channels=self.out_channels, dropout=self.dropout)

    def _fix_in_channels(self, graph: Any, name: str) -> None:
        width = int(graph.x.shape[1])
        if self.in_channels is None:
            self.in_channels = width
            self.spec.options["in_channels"] = width  # so train_encoder records it
        elif width != self.in_channels:
            raise ValueError(
                f"{name} has {width} node features but {self.name} was built for in_channels={self.in_channels}"
            )

    def sample_inputs(self, n: int = 6) -> list[Any]:
        """``n`` seeded random graphs of 4..9 nodes (graph-level inputs, for the contract kit)."""
        import torch
        from torch_geometric.data import Data

        gen = torch.Generator().manual_seed(0)
        width = self.in_channels or 4
        graphs = []
        for i in range(n):
            k = 4 + i % 6
            src = torch.arange(k)
            edge_index = torch.stack([torch.cat([src, (src + 1) % k]), torch.cat([(src + 1) % k, src])])
            graphs.append(Data(x=torch.randn(k, width, generator=gen), edge_index=edge_index))
        return graphs

    def _prepare(self, inputs: Any) -> Any:
        if _is_nx(inputs) or _is_data(inputs) and not hasattr(inputs, "to_data_list"):
            graph = to_pyg(inputs)
            self._fix_in_channels(graph, "graph")
            return graph
        if hasattr(inputs, "to_data_list"):  # a PyG Batch: graph-level
            inputs = inputs.to_data_list()
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"a graph encoder takes one graph (torch_geometric Data or networkx) or a list of graphs, got "
                f"{type(inputs).__name__}"
            )
        if not inputs:
            raise ValueError("inputs are empty; expected at least one graph")
        graphs = [to_pyg(g, f"inputs[{i}]") for i, g in enumerate(inputs)]
        for i, g in enumerate(graphs):
            self._fix_in_channels(g, f"inputs[{i}]")
        return graphs

    def encode(self, inputs: Any, *, batch_size: int | None = None, progress: bool | None = None) -> torch.Tensor:
        """Node embeddings of one graph, or pooled graph embeddings of a list of graphs.

        Shapes:
            one graph with ``N`` nodes  ->  ``(N, dim)``;  ``n`` graphs  ->  ``(n, dim)`` float32.
        """
        import torch

        prepared = self._prepare(inputs)
        if isinstance(prepared, list):
            return super().encode(prepared, batch_size=batch_size, progress=progress)
        with torch.no_grad():
            z = self._encode_batch(prepared)
        return z.detach().to(device="cpu", dtype=torch.float32)

    def forward(self, batch: Any) -> torch.Tensor:
        """Node embeddings of one ``Data`` graph, or pooled embeddings of a list of graphs.

        Shapes:
            ``Data`` with ``N`` nodes  ->  ``(N, dim)``;  ``b`` graphs  ->  ``(b, dim)``
        """
        from torch_geometric.data import Batch
        from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

        module = self.module
        if isinstance(batch, list):
            b = Batch.from_data_list(batch).to(self._device)
            nodes = module(b.x, b.edge_index)
            pooling = {"mean": global_mean_pool, "add": global_add_pool, "max": global_max_pool}[self.pool]
            return pooling(nodes, b.batch, size=len(batch))
        g = batch.to(self._device)
        return module(g.x, g.edge_index)

    def _weights_identity(self) -> dict[str, Any]:
        ident = super()._weights_identity()
        if "versions" in ident:
            from stitch.adapters._torch import _version

            ident["versions"]["torch-geometric"] = _version("torch-geometric")
        return ident

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        # in_channels is fixed by the data (part of every cache key already) and may be inferred late
        fp["options"].pop("in_channels", None)
        return fp


def _entry(arch: str) -> tuple[EncoderSpec, Any]:
    # dim: the default latent size (out_channels defaults to hidden_channels=64); options may change it.
    spec = EncoderSpec(f"{PREFIX}{arch}", "graph", f"PyG {ARCHITECTURES[arch][0]}: {ARCHITECTURES[arch][1]}",
                       dim=64, extra="graph", weights="random init (seed option) unless checkpoint=PATH",
                       license="MIT (torch_geometric)")

    def factory(**options: Any) -> GNNEncoder:
        return GNNEncoder(arch, **options)

    return spec, factory


@hookimpl
def stitch_register_encoders(register: Any) -> None:
    """Register ``pyg:gcn``, ``pyg:sage``, ``pyg:gat``, ``pyg:gin`` (a closed set: every one is listed)."""
    for arch in ARCHITECTURES:
        register(*_entry(arch))


def resolve(name: str) -> tuple[EncoderSpec, Any] | None:
    """``pyg:<arch>`` -> (spec, factory); the registered entries serve the valid names first, so this only
    turns a misspelt ``pyg:`` name into an error listing the architectures."""
    if not name.startswith(PREFIX):
        return None
    arch = name[len(PREFIX):]
    if arch not in ARCHITECTURES:
        import difflib

        close = difflib.get_close_matches(arch, list(ARCHITECTURES), n=1)
        hint = f"; did you mean {PREFIX + close[0]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown graph architecture {name!r}{hint} Available: {', '.join(PREFIX + a for a in ARCHITECTURES)}"
        )
    return _entry(arch)


@hookimpl
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Any] | None:
    """Explain a misspelt ``pyg:<arch>`` (the four architectures are registered entries)."""
    return resolve(name)
