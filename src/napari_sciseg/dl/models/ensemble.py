"""An ensemble of segmentation networks, itself a segmentation model."""

from __future__ import annotations

import torch
from torch import nn

from .base import SegmentationModel

__all__ = ["Ensemble"]


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
        return torch.stack([torch.softmax(m(x).float(), dim=1) for m in self.members])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.member_probabilities(x)
        return probs.mean(0), probs.std(0, correction=0)
