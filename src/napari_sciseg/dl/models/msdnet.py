"""MSDNet: the mixed-scale dense network (Pelt & Sethian 2018)."""

from __future__ import annotations

from .graph import dense_msdnet_graph
from .graphnet import GraphModel

__all__ = ["MSDNet"]


class MSDNet(GraphModel):
    """Dilated 3x3 layers, each reading the image and every earlier layer.

    Layer i (1-based) uses dilation ``1 + ((i - 1) mod max_dilation)`` or the
    i-th entry of ``dilations`` (cycled); the output is a 1x1 convolution over
    the image and all layers. No down- or up-sampling and no normalisation
    layer, so outputs do not depend on the batch or tile.

    Parameters
    ----------
    ndim, in_channels, out_channels : int
        Spatial dimensions (2 or 3), image channels, classes K.
    depth : int
        Number of layers d (original work: 100; default 30).
    max_dilation : int
        l_m of the dilation rule (default 10).
    dilations : sequence of int, optional
        Explicit dilations, cycled over the layers (e.g. ``(1, 2, 4, 8, 16)``).
    width : int
        Channels per layer (default 1, as in the original).
    seed : int
        Seed of the initial weights.

    Examples
    --------
    >>> net = MSDNet(ndim=2, in_channels=1, out_channels=3, depth=4, max_dilation=2)
    >>> net.receptive_field  # dilations 1, 2, 1, 2
    6
    """

    arch = "msdnet"

    def __init__(self, *, ndim: int = 2, in_channels: int = 1, out_channels: int = 2,
                 seed: int = 0, depth: int = 30, max_dilation: int = 10,
                 dilations=None, width: int = 1):
        super().__init__(ndim=ndim, in_channels=in_channels, out_channels=out_channels)
        if int(depth) < 1 or int(max_dilation) < 1 or int(width) < 1:
            raise ValueError(
                f"depth, max_dilation and width must be positive; got {depth}, "
                f"{max_dilation}, {width}."
            )
        if dilations is None:
            layer_dils = [1 + (i % int(max_dilation)) for i in range(int(depth))]
        else:
            cycle = [int(d) for d in dilations]
            if not cycle or min(cycle) < 1:
                raise ValueError(f"dilations must be positive integers; got {dilations!r}.")
            layer_dils = [cycle[i % len(cycle)] for i in range(int(depth))]
        self._build(dense_msdnet_graph(int(depth), layer_dils), width=int(width), seed=seed)
        self._config = {"seed": int(seed), "depth": int(depth), "max_dilation": int(max_dilation),
                        "dilations": None if dilations is None else [int(d) for d in dilations],
                        "width": int(width)}
