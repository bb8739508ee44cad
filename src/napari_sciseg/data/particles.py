"""Synthetic bright-field TEM and HAADF-STEM images of supported nanoparticles.

The generator imitates what the particle-sizing workflow meets in practice
(see ``SCIENCE.md`` section 2): metal particles of a few nanometres on an
amorphous-carbon support, imaged at ~0.2 nm/px, with

- a log-normal size distribution inside ``size_range`` and slightly elliptical
  particles whose contrast varies from particle to particle (diffraction
  contrast, thickness);
- touching and overlapping pairs and particles cut by the image edge (the ones
  a sizing method must *exclude*);
- an uneven background: an illumination gradient, slow carbon thickness
  variations and fine-grained carbon texture;
- a point-spread blur and Poisson (shot) noise on integer counts.

``truth.isolated`` marks the particles a careful human would size: fully inside
the image and at least one pixel away from every other particle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .._validation import check_choice

__all__ = ["tem_particles", "ParticleTruth", "CONTRAST_LEVELS"]

logger = logging.getLogger(__name__)

#: named contrast levels per mode. BF: fractional darkening of the thickest part
#: of an average particle; HAADF: added signal relative to the carbon background.
CONTRAST_LEVELS = {
    "bf": {"high": 0.5, "mid": 0.3, "low": 0.16},
    "haadf": {"high": 3.0, "mid": 1.5, "low": 0.75},
}
_BF_DOSE = 150.0  # counts per pixel on bare carbon
_HAADF_BACKGROUND = 25.0  # counts per pixel on bare carbon
_EDGE_LEVEL = 0.6  # relative projected thickness at the rim (faceted particles are flat-ish)


@dataclass(frozen=True)
class ParticleTruth:
    """Ground truth of :func:`tem_particles`.

    Attributes
    ----------
    mask : (Y, X) bool ndarray
        True on every particle pixel (semantic truth).
    labels : (Y, X) int32 ndarray
        Instance labels 1..N (where particles overlap, the one drawn last wins).
    diameters_nm : (N,) float ndarray
        True area-equivalent diameter of instance ``i + 1``.
    isolated : (N,) bool ndarray
        Instance is fully inside the image and touches/overlaps no other.
    centers : (N, 2) float ndarray
        (row, column) centre of each particle, in pixels.
    pixel_size : float
        nm per pixel.
    mode : str
        ``"bf"`` (dark particles) or ``"haadf"`` (bright particles).
    contrast : float
        The numeric contrast used.
    """

    mask: np.ndarray
    labels: np.ndarray
    diameters_nm: np.ndarray
    isolated: np.ndarray
    centers: np.ndarray
    pixel_size: float
    mode: str
    contrast: float


def _contrast_value(mode: str, contrast) -> float:
    if isinstance(contrast, str):
        check_choice("contrast", contrast, CONTRAST_LEVELS[mode])
        return CONTRAST_LEVELS[mode][contrast]
    value = float(contrast)
    upper = 0.95 if mode == "bf" else 50.0
    if not 0 < value <= upper:
        raise ValueError(f"contrast must be in (0, {upper}] for mode {mode!r}; got {value}.")
    return value


def _place(rng, radii, shape, gap=2.0):
    """Centres for ``radii``: isolated, touching pairs, overlapping pairs, edge-cut."""
    h, w = shape
    centers: list[tuple[float, float]] = []
    placed_r: list[float] = []

    def free(c, r, ignore=()):
        for k, (cc, rr) in enumerate(zip(centers, placed_r)):
            if k in ignore:
                continue
            if np.hypot(c[0] - cc[0], c[1] - cc[1]) < (r + rr) * 1.1 + gap:
                return False
        return True

    n = len(radii)
    kinds = rng.choice(["iso", "touch", "overlap", "edge"], size=n, p=[0.66, 0.12, 0.12, 0.10])
    i = 0
    while i < n:
        r = radii[i]
        kind = kinds[i]
        for _ in range(60):
            if kind == "edge":
                side = rng.integers(4)
                along = rng.uniform(r, (w if side < 2 else h) - r)
                depth = rng.uniform(-0.5 * r, 0.6 * r)
                sides = [(depth, along), (h - 1 - depth, along), (along, depth)]
                c = (sides + [(along, w - 1 - depth)])[side]
            else:
                c = (rng.uniform(r + 2, h - r - 3), rng.uniform(r + 2, w - r - 3))
            if not free(c, r):
                continue
            if kind in ("touch", "overlap") and i + 1 < n:
                r2 = radii[i + 1]
                dist = (r + r2) * (1.0 if kind == "touch" else rng.uniform(0.6, 0.85))
                ang = rng.uniform(0, 2 * np.pi)
                c2 = (c[0] + dist * np.sin(ang), c[1] + dist * np.cos(ang))
                inside = r2 + 2 <= c2[0] <= h - r2 - 3 and r2 + 2 <= c2[1] <= w - r2 - 3
                if not inside or not free(c2, r2):
                    continue
                centers += [c, c2]
                placed_r += [r, r2]
                i += 2
                break
            centers.append(c)
            placed_r.append(r)
            i += 1
            break
        else:  # no room: drop this particle
            radii = np.delete(radii, i)
            kinds = np.delete(kinds, i)
            n -= 1
    return np.array(centers, dtype=float).reshape(-1, 2), np.asarray(placed_r, dtype=float)


def _smooth_noise(rng, shape, sigma):
    """Zero-mean, unit-std Gaussian random field of correlation length ``sigma`` px."""
    if sigma > 8:  # draw coarse and upsample: cheap for large scales
        f = int(sigma // 4)
        small = (shape[0] // f + 2, shape[1] // f + 2)
        field = ndi.gaussian_filter(rng.standard_normal(small), sigma / f, mode="wrap")
        field = ndi.zoom(field, f, order=1)[: shape[0], : shape[1]]
    else:
        field = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _draw_particles(rng, centers, radii, shape):
    """Projected thickness and labels: slightly elliptical particles with a soft rim."""
    h, w = shape
    n = len(radii)
    thick = np.zeros((h, w), np.float32)
    labels = np.zeros((h, w), np.int32)
    strength = rng.uniform(0.75, 1.25, n)
    for k in range(n):
        (cy, cx), r = centers[k], radii[k]
        q = rng.uniform(1.0, 1.15)
        a, b = r * np.sqrt(q), r / np.sqrt(q)
        th = rng.uniform(0, np.pi)
        y0, y1 = max(int(cy - a - 3), 0), min(int(cy + a + 4), h)
        x0, x1 = max(int(cx - a - 3), 0), min(int(cx + a + 4), w)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(th) + dy * np.sin(th)) / a
        v = (-dx * np.sin(th) + dy * np.cos(th)) / b
        rho = np.sqrt(u * u + v * v)
        cover = np.clip((1 - rho) * r + 0.5, 0, 1)  # ~1 px soft rim
        profile = _EDGE_LEVEL + (1 - _EDGE_LEVEL) * np.sqrt(np.clip(1 - rho**2, 0, 1))
        thick[y0:y1, x0:x1] += (strength[k] * cover * profile).astype(np.float32)
        labels[y0:y1, x0:x1][rho < 1] = k + 1
    return ndi.gaussian_filter(thick, 0.7), labels  # blurred by the microscope point-spread


def _expected_counts(rng, mode, c, thick, shape):
    """Mean detector counts: uneven support (gradient, fall-off, carbon texture) + particles."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5)).astype(np.float32)
    cy, cx = rng.uniform(-0.3, 1.3, 2) * (h, w)
    fall = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.8 * max(h, w)) ** 2))
    slow = _smooth_noise(rng, (h, w), max(h, w) / 12)
    fine = _smooth_noise(rng, (h, w), 1.2)
    if mode == "bf":
        support = 1 + 0.25 * ramp + 0.15 * (fall - fall.mean()) + 0.05 * slow + 0.04 * fine
        return _BF_DOSE * support * np.clip(1 - c * thick, 0.03, None)
    support = 1 + 0.1 * (fall - fall.mean()) + 0.15 * slow + 0.08 * fine
    return _HAADF_BACKGROUND * (1 + 0.25 * ramp) * (support + c * thick)


