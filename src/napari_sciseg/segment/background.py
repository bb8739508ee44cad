"""Slowly varying support level of a particle image, and coarse-grid helpers.

Filters at the particle scale run on a grid of blocks and come back to full
resolution by separable bilinear interpolation (two small matrix products),
which keeps a 2048^2 image well under a second.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["background", "block_mean", "upsample"]


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Mean over ``f`` x ``f`` blocks (the remainder rows/columns are dropped).

    Examples
    --------
    >>> block_mean(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    hs, ws = max(a.shape[0] // f, 1), max(a.shape[1] // f, 1)
    return a[: hs * f, : ws * f].reshape(hs, f, ws, f).mean(axis=(1, 3), dtype=np.float32)


def _upsample_matrix(n_out: int, n_in: int, f: int, extrapolate: bool = False) -> np.ndarray:
    pos = (np.arange(n_out) + 0.5) / f - 0.5
    if not extrapolate:  # hold the edge values; else continue the edge slopes
        pos = np.clip(pos, 0, n_in - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, max(n_in - 2, 0))
    t = (pos - i0).astype(np.float32)
    w = np.zeros((n_out, n_in), np.float32)
    w[np.arange(n_out), i0] = 1 - t
    if n_in > 1:
        w[np.arange(n_out), i0 + 1] += t
    return w


def upsample(
    small: np.ndarray, shape: tuple[int, int], f: int, *, extrapolate: bool = False
) -> np.ndarray:
    """Bilinear interpolation of a block grid (blocks of ``f`` px) back to ``shape``.

    With ``extrapolate`` the border half-blocks continue the edge slopes, so a
    plane is reproduced exactly up to the image edges.
    """
    h, w = shape
    hs, ws = small.shape
    rows = _upsample_matrix(h, hs, f, extrapolate)
    cols = _upsample_matrix(w, ws, f, extrapolate)
    return rows @ small.astype(np.float32) @ cols.T


def _robust_plane(small: np.ndarray) -> np.ndarray:
    """Coefficients (c, cy, cx) of a plane through ``small``, refitted without outliers."""
    yy, xx = np.mgrid[0 : small.shape[0], 0 : small.shape[1]]
    design = np.stack([np.ones(small.size), yy.ravel(), xx.ravel()], axis=1)
    values = small.ravel().astype(float)
    keep = np.ones(values.size, bool)
    for _ in range(3):
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        res = values - design @ coef
        mad = np.median(np.abs(res[keep] - np.median(res[keep]))) + 1e-12
        keep = np.abs(res - np.median(res[keep])) < 3 * 1.4826 * mad
        if keep.sum() < 3:
            break
    return coef


def background(img: np.ndarray, scale: float) -> np.ndarray:
    """Support level at scales above ``scale`` px: coarse median, smoothed, bilinear up."""
    h, w = img.shape
    f = max(1, int(scale / 7), int(np.ceil(max(h, w) / 256)))
    hs, ws = max(h // f, 1), max(w // f, 1)
    small = img[: hs * f, : ws * f].reshape(hs, f, ws, f).mean(axis=(1, 3))
    size = int(np.clip(round(scale / f), 3, max(hs, ws)))
    size += 1 - size % 2
    # a tilt would be bent by the filters' edge handling: fit it, filter the rest
    coef = _robust_plane(small)
    yy, xx = np.mgrid[0:hs, 0:ws]
    rest = small - (coef[0] + coef[1] * yy + coef[2] * xx)
    bg = ndi.uniform_filter(ndi.median_filter(rest, size, mode="reflect"), size, mode="reflect")
    return upsample(bg + (coef[0] + coef[1] * yy + coef[2] * xx), (h, w), f, extrapolate=True)
