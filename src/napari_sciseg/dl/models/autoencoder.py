"""A convolutional autoencoder (DLSIA's latent-space network) and its reusable encoder.

The encoder is the down half of a :class:`~.tunet.TUNet` (same blocks: two k x k
convolutions with BatchNorm and ReLU per level, 2x max pooling between levels),
optionally ending in a linear layer to a latent vector of ``latent_size`` numbers.
The decoder mirrors it without skip connections, so everything the reconstruction
needs has to pass through the latent vector.

Using the encoder elsewhere (e.g. to pretrain a classifier or a segmentation net)::

    from napari_sciseg.dl.models.autoencoder import Autoencoder, Encoder

    ae = Autoencoder(ndim=2, in_channels=1, tile_shape=(64, 64), depth=4,
                     base_channels=16, latent_size=16)   # train it (dl.autoencoder)
    encoder = ae.encoder              # an Encoder; or Encoder(...) standalone
    maps = encoder.features(x)        # list of `depth` maps; level l has
                                      # encoder.widths[l] channels at 1/2**l size
    z = encoder(x)                    # (B, latent_size) latent vectors

An :class:`Encoder` built without ``tile_shape``/``latent_size`` is a plain
convolutional backbone (``features`` only; any input size). Its ``down`` blocks have
the layout of a TUNet's ``down`` blocks, so :func:`copy_encoder_into_tunet` starts a
TUNet of the same depth, widths and kernel size from pretrained encoder weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import check_kernel_size, conv_block, level_widths

__all__ = ["Autoencoder", "Encoder", "Decoder", "copy_encoder_into_tunet"]


def _check_sizes(depth, base_channels, growth_rate) -> None:
    if int(depth) < 1 or int(base_channels) < 1 or growth_rate <= 0:
        raise ValueError("the autoencoder needs depth >= 1, base_channels >= 1 and "
                         f"growth_rate > 0; got depth={depth}, base_channels={base_channels}, "
                         f"growth_rate={growth_rate}.")


class Encoder(nn.Module):
    """The down half of a TUNet, optionally ending in a latent vector.

    Parameters
    ----------
    ndim : {2, 3}
    in_channels : int
    depth : int
        Levels d (d - 1 poolings); DLSIA's latent-space example uses 4.
    base_channels : int
        c_b, channels of the first level (DLSIA: 16).
    growth_rate : float
        r: level l has ``round(c_b * r**l)`` channels (:attr:`widths`).
    kernel_size : {3, 5, 7}
    tile_shape : tuple of int, optional
        Spatial shape of the tiles; needed (with ``latent_size``) for the linear
        layer to the latent vector. Inputs are padded (edge values) to a multiple of
        ``2**(depth - 1)``.
    latent_size : int, optional
        c_lat, numbers per latent vector (DLSIA: 16 for 64 x 64 tiles).

    Examples
    --------
    >>> enc = Encoder(ndim=2, in_channels=1, depth=3, base_channels=4,
    ...               tile_shape=(20, 20), latent_size=5).eval()
    >>> enc(torch.zeros(2, 1, 20, 20)).shape
    torch.Size([2, 5])
    >>> [tuple(m.shape) for m in enc.features(torch.zeros(1, 1, 20, 20))]
    [(1, 4, 20, 20), (1, 8, 10, 10), (1, 16, 5, 5)]
    """

    def __init__(self, *, ndim: int = 2, in_channels: int = 1, depth: int = 4,
                 base_channels: int = 16, growth_rate: float = 2.0, kernel_size: int = 3,
                 tile_shape=None, latent_size: int | None = None):
        super().__init__()
        if ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 or 3 (spatial dimensions); got {ndim!r}.")
        _check_sizes(depth, base_channels, growth_rate)
        self.ndim, self.in_channels, self.depth = int(ndim), int(in_channels), int(depth)
        self.kernel_size = check_kernel_size(kernel_size)
        self.widths = level_widths(depth, base_channels, growth_rate)
        self.down = nn.ModuleList()
        c_prev = self.in_channels
        for w in self.widths:
            self.down.append(conv_block(ndim, c_prev, w, w, self.kernel_size))
            c_prev = w
        self._pool = F.max_pool2d if ndim == 2 else F.max_pool3d
        self.tile_shape = None if tile_shape is None else tuple(int(s) for s in tile_shape)
        self.latent_size = None if latent_size is None else int(latent_size)
        self.to_latent = None
        if (self.tile_shape is None) != (self.latent_size is None):
            raise ValueError("give both tile_shape and latent_size (an encoder to a latent "
                             "vector) or neither (a convolutional backbone).")
        if self.tile_shape is not None:
            self._check_tile(ndim)
            self.to_latent = nn.Linear(self.widths[-1] * math.prod(self.bottom_shape),
                                       self.latent_size)

    def _check_tile(self, ndim: int) -> None:
        if len(self.tile_shape) != ndim or min(self.tile_shape) < 1:
            raise ValueError(f"tile_shape must have {ndim} positive sizes (one per spatial "
                             f"axis); got {self.tile_shape}.")
        n_values = self.in_channels * math.prod(self.tile_shape)
        if self.latent_size < 1 or self.latent_size >= n_values:
            raise ValueError(
                f"latent_size must be between 1 and the number of values in a tile minus one "
                f"({n_values - 1} for {self.in_channels} channel(s) of {self.tile_shape}); got "
                f"{self.latent_size}. An autoencoder must compress: use a smaller latent_size "
                "or larger tiles.")

    @property
    def multiple(self) -> int:
        """Inputs are padded to a multiple of this along each axis."""
        return 2 ** (self.depth - 1)

    @property
    def bottom_shape(self) -> tuple:
        """Spatial shape of the deepest feature map for a tile of :attr:`tile_shape`."""
        return tuple(-(-s // self.multiple) for s in self.tile_shape)

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Pad ``x`` (edge values) to a multiple of :attr:`multiple`; return it and the pads."""
        pad = [(-s) % self.multiple for s in x.shape[2:]]
        if any(pad):
            flat = []
            for p in reversed(pad):
                flat += [p // 2, p - p // 2]
            x = F.pad(x, flat, mode="replicate")
        return x, pad

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of every level: level l is ``(B, widths[l], *padded / 2**l)``."""
        if x.ndim != self.ndim + 2 or x.shape[1] != self.in_channels:
            axes = "(B, C, Y, X)" if self.ndim == 2 else "(B, C, Z, Y, X)"
            raise ValueError(f"the encoder expects input {axes} with C={self.in_channels}; "
                             f"got shape {tuple(x.shape)}.")
        x, _ = self.pad(x)
        maps = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self._pool(x, 2))
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Latent vectors ``(B, latent_size)`` of tiles of :attr:`tile_shape`."""
        if self.to_latent is None:
            raise ValueError("this encoder has no latent layer (built without tile_shape and "
                             "latent_size); use features(x).")
        if tuple(x.shape[2:]) != self.tile_shape:
            raise ValueError(f"the encoder was built for tiles of {self.tile_shape}; got "
                             f"spatial shape {tuple(x.shape[2:])}.")
        return self.to_latent(self.features(x)[-1].flatten(1))


class Decoder(nn.Module):
    """Latent vector -> tile: linear layer, then up-convolutions and conv blocks."""

    def __init__(self, encoder: Encoder, out_channels: int):
        super().__init__()
        ndim, k, widths = encoder.ndim, encoder.kernel_size, encoder.widths
        self.bottom = (widths[-1],) + encoder.bottom_shape
        self.from_latent = nn.Linear(encoder.latent_size, math.prod(self.bottom))
        up = nn.ConvTranspose2d if ndim == 2 else nn.ConvTranspose3d
        conv = nn.Conv2d if ndim == 2 else nn.Conv3d
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for lvl in range(encoder.depth - 2, -1, -1):
            self.ups.append(up(widths[lvl + 1], widths[lvl], 2, stride=2))
            self.blocks.append(conv_block(ndim, widths[lvl], widths[lvl], widths[lvl], k))
        self.head = conv(widths[0], out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.from_latent(z)).view((z.shape[0],) + self.bottom)
        for upconv, block in zip(self.ups, self.blocks):
            x = block(upconv(x))
        return self.head(x)


class Autoencoder(nn.Module):
    """Tile -> latent vector -> tile; trained on reconstruction (see :mod:`..autoencoder`).

    Parameters
    ----------
    ndim : {2, 3}
    in_channels : int
    tile_shape : tuple of int
        Spatial shape of the tiles (any sizes; padded inside, cropped back).
    depth, base_channels, growth_rate, kernel_size
        As for :class:`Encoder` (DLSIA: 4, 16, 2, 3).
    latent_size : int
        c_lat (DLSIA: 16 for 64 x 64 tiles, a 256x compression).
    seed : int
        Seed of the initial weights.

    Examples
    --------
    >>> ae = Autoencoder(ndim=2, tile_shape=(13, 21), depth=2, base_channels=2,
    ...                  latent_size=3).eval()
    >>> x = torch.zeros(4, 1, 13, 21)
    >>> ae(x).shape, ae.encode(x).shape
    (torch.Size([4, 1, 13, 21]), torch.Size([4, 3]))
    """

    arch = "autoencoder"

    def __init__(self, *, ndim: int = 2, in_channels: int = 1, tile_shape=(64, 64),
                 depth: int = 4, base_channels: int = 16, growth_rate: float = 2.0,
                 kernel_size: int = 3, latent_size: int = 16, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.encoder = Encoder(ndim=ndim, in_channels=in_channels, depth=depth,
                                   base_channels=base_channels, growth_rate=growth_rate,
                                   kernel_size=kernel_size, tile_shape=tile_shape,
                                   latent_size=latent_size)
            self.decoder = Decoder(self.encoder, in_channels)
        self.ndim, self.in_channels = int(ndim), int(in_channels)
        self._config = {"ndim": self.ndim, "in_channels": self.in_channels,
                        "tile_shape": list(self.encoder.tile_shape), "depth": int(depth),
                        "base_channels": int(base_channels), "growth_rate": float(growth_rate),
                        "kernel_size": self.encoder.kernel_size,
                        "latent_size": int(latent_size), "seed": int(seed)}

    @property
    def tile_shape(self) -> tuple:
        return self.encoder.tile_shape

    @property
    def latent_size(self) -> int:
        return self.encoder.latent_size

    @property
    def config(self) -> dict:
        """``{"arch": "autoencoder", "kwargs": {...}}``; :meth:`from_config` rebuilds it."""
        return {"arch": self.arch, "kwargs": dict(self._config)}

    @classmethod
    def from_config(cls, config: dict) -> Autoencoder:
        """An untrained network of the layout in ``config`` (see :attr:`config`)."""
        if config.get("arch") != cls.arch:
            raise ValueError(f"not an autoencoder configuration (arch={config.get('arch')!r}).")
        return cls(**config["kwargs"])

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *tile_shape)`` -> latent vectors ``(B, latent_size)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent vectors ``(B, latent_size)`` -> tiles ``(B, C, *tile_shape)``."""
        x = self.decoder(z)
        pad = [p - s for p, s in zip(x.shape[2:], self.tile_shape)]
        if any(pad):
            x = x[(slice(None), slice(None))
                  + tuple(slice(p // 2, p // 2 + s) for p, s in zip(pad, self.tile_shape))]
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def copy_encoder_into_tunet(encoder: Encoder, tunet) -> int:
    """Start a TUNet's down half from an encoder's weights; return the levels copied.

    The TUNet needs the encoder's ``in_channels``, ``kernel_size`` and level widths
    (``hidden_rate`` 1) on the levels copied (up to the smaller depth).
    """
    n = min(encoder.depth, tunet.depth)
    for lvl in range(n):
        source, target = encoder.down[lvl].state_dict(), tunet.down[lvl].state_dict()
        shapes = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in source.items()
                  if k not in target or target[k].shape != v.shape]
        if shapes:
            raise ValueError(
                f"level {lvl} of the encoder does not fit the TUNet ({shapes[0][0]}: "
                f"{shapes[0][1]} vs {shapes[0][2]}); build the TUNet with the encoder's "
                "depth, base_channels, growth_rate, kernel_size and hidden_rate=1.")
        tunet.down[lvl].load_state_dict(source)
    return n
