"""Fiber orientation distributions on the sphere.

Two summaries, both axial (a direction and its opposite are the same fiber axis):

- :func:`autocorrelation_shell`: the FFT autocorrelation of a binary volume,
  sampled on a sphere of radius ``r``. Along a fiber axis a voxel stays inside
  the fiber for a fiber length, across it only for a diameter, so the shell
  value is high in the fiber directions (DLSIA fiber study). ``r`` must stay well
  below the fiber lengths (a third of the shortest by default).
- :func:`direction_density`: a kernel density of per-fiber unit vectors
  (from :func:`napari_sciseg.measure.fibers`), more robust on small volumes.

Angles: ``longitude`` = azimuth = atan2(dy, dx), ``latitude`` = asin(dz)
(radians), as used by a Hammer projection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .._validation import check_spacing

__all__ = [
    "ShellAutocorrelation",
    "shell_radius",
    "autocorrelation_shell",
    "direction_density",
    "sphere_directions",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ShellAutocorrelation:
    """Autocorrelation of a mask on a sphere.

    Attributes
    ----------
    directions : (n, 3) ndarray
        Unit vectors (z, y, x) covering the whole sphere.
    values : (n,) ndarray
        P(voxel at x + r·d is in the mask | voxel at x is), in [0, 1].
    radius : float
        Sphere radius in the units of ``spacing``.
    """

    directions: np.ndarray
    values: np.ndarray
    radius: float

    @property
    def peak(self) -> np.ndarray:
        """Direction of the largest value (first non-zero component positive)."""
        d = self.directions[int(np.argmax(self.values))]
        return -d if d[np.argmax(np.abs(d) > 1e-12)] < 0 else d


def sphere_directions(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors (z, y, x) on the sphere (Fibonacci lattice).

    Examples
    --------
    >>> d = sphere_directions(100)
    >>> d.shape, bool(np.allclose(np.linalg.norm(d, axis=1), 1))
    ((100, 3), True)
    """
    if n < 1:
        raise ValueError(f"n_directions must be >= 1; got {n}.")
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    rho = np.sqrt(1 - z**2)
    return np.stack([z, rho * np.sin(phi), rho * np.cos(phi)], axis=1)


def shell_radius(lengths: np.ndarray, radii: np.ndarray) -> float:
    """Default sphere radius: a third of the shortest fiber, robustly.

    The shortest 10 % of the lengths are ignored (on predicted masks they are
    mostly fragments), and the radius stays at least twice the median fiber
    radius plus one, so that the sphere leaves a fiber's cross-section.

    Examples
    --------
    >>> shell_radius(np.array([30.0, 60.0, 90.0]), np.array([2.0, 2.0, 2.0]))
    12.0
    """
    lengths, radii = np.asarray(lengths, float), np.asarray(radii, float)
    if lengths.size == 0:
        raise ValueError("there is no fiber to take the sphere radius from; pass radius.")
    return float(max(np.percentile(lengths, 10) / 3, 2 * np.median(radii) + 1))


def _default_radius(mask, spacing) -> float:
    from .fibers import fibers

    res = fibers(mask, spacing=spacing)
    if res.count == 0:
        raise ValueError("the mask holds no fiber (after dusting); pass radius explicitly.")
    return shell_radius(res.table["length"], res.table["radius"])


