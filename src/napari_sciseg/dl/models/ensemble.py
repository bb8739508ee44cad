"""An ensemble of segmentation networks, itself a segmentation model."""

from __future__ import annotations

import torch
from torch import nn

from .base import SegmentationModel
from .graphnet import GraphNetStack

__all__ = ["Ensemble", "RegressionEnsemble"]


class Ensemble(SegmentationModel):
    """Mean class probabilities and the spread between members.

    Parameters
    ----------
    members : sequence of SegmentationModel
        Networks with the same ``ndim``, ``in_channels`` and ``out_channels``
        (any architectures).

    Notes
    -----
    ``forward`` returns ``(mean, std)``, both ``(B, K, *spatial)`` float32:
    the mean of the members' softmax probabilities and their **population**
    standard deviation (divide by M, not M - 1; the spread between members, not
    the standard error DLSIA reports). One member gives std 0.

    Examples
    --------
    >>> from napari_sciseg.dl.models import create_model
    >>> members = [create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=3,
    ...                         seed=s) for s in range(3)]
    >>> mean, std = Ensemble(members)(torch.rand(1, 1, 16, 16))
    >>> mean.shape, bool(torch.allclose(mean.sum(1), torch.ones(1, 16, 16)))
    (torch.Size([1, 2, 16, 16]), True)
    """

    arch = "ensemble"
    #: members' outputs are logits turned into probabilities (False: values, regression)
    softmax = True

    def __init__(self, members):
        members = list(members)
        if not members:
            raise ValueError("an Ensemble needs at least one member network; got none.")
        first = members[0]
        super().__init__(ndim=first.ndim, in_channels=first.in_channels,
                         out_channels=first.out_channels)
        for m in members[1:]:
            if (m.ndim, m.in_channels, m.out_channels) != (
                    first.ndim, first.in_channels, first.out_channels):
                raise ValueError(
                    "ensemble members must share ndim, in_channels and out_channels; got "
                    f"{(first.ndim, first.in_channels, first.out_channels)} and "
                    f"{(m.ndim, m.in_channels, m.out_channels)}."
                )
        self.members = nn.ModuleList(members)

    @property
    def receptive_field(self) -> int:
        return max(m.receptive_field for m in self.members)

    @property
    def config(self) -> dict:
        cfg = super().config
        cfg["kwargs"] = {"members": [m.config for m in self.members]}
        return cfg

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities of every member, ``(M, B, K, *spatial)`` float32."""
        self.check_input(x)
        probs = None
        workspace = None
        grad = torch.is_grad_enabled()
        for i, m in enumerate(self.members):
            net = getattr(m, "net", None)
            if isinstance(net, GraphNetStack) and net.n_members == 1 and not grad:
                # graph members share one state buffer per call (no page faults per member)
                m.check_input(x)
                shape = (x.shape[0], net.state_channels()) + tuple(x.shape[2:])
                if workspace is None or tuple(workspace.shape) != shape:
                    workspace = x.new_empty(shape)
                logits = net(x, workspace)
            else:
                logits = m(x)
            p = torch.softmax(logits.float(), dim=1) if self.softmax else logits.float()
            if probs is None:
                probs = p.new_empty((len(self.members),) + tuple(p.shape))
            probs[i] = p
        return probs

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.member_probabilities(x)
        n = probs.shape[0]
        mean = probs.mean(0)
        if n == 1:
            return mean, torch.zeros_like(mean)
        # population std from deviations to the first member (several times faster than
        # Tensor.std on CPU; exactly 0 where all members agree, stable since d is small)
        d = probs[1:] - probs[0]
        shift = d.sum(0) / n
        var = d.square_().sum(0).div_(n).sub_(shift.square_()).clamp_(min=0)
        return mean, var.sqrt_()


class RegressionEnsemble(Ensemble):
    """Mean and spread of the members' output values (regression: inpainting, denoising).

    Like :class:`Ensemble`, but the members' outputs are used as they are (no
    softmax): ``forward`` returns the mean value and the population standard
    deviation between members, both ``(B, C, *spatial)``.

    Examples
    --------
    >>> from napari_sciseg.dl.models import create_model
    >>> members = [create_model("msdnet", ndim=2, in_channels=1, out_channels=1, depth=2,
    ...                         seed=s) for s in range(2)]
    >>> mean, std = RegressionEnsemble(members)(torch.rand(1, 1, 8, 8))
    >>> mean.shape, bool((std > 0).any())
    (torch.Size([1, 1, 8, 8]), True)
    """

    softmax = False
