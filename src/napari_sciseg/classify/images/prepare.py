"""One pixel size and one tile size for a data set of mixed images, chosen from the data.

Images of one data set may differ in size and pixel size. By default every
image is resampled to the data set's median pixel size (:func:`choose_spacing`;
images without a calibration are taken as they are), normalised per channel
(1st-99th percentile to 0-1), and, for the networks, cut into square tiles whose
edge :func:`choose_tile` takes from the smallest image. Only an image too small
for any tile is refused.

Examples
--------
>>> choose_spacing([2.0, None, 4.0, 3.0])
3.0
>>> choose_tile([(1, 100, 90), (1, 300, 300)])
64
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

__all__ = ["choose_spacing", "choose_tile", "normalise", "prepare_image", "tile_starts",
           "MIN_TILE"]

logger = logging.getLogger(__name__)

#: the smallest tile (pixels at the working pixel size) a network can use.
MIN_TILE = 16


def choose_spacing(spacings) -> float | None:
    """The median of the known pixel sizes (nm), or None when no image has one."""
    known = [float(s) for s in spacings if s is not None and s > 0]
    if not known:
        return None
    if len(known) < len(list(spacings)):
        logger.warning("%d image(s) have no pixel size; they are used as they are",
                       len(list(spacings)) - len(known))
    return float(np.median(known))


def choose_tile(shapes, *, max_tile: int = 64, min_tile: int = MIN_TILE) -> int:
    """The tile edge: the largest multiple of 8 up to ``max_tile`` that fits every image.

    Parameters
    ----------
    shapes : sequence of (C, Y, X) tuples
        Shapes of the prepared images.
    max_tile, min_tile : int

    Returns
    -------
    int

    Raises
    ------
    ValueError
        An image is smaller than ``min_tile`` pixels after resampling.
    """
    smallest = min(min(s[-2:]) for s in shapes)
    if smallest < min_tile:
        raise ValueError(
            f"An image is {smallest} pixels across at the working pixel size; the smallest "
            f"usable tile is {min_tile}. Remove images this small or use a finer pixel size.")
    return int(max(min_tile, min(max_tile, smallest) // 8 * 8))


def normalise(image: np.ndarray) -> np.ndarray:
    """Per-channel 1st-99th percentile to 0-1 (float32, (C, Y, X))."""
    image = np.asarray(image, np.float32)
    lo = np.percentile(image, 1, axis=(-2, -1), keepdims=True)
    hi = np.percentile(image, 99, axis=(-2, -1), keepdims=True)
    return ((image - lo) / np.maximum(hi - lo, 1e-6)).astype(np.float32)


def prepare_image(image: np.ndarray, spacing: float | None, *,
                  target_spacing: float | None) -> np.ndarray:
    """Resample a (C, Y, X) image to ``target_spacing`` (nm) and normalise it.

    Parameters
    ----------
    image : (C, Y, X) ndarray
    spacing : float or None
        The image's pixel size; None: used as it is.
    target_spacing : float or None
        The working pixel size (:func:`choose_spacing`).

    Returns
    -------
    (C, Y', X') float32 ndarray

    Examples
    --------
    >>> prepare_image(np.zeros((1, 40, 40)), 1.0, target_spacing=2.0).shape
    (1, 20, 20)
    """
    image = np.asarray(image, np.float32)
    if spacing and target_spacing and abs(spacing / target_spacing - 1) > 1e-3:
        f = spacing / target_spacing
        image = np.stack([ndi.zoom(c, f, order=1, prefilter=False) for c in image])
    return normalise(image)


def tile_starts(shape, tile: int) -> list[tuple[int, int]]:
    """Top-left corners of tiles covering a (..., Y, X) image (the last ones flush).

    Examples
    --------
    >>> tile_starts((1, 40, 32), 16)
    [(0, 0), (0, 16), (16, 0), (16, 16), (24, 0), (24, 16)]
    """
    def starts(n):
        s = list(range(0, max(n - tile, 0) + 1, tile))
        return s if s[-1] + tile >= n else s + [n - tile]

    return [(y, x) for y in starts(shape[-2]) for x in starts(shape[-1])]