def autocorrelation_shell(
    mask: np.ndarray,
    radius: float | None = None,
    *,
    spacing=None,
    n_directions: int = 2000,
) -> ShellAutocorrelation:
    """FFT autocorrelation of a 3D mask sampled on a sphere of ``radius``.

    Parameters
    ----------
    mask : (Z, Y, X) bool ndarray
        Fiber segmentation (non-zero = fiber).
    radius : float, optional
        Sphere radius in the units of ``spacing``. Default: a third of the
        shortest fiber's length as measured by :func:`~napari_sciseg.measure.fibers`
        (see :func:`shell_radius`: the shortest 10 % are ignored, at least twice
        the median fiber radius plus one).
    spacing : float or 3 floats, optional
        Voxel size (z, y, x).
    n_directions : int
        Number of sample directions (Fibonacci lattice on the whole sphere).

    Returns
    -------
    ShellAutocorrelation

    Notes
    -----
    The volume is zero-padded by the radius (no wrap-around) and each lag is
    divided by the number of voxel pairs that overlap at that lag and by the
    volume fraction, giving a conditional probability. Values are trilinearly
    interpolated between voxel lags.

    Examples
    --------
    >>> mask = np.zeros((32, 32, 32), bool)
    >>> mask[15:17, 15:17, 4:28] = True          # one fiber along x
    >>> shell = autocorrelation_shell(mask, 6.0)
    >>> bool(abs(shell.peak[2]) > 0.99)             # peaks along x
    True
    """
    from scipy import fft, ndimage

    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"autocorrelation_shell needs a 3D volume (Z, Y, X); got shape {m.shape}.")
    sp = np.asarray(check_spacing(spacing, 3))
    m = m != 0
    if not m.any():
        raise ValueError("the mask is empty: there is no fiber to correlate.")
    if radius is None:
        radius = _default_radius(m, tuple(sp))
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be a positive length; got {radius}.")
    lag = np.ceil(radius / sp).astype(int) + 1
    if np.any(lag >= np.asarray(m.shape)):
        raise ValueError(
            f"radius {radius} is too large for a volume of shape {m.shape} and spacing "
            f"{tuple(sp)}; use a radius under a third of the shortest fiber."
        )
    padded = tuple(fft.next_fast_len(int(s + h), real=True) for s, h in zip(m.shape, lag))
    f = fft.rfftn(m.astype(np.float32), padded, workers=-1)
    corr = fft.irfftn(f * np.conj(f), padded, workers=-1)
    del f
    # pairs at lag (a, b, c) in a box: prod(n_i - |lag_i|)
    window = [s - np.abs(np.arange(-h, h + 1)) for s, h in zip(m.shape, lag)]
    pairs = window[0][:, None, None] * window[1][None, :, None] * window[2][None, None, :]
    near = corr[np.ix_(*[np.r_[p - h : p, 0 : h + 1] for p, h in zip(padded, lag)])]
    fraction = m.mean()
    cond = near / pairs / fraction
    dirs = sphere_directions(n_directions)
    coords = (dirs * radius / sp + lag).T
    values = ndimage.map_coordinates(cond, coords, order=1, mode="nearest")
    values = np.clip(values, 0.0, 1.0)
    logger.info(
        "autocorrelation shell r=%.3g: max %.3f mean %.3f", radius, values.max(), values.mean()
    )
    return ShellAutocorrelation(directions=dirs, values=values, radius=float(radius))


def direction_density(
    directions: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    bandwidth: float = 10.0,
    n_lat: int = 90,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axial kernel density of unit vectors on a longitude/latitude grid.

    Parameters
    ----------
    directions : (n, 3) ndarray
        Unit vectors (z, y, x); ``d`` and ``-d`` count as the same axis.
    weights : (n,) ndarray, optional
        E.g. fiber lengths or volumes. Default: every fiber counts once.
    bandwidth : float
        Kernel width in degrees (a von Mises-Fisher kernel of that angular sigma).
    n_lat : int
        Grid rows; the grid has ``2 * n_lat`` columns.

    Returns
    -------
    longitude : (2 * n_lat,) ndarray
        Cell centres in radians, -pi..pi (azimuth, atan2(dy, dx)).
    latitude : (n_lat,) ndarray
        Cell centres in radians, -pi/2..pi/2 (asin(dz)).
    density : (n_lat, 2 * n_lat) ndarray
        Probability per steradian (integrates to 1 over the sphere).

    Examples
    --------
    >>> lon, lat, dens = direction_density(np.array([[0.0, 0.0, 1.0]]))
    >>> i, j = np.unravel_index(np.argmax(dens), dens.shape)
    >>> abs(round(float(np.degrees(lat[i])))), round(abs(float(np.cos(lon[j]))), 3)
    (1, 1.0)
    """
    d = np.atleast_2d(np.asarray(directions, dtype=float))
    if d.shape[-1] != 3:
        raise ValueError(f"directions must be (n, 3) unit vectors; got shape {d.shape}.")
    w = np.ones(len(d)) if weights is None else np.asarray(weights, float)
    if w.shape != (len(d),):
        raise ValueError(f"weights must have one value per direction ({len(d)}); got {w.shape}.")
    lat = (np.arange(n_lat) + 0.5) / n_lat * np.pi - np.pi / 2
    lon = (np.arange(2 * n_lat) + 0.5) / (2 * n_lat) * 2 * np.pi - np.pi
    grid = np.stack(
        [
            np.repeat(np.sin(lat)[:, None], lon.size, 1),
            np.cos(lat)[:, None] * np.sin(lon)[None, :],
            np.cos(lat)[:, None] * np.cos(lon)[None, :],
        ],
        axis=-1,
    )
    if len(d) == 0 or w.sum() <= 0:
        return lon, lat, np.zeros((n_lat, lon.size))
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    kappa = 1.0 / np.radians(bandwidth) ** 2
    cos = grid @ d.T  # (n_lat, n_lon, n)
    # axial kernel: both d and -d, normalised vMF (kappa / (4 pi sinh kappa)), stable form
    kern = np.exp(kappa * (cos - 1)) + np.exp(kappa * (-cos - 1))
    norm = kappa / (2 * np.pi * (1 - np.exp(-2 * kappa)))
    density = (kern @ w) * norm / 2 / w.sum()
    return lon, lat, density
