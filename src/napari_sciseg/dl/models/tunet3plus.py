"""TUNet3+: a tunable U-Net with full-scale skip connections (UNet 3+, Huang et al. 2020)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import SegmentationModel
from .blocks import check_kernel_size, conv_block, level_widths

__all__ = ["TUNet3Plus"]


def _conv_bn_relu(ndim: int, c_in: int, c_out: int, k: int) -> nn.Sequential:
    conv = nn.Conv2d if ndim == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if ndim == 2 else nn.BatchNorm3d
    return nn.Sequential(conv(c_in, c_out, k, padding=k // 2), norm(c_out), nn.ReLU(inplace=True))


class TUNet3Plus(SegmentationModel):
    """A U-Net whose every decoder level sees every encoder and deeper decoder level.

    The encoder is a TUNet's (two k x k conv-BN-ReLU per level, 2x max pooling). The
    decoder level l concatenates, each brought to level l's grid and to
    ``carryover_channels`` by one k x k conv-BN-ReLU: the finer encoder maps
    (max-pooled), encoder level l, and the coarser decoder maps and the bottom
    (bilinear/trilinear upsampling); one more conv-BN-ReLU fuses them. Any input size:
    padded (edge values) to a multiple of ``2**(depth - 1)`` and cropped back; call
    ``.eval()`` before predicting (BatchNorm).

    Parameters
    ----------
    depth : int
        Levels d (d - 1 poolings), at least 2.
    base_channels : int
        c_b, encoder channels of the first level.
    growth_rate : float
        r: encoder level l has ``round(c_b * r**l)`` channels.
    carryover_channels : int, optional
        Channels each skip carries into a decoder level (default ``base_channels``);
        a decoder level has ``depth * carryover_channels``.
    kernel_size : {3, 5, 7}

    Examples
    --------
    >>> net = TUNet3Plus(ndim=2, in_channels=1, out_channels=2, depth=3, base_channels=4).eval()
    >>> net(torch.zeros(1, 1, 13, 30)).shape
    torch.Size([1, 2, 13, 30])
    """

    arch = "tunet3plus"

    def __init__(self, *, ndim: int = 2, in_channels: int = 1, out_channels: int = 2,
                 seed: int = 0, depth: int = 4, base_channels: int = 32,
                 growth_rate: float = 2.0, carryover_channels: int | None = None,
                 kernel_size: int = 3):
        super().__init__(ndim=ndim, in_channels=in_channels, out_channels=out_channels)
        carry = int(carryover_channels or base_channels)
        if int(depth) < 2 or int(base_channels) < 1 or growth_rate <= 0 or carry < 1:
            raise ValueError(
                "TUNet3+ needs depth >= 2, base_channels >= 1, carryover_channels >= 1 and a "
                f"positive growth_rate; got depth={depth}, base_channels={base_channels}, "
                f"carryover_channels={carryover_channels}, growth_rate={growth_rate}.")
        self.depth, d = int(depth), int(depth)
        self.kernel_size = k = check_kernel_size(kernel_size)
        widths = level_widths(d, base_channels, growth_rate)
        fused = d * carry
        conv = nn.Conv2d if ndim == 2 else nn.Conv3d
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.down = nn.ModuleList()
            c_prev = in_channels
            for w in widths:
                self.down.append(conv_block(ndim, c_prev, w, w, k))
                c_prev = w
            # decoder level l (d-2 .. 0): one skip conv per source level 0..d-1
            self.skips = nn.ModuleList()
            self.fuse = nn.ModuleList()
            for lvl in range(d - 2, -1, -1):
                sources = [widths[s] if s <= lvl or s == d - 1 else fused for s in range(d)]
                self.skips.append(nn.ModuleList(_conv_bn_relu(ndim, c, carry, k)
                                                for c in sources))
                self.fuse.append(_conv_bn_relu(ndim, fused, fused, k))
            self.head = conv(fused, out_channels, 1)
        self._pool = F.max_pool2d if ndim == 2 else F.max_pool3d
        self._mode = "bilinear" if ndim == 2 else "trilinear"
        self._config = {"seed": int(seed), "depth": d, "base_channels": int(base_channels),
                        "growth_rate": float(growth_rate), "carryover_channels": carry,
                        "kernel_size": k}

    @property
    def receptive_field(self) -> int:
        """A bound from the layer graph: k x k conv at level l reaches p 2**l, a
        resampling between levels reaches the coarser level's 2**l."""
        d, p = self.depth, self.kernel_size // 2
        enc = []
        for lvl in range(d):
            pooled = enc[-1] + 2**lvl if enc else 0
            enc.append(pooled + 2 * p * 2**lvl)
        dec = {d - 1: enc[d - 1]}
        for lvl in range(d - 2, -1, -1):
            reach = [enc[s] + 2**lvl for s in range(lvl)] + [enc[lvl]]
            reach += [dec[s] + 2**s for s in range(lvl + 1, d)]
            dec[lvl] = max(reach) + 2 * p * 2**lvl
        return int(dec[0] + 2**d)

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
        enc = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self._pool(x, 2))
            enc.append(x)
        d = self.depth
        dec = {d - 1: enc[d - 1]}
        for lvl, skips, fuse in zip(range(d - 2, -1, -1), self.skips, self.fuse):
            parts = []
            for src, skip in enumerate(skips):
                if src < lvl:
                    feat = self._pool(enc[src], 2 ** (lvl - src))
                elif src == lvl:
                    feat = enc[lvl]
                else:
                    feat = F.interpolate(dec[src], scale_factor=2 ** (src - lvl),
                                         mode=self._mode, align_corners=False)
                parts.append(skip(feat))
            dec[lvl] = fuse(torch.cat(parts, dim=1))
        x = self.head(dec[0])
        if any(pad):
            x = x[(slice(None), slice(None))
                  + tuple(slice(p // 2, p // 2 + s) for p, s in zip(pad, spatial))]
        return x
