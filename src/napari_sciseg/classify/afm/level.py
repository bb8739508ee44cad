"""Levelling of AFM images (pure numpy): rows, planes, polynomials, scars, normalisation.

Tapping-mode scans carry a tilt of the sample plane, a per-line offset (each
fast-scan line starts at a slightly different z) and scars (lines where the
tip skipped). Levelling removes those before any measurement or learning.
"""

from __future__ import annotations

import numpy as np

from ..._validation import check_choice, check_finite, check_ndim

__all__ = [
    "align_rows",
    "remove_polynomial",
    "remove_scars",
    "normalize_robust",
    "level_scan",
]


def _check_image(image) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    check_ndim("image", image, (2,), "Pass one channel (Y, X) at a time.")
    check_finite("image", image)
    return image


def align_rows(image: np.ndarray, *, method: str = "median") -> np.ndarray:
    """Remove per-line offsets: subtract each row's median (or mean).

    Parameters
    ----------
    image : (Y, X) ndarray
        One channel; rows are fast-scan lines.
    method : {"median", "mean"}
        The median ignores crystals that cover part of a line.

    Returns
    -------
    (Y, X) float64 ndarray

    Examples
    --------
    >>> img = np.zeros((3, 4)) + np.array([[1.0], [5.0], [-2.0]])
    >>> float(align_rows(img).max())
    0.0
    """
    image = _check_image(image)
    check_choice("method", method, ("median", "mean"))
    stat = np.median if method == "median" else np.mean
    return image - stat(image, axis=1, keepdims=True)


def _design(shape, order):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    yy = yy / max(shape[0] - 1, 1) * 2 - 1
    xx = xx / max(shape[1] - 1, 1) * 2 - 1
    terms = [yy**i * xx**j for i in range(order + 1) for j in range(order + 1 - i)]
    return np.stack([t.ravel() for t in terms], axis=1)


def remove_polynomial(
    image: np.ndarray, *, order: int = 1, mask: np.ndarray | None = None
) -> np.ndarray:
    """Subtract a least-squares polynomial surface of total degree ``order``.

    ``order=1`` removes a plane (the sample tilt), 2 or 3 a bowed scanner.

    Parameters
    ----------
    image : (Y, X) ndarray
    order : int
        Total polynomial degree, 0 to 5.
    mask : (Y, X) bool ndarray, optional
        Pixels to fit on (e.g. the bare film, excluding crystals); all by default.

    Returns
    -------
    (Y, X) float64 ndarray
        The residual; a pure polynomial of that degree becomes 0.

    Examples
    --------
    >>> yy, xx = np.mgrid[:5, :6]
    >>> float(np.abs(remove_polynomial(3.0 * yy - 2.0 * xx + 7.0)).max()) < 1e-9
    True
    """
    image = _check_image(image)
    if not 0 <= int(order) <= 5:
        raise ValueError(f"order must be between 0 and 5; got {order}.")
    a = _design(image.shape, int(order))
    b = image.ravel()
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape}.")
        if mask.sum() < a.shape[1]:
            raise ValueError(f"mask selects {int(mask.sum())} pixels; need at least {a.shape[1]}.")
        coef, *_ = np.linalg.lstsq(a[mask.ravel()], b[mask.ravel()], rcond=None)
    else:
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    return (b - a @ coef).reshape(image.shape)


