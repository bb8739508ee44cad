"""TUNet: the tunable U-Net (depth, base channels, growth rate, hidden rate)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import SegmentationModel
from .blocks import check_kernel_size, conv_block, level_widths

__all__ = ["TUNet"]


class TUNet(SegmentationModel):
    """A U-Net with tunable depth and widths; conv -> BatchNorm -> ReLU.

    Level l has ``round(base_channels * growth_rate**l)`` channels and
    ``round(that * hidden_rate)`` between its two convolutions. Any input size
    works: the input is padded (edge values) to a multiple of
    ``2**(depth - 1)`` inside and the output cropped back. BatchNorm keeps
    running statistics and uses them in ``eval()`` mode, so inference does not
    depend on the batch or tile (call ``.eval()`` before predicting).

    Parameters
    ----------
    depth : int
        Levels d (d - 1 poolings); classic 4.
    base_channels : int
        c_b, channels of the first level; classic 64.
    growth_rate, hidden_rate : float
        r and r_h; classic 2 and 1.
    kernel_size : {3, 5, 7}
        Size of every convolution of the blocks (7: the "UNET7" of the
        nanoparticle study, which beat 3 x 3 kernels there).

    Examples
    --------
    >>> net = TUNet(ndim=2, in_channels=1, out_channels=2, depth=3, base_channels=4).eval()
    >>> net(torch.zeros(1, 1, 13, 30)).shape
    torch.Size([1, 2, 13, 30])
    """

    arch = "tunet"

    def __init__(self, *, ndim: int = 2, in_channels: int = 1, out_channels: int = 2,
                 seed: int = 0, depth: int = 4, base_channels: int = 64,
                 growth_rate: float = 2.0, hidden_rate: float = 1.0, kernel_size: int = 3):
        super().__init__(ndim=ndim, in_channels=in_channels, out_channels=out_channels)
        if int(depth) < 1 or int(base_channels) < 1 or growth_rate <= 0 or hidden_rate <= 0:
            raise ValueError(
                "TUNet needs depth >= 1, base_channels >= 1 and positive rates; got "
                f"depth={depth}, base_channels={base_channels}, growth_rate={growth_rate}, "
                f"hidden_rate={hidden_rate}."
            )
        self.depth = int(depth)
        self.kernel_size = k = check_kernel_size(kernel_size)
        widths = level_widths(self.depth, base_channels, growth_rate)
        hidden = [max(1, round(w * hidden_rate)) for w in widths]
        conv = nn.Conv2d if ndim == 2 else nn.Conv3d
        up = nn.ConvTranspose2d if ndim == 2 else nn.ConvTranspose3d
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.down = nn.ModuleList()
            c_prev = in_channels
            for w, h in zip(widths, hidden):
                self.down.append(conv_block(ndim, c_prev, h, w, k))
                c_prev = w
            self.ups = nn.ModuleList()
            self.up_blocks = nn.ModuleList()
            for lvl in range(self.depth - 2, -1, -1):
                self.ups.append(up(widths[lvl + 1], widths[lvl], 2, stride=2))
                self.up_blocks.append(
                    conv_block(ndim, 2 * widths[lvl], hidden[lvl], widths[lvl], k))
            self.head = conv(widths[0], out_channels, 1)
        self._pool = F.max_pool2d if ndim == 2 else F.max_pool3d
        self._config = {"seed": int(seed), "depth": self.depth,
                        "base_channels": int(base_channels),
                        "growth_rate": float(growth_rate), "hidden_rate": float(hidden_rate)}
        if k != 3:  # files of 3 x 3 TUNets stay as they were
            self._config["kernel_size"] = k

    @property
    def receptive_field(self) -> int:
        # two k x k convs (radius p each) per level on both halves, plus the
        # pooling and up-convolution grid: p (3 * 2**d - 4) + 2**d - 2.
        d, p = self.depth, self.kernel_size // 2
        return p * (3 * 2**d - 4) + 2**d - 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        spatial = tuple(x.shape[2:])
        mult = 2 ** (self.depth - 1)
        pad = [(-s) % mult for s in spatial]
        if any(pad):
            flat = []
            for p in reversed(pad):
                flat += [p // 2, p - p // 2]
            x = F.pad(x, flat, mode="replicate")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.depth - 1:
                skips.append(x)
                x = self._pool(x, 2)
        for upconv, block in zip(self.ups, self.up_blocks):
            x = block(torch.cat([skips.pop(), upconv(x)], dim=1))
        x = self.head(x)
        if any(pad):
            x = x[(slice(None), slice(None))
                  + tuple(slice(p // 2, p // 2 + s) for p, s in zip(pad, spatial))]
        return x
