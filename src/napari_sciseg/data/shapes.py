"""Seeded tiles of four random shapes (DLSIA's latent-space example).

Circle, triangle, rectangle and annulus of random size, rotation and a small random
offset, drawn bright on a dark background; the true shape of every tile comes with
them so a clustering of latent vectors can be scored (adjusted Rand index).
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon

__all__ = ["SHAPES", "four_shapes", "shapes_mosaic"]

#: class names, in the order of the labels 0..3
SHAPES = ("circle", "triangle", "rectangle", "annulus")


def _polygon_mask(size: int, centre, vertices: np.ndarray) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    rr, cc = polygon(centre[0] + vertices[:, 0], centre[1] + vertices[:, 1], (size, size))
    mask[rr, cc] = True
    return mask


def _draw(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    radius = rng.uniform(0.2, 0.4) * size
    angle = rng.uniform(0, 2 * np.pi)
    centre = size / 2 - 0.5 + rng.uniform(-0.06, 0.06, 2) * size
    yy, xx = np.mgrid[:size, :size]
    dist = np.hypot(yy - centre[0], xx - centre[1])
    if kind == 0:
        return dist <= radius
    if kind == 3:
        return (dist <= radius) & (dist >= radius * rng.uniform(0.45, 0.7))
    if kind == 1:
        phis = angle + np.array([0.0, 2.0, 4.0]) * np.pi / 3
        verts = radius * np.stack([np.sin(phis), np.cos(phis)], 1)
    else:
        aspect = rng.uniform(0.45, 0.9)
        half = radius * np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) / np.sqrt(2)
        half[:, 0] *= aspect
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        verts = half @ rot.T
    return _polygon_mask(size, centre, verts)


def four_shapes(n: int = 400, *, size: int = 64, noise: float = 0.0,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of circles, triangles, rectangles and annuli (equal numbers, shuffled).

    Parameters
    ----------
    n : int
        Number of tiles.
    size : int
        Tile side in pixels (DLSIA: 64).
    noise : float
        Standard deviation of added Gaussian noise (shapes are 1, background 0).
    seed : int
        Same seed, same tiles.

    Returns
    -------
    tiles : (n, size, size) float32 ndarray
    shapes : (n,) int ndarray
        Index into :data:`SHAPES` of each tile's shape.

    Examples
    --------
    >>> tiles, kinds = four_shapes(8, size=32, seed=1)
    >>> tiles.shape, sorted(np.bincount(kinds).tolist())
    ((8, 32, 32), [2, 2, 2, 2])
    """
    if int(n) < 1 or int(size) < 8:
        raise ValueError(f"four_shapes needs n >= 1 and size >= 8; got n={n}, size={size}.")
    rng = np.random.default_rng(seed)
    kinds = rng.permutation(np.arange(int(n)) % len(SHAPES))
    tiles = np.stack([_draw(int(k), int(size), rng) for k in kinds]).astype(np.float32)
    if noise > 0:
        tiles += rng.normal(0, noise, tiles.shape).astype(np.float32)
    return tiles, kinds


def shapes_mosaic(rows: int = 6, cols: int = 8, *, size: int = 64, noise: float = 0.05,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One image made of ``rows x cols`` shape tiles and the shape of each grid cell.

    Returns
    -------
    image : (rows * size, cols * size) float32 ndarray
    shapes : (rows, cols) int ndarray
    """
    tiles, kinds = four_shapes(rows * cols, size=size, noise=noise, seed=seed)
    image = tiles.reshape(rows, cols, size, size).transpose(0, 2, 1, 3)
    return image.reshape(rows * size, cols * size), kinds.reshape(rows, cols)
