"""Building blocks shared by the U-Net family and the autoencoder."""

from __future__ import annotations

from torch import nn

__all__ = ["KERNEL_SIZES", "check_kernel_size", "conv_block", "level_widths"]

KERNEL_SIZES = (3, 5, 7)


def check_kernel_size(kernel_size) -> int:
    """The kernel size as an int; a ValueError names the valid sizes."""
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size \
            or int(kernel_size) not in KERNEL_SIZES:
        valid = ", ".join(str(k) for k in KERNEL_SIZES)
        raise ValueError(f"kernel_size must be one of {valid} (odd, so outputs stay centred); "
                         f"got {kernel_size!r}.")
    return int(kernel_size)


def level_widths(depth: int, base_channels: int, growth_rate: float) -> list[int]:
    """Channels per level: ``round(base_channels * growth_rate**l)``, at least 1."""
    return [max(1, round(base_channels * growth_rate**lvl)) for lvl in range(int(depth))]


def conv_block(ndim: int, c_in: int, c_hidden: int, c_out: int,
               kernel_size: int = 3) -> nn.Sequential:
    """Two k x k convolutions, each followed by BatchNorm and ReLU ('same' padding)."""
    conv = nn.Conv2d if ndim == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if ndim == 2 else nn.BatchNorm3d
    pad = kernel_size // 2
    return nn.Sequential(
        conv(c_in, c_hidden, kernel_size, padding=pad), norm(c_hidden), nn.ReLU(inplace=True),
        conv(c_hidden, c_out, kernel_size, padding=pad), norm(c_out), nn.ReLU(inplace=True),
    )