def remove_scars(image: np.ndarray, *, threshold: float = 4.0, min_length: int = 8) -> np.ndarray:
    """Replace scars (runs along a row that jump away from both neighbour rows).

    A pixel is a scar when it differs from the mean of the rows above and
    below by more than ``threshold`` robust standard deviations of that
    difference, in the same direction, along at least ``min_length``
    consecutive pixels. Scar pixels are replaced by that neighbour mean.

    Parameters
    ----------
    image : (Y, X) ndarray
    threshold : float
        In units of the median absolute deviation (scaled to sigma).
    min_length : int
        Shortest run (pixels) counted as a scar.

    Returns
    -------
    (Y, X) float64 ndarray

    Examples
    --------
    >>> img = np.zeros((9, 40)); img[4, 5:30] = 10.0
    >>> float(remove_scars(img)[4].max())
    0.0
    """
    image = _check_image(image)
    if image.shape[0] < 3:
        return image.copy()
    out = image.copy()
    neighbours = 0.5 * (image[:-2] + image[2:])
    diff = image[1:-1] - neighbours
    mad = np.median(np.abs(diff - np.median(diff))) * 1.4826 + 1e-12
    # a scar also shifts the "neighbour mean" of the rows next to it (by half): keep only
    # rows whose deviation is the largest of their column's three rows
    absd = np.pad(np.abs(diff), ((1, 1), (0, 0)))
    peak = (absd[1:-1] >= absd[:-2]) & (absd[1:-1] >= absd[2:])
    for sign in (1, -1):
        bad = (sign * diff > threshold * mad) & peak
        for r in np.flatnonzero(bad.any(axis=1)):
            row = np.concatenate([[False], bad[r], [False]]).astype(np.int8)
            edges = np.flatnonzero(np.diff(row))
            for start, stop in zip(edges[::2], edges[1::2]):
                if stop - start >= min_length:
                    out[r + 1, start:stop] = neighbours[r, start:stop]
    return out


def normalize_robust(image: np.ndarray, *, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Scale so the ``low`` and ``high`` percentiles map to 0 and 1 (not clipped).

    Examples
    --------
    >>> x = normalize_robust(np.arange(101.0).reshape(1, -1), low=0, high=100)
    >>> float(x.min()), float(x.max())
    (0.0, 1.0)
    """
    image = _check_image(image)
    lo, hi = np.percentile(image, [low, high])
    scale = hi - lo if hi > lo else 1.0
    return ((image - lo) / scale).astype(np.float32)


def level_scan(
    scan: np.ndarray,
    *,
    channel_names: tuple[str, ...] = (),
    order: int = 1,
    scars: bool = True,
    normalize: bool = False,
) -> np.ndarray:
    """Level every channel of a (C, Y, X) scan: rows, polynomial, scars (+ normalise).

    Height-like channels (names containing "height" or "sensor", or all when
    names are not given) get row alignment, polynomial removal and scar
    removal; other channels (amplitude, phase) only row alignment, since their
    offsets carry no tilt.

    Parameters
    ----------
    scan : (C, Y, X) or (Y, X) ndarray
    channel_names : tuple of str
        One per channel, to pick the steps per channel.
    order : int
        Polynomial degree for height channels.
    scars : bool
        Remove scars on height channels.
    normalize : bool
        Map the 1st-99th percentiles of each channel to 0-1 afterwards.

    Returns
    -------
    ndarray, same shape as ``scan``, float32

    Examples
    --------
    >>> yy, xx = np.mgrid[:16, :16]
    >>> scan = np.stack([0.5 * yy + 0.1 * xx, xx * 1.0])
    >>> out = level_scan(scan, channel_names=("height", "phase"))
    >>> float(np.abs(out[0]).max()) < 1e-5
    True
    """
    scan = np.asarray(scan, dtype=np.float64)
    squeeze = scan.ndim == 2
    scan = scan[None] if squeeze else scan
    check_ndim("scan", scan, (3,), "Expected (C, Y, X) channels first.")
    out = np.empty(scan.shape, np.float32)
    for c in range(scan.shape[0]):
        name = channel_names[c].lower() if c < len(channel_names) else "height"
        img = align_rows(scan[c])
        if "height" in name or "sensor" in name or not channel_names:
            img = remove_polynomial(img, order=order)
            if scars:
                img = remove_scars(img)
            img = align_rows(img)
        if normalize:
            img = normalize_robust(img)
        out[c] = img
    return out[0] if squeeze else out
