"""A seeded 2D sparse-label task: disks and lines on a noisy uneven background."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import disk, line

__all__ = ["scribbles_2d", "disks_and_lines"]


def disks_and_lines(
    shape: tuple[int, int] = (256, 256), *, seed: int = 0, noise: float = 0.08
) -> tuple[np.ndarray, np.ndarray]:
    """Bright disks and line segments on an uneven background, with the dense truth.

    Parameters
    ----------
    shape : (int, int)
        Image size (Y, X).
    seed : int
        Seed; the same seed gives the same image.
    noise : float
        Standard deviation of the Gaussian noise (object contrast is ~0.35).

    Returns
    -------
    image : (Y, X) float32 ndarray
    truth : (Y, X) bool ndarray
        True on the disks and lines.

    Examples
    --------
    >>> image, truth = disks_and_lines((64, 64), seed=1)
    >>> image.dtype, bool(0.05 < truth.mean() < 0.5)
    (dtype('float32'), True)
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    scale = np.sqrt(ny * nx) / 256.0
    truth = np.zeros(shape, dtype=bool)
    for _ in range(max(2, int(round(14 * scale**2)))):
        r = rng.uniform(6, 14) * min(1.0, scale * 2)
        rr, cc = disk((rng.uniform(0, ny), rng.uniform(0, nx)), r, shape=shape)
        truth[rr, cc] = True
    for _ in range(max(1, int(round(6 * scale**2)))):
        y0, x0 = rng.uniform(0, ny), rng.uniform(0, nx)
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.3, 0.7) * min(shape)
        y1, x1 = y0 + length * np.sin(angle), x0 + length * np.cos(angle)
        rr, cc = line(int(y0), int(x0), int(np.clip(y1, 0, ny - 1)), int(np.clip(x1, 0, nx - 1)))
        thin = np.zeros(shape, dtype=bool)
        thin[rr, cc] = True
        truth |= ndi.binary_dilation(thin, iterations=2)
    yy, xx = np.mgrid[0:ny, 0:nx] / max(shape)
    phase = rng.uniform(0, 2 * np.pi, 2)
    background = (0.25 + 0.2 * (yy - 0.5) * np.cos(phase[0]) + 0.2 * (xx - 0.5) * np.sin(phase[0])
                  + 0.06 * np.sin(2 * np.pi * (yy + xx) + phase[1]))
    image = background + 0.35 * truth
    image = ndi.gaussian_filter(image, 0.7) + rng.normal(0, noise, shape)
    return image.astype(np.float32), truth


def scribbles_2d(
    *, shape: tuple[int, int] = (256, 256), seed: int = 0, return_truth: bool = False
):
    """Disks and lines with a few scribbled strokes per class (sparse labels).

    Parameters
    ----------
    shape : (int, int)
        Image size (Y, X).
    seed : int
        Seed; the same seed gives the same image and scribbles.
    return_truth : bool
        Also return the dense truth mask.

    Returns
    -------
    image : (Y, X) float32 ndarray
    scribbles : (Y, X) uint8 ndarray
        0 unlabeled, 1 background, 2 foreground (about 1-2% of the pixels).
    truth : (Y, X) bool ndarray
        Only with ``return_truth=True``.

    Examples
    --------
    >>> image, scribbles, truth = scribbles_2d(shape=(128, 128), return_truth=True)
    >>> sorted(np.unique(scribbles).tolist())
    [0, 1, 2]
    >>> bool(np.all(truth[scribbles == 2])), bool(np.any(truth[scribbles == 1]))
    (True, False)
    """
    image, truth = disks_and_lines(shape, seed=seed)
    rng = np.random.default_rng(seed + 7919)
    ny, nx = shape
    inside = ndi.binary_erosion(truth, iterations=2)
    outside = ~ndi.binary_dilation(truth, iterations=4)
    strokes = np.zeros(shape, dtype=bool)
    n_strokes = max(4, int(round(8 * ny * nx / 256**2)))
    for _ in range(n_strokes):
        y0, x0 = rng.integers(0, ny), rng.integers(0, nx)
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.15, 0.4) * min(shape)
        y1 = int(np.clip(y0 + length * np.sin(angle), 0, ny - 1))
        x1 = int(np.clip(x0 + length * np.cos(angle), 0, nx - 1))
        rr, cc = line(int(y0), int(x0), y1, x1)
        strokes[rr, cc] = True
    strokes = ndi.binary_dilation(strokes)
    scribbles = np.zeros(shape, dtype=np.uint8)
    scribbles[strokes & outside] = 1
    # foreground: short strokes through a few objects
    labeled, n_obj = ndi.label(inside)
    for obj in rng.permutation(n_obj)[: max(3, n_obj // 2)] + 1:
        ys, xs = np.nonzero(labeled == obj)
        pick = rng.choice(len(ys), size=2)
        rr, cc = line(ys[pick[0]], xs[pick[0]], ys[pick[1]], xs[pick[1]])
        stroke = np.zeros(shape, dtype=bool)
        stroke[rr, cc] = True
        scribbles[ndi.binary_dilation(stroke) & inside] = 2
    if return_truth:
        return image, scribbles, truth
    return image, scribbles
