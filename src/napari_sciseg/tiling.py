"""N-D tiles with a halo, for predicting images larger than memory (pure numpy).

A network whose output at a pixel depends only on the input within ``halo``
pixels of it (its receptive field) gives exactly the same values on a tile as
on the whole image, as long as the pixel lies at least ``halo`` pixels inside
the tile (or the tile edge is the image edge, where both see the same
padding). So the image is cut into disjoint *cores*; each core is read with
``halo`` extra pixels around it (the *window*), the network runs on the
window, and only the core of its output is written back. The blending weights
are therefore 1 on each core and 0 on the halo: they sum to one everywhere and
do not alter values where tiles agree, so tiled output equals untiled output.

Every window has the same shape (``min(tile, image size)`` per axis), so
windows can be stacked into batches: the last window along an axis is shifted
back to end at the image edge instead of being cut short.

Examples
--------
>>> grid = tile_grid((10, 7), tile=6, halo=1)
>>> grid.n_tiles, grid.window_shape, grid.core_shape
(6, (6, 6), (4, 4))
>>> import numpy as np
>>> image = np.arange(70.0).reshape(10, 7)
>>> out = np.zeros_like(image)
>>> for t in grid:
...     out[t.core] = image[t.window][t.core_in_window]
>>> bool((out == image).all())
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "TileGrid", "tile_grid", "min_tile_size", "stitch_weights"]


def min_tile_size(halo: int) -> int:
    """The smallest tile edge (pixels) that leaves a core of at least one pixel.

    Parameters
    ----------
    halo : int
        Context pixels on each side of a tile's core.

    Returns
    -------
    int

    Examples
    --------
    >>> min_tile_size(10)
    21
    """
    return 2 * int(halo) + 1


@dataclass(frozen=True)
class Tile:
    """One tile: where to read, where to write and what to keep.

    Attributes
    ----------
    index : tuple of int
        Position of the tile in the grid, one index per axis.
    window : tuple of slice
        Region of the image fed to the network (core plus halo, clipped to the
        image, shifted back at the far edge so every window has one shape).
    core : tuple of slice
        Region of the image this tile writes (the cores partition the image).
    core_in_window : tuple of slice
        The core, in coordinates relative to the window.
    """

    index: tuple[int, ...]
    window: tuple[slice, ...]
    core: tuple[slice, ...]
    core_in_window: tuple[slice, ...]


def _axis_tiles(length: int, tile: int, halo: int) -> list[tuple[slice, slice, slice]]:
    """(window, core, core_in_window) along one axis."""
    if length <= tile:
        whole = slice(0, length)
        return [(whole, whole, whole)]
    core = tile - 2 * halo
    out = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        # the window covers [start - halo, stop + halo] within the image and has length `tile`
        w0 = min(max(start - halo, 0), length - tile)
        w1 = w0 + tile
        out.append((slice(w0, w1), slice(start, stop), slice(start - w0, stop - w0)))
    return out


@dataclass(frozen=True)
class TileGrid:
    """A grid of tiles over an N-D image; iterate over it to get :class:`Tile` records.

    Attributes
    ----------
    shape : tuple of int
        Shape of the image (spatial axes only).
    tile : tuple of int
        Requested window edge per axis (before clipping to the image).
    halo : tuple of int
        Halo per axis and side.
    """

    shape: tuple[int, ...]
    tile: tuple[int, ...]
    halo: tuple[int, ...]

    def _axes(self):
        return [_axis_tiles(n, t, h) for n, t, h in zip(self.shape, self.tile, self.halo)]

    @property
    def window_shape(self) -> tuple[int, ...]:
        """Shape of every window (the network input, without batch and channel axes)."""
        return tuple(min(n, t) for n, t in zip(self.shape, self.tile))

    @property
    def core_shape(self) -> tuple[int, ...]:
        """Shape of a full core: the natural chunk shape of outputs written tile by tile."""
        return tuple(
            n if n <= t else t - 2 * h for n, t, h in zip(self.shape, self.tile, self.halo)
        )

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of tiles along each axis."""
        return tuple(len(a) for a in self._axes())

    @property
    def n_tiles(self) -> int:
        """Total number of tiles."""
        return math.prod(self.grid_shape)

    def __len__(self) -> int:
        return self.n_tiles

    def __iter__(self) -> Iterator[Tile]:
        axes = self._axes()
        for index in itertools.product(*(range(len(a)) for a in axes)):
            parts = [axes[d][i] for d, i in enumerate(index)]
            yield Tile(
                index=tuple(index),
                window=tuple(p[0] for p in parts),
                core=tuple(p[1] for p in parts),
                core_in_window=tuple(p[2] for p in parts),
            )


def _per_axis(name: str, value, ndim: int) -> tuple[int, ...]:
    values = (value,) * ndim if np.isscalar(value) else tuple(value)
    if len(values) != ndim:
        raise ValueError(f"{name} needs one value per axis ({ndim}); got {len(values)}: {values}.")
    if any(int(v) != v or v < 0 for v in values):
        raise ValueError(f"{name} must be non-negative integers; got {values}.")
    return tuple(int(v) for v in values)


def tile_grid(
    shape: Sequence[int], *, tile: int | Sequence[int], halo: int | Sequence[int]
) -> TileGrid:
    """Cut an image of ``shape`` into tiles of edge ``tile`` with ``halo`` pixels of context.

    Parameters
    ----------
    shape : tuple of int
        Spatial shape of the image, (Y, X) or (Z, Y, X) (any number of axes).
    tile : int or tuple of int
        Edge of the window fed to the network, halo included, per axis. Axes
        shorter than ``tile`` get a single window covering them.
    halo : int or tuple of int
        Context per side and axis; use the network's receptive-field radius
        (or more) so that tiled output equals untiled output.

    Returns
    -------
    TileGrid

    Raises
    ------
    ValueError
        When ``tile`` leaves no core (``tile < 2 * halo + 1``) on an axis that
        has to be split.

    Examples
    --------
    >>> g = tile_grid((5, 100, 101), tile=(1, 64, 64), halo=(0, 8, 8))
    >>> g.grid_shape, g.core_shape
    ((5, 3, 3), (1, 48, 48))
    >>> tile_grid((100,), tile=10, halo=5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: tile 10 is too small ... the minimum tile is 11 (2 * halo + 1).
    """
    shape = _per_axis("shape", tuple(shape), len(shape))
    ndim = len(shape)
    tiles = _per_axis("tile", tile, ndim)
    halos = _per_axis("halo", halo, ndim)
    for n, t, h in zip(shape, tiles, halos):
        if t < min_tile_size(h) and t < n:
            raise ValueError(
                f"tile {t} is too small for a halo of {h} pixels (the network's receptive "
                f"field); the minimum tile is {min_tile_size(h)} (2 * halo + 1)."
            )
    return TileGrid(shape=shape, tile=tiles, halo=halos)


def stitch_weights(grid: TileGrid) -> np.ndarray:
    """Sum over tiles of each tile's blending weight, as an image (for checks).

    The weight of a tile is 1 on its core and 0 elsewhere, so the sum is 1 at
    every pixel: stitching never rescales values.

    Parameters
    ----------
    grid : TileGrid
        From :func:`tile_grid`.

    Returns
    -------
    float ndarray
        The summed weights, shape ``grid.shape``.

    Examples
    --------
    >>> w = stitch_weights(tile_grid((9, 13), tile=7, halo=2))
    >>> bool((w == 1).all())
    True
    """
    total = np.zeros(grid.shape, dtype=np.float32)
    for t in grid:
        total[t.core] += 1.0
    return total
