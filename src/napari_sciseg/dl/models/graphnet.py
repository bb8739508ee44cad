"""One engine for graph-shaped networks (SMSNet, MSDNet), batched over members.

A :class:`GraphNetStack` runs M networks with their own graphs in one forward
pass: every hidden node sums a convolution per dilation over the concatenation
of its sources, and the convolutions of the M members are one grouped
convolution (``groups=M``). Member inputs are gathered with one
``index_select`` per (node, dilation); members with fewer sources read a shared
all-zero channel, so their padded weights stay exactly zero (their gradient is
zero). This replaces DLSIA's one 1-channel convolution per edge and per member
by a few dense kernels for the whole ensemble.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .base import SegmentationModel
from .graph import check_graph, receptive_radius

__all__ = ["GraphNetStack", "GraphModel"]

_NEGATIVE_SLOPE = 0.01
#: at inference, convolutions with more input channels are split (see forward).
_MAX_CONV_IN = 15


class NodeBatchNorm(nn.Module):
    """Training-time batch normalisation of the hidden nodes of a stack.

    Normalising every hidden node's pre-activation with the batch statistics
    lets the normalisation-free graph networks fit more in the few hundred steps
    a sparse-label session gets. It exists only while training: at inference a
    batch norm with running statistics is a per-channel affine map, which
    :meth:`affine` gives and the stacks fold into the members' convolution
    weights and biases when they write them back. The saved members therefore
    have no normalisation layer, and their output never depends on the batch or
    tile around a pixel.

    Parameters
    ----------
    depth : int
        Hidden nodes (1..depth).
    channels : int
        Channels of a hidden node across the stack's members (M * width).
    """

    def __init__(self, depth: int, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weights = nn.ParameterList(nn.Parameter(torch.ones(channels)) for _ in range(depth))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(channels))
                                       for _ in range(depth))
        for j in range(1, depth + 1):
            self.register_buffer(f"mean{j}", torch.zeros(channels), persistent=False)
            self.register_buffer(f"var{j}", torch.ones(channels), persistent=False)

    def forward(self, y: torch.Tensor, j: int) -> torch.Tensor:
        """Normalise node j's ``(B, channels, *spatial)`` pre-activation."""
        return F.batch_norm(y, getattr(self, f"mean{j}"), getattr(self, f"var{j}"),
                            self.weights[j - 1], self.biases[j - 1], training=self.training,
                            momentum=self.momentum, eps=self.eps)

    def affine(self, j: int, rows: slice) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Node j's normalisation at inference as ``y * scale + shift``, for ``rows``."""
        mean, var = getattr(self, f"mean{j}")[rows], getattr(self, f"var{j}")[rows]
        scale = self.weights[j - 1][rows] / torch.sqrt(var + self.eps)
        return scale, self.biases[j - 1][rows] - mean * scale