def _particle_truth(centers, radii, labels, mode, c, pixel_size) -> ParticleTruth:
    """Ground truth: footprints, diameters, and which particles are isolated and whole."""
    h, w = labels.shape
    inside = (
        (centers[:, 0] - radii * 1.08 >= 0)
        & (centers[:, 0] + radii * 1.08 <= h - 1)
        & (centers[:, 1] - radii * 1.08 >= 0)
        & (centers[:, 1] + radii * 1.08 <= w - 1)
    )
    dist = np.hypot(*(centers[:, None, :] - centers[None, :, :]).transpose(2, 0, 1))
    near = dist < (radii[:, None] + radii[None, :]) * 1.08 + 1.0
    np.fill_diagonal(near, False)
    return ParticleTruth(
        mask=labels > 0,
        labels=labels,
        diameters_nm=2 * radii * pixel_size,
        isolated=inside & ~near.any(axis=1),
        centers=centers,
        pixel_size=float(pixel_size),
        mode=mode,
        contrast=c,
    )


def tem_particles(
    mode: str = "bf",
    *,
    shape: tuple[int, int] = (512, 512),
    pixel_size: float = 0.2,
    contrast: str | float = "high",
    size_range: tuple[float, float] = (2.0, 8.0),
    seed: int = 0,
    return_truth: bool = False,
):
    """A bright-field TEM or HAADF-STEM image of supported nanoparticles.

    Parameters
    ----------
    mode : {"bf", "haadf"}
        ``"bf"``: dark particles on bright carbon; ``"haadf"``: bright particles
        on a dark support.
    shape : (int, int)
        Image size in pixels (Y, X).
    pixel_size : float
        nm per pixel.
    contrast : {"high", "mid", "low"} or float
        Particle contrast (see :data:`CONTRAST_LEVELS`).
    size_range : (float, float)
        Smallest and largest particle diameter in nm; diameters are log-normal
        between them.
    seed : int
        Seed of the random generator; the same seed gives the same image.
    return_truth : bool
        Also return a :class:`ParticleTruth`.

    Returns
    -------
    image : (Y, X) uint16 ndarray
        Detector counts with Poisson noise.
    truth : ParticleTruth
        Only with ``return_truth=True``.

    Examples
    --------
    >>> image, truth = tem_particles("haadf", shape=(128, 128), seed=1, return_truth=True)
    >>> image.shape, image.dtype
    ((128, 128), dtype('uint16'))
    >>> bool(image[truth.mask].mean() > image[~truth.mask].mean())
    True
    """
    check_choice("mode", mode, ("bf", "haadf"))
    c = _contrast_value(mode, contrast)
    if pixel_size <= 0:
        raise ValueError(f"pixel_size must be > 0 nm; got {pixel_size}.")
    lo, hi = (float(v) for v in size_range)
    if not 0 < lo <= hi:
        raise ValueError(f"size_range must be (min, max) with 0 < min <= max nm; got {size_range}.")
    h, w = (int(v) for v in shape)
    if h < 16 or w < 16:
        raise ValueError(f"shape must be at least (16, 16); got {shape}.")
    rng = np.random.default_rng(seed)

    # -- sizes: log-normal, ~95% of the mass inside the range, clipped to it
    median = np.sqrt(lo * hi)
    sigma_log = max(np.log(hi / lo) / 4, 1e-3)
    mean_area = np.pi * (median / 2 / pixel_size) ** 2 * np.exp(2 * sigma_log**2)
    n = max(1, int(round(0.12 * h * w / mean_area)))
    diam = np.clip(rng.lognormal(np.log(median), sigma_log, n), lo, hi)
    centers, radii = _place(rng, diam / 2 / pixel_size, (h, w))
    thick, labels = _draw_particles(rng, centers, radii, (h, w))
    expected = _expected_counts(rng, mode, c, thick, (h, w))
    image = rng.poisson(np.clip(expected, 0, None)).astype(np.uint16)
    if not return_truth:
        return image
    return image, _particle_truth(centers, radii, labels, mode, c, pixel_size)
