"""Particle masks whose boundary sits on the projected edge (method ``"edge"``).

Thresholds between support and particle cut the rim of a particle whose
signal fades towards its edge: in HAADF the signal follows the projected
thickness (``sqrt(r^2 - x^2)`` for a sphere, zero at the rim), in bright field
the rim is thin and weakly scattering. The hybrid method thus places the
boundary 1-2 px inside. This method follows the physics instead:

1. **Counting noise made uniform**: an image of counts (non-negative
   integers) goes through the Anscombe transform ``2 sqrt(x + 3/8)``, which
   turns Poisson noise into unit-variance noise, so one noise level holds over
   bright support and dark particles alike.
2. **Detection by a matched filter**: the flattened signal is smoothed at the
   particle scale (Gaussian, sigma ~ a sixth of the diameter), which raises the
   signal-to-noise ratio of a disk of radius R by ~R; objects that beat the
   mirrored noise (the same test as the thresholding methods) are particles. A
   disk at 3 noise sigma per pixel is found.
3. **Edge placement by the gradient**: around each detected particle (a zone
   of pixels nearer to it than to any other), the boundary is the iso-level of
   the lightly smoothed signal, between the support (0) and the particle's
   peak, along which the mean gradient magnitude is largest (the level whose
   contour follows the steepest edge, Kohler's criterion). For a step edge that
   is the half maximum; for a thickness profile that fades to zero, a low level
   near the rim. All zones and levels are scored at once from the 4-neighbour
   pixel pairs that cross each level (a difference array over level bins), so
   there is no loop over particles.

The particle size comes from an Otsu pass on the image smoothed past the
support's texture (:func:`estimate_size`): in bright field, the amorphous
carbon's phase contrast is a ~3 px speckle that a light smoothing leaves in, and
a size estimate of a few pixels then flattens the large particles away. A
particle whose peak is under 12 noise sigmas is read from a signal smoothed
enough to lift it to ~12 sigmas (1.5, 2.5 or 3.5 px), for the same reason.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from .background import background, block_mean, upsample
from .postprocess import fill_holes, significant_objects
from .thresholding import (
    _as_image,
    _diameter_from_mask,
    _otsu,
    _sample,
    detect_polarity,
    prepare_image,
)

__all__ = ["edge_threshold", "anscombe", "estimate_size"]

logger = logging.getLogger(__name__)

_LEVELS = np.linspace(0.02, 0.8, 40)  # candidate levels, fractions of the particle peak
# a particle whose peak is under _FAINT_SNR support-noise sigmas has its boundary read from
# the signal smoothed at _SOFT_SIGMA px: in bright field the amorphous support's phase
# contrast (a speckle of ~3 px) is as strong per pixel as the particle itself
# (development split of the physics set: BF JSC 0.60 -> 0.71, HAADF unchanged)
_FAINT_SNR = 12.0
_SOFT_SIGMAS = np.array([1.5, 2.5, 3.5])
# the steepest-contour test scores gradients above _GRAD_FLOOR x the support's median one
_GRAD_FLOOR = 1.0


def anscombe(image: np.ndarray) -> np.ndarray:
    """``2 sqrt(x + 3/8)``: Poisson counts to noise of unit variance.

    Parameters
    ----------
    image : ndarray
        Counts (or any non-negative image).

    Returns
    -------
    float64 ndarray
        The transformed image, same shape.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(float(anscombe(rng.poisson(50.0, 100000)).std()), 2)
    1.0
    """
    return 2.0 * np.sqrt(np.maximum(np.asarray(image, np.float32), 0) + 0.375)


def _is_counts(img: np.ndarray) -> bool:
    s = _sample(img, 1 << 14)
    return bool(s.min() >= 0 and s.max() > 1 and np.all(s == np.round(s)))


def _robust_sd(values: np.ndarray) -> float:
    med = np.median(values)
    return max(float(1.4826 * np.median(np.abs(values - med))), 1e-6)


def _smooth(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter; past sigma 6 px computed on a grid of blocks of ~sigma / 3 px and
    interpolated back (the filter leaves nothing finer than that: 2048^2 in a tenth of
    the time)."""
    f = int(sigma // 3)
    if f < 2:
        return ndi.gaussian_filter(a, sigma)
    small = ndi.gaussian_filter(block_mean(a, f), np.sqrt(max(sigma**2 - f * f / 12, 1)) / f)
    return upsample(small, a.shape, f)


def estimate_size(image: np.ndarray, polarity: str) -> float:
    """Typical particle diameter (px): area-weighted median of an Otsu mask of the image
    smoothed past the support's texture (sigma 2 px at full resolution).

    Parameters
    ----------
    image : (Y, X) ndarray
        Gray image (Anscombe-transformed counts, or any intensities).
    polarity : {"dark", "bright"}
        Particles darker or brighter than the support.

    Returns
    -------
    float
        Diameter in pixels, in ``[4, max(shape) / 4]``.

    The support of a bright-field image is a phase-contrast speckle (amorphous carbon
    under defocus) that a lightly smoothed Otsu pass breaks into thousands of specks;
    smoothing it away and flattening only at the image scale, then once more at four
    particle diameters, keeps large particles whole.
    """
    f = max(1, int(np.ceil(max(image.shape) / 512)))
    small = block_mean(image, f) if f > 1 else image
    sm = ndi.gaussian_filter(small, 2.0 / f)
    sign = -1.0 if polarity == "dark" else 1.0
    scale, d = max(small.shape) / 2, float("nan")
    for _ in range(2):
        r = sign * (sm - background(sm, scale))
        sample = _sample(r)
        med = float(np.median(sample))
        # at low contrast Otsu splits the support's noise: stay 1.5 noise sigmas above it
        # (of the smoothed signal; 3 loses the rims of faint large BF particles)
        floor = med + 1.5 * (med - float(np.percentile(sample, 15.87)))
        d = _diameter_from_mask(r > max(_otsu(sample), floor))
        if not np.isfinite(d):
            return 8.0
        scale = max(4 * d, 32.0 / f)
    return float(np.clip(f * d, 4.0, max(image.shape) / 4))


def _detect(signal: np.ndarray, size: float, min_fraction: float, support=None):
    """Labels of the particles a matched (particle-scale Gaussian) filter finds.

    ``support``: pixels known to be support, for the noise level (default all).
    """
    sigma = max(1.0, size / 6)
    sm = _smooth(signal, sigma)
    ref = _sample(sm, 1 << 18) if support is None else sm[support][:: max(1, sm.size >> 18)]
    if ref.size < 64:
        ref = _sample(sm, 1 << 18)
    # particles are positive: the lower half is support only (and removing the detected
    # objects from the support would otherwise bias the noise low)
    med = float(np.median(ref))
    noise = max(med - float(np.percentile(ref, 15.87)), 1e-6)
    sm = sm - np.float32(med)
    t = 3 * noise  # matched-filter units: a 3-sigma-per-pixel disk of radius 10 px is ~30
    halo = int(max(2, size / 4))
    mask = significant_objects(
        fill_holes(sm > t), sm, noise, t, min_fraction=min_fraction, halo=halo
    )
    # hysteresis: an object must also peak above the largest value pure noise would
    # reach in this many independent smoothing cells, sqrt(2 ln N), plus 1.5 sigma
    cells = max(sm.size / (4 * np.pi * sigma * sigma), 2.0)
    # (against the smaller of that noise and half the median-to-2.3rd-percentile span:
    # particles covering a third of the field shift the median and inflate ``noise``,
    # which then hides faint large ones; the lower tail moves less)
    tail_noise = 0.5 * (med - float(np.percentile(ref, 2.275)))
    strong_level = (np.sqrt(2 * np.log(cells)) + 1.5) * min(noise, tail_noise)
    labels, n = ndi.label(mask, np.ones((3, 3)))
    strong = np.zeros(n + 1, bool)
    strong[np.unique(labels[sm > strong_level])] = True
    strong[0] = False
    labels, n = ndi.label(strong[labels], np.ones((3, 3)))
    logger.debug("edge: %d particles detected at %.3g (noise %.3g)", n, t, noise)
    return labels


def _flatten(signal: np.ndarray, particles: np.ndarray, size: float):
    """Signal minus the support level interpolated under the particles (normalised
    convolution at ~the particle scale), and the support pixels."""
    support = ~ndi.binary_dilation(particles, np.ones((3, 3)), iterations=int(2 + size / 4))
    sigma = max(4.0, 0.75 * size)
    w = support.astype(np.float32)
    num = _smooth(signal * w, sigma)
    den = _smooth(w, sigma)
    coarse = _smooth(signal * w, 3 * sigma) / np.maximum(
        _smooth(w, 3 * sigma), 1e-3
    )
    bg = np.where(den > 0.05, num / np.maximum(den, 1e-6), coarse)
    return (signal - bg).astype(np.float32), support


def _zones(det: np.ndarray, reach: float):
    """Each pixel within ``reach`` px of a detection, labelled by the nearest one."""
    dist, (iy, ix) = ndi.distance_transform_edt(det == 0, return_indices=True)
    zone = det[iy, ix]
    zone[dist > reach] = 0
    return zone


def _best_levels(u, grad, zone, n: int, fraction: float = 1.0) -> np.ndarray:
    """Per zone, the lowest level of ``u`` whose contour's mean gradient is at least
    ``fraction`` of the largest (1: the steepest contour)."""
    k = len(_LEVELS)
    score = np.zeros((n + 1, k + 1))
    count = np.zeros((n + 1, k + 1))
    for a, b in (((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
                 ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):  # fmt: skip
        za, zb = zone[a], zone[b]
        same = (za == zb) & (za > 0)
        ua, ub = u[a][same], u[b][same]
        g = 0.5 * (grad[a][same] + grad[b][same])
        z = za[same]
        # the pair crosses every level in (min, max]: bins [i0, i1)
        i0 = np.searchsorted(_LEVELS, np.minimum(ua, ub), side="right")
        i1 = np.searchsorted(_LEVELS, np.maximum(ua, ub), side="right")
        keep = i1 > i0
        z, i0, i1, g = z[keep], i0[keep], i1[keep], g[keep]
        start, stop = z * (k + 1) + i0, z * (k + 1) + i1  # flat (zone, bin) indices
        for arr, w in ((score, g), (count, None)):
            arr += np.bincount(start, w, arr.size).reshape(arr.shape)
            arr -= np.bincount(stop, w, arr.size).reshape(arr.shape)
    score = np.cumsum(score, axis=1)[:, :k]
    count = np.cumsum(count, axis=1)[:, :k]
    mean = np.where(count >= 4, score / np.maximum(count, 1), -np.inf)
    peak = mean.max(axis=1, keepdims=True)
    best = np.argmax(mean >= fraction * peak, axis=1)  # the first (lowest) such level
    return _LEVELS[best]


def _zone_max(values: np.ndarray, det: np.ndarray, n: int) -> np.ndarray:
    """(n + 1,) maximum of ``values`` over each detection (index 0: 1.0)."""
    out = np.full(n + 1, -np.inf, np.float32)
    fg = np.flatnonzero(det)
    if fg.size:
        lab = det.ravel()[fg]
        order = np.argsort(lab, kind="stable")
        lab, vals = lab[order], values.ravel()[fg][order]
        starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        out[lab[starts]] = np.maximum.reduceat(vals, starts)
    out[0] = 1.0
    return np.maximum(out, 1e-6)


def _excess_gradient(x: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Gradient magnitude above the support's typical one (its median): noise and the
    support's speckle give every contour a positive mean gradient, which would let the
    lowest levels pass the steepest-contour test."""
    g = ndi.gaussian_gradient_magnitude(x, 0.7)
    floor = float(np.median(g[support][:: max(1, g.size >> 18)])) if support.any() else 0.0
    return np.maximum(g - np.float32(_GRAD_FLOOR * floor), 0)


def _normalised(s, det, zone, n: int, noise: float, support: np.ndarray):
    """Signal and gradient in units of each particle's peak. A faint particle (peak
    under ``_FAINT_SNR`` noise sigmas) is read from a smoother signal, so that its
    contour follows the edge rather than the noise: the sigma grows as the contrast
    falls (white noise drops ~1/sigma), one of ``_SOFT_SIGMAS``."""
    peak = _zone_max(ndi.gaussian_filter(s, 1.0), det, n)
    grad = _excess_gradient(s, support)
    snr = peak / noise
    want = np.where(snr < _FAINT_SNR, _FAINT_SNR / np.maximum(snr, 1e-6), 0.0)
    want[0] = 0.0
    choice = np.searchsorted(_SOFT_SIGMAS, want)  # the smallest listed sigma >= want
    choice = np.where(want > 0, np.minimum(choice, len(_SOFT_SIGMAS) - 1), -1)
    faint = choice >= 0
    s_out, g_out, p_out = s, grad, peak
    for c in np.unique(choice[faint]):
        soft = ndi.gaussian_filter(s, float(_SOFT_SIGMAS[c]))
        sel = choice == c
        p_out = np.where(sel, _zone_max(ndi.gaussian_filter(soft, 1.0), det, n), p_out)
        f = sel[zone]
        s_out = np.where(f, soft, s_out)
        g_out = np.where(f, _excess_gradient(soft, support), g_out)
    scale = p_out[zone]
    return s_out / scale, g_out / scale


def edge_threshold(
    image: np.ndarray,
    *,
    polarity: str = "auto",
    particle_size: float | None = None,
    min_fraction: float = 0.1,
    gradient_fraction: float | None = None,
) -> np.ndarray:
    """Particle mask with the boundary on the steepest iso-level around each particle.

    Parameters
    ----------
    image : (Y, X) ndarray
        Gray TEM/STEM image; counts (non-negative integers) are Anscombe-transformed.
    polarity : {"auto", "dark", "bright"}
        Particles darker (bright field) or brighter (HAADF) than the support.
    particle_size : float, optional
        Typical particle diameter in pixels; estimated by :func:`estimate_size`.
    min_fraction : float
        Objects smaller than this fraction of the median particle are removed.
    gradient_fraction : float, optional
        The boundary is the lowest level whose contour's mean gradient reaches this
        fraction of the steepest contour's (1: the steepest contour itself).
        Default 0.9 for bright particles (HAADF: the signal follows the projected
        thickness) and 0.62 for dark ones (bright field: a thin, weakly scattering
        rim and a Fresnel fringe, read from a smoothed signal); chosen on the
        development split of the physics set.

    Returns
    -------
    mask : (Y, X) bool ndarray

    Examples
    --------
    >>> yy, xx = np.mgrid[:160, :160]
    >>> r2 = (yy - 80.0) ** 2 + (xx - 80.0) ** 2
    >>> thickness = np.sqrt(np.clip(15.0 ** 2 - r2, 0, None))
    >>> image = np.random.default_rng(0).poisson(20 + 4 * thickness)
    >>> mask = edge_threshold(image)
    >>> bool(abs(2 * np.sqrt(mask.sum() / np.pi) - 30) < 1.0)
    True
    """
    img = _as_image(image)
    if _is_counts(img):
        img = anscombe(img)
    if particle_size is None:
        if polarity == "auto":
            polarity = detect_polarity(img)
        particle_size = estimate_size(img, polarity)
    prep = prepare_image(img, polarity=polarity, particle_size=particle_size, denoise=0.7)
    if prep.empty:
        return np.zeros(img.shape, bool)
    if gradient_fraction is None:
        gradient_fraction = 0.9 if prep.polarity == "bright" else 0.62
    size = prep.particle_size
    s, support = prep.signal, None
    det = _detect(s, size, min_fraction)
    for _ in range(2):  # support level from the support only, then detect again
        s, support = _flatten(prep.signal, det > 0, size)
        det = _detect(s, size, min_fraction, support)
    n = int(det.max())
    if n == 0:
        return np.zeros(img.shape, bool)
    zone = _zones(det, max(3.0, 0.5 * size))
    noise = _robust_sd(s[support][:: max(1, s.size >> 18)])
    u, grad = _normalised(s, det, zone, n, noise, support)
    level = _best_levels(u, grad, zone, n, gradient_fraction).astype(np.float32)

    level[0] = np.inf
    mask = (zone > 0) & (u >= level[zone])
    mask = fill_holes(mask)
    return _keep_pieces(mask, det, min_fraction)


def _keep_pieces(mask: np.ndarray, det: np.ndarray, min_fraction: float) -> np.ndarray:
    """The pieces of ``mask`` that hold a detected particle and are not specks next to a
    larger piece of the same detection (under ``max(min_fraction, 0.2)`` of it)."""
    pieces, m = ndi.label(mask, np.ones((3, 3)))
    if m == 0:
        return mask
    area = np.bincount(pieces.ravel(), minlength=m + 1).astype(float)
    owner = np.zeros(m + 1, np.int64)
    inside = (det > 0) & mask
    np.maximum.at(owner, pieces[inside], det[inside])
    largest = np.zeros(int(det.max()) + 1)
    np.maximum.at(largest, owner, area)
    keep = (owner > 0) & (area >= 6.0) & (area >= max(min_fraction, 0.2) * largest[owner])
    keep[0] = False
    return keep[pieces]
