"""Training the members of an ensemble together.

:func:`stack_members` wraps M member networks in one module whose forward takes
``(B, M, C, *spatial)`` (each member its own patches) and returns
``(B, M, K, *spatial)``. Graph networks (SMSNet, MSDNet) of equal depth and
width whose nodes share one dilation across members run as one
:class:`~napari_sciseg.dl.models.graphnet.DenseGraphStack` (one gather-free
grouped convolution per node); with per-edge dilations, as one
:class:`~napari_sciseg.dl.models.graphnet.GraphNetStack` (one grouped
convolution per node and dilation);
other architectures run member after member inside the same step.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .models import MSDNet, SMSNet
from .models.graph import node_dilation_list
from .models.graphnet import DenseGraphStack, GraphNetStack

__all__ = ["stack_members"]


class _GraphStack(nn.Module):
    def __init__(self, members, batch_norm=False):
        super().__init__()
        first = members[0].net
        self.n_members = len(members)
        self.net = GraphNetStack([m.graph for m in members], ndim=first.ndim,
                                 in_channels=first.in_channels,
                                 out_channels=first.out_channels, width=first.width,
                                 kernel_size=first.kernel_size, batch_norm=batch_norm)
        for i, m in enumerate(members):
            m.net.copy_member(0, self.net, i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, m = x.shape[:2]
        out = self.net(x.reshape((b, m * x.shape[2]) + tuple(x.shape[3:])))
        return out.view((b, m, -1) + tuple(x.shape[3:]))

    def member_grad_norms(self) -> torch.Tensor:
        total = None
        for p in self.net.parameters():
            if p.grad is not None:
                sq = p.grad.reshape(self.n_members, -1).float().square().sum(1)
                total = sq if total is None else total + sq
        return total.sqrt()

    def scale_member_grads(self, factors: torch.Tensor) -> None:
        for p in self.net.parameters():
            if p.grad is not None:
                p.grad.view(self.n_members, -1).mul_(factors[:, None].to(p.grad.dtype))

    @torch.no_grad()
    def copy_to(self, members, which) -> None:
        for i in which:
            self.net.copy_member(i, members[i].net)


class _DenseStack(_GraphStack):
    """Members whose nodes share dilations: one gather-free grouped conv per node."""

    def __init__(self, members, node_dilations, batch_norm=False):
        nn.Module.__init__(self)
        first = members[0].net
        self.n_members = len(members)
        self.graphs = [m.graph for m in members]
        self.net = DenseGraphStack(self.graphs, node_dilations, ndim=first.ndim,
                                   in_channels=first.in_channels,
                                   out_channels=first.out_channels, width=first.width,
                                   kernel_size=first.kernel_size, batch_norm=batch_norm)
        for i, m in enumerate(members):
            self.net.load_member(i, m.net, m.graph)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def copy_to(self, members, which) -> None:
        for i in which:
            self.net.load_member(i, members[i].net, self.graphs[i], to_single=True)


class _LoopStack(nn.Module):
    def __init__(self, members):
        super().__init__()
        self.n_members = len(members)
        self.work = nn.ModuleList(copy.deepcopy(m) for m in members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(x[:, i]) for i, net in enumerate(self.work)], dim=1)

    def member_grad_norms(self) -> torch.Tensor:
        norms = []
        for net in self.work:
            sq = [p.grad.float().square().sum() for p in net.parameters() if p.grad is not None]
            norms.append(torch.stack(sq).sum().sqrt() if sq else torch.zeros(()))
        return torch.stack(norms)

    def scale_member_grads(self, factors: torch.Tensor) -> None:
        for f, net in zip(factors, self.work):
            for p in net.parameters():
                if p.grad is not None:
                    p.grad.mul_(f.to(p.grad.dtype))

    @torch.no_grad()
    def copy_to(self, members, which) -> None:
        for i in which:
            state = {k: v.detach().to("cpu") for k, v in self.work[i].state_dict().items()}
            members[i].load_state_dict(state)


def stack_members(members, *, batch_norm: bool = False) -> nn.Module:
    """One module training all ``members`` together (see the module docstring).

    The returned module has ``forward(x (B, M, C, *S)) -> (B, M, K, *S)``,
    ``member_grad_norms()``, ``scale_member_grads(factors)`` (per-member gradient
    clipping) and ``copy_to(members, which)`` (write trained weights back).
    """
    kinds = {type(m) for m in members}
    if len(kinds) == 1 and kinds <= {SMSNet, MSDNet}:
        shapes = {(m.net.depth, m.net.width, m.net.kernel_size) for m in members}
        if len(shapes) == 1:
            dils = [node_dilation_list(m.graph) for m in members]
            if dils[0] is not None and all(d == dils[0] for d in dils):
                return _DenseStack(members, dils[0], batch_norm=batch_norm)
            return _GraphStack(members, batch_norm=batch_norm)
    return _LoopStack(members)


def clip_member_grads_(stack: nn.Module, max_norm: float) -> torch.Tensor:
    """Clip each member's gradient norm to ``max_norm``; return the norms before."""
    norms = stack.member_grad_norms()
    factors = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    stack.scale_member_grads(factors)
    return norms
