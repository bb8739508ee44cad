"""A seeded X-ray scattering pattern on a pixel detector with module gaps.

SAXS-like: a power-law diffuse background around the beam, Debye-Scherrer rings,
Bragg peaks on a rotated lattice, a beam stop, Poisson counting noise, and the
insensitive gaps between the modules of a Pilatus/Eiger-like detector. The truth
behind the gaps is known here (it is drawn like the rest), which is what tests and
benchmarks of gap inpainting need and what a real detector never gives.
"""

from __future__ import annotations

import numpy as np

__all__ = ["detector_gaps", "scattering_pattern"]


def detector_gaps(shape: tuple[int, int], *, module: tuple[int, int] = (60, 90),
                  gap: tuple[int, int] = (6, 4), origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The gap grid of a tiled pixel detector: True where no module senses photons.

    Parameters
    ----------
    shape : (int, int)
        Detector size (Y, X) in pixels.
    module : (int, int)
        Sensitive size of one module (rows, columns). A Pilatus 1M module is
        195 x 487 px with gaps of 17 (rows) and 7 (columns) px; an Eiger 1M module
        514 x 1030 with gaps of 37 and 10 px. The defaults are a small-detector
        version of the same layout.
    gap : (int, int)
        Gap width between module rows and between module columns (0 = none).
    origin : (int, int)
        Where the first module starts (shifts the grid).

    Returns
    -------
    (Y, X) bool ndarray

    Examples
    --------
    >>> mask = detector_gaps((20, 20), module=(8, 8), gap=(2, 1))
    >>> mask[8:10].all(), mask[:8, 8].all(), int(mask[:8, :8].sum())
    (np.True_, np.True_, 0)
    """
    ny, nx = (int(s) for s in shape)
    if min(module) < 1 or min(gap) < 0:
        raise ValueError(f"module sizes must be >= 1 and gaps >= 0; got module={module}, "
                         f"gap={gap}.")
    rows = (np.arange(ny) - origin[0]) % (module[0] + gap[0]) >= module[0]
    cols = (np.arange(nx) - origin[1]) % (module[1] + gap[1]) >= module[1]
    return rows[:, None] | cols[None, :]


def _intensity(shape, rng) -> np.ndarray:
    """Expected counts per pixel (before noise), peak ~1e4."""
    ny, nx = shape
    size = float(min(shape))
    cy, cx = ny * rng.uniform(0.4, 0.6), nx * rng.uniform(0.4, 0.6)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    q = np.hypot(yy - cy, xx - cx)
    phi = np.arctan2(yy - cy, xx - cx)
    q0 = size * rng.uniform(0.02, 0.04)
    power = rng.uniform(2.0, 3.0)
    diffuse = 3e3 * (1 + q / q0) ** -power * (q0 / (0.05 * size)) ** 0
    diffuse += rng.uniform(2.0, 6.0)  # flat background (air, fluorescence)
    rings = np.zeros(shape)
    for _ in range(int(rng.integers(3, 6))):
        radius = size * rng.uniform(0.1, 0.48)
        width = rng.uniform(1.5, 4.0)
        height = rng.uniform(20, 400) * (1 + 0.3 * np.cos(2 * (phi - rng.uniform(0, np.pi))))
        rings += height * np.exp(-0.5 * ((q - radius) / width) ** 2)
    peaks = np.zeros(shape)
    a, angle = size * rng.uniform(0.09, 0.16), rng.uniform(0, np.pi / 3)
    for k in range(6):  # first and second order of a hexagonal lattice
        for order in (1, 2):
            t = angle + k * np.pi / 3
            py, px = cy + order * a * np.sin(t), cx + order * a * np.cos(t)
            sigma = rng.uniform(1.5, 3.0)
            height = rng.uniform(300, 3000) / order**2
            peaks += height * np.exp(-0.5 * ((yy - py) ** 2 + (xx - px) ** 2) / sigma**2)
    intensity = diffuse + rings + peaks
    stop = q < size * 0.03
    intensity[stop] = rng.uniform(1.0, 3.0)  # beam stop shadow
    return intensity


def scattering_pattern(shape: tuple[int, int] = (256, 256), *, seed: int = 0,
                       exposure: float = 1.0, module: tuple[int, int] = (60, 90),
                       gap: tuple[int, int] = (6, 4), return_truth: bool = False):
    """A SAXS-like pattern with Poisson noise and the module gaps of a pixel detector.

    Parameters
    ----------
    shape : (int, int)
        Detector size (Y, X).
    seed : int
        Same seed, same pattern (centre, rings, peaks, noise).
    exposure : float
        Scales the expected counts (peak ~1e4 counts at 1.0); less exposure, more
        relative noise.
    module, gap : (int, int)
        The module grid (see :func:`detector_gaps`); ``gap=(0, 0)`` gives no gaps.
    return_truth : bool
        Also return the truth behind the gaps.

    Returns
    -------
    pattern : (Y, X) float32 ndarray
        Counts; 0 in the gaps (as a detector reports them).
    gaps : (Y, X) bool ndarray
        True where the detector has no pixel.
    truth : dict
        Only with ``return_truth=True``: ``"counts"`` (the noisy counts everywhere,
        gaps included) and ``"intensity"`` (the expected counts, no noise).

    Examples
    --------
    >>> pattern, gaps = scattering_pattern((128, 128), seed=1)
    >>> pattern.shape, bool(pattern[gaps].max() == 0), bool(0.05 < gaps.mean() < 0.2)
    ((128, 128), True, True)
    """
    if exposure <= 0 or not np.isfinite(exposure):
        raise ValueError(f"exposure must be a positive number; got {exposure!r}.")
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    intensity = _intensity(shape, rng) * float(exposure)
    counts = rng.poisson(intensity).astype(np.float32)
    origin = tuple(int(rng.integers(0, m)) for m in module)
    gaps = detector_gaps(shape, module=module, gap=gap, origin=origin)
    pattern = np.where(gaps, np.float32(0), counts)
    if not return_truth:
        return pattern, gaps
    return pattern, gaps, {"counts": counts, "intensity": intensity.astype(np.float32)}
