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

On a CPU with several threads, :class:`ThreadedStacks` splits the members into
one stack per thread and runs their forward and backward passes side by side,
each with one intra-op thread: the small convolutions of these networks gain
little from intra-op threads (1.1-1.3x from a second core); two independent
stacks of 3 + 2 members ran a step 1.35-1.55x faster than one thread.
"""

from __future__ import annotations

import contextlib
import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from .models import MSDNet, SMSNet
from .models.graph import node_dilation_list
from .models.graphnet import DenseGraphStack, GraphNetStack

__all__ = ["stack_members", "ThreadedStacks", "member_losses_backward"]


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


class ThreadedStacks(nn.Module):
    """The members split into ``n_parts`` stacks run in as many threads (CPU).

    Same interface as the stacks of :func:`stack_members`; :func:`member_losses_backward`
    runs forward, loss and backward of every part in its own thread. Use inside
    :meth:`single_threaded_ops`, which sets one intra-op thread per part.
    """

    def __init__(self, members, n_parts: int, **kwargs):
        super().__init__()
        self.n_members = len(members)
        edges = np.linspace(0, self.n_members, int(n_parts) + 1).round().astype(int)
        self.bounds = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        self.parts = nn.ModuleList(stack_members(members[a:b], **kwargs) for a, b in self.bounds)
        self._pool: ThreadPoolExecutor | None = None

    def _map(self, fn):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(len(self.parts), thread_name_prefix="sciseg-train")
        futures = [self._pool.submit(fn, part, slice(a, b))
                   for part, (a, b) in zip(self.parts, self.bounds)]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop the worker threads (a later call starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    @contextlib.contextmanager
    def single_threaded_ops(self):
        """One intra-op thread per part while inside; the previous count after."""
        before = torch.get_num_threads()
        torch.set_num_threads(max(1, before // len(self.parts)))
        try:
            yield self
        finally:
            torch.set_num_threads(before)
            self.close()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled()  # grad mode is per thread

        def run(part, members):
            with torch.set_grad_enabled(grad):
                return part(x[:, members])

        return torch.cat(self._map(run), dim=1)

    def losses_backward(self, x, y, loss_fn) -> torch.Tensor:
        def run(part, members):
            losses = loss_fn(part(x[:, members]), y[:, members])
            losses.sum().backward()
            return losses.detach()

        return torch.cat(self._map(run))

    def member_grad_norms(self) -> torch.Tensor:
        return torch.cat([part.member_grad_norms() for part in self.parts])

    def scale_member_grads(self, factors: torch.Tensor) -> None:
        for part, (a, b) in zip(self.parts, self.bounds):
            part.scale_member_grads(factors[a:b])

    @torch.no_grad()
    def copy_to(self, members, which) -> None:
        which = {int(i) for i in which}
        for part, (a, b) in zip(self.parts, self.bounds):
            part.copy_to(members[a:b], [i - a for i in range(a, b) if i in which])


def member_losses_backward(stack: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn,
                           scale=None, autocast: bool = False) -> torch.Tensor:
    """Forward ``x`` (B, M, C, *S), per-member losses ``loss_fn(logits, y)`` (M,), backward.

    Returns the detached losses. ``scale`` (e.g. a ``GradScaler.scale``) is applied to
    the summed loss before the backward pass; ``autocast`` runs the forward pass in
    mixed precision (CUDA). A :class:`ThreadedStacks` runs its parts in parallel.
    """
    if isinstance(stack, ThreadedStacks):
        if scale is not None or autocast:
            raise ValueError("threaded stacks are for the CPU: no gradient scaling or autocast.")
        return stack.losses_backward(x, y, loss_fn)
    with torch.autocast(x.device.type, enabled=autocast):
        logits = stack(x)
    losses = loss_fn(logits, y)
    total = losses.sum()
    (total if scale is None else scale(total)).backward()
    return losses.detach()
