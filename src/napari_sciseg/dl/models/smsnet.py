"""SMSNet: a sparse mixed-scale network on a random graph (DLSIA, Roberts et al. 2024)."""

from __future__ import annotations

from .graph import random_smsnet_graph
from .graphnet import GraphModel

__all__ = ["SMSNet"]


class SMSNet(GraphModel):
    """A random directed acyclic graph of dilated convolutions from input to output.

    Every hidden node sums one convolution per incoming edge (edges of the same
    dilation share one kernel call), adds a bias and applies a leaky ReLU; edges
    into the output are 1x1. There is no normalisation layer, so a pixel's
    output never depends on the batch or tile around it (training normalises
    the nodes with batch statistics and folds them into the weights; see
    :class:`~napari_sciseg.dl.models.graphnet.NodeBatchNorm`). The graph is drawn from
    ``seed`` (see :func:`~napari_sciseg.dl.models.graph.random_smsnet_graph`)
    and saved in :attr:`config`, so every member of an ensemble gets its own
    architecture.

    Parameters
    ----------
    ndim, in_channels, out_channels : int
        Spatial dimensions (2 or 3), image channels, classes K.
    seed : int
        Seed of the graph and of the initial weights.
    depth : int
        Hidden nodes d (DLSIA default 20).
    k_min, k_max : int
        Minimum and maximum out-edges per hidden node (default 1 and 5).
    gamma, alpha : float, optional
        Degree and skip parameters; ``None`` draws U(0, 0.5) and U(0.75, 1).
    p_il, p_lo : float
        Probability of input -> hidden and hidden -> output edges (default 1).
    p_io : bool
        Whether the input connects straight to the output (default True).
    dilations : sequence of int
        Dilations drawn for hidden edges (default powers of two 1..8).
    width : int
        Channels per hidden node (default 4).
    node_dilations : list of int, optional
        One dilation per hidden node instead of one random dilation per edge
        (members sharing them train faster together; their edges stay random).
    graph : dict, optional
        A saved graph; when given, the random draw is skipped.

    Examples
    --------
    >>> import torch
    >>> net = SMSNet(ndim=2, in_channels=1, out_channels=2, depth=5, seed=1)
    >>> net(torch.zeros(1, 1, 17, 23)).shape
    torch.Size([1, 2, 17, 23])
    >>> net.config["kwargs"]["graph"] == SMSNet(ndim=2, in_channels=1, out_channels=2,
    ...                                         depth=5, seed=1).config["kwargs"]["graph"]
    True
    """

    arch = "smsnet"

    def __init__(self, *, ndim: int = 2, in_channels: int = 1, out_channels: int = 2,
                 seed: int = 0, depth: int = 20, k_min: int = 1, k_max: int = 5,
                 gamma: float | None = None, alpha: float | None = None,
                 p_il: float = 1.0, p_lo: float = 1.0, p_io: bool = True,
                 dilations=(1, 2, 4, 8), width: int = 4, node_dilations=None,
                 graph: dict | None = None):
        super().__init__(ndim=ndim, in_channels=in_channels, out_channels=out_channels)
        if graph is None:
            graph = random_smsnet_graph(depth, seed=seed, k_min=k_min, k_max=k_max,
                                        gamma=gamma, alpha=alpha, p_il=p_il, p_lo=p_lo,
                                        p_io=p_io, dilations=tuple(dilations),
                                        node_dilations=node_dilations)
        if int(width) < 1:
            raise ValueError(f"width must be a positive number of channels; got {width!r}.")
        self._build(graph, width=int(width), seed=seed)
        self._config = {"seed": int(seed), "width": int(width), "graph": graph}