class GraphNetStack(nn.Module):
    """M graph networks with the same number of hidden nodes, run together.

    Parameters
    ----------
    graphs : list of dict
        One graph per member (see :mod:`.graph`), all with the same depth.
    ndim, in_channels, out_channels : int
        Spatial dimensions, image channels C, classes K.
    width : int
        Channels of every hidden node.
    kernel_size : int
        Size of the hidden convolutions (edges into the output are 1x1).

    Notes
    -----
    ``forward`` takes ``(B, M * C, *spatial)`` (member m reads channels
    ``m*C:(m+1)*C``, so each member may get its own patch) and returns logits
    ``(B, M * K, *spatial)``. Zero padding keeps the output size.
    """

    def __init__(self, graphs, *, ndim: int, in_channels: int, out_channels: int,
                 width: int, kernel_size: int = 3, seed: int = 0, batch_norm: bool = False):
        """Build the stacked weights of ``graphs`` (one per member).

        Parameters
        ----------
        graphs : sequence of dict
            One graph per member (:func:`~.graph.check_graph` format), all of one depth.
        ndim, in_channels, out_channels, width, kernel_size : int
            Spatial dimensions, image channels C, classes K, channels per hidden node,
            kernel edge of the dilated convolutions (edges into the output are 1x1).
        seed : int
            Seed of the He-normal initial weights (drawn node by node, member by member).
        batch_norm : bool
            Normalise every hidden node with batch statistics (training only).
        """
        super().__init__()
        parsed = [check_graph(g) for g in graphs]
        depths = {d for d, _ in parsed}
        if len(depths) != 1:
            raise ValueError(f"members must have the same depth to run together; got {depths}.")
        self.depth = depths.pop()
        self.n_members = len(graphs)
        self.ndim, self.width, self.kernel_size = ndim, int(width), int(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self._conv = F.conv2d if ndim == 2 else F.conv3d
        gen = torch.Generator().manual_seed(int(seed))
        self.params = nn.ParameterDict()
        self._plan: list[tuple[int, list[tuple[int, str, str]], str]] = []
        self._spans: dict[str, tuple[int, int]] = {}  # contiguous gathers: (start, length)
        for j in range(1, self.depth + 2):
            n_out = out_channels if j == self.depth + 1 else self.width
            edges = [[(s, d) for s, t, d in p[1] if t == j] for p in parsed]
            groups = [self._add_group(j, d, edges, n_out, gen)
                      for d in sorted({d for member in edges for _, d in member})]
            self.params[f"b{j}"] = nn.Parameter(torch.zeros(self.n_members * n_out))
            self._plan.append((j, groups, f"b{j}"))
        self.norm = NodeBatchNorm(self.depth, self.n_members * self.width) if batch_norm else None

    def _channels(self, m: int, s: int) -> list[int]:
        """State channels of member ``m``'s node ``s`` (0 = the input)."""
        M, C, c = self.n_members, self.in_channels, self.width
        if s == 0:
            return [1 + m * C + k for k in range(C)]
        start = 1 + M * C + (s - 1) * M * c
        return [start + m * c + k for k in range(c)]

    def _add_group(self, j: int, d: int, edges, n_out: int, gen) -> tuple[int, str, str]:
        """The grouped weight of the edges of dilation ``d`` into node ``j``, all members.

        ``edges[m]`` lists member m's ``(source, dilation)`` into node j; returns the
        plan entry ``(dilation, weight key, index buffer name)``.
        """
        M, ndim = self.n_members, self.ndim
        fan_in = [sum(len(self._channels(m, s)) for s, _ in edges[m]) for m in range(M)]
        srcs = [[ch for s, dd in edges[m] if dd == d for ch in self._channels(m, s)]
                for m in range(M)]
        kmax = max(len(s) for s in srcs)
        k = 1 if d == 0 else self.kernel_size
        weight = torch.zeros((M * n_out, kmax) + (k,) * ndim)
        index = torch.zeros(M * kmax, dtype=torch.long)
        for m, src in enumerate(srcs):
            if not src:
                continue
            std = math.sqrt(2.0 / (fan_in[m] * k**ndim))
            block = torch.randn((n_out, len(src)) + (k,) * ndim, generator=gen) * std
            weight[m * n_out:(m + 1) * n_out, :len(src)] = block
            index[m * kmax:m * kmax + len(src)] = torch.tensor(src)
        key = f"n{j}_d{d}"
        self.params[key] = nn.Parameter(weight)
        self.register_buffer(f"index_{key}", index, persistent=False)
        if M == 1 and all(b - a == 1 for a, b in zip(srcs[0], srcs[0][1:])):
            self._spans[f"index_{key}"] = (srcs[0][0], len(srcs[0]))
        return (max(d, 1), key, f"index_{key}")

    def forward(self, x: torch.Tensor, workspace: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_members == 1 and self.norm is None:
            return self._forward_channels_first(x, workspace)
        return self._forward_channels_last(x)

    def state_channels(self) -> int:
        """Channels of the inference state of a one-member stack (see ``workspace``)."""
        return 1 + self.in_channels + self.depth * self.width

    def _initial_state(self, x: torch.Tensor, workspace, buffered: bool) -> torch.Tensor:
        """``[0, x]`` along channels; in a full-size state buffer when ``buffered``."""
        spatial = tuple(x.shape[2:])
        zero = x.new_zeros((x.shape[0], 1) + spatial)
        if not buffered:
            return torch.cat([zero, x], dim=1)
        shape = (x.shape[0], self.state_channels()) + spatial
        if workspace is not None and tuple(workspace.shape) == shape:
            state = workspace
        else:
            state = x.new_empty(shape)
        state[:, :1] = zero
        state[:, 1:1 + x.shape[1]] = x
        return state

    def _split_conv(self, inputs, weight, bias, pad: int, dil: int) -> torch.Tensor:
        """A convolution as a sum of convolutions of at most ``_MAX_CONV_IN`` inputs.

        oneDNN's CPU kernels for these shapes are ~3x slower per input channel from
        16 input channels on.
        """
        n_in = inputs.shape[1]
        parts = -(-n_in // _MAX_CONV_IN)
        size = -(-n_in // parts)
        y = None
        for start in range(0, n_in, size):
            width = min(size, n_in - start)
            part = self._conv(inputs.narrow(1, start, width), weight.narrow(1, start, width),
                              bias if start == 0 else None, padding=pad, dilation=dil)
            y = part if y is None else y.add_(part)
        return y

    def _forward_channels_first(self, x: torch.Tensor,
                                workspace: torch.Tensor | None = None) -> torch.Tensor:
        """One member: an NCHW state, whole-plane channel gathers, no grouped conv.

        Gathering along dim 1 copies whole planes (several times faster than the
        strided channels-last gather) and ungrouped oneDNN convolutions are fast in
        NCHW. Without autograd the state is one buffer that every node writes into
        (no growing concatenation): ``workspace``, a ``(B, state_channels(),
        *spatial)`` tensor the caller may reuse between members (fresh pages cost
        page faults), or a new one; with autograd the state is concatenated.
        """
        buffered = not torch.is_grad_enabled()
        state = self._initial_state(x, workspace if buffered else None, buffered)
        filled = 1 + x.shape[1]
        for j, groups, bias_key in self._plan:
            acc = None
            for i, (dil, key, index_name) in enumerate(groups):
                span = self._spans.get(index_name)
                inputs = (state.narrow(1, span[0], span[1]) if span is not None
                          else state.index_select(1, getattr(self, index_name)))
                weight = self.params[key]
                bias = self.params[bias_key] if i == 0 else None
                pad = dil * (weight.shape[-1] // 2)
                if buffered and inputs.shape[1] > _MAX_CONV_IN and weight.shape[-1] > 1:
                    y = self._split_conv(inputs, weight, bias, pad, dil)
                else:
                    y = self._conv(inputs, weight, bias, padding=pad, dilation=dil)
                acc = y if acc is None else acc.add_(y) if buffered else acc + y
            if j == self.depth + 1:
                return acc
            if buffered:
                n = acc.shape[1]
                if acc.dtype == state.dtype:
                    torch.ops.aten.leaky_relu.out(acc, _NEGATIVE_SLOPE,
                                                  out=state.narrow(1, filled, n))
                else:  # under autocast (AMP) convolutions return half precision
                    state.narrow(1, filled, n).copy_(F.leaky_relu(acc, _NEGATIVE_SLOPE))
                filled += n
            else:
                state = torch.cat([state, F.leaky_relu(acc, _NEGATIVE_SLOPE)], dim=1)
        raise AssertionError("unreachable")

    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        M = self.n_members
        # The state (zero channel, inputs, then every hidden node) is kept channels-last
        # ((B, *spatial, C) contiguous): channel gathers stay contiguous and oneDNN's
        # grouped dilated convolutions are several times faster in that layout on CPU.
        last = tuple(range(2, x.ndim)) + (1,)
        to_first = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
        state = x.permute(0, *last)
        state = torch.cat([state.new_zeros(state.shape[:-1] + (1,)), state], dim=-1)
        out = None
        for j, groups, bias_key in self._plan:
            acc = None
            for i, (dil, key, index_name) in enumerate(groups):
                inputs = state.index_select(-1, getattr(self, index_name)).permute(*to_first)
                weight = self.params[key]
                pad = dil * (weight.shape[-1] // 2)
                bias = self.params[bias_key] if i == 0 else None
                y = self._conv(inputs, weight, bias, padding=pad, dilation=dil, groups=M)
                y = y.permute(0, *last)
                acc = y if acc is None else acc + y
            if j == self.depth + 1:
                out = acc
            else:
                if self.norm is not None:
                    acc = self.norm(acc.permute(*to_first), j).permute(0, *last)
                state = torch.cat([state, F.leaky_relu(acc, _NEGATIVE_SLOPE)], dim=-1)
        return out.permute(*to_first).contiguous()

    # --- moving members in and out of a stack -------------------------------------------
    def _member_slices(self, m: int):
        """Yield ``(key, rows, n_cols)`` of member m's block in each parameter."""
        for key, p in self.params.items():
            rows = p.shape[0] // self.n_members
            if key.startswith("b"):
                yield key, slice(m * rows, (m + 1) * rows), None
            else:
                index = getattr(self, f"index_{key}").view(self.n_members, -1)[m]
                n_cols = int((index != 0).sum())
                yield key, slice(m * rows, (m + 1) * rows), n_cols

    @torch.no_grad()
    def copy_member(self, m: int, target: GraphNetStack, target_m: int = 0) -> None:
        """Copy member ``m`` of this stack into member ``target_m`` of ``target``.

        Both must hold the same graph for those members. A training-time batch
        norm of this stack is folded into the copied weights (a target's own norm is
        left as it is: stacks are filled once, when built, with their norm at the identity).
        """
        src = {key: (rows, n_cols) for key, rows, n_cols in self._member_slices(m)}
        for key, rows, n_cols in target._member_slices(target_m):
            if n_cols == 0:
                continue
            s_rows, s_cols = src[key][0], src[key][1]
            p_src, p_dst = self.params[key], target.params[key]
            j = int(key[1:].split("_")[0])
            scale = shift = None
            if self.norm is not None and j <= self.depth:
                scale, shift = self.norm.affine(j, s_rows)
            if n_cols is None:
                p_dst[rows] = p_src[s_rows] if scale is None else p_src[s_rows] * scale + shift
            else:
                if s_cols != n_cols:
                    raise ValueError(f"member graphs differ at {key}; cannot copy weights.")
                w = p_src[s_rows, :n_cols]
                if scale is not None:
                    w = w * scale.view((-1,) + (1,) * (w.ndim - 1))
                p_dst[rows, :n_cols] = w


class DenseGraphStack(nn.Module):
    """M graph networks whose hidden node j has one dilation shared by all members.

    The state is kept member-major and channels-last, ``(B, *spatial, M, C_j)``
    with ``C_j = C + (j - 1) * width``, so the input of node j for all members is
    the state itself viewed as ``(B, M * C_j, *spatial)``: one grouped
    convolution per node, no gather. Each member's weights are masked to its own
    graph's sources (the mask also zeroes their gradients).

    ``forward`` takes ``(B, M, C, *spatial)`` and returns ``(B, M, K, *spatial)``.
    """

    def __init__(self, graphs, node_dilations, *, ndim: int, in_channels: int,
                 out_channels: int, width: int, kernel_size: int = 3,
                 batch_norm: bool = False):
        super().__init__()
        parsed = [check_graph(g) for g in graphs]
        self.depth = parsed[0][0]
        self.n_members, self.ndim, self.width = len(graphs), ndim, int(width)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = int(kernel_size)
        self.node_dilations = [int(d) for d in node_dilations]
        self._conv = F.conv2d if ndim == 2 else F.conv3d
        M, C, c = self.n_members, in_channels, self.width
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for j in range(1, self.depth + 2):
            n_out = out_channels if j == self.depth + 1 else c
            k = 1 if j == self.depth + 1 else self.kernel_size
            n_in = C + (j - 1) * c
            mask = torch.zeros((M * n_out, n_in) + (1,) * ndim)
            for m, (_, edges) in enumerate(parsed):
                for s, t, _ in edges:
                    if t == j:
                        cols = self.member_columns(s)
                        mask[m * n_out:(m + 1) * n_out, cols] = 1.0
            self.register_buffer(f"mask{j}", mask, persistent=False)
            self.weights.append(nn.Parameter(torch.zeros((M * n_out, n_in) + (k,) * ndim)))
            self.biases.append(nn.Parameter(torch.zeros(M * n_out)))
        self.norm = NodeBatchNorm(self.depth, M * c) if batch_norm else None

    def member_columns(self, s: int) -> slice:
        """Channels of node ``s`` within one member's state."""
        if s == 0:
            return slice(0, self.in_channels)
        start = self.in_channels + (s - 1) * self.width
        return slice(start, start + self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, M = x.shape[:2]
        spatial = tuple(x.shape[3:])
        n = len(spatial)
        state = x.permute(0, *range(3, 3 + n), 1, 2).contiguous()  # (B, *S, M, C)
        to_first = (0, n + 1) + tuple(range(1, n + 1))
        for j, (w, bias) in enumerate(zip(self.weights, self.biases), start=1):
            if j == self.depth + 1:
                return self._output(state, w * getattr(self, f"mask{j}"), bias)
            inputs = state.reshape((b,) + spatial + (-1,)).permute(*to_first)
            dil = self.node_dilations[j - 1]
            pad = dil * (w.shape[-1] // 2)
            y = self._conv(inputs, w * getattr(self, f"mask{j}"), bias, padding=pad,
                           dilation=dil, groups=M)
            if self.norm is not None:
                y = self.norm(y, j)
            # on the conv's own (dense) output: its backward then runs on a dense grad
            y = F.leaky_relu(y, _NEGATIVE_SLOPE)
            y = y.permute(0, *range(2, 2 + n), 1).reshape((b,) + spatial + (M, -1))
            state = torch.cat([state, y], dim=-1)
        raise AssertionError("unreachable")

    def _output(self, state: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
        """The 1x1 output node as one matrix product with a block-diagonal weight.

        A grouped 1x1 convolution takes PyTorch's slow per-group path on the CPU
        (a copy of every group's input, forward and backward); the state is
        already ``(B, *S, M * C)`` in memory, so one dense product over all
        members' channels (a few MFLOP) is cheaper. Returns a ``(B, M, K, *S)``
        view that the losses read as is.
        """
        M, n = self.n_members, state.ndim - 3
        blocks = weight.reshape(M, -1, weight.shape[1]).unbind(0)  # M x (K, C)
        y = F.linear(state.reshape(state.shape[:-2] + (-1,)), torch.block_diag(*blocks), bias)
        y = y.view(state.shape[:-2] + (M, -1))
        return y.permute(0, n + 1, n + 2, *range(1, n + 1))

    @torch.no_grad()
    def load_member(self, m: int, single: GraphNetStack, graph: dict, to_single: bool = False):
        """Copy member ``m`` from (or, with ``to_single``, into) a one-member stack."""
        _, edges = check_graph(graph)
        for j in range(1, self.depth + 2):
            n_out = self.out_channels if j == self.depth + 1 else self.width
            rows = slice(m * n_out, (m + 1) * n_out)
            dil = 0 if j == self.depth + 1 else self.node_dilations[j - 1]
            w_single = single.params[f"n{j}_d{dil}"]
            scale, shift = (self.norm.affine(j, rows)
                            if self.norm is not None and j <= self.depth else (None, None))
            view = (-1,) + (1,) * (w_single.ndim - 1)
            col = 0
            for s in sorted(s for s, t, _ in edges if t == j):
                cols = self.member_columns(s)
                width = cols.stop - cols.start
                if to_single:
                    w = self.weights[j - 1][rows, cols]
                    w_single[:, col:col + width] = w if scale is None else w * scale.view(view)
                else:
                    self.weights[j - 1][rows, cols] = w_single[:, col:col + width]
                col += width
            if to_single:
                b = self.biases[j - 1][rows]
                single.params[f"b{j}"].copy_(b if scale is None else b * scale + shift)
            else:
                self.biases[j - 1][rows] = single.params[f"b{j}"]


class GraphModel(SegmentationModel):
    """Base of the graph-shaped architectures (SMSNet, MSDNet): one graph, one stack.

    Subclasses draw or build ``graph`` and call :meth:`_build`.
    """

    def _build(self, graph: dict, *, width: int, seed: int) -> None:
        self.graph = graph
        self.net = GraphNetStack([graph], ndim=self.ndim, in_channels=self.in_channels,
                                 out_channels=self.out_channels, width=width, seed=seed)

    @property
    def receptive_field(self) -> int:
        return receptive_radius(self.graph)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.net(x)
