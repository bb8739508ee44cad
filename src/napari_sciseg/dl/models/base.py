"""The base class every segmentation network derives from."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SegmentationModel"]


class SegmentationModel(nn.Module):
    """A 2D or 3D network mapping ``(B, C_in, *spatial)`` to logits ``(B, K, *spatial)``.

    Subclasses set ``arch`` (the registry name) and store the keyword arguments
    that rebuild them in ``self._config`` (JSON-able, incl. an SMSNet's graph),
    so ``create_model(model.config["arch"], **model.config["kwargs"])`` gives
    the same network. Layers never depend on the batch or tile at inference and
    nothing is stored on the module during ``forward``.

    Attributes
    ----------
    ndim : int
        2 or 3 spatial dimensions.
    in_channels, out_channels : int
        Channels of the input image and number of classes K.
    """

    arch: str = ""
    #: smallest spatial size along each axis that ``forward`` accepts.
    min_size: int = 1

    def __init__(self, *, ndim: int, in_channels: int, out_channels: int):
        super().__init__()
        if ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 or 3 (spatial dimensions); got {ndim!r}.")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        self.ndim = int(ndim)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self._config: dict = {}

    @property
    def receptive_field(self) -> int:
        """Halo radius in pixels per side (same on each axis)."""
        raise NotImplementedError

    @property
    def config(self) -> dict:
        """``{"arch", "ndim", "in_channels", "out_channels", "kwargs"}`` (JSON-able)."""
        return {
            "arch": self.arch,
            "ndim": self.ndim,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kwargs": dict(self._config),
        }

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError when ``x`` is not ``(B, in_channels, *spatial)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor; got {type(x).__name__}.")
        expected = self.ndim + 2
        if x.ndim != expected or x.shape[1] != self.in_channels:
            axes = "(B, C, Y, X)" if self.ndim == 2 else "(B, C, Z, Y, X)"
            raise ValueError(
                f"{type(self).__name__} expects input {axes} with C={self.in_channels}; "
                f"got shape {tuple(x.shape)}."
            )
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(
                f"{type(self).__name__} needs at least {self.min_size} pixels per axis; "
                f"got spatial shape {tuple(x.shape[2:])}."
            )
