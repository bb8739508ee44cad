"""Particle masks by global, local and hybrid (variance-gated) thresholding.

The hybrid method reconstructs the approach of Groom et al. (Ultramicroscopy
2018; see ``SCIENCE.md`` section 2): after polarity is fixed (particles made
bright), the background flattened and the image lightly denoised, each pixel
is decided

- by the **local** class-mean midpoint where the local standard deviation is
  well above the noise level (the window holds a particle edge, so the
  particle's own contrast sets the threshold), and
- by the **global** (Otsu) threshold elsewhere (flat support, particle
  interiors), where a local rule would only split noise.

The window is ~2x the particle diameter, estimated from a first global pass.
All three methods share the same preparation and clean-up (holes filled,
objects that do not beat mirrored noise or are small relative
to the median particle removed), so comparing them compares decision rules.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import ndimage as ndi

from .._validation import check_choice, check_ndim, check_not_rgb
from .background import background, block_mean, upsample
from .postprocess import fill_holes, significant_objects

__all__ = [
    "hybrid_threshold",
    "threshold_global",
    "threshold_local",
    "detect_polarity",
    "prepare_image",
    "PreparedImage",
    "METHODS",
    "Method",
    "Polarity",
]

logger = logging.getLogger(__name__)



class Method(StrEnum):
    """How :func:`~napari_sciseg.segment.segment_particles` separates particles."""

    HYBRID = "hybrid"
    OTSU = "otsu"
    LOCAL = "local"
    EDGE = "edge"


class Polarity(StrEnum):
    """Are the objects darker or brighter than their surroundings (or detect it)?"""

    AUTO = "auto"
    DARK = "dark"
    BRIGHT = "bright"


METHODS = tuple(m.value for m in Method)
POLARITIES = tuple(p.value for p in Polarity)


@dataclass(frozen=True)
class PreparedImage:
    """A particle image made ready for thresholding.

    Attributes
    ----------
    signal : (Y, X) float32 ndarray
        Denoised, background-subtracted image scaled to ~[0, 1], particles positive.
    noise : float
        Robust standard deviation of ``signal`` on the support.
    polarity : str
        ``"dark"`` (particles darker than support, bright-field) or ``"bright"``.
    particle_size : float
        Typical particle diameter in pixels (given or estimated).
    global_threshold : float
        Otsu threshold of ``signal``.
    empty : bool
        True for a constant image (nothing to segment).
    """

    signal: np.ndarray
    noise: float
    polarity: str
    particle_size: float
    global_threshold: float
    empty: bool = False


def _as_image(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"image must be a numeric gray image; got dtype {arr.dtype}.")
    if np.iscomplexobj(arr):
        raise TypeError("image must be real-valued; got a complex array (take np.abs first).")
    check_not_rgb("image", arr)
    check_ndim(
        "image", arr, (2,), hint="Pass one (Y, X) image; for a stack, segment each slice in a loop."
    )
    if min(arr.shape) < 8:
        raise ValueError(f"image must be at least 8x8 pixels; got shape {arr.shape}.")
    arr = arr.astype(np.float32, copy=True)
    bad = ~np.isfinite(arr)
    if bad.any():
        if bad.all():
            raise ValueError("image contains only NaN/infinite values; nothing to segment.")
        warnings.warn(
            f"image has {int(bad.sum())} NaN/infinite pixels; they were filled with the median "
            "and cannot be part of a particle.",
            UserWarning,
            stacklevel=3,
        )
        arr[bad] = np.median(arr[~bad])
    return arr


def _sample(arr: np.ndarray, n: int = 1 << 18) -> np.ndarray:
    step = max(1, int(np.sqrt(arr.size / n)))
    return arr[::step, ::step].ravel()


def _otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values))


def _asymmetry(values: np.ndarray) -> float:
    lo, mid, hi = np.percentile(_sample(values), [0.5, 50, 99.5])
    return float(((hi - mid) - (mid - lo)) / max(hi - lo, 1e-12))


def _polarity_of(resid: np.ndarray, smooth: np.ndarray | None = None) -> str:
    """The side of the long histogram tail, after removing the support level; when the
    particles are too large for that (the support estimate follows them), the raw image's
    tail, if it is the more lopsided."""
    a = _asymmetry(resid)
    if smooth is not None:
        b = _asymmetry(smooth)
        a = b if abs(b) > abs(a) else a
    return "dark" if a < 0 else "bright"


def detect_polarity(image: np.ndarray) -> str:
    """Whether the particles are darker (bright-field) or brighter (HAADF) than the support.

    Particles are a minority of the pixels: after removing the slowly varying
    support level, the long tail of the intensity histogram points to their side.

    Parameters
    ----------
    image : (Y, X) ndarray

    Returns
    -------
    {"dark", "bright"}

    Examples
    --------
    >>> from napari_sciseg.data import tem_particles
    >>> detect_polarity(tem_particles("bf", shape=(128, 128))), detect_polarity(
    ...     tem_particles("haadf", shape=(128, 128)))
    ('dark', 'bright')
    """
    img = ndi.gaussian_filter(_as_image(image), 1.0)
    return _polarity_of(img - background(img, max(img.shape) / 6), img)


def _diameter_from_mask(mask: np.ndarray) -> float:
    """Area-weighted median equivalent diameter of the objects of ``mask`` (px)."""
    labels, n = ndi.label(mask)
    if n == 0:
        return float("nan")
    areas = np.bincount(labels.ravel())[1:].astype(float)
    areas = areas[areas >= 9]
    if areas.size == 0:
        return float("nan")
    order = np.sort(areas)
    cum = np.cumsum(order)
    a_med = order[np.searchsorted(cum, cum[-1] / 2)]
    return float(2 * np.sqrt(a_med / np.pi))


def prepare_image(
    image: np.ndarray,
    *,
    polarity: str = "auto",
    particle_size: float | None = None,
    denoise: float | None = None,
) -> PreparedImage:
    """Orient, flatten and denoise a particle image (shared by all methods).

    Parameters
    ----------
    image : (Y, X) ndarray
        Gray image (any numeric dtype). NaNs are filled with a warning.
    polarity : {"auto", "dark", "bright"}
        Particles darker (bright-field TEM) or brighter (HAADF) than the support.
    particle_size : float, optional
        Typical particle diameter in pixels; estimated from a first Otsu pass.
    denoise : float, optional
        Gaussian sigma in pixels (default: ``particle_size / 20`` in [0.7, 2]).

    Returns
    -------
    PreparedImage
    """
    check_choice("polarity", polarity, POLARITIES)
    if particle_size is not None and not particle_size > 0:
        raise ValueError(f"particle_size must be > 0 pixels; got {particle_size}.")
    img = _as_image(image)
    lo, hi = np.percentile(_sample(img), [0.5, 99.5])
    if not hi > lo:
        lo, hi = float(img.min()), float(img.max())
    if not hi > lo:
        warnings.warn("image is constant; no particles can be found.", UserWarning, stacklevel=3)
        zero = np.zeros(img.shape, np.float32)
        polarity = "bright" if polarity == "auto" else polarity
        return PreparedImage(zero, 1.0, polarity, 0.0, 1.0, empty=True)
    img = (img - lo) / np.float32(hi - lo)
    # first pass (polarity, particle size) at half resolution on large images
    f0 = 2 if max(img.shape) > 1024 else 1
    coarse = block_mean(img, f0) if f0 > 1 else img
    smooth = ndi.gaussian_filter(coarse, 1.0)
    resid = smooth - background(smooth, max(coarse.shape) / 6)
    if polarity == "auto":
        polarity = _polarity_of(resid, smooth)
        logger.info("auto polarity: %s particles", polarity)
    sign = np.float32(-1.0 if polarity == "dark" else 1.0)
    size = particle_size
    if size is None:
        first = sign * resid
        size = f0 * _diameter_from_mask(first > _otsu(_sample(first)))
        if not np.isfinite(size):
            size = 8.0
        size = float(np.clip(size, 4.0, max(img.shape) / 4))
        logger.info("estimated particle diameter: %.1f px", size)
    sigma = float(np.clip(size / 20, 0.7, 2.0)) if denoise is None else float(denoise)
    den = ndi.gaussian_filter(img, sigma) if sigma > 0 else img
    bg = background(den, max(4 * size, 32))
    signal = (sign * (den - bg)).astype(np.float32)
    sample = _sample(signal)
    t_glob = _otsu(sample)
    # the lower half of the histogram is support only (particles are positive)
    lo, med = np.percentile(sample, [15.87, 50])
    noise = max(float(med - lo), 1e-6)
    return PreparedImage(signal, noise, polarity, float(size), t_glob)


def _window(size: float, shape) -> int:
    w = int(np.clip(round(2 * size), 7, min(shape)))
    return w + 1 - w % 2


def _finish(prep: PreparedImage, mask: np.ndarray, threshold, min_fraction: float) -> np.ndarray:
    """Shared clean-up: holes, significance against mirrored noise, fragments vs. median."""
    return significant_objects(
        fill_holes(mask), prep.signal, prep.noise, threshold, min_fraction=min_fraction
    )


def threshold_global(
    image: np.ndarray,
    *,
    polarity: str = "auto",
    particle_size: float | None = None,
    min_fraction: float = 0.1,
) -> np.ndarray:
    """Particle mask from one global (Otsu) threshold after flattening and denoising.

    Parameters and returns as :func:`hybrid_threshold`.

    Parameters
    ----------
    image : (Y, X) ndarray
        Gray image.
    polarity : {"auto", "dark", "bright"}
        Particles darker (bright-field) or brighter (HAADF) than the support; "auto" detects it.
    particle_size : float, optional
        Typical particle diameter in pixels; estimated by a first Otsu pass.
    min_fraction : float
        Objects smaller than this fraction of the median particle area are removed.

    Returns
    -------
    (Y, X) bool ndarray
        The particle mask.

    Examples
    --------
    >>> from napari_sciseg.data import tem_particles
    >>> image, truth = tem_particles("haadf", shape=(128, 128), return_truth=True)
    >>> mask = threshold_global(image)
    >>> bool((mask & truth.mask).sum() / (mask | truth.mask).sum() > 0.7)
    True
    """
    prep = prepare_image(image, polarity=polarity, particle_size=particle_size)
    if prep.empty:
        return np.zeros(prep.signal.shape, bool)
    t = prep.global_threshold
    return _finish(prep, prep.signal > t, t, min_fraction)


def threshold_local(
    image: np.ndarray,
    *,
    polarity: str = "auto",
    particle_size: float | None = None,
    block_size: int | None = None,
    offset: float = 0.0,
    min_fraction: float = 0.1,
) -> np.ndarray:
    """Particle mask from the local mean (``signal > local mean + offset``).

    ``block_size`` (odd, px) defaults to ~2x the particle diameter. On flat
    support the local mean splits noise, which the shared clean-up only partly
    removes; this is the known weakness the hybrid method fixes.

    Parameters
    ----------
    image, polarity, particle_size, min_fraction
        As for :func:`threshold_global`.
    block_size : int, optional
        Side of the local window (odd, pixels).
    offset : float
        Added to the local mean before comparing, in units of the support noise.

    Returns
    -------
    (Y, X) bool ndarray
        The particle mask.

    Examples
    --------
    >>> from napari_sciseg.data import tem_particles
    >>> threshold_local(tem_particles("bf", shape=(128, 128))).dtype
    dtype('bool')
    """
    prep = prepare_image(image, polarity=polarity, particle_size=particle_size)
    if prep.empty:
        return np.zeros(prep.signal.shape, bool)
    w = _window(prep.particle_size, prep.signal.shape) if block_size is None else int(block_size)
    t = ndi.uniform_filter(prep.signal, w, mode="reflect") + np.float32(offset * prep.noise)
    return _finish(prep, prep.signal > t, t, min_fraction)


def _seed_level(prep: PreparedImage) -> float:
    """Level above which a pixel is confidently particle (for the local class means)."""
    return max(3 * prep.noise, 0.75 * prep.global_threshold)


def hybrid_threshold(
    image: np.ndarray,
    *,
    polarity: str = "auto",
    particle_size: float | None = None,
    window_factor: float = 2.0,
    edge_factor: float = 1.5,
    level: float = 0.45,
    min_fraction: float = 0.1,
) -> np.ndarray:
    """Particle mask by hybrid (variance-gated local / global) thresholding.

    Parameters
    ----------
    image : (Y, X) ndarray
        Gray TEM/STEM image, any numeric dtype. RGB and stacks are refused with
        a message; NaNs are filled (with a warning); a constant image gives an
        empty mask (with a warning).
    polarity : {"auto", "dark", "bright"}
        ``"dark"``: particles darker than the support (bright-field TEM/STEM);
        ``"bright"``: brighter (HAADF/LAADF); ``"auto"`` detects it.
    particle_size : float, optional
        Typical particle diameter in pixels; estimated by a first Otsu pass.
    window_factor : float
        Local window side as a multiple of the particle diameter (1.5-3).
    edge_factor : float
        A window holds an edge where its standard deviation exceeds
        ``edge_factor`` x the support noise; there the local rule decides.
    level : float
        Local threshold between the window's support mean (0) and confident
        particle mean (1). Below 0.5 because particle rims are thinner (lower
        contrast) than their centres.
    min_fraction : float
        Objects smaller than this fraction of the median particle area are removed.

    Returns
    -------
    mask : (Y, X) bool ndarray

    Examples
    --------
    >>> from napari_sciseg.data import tem_particles
    >>> image, truth = tem_particles("bf", shape=(256, 256), return_truth=True)
    >>> mask = hybrid_threshold(image)
    >>> bool((mask & truth.mask).sum() / (mask | truth.mask).sum() > 0.8)
    True
    """
    if not window_factor > 0 or not edge_factor > 0:
        raise ValueError(
            f"window_factor and edge_factor must be > 0; got {window_factor}, {edge_factor}."
        )
    prep = prepare_image(image, polarity=polarity, particle_size=particle_size)
    if prep.empty:
        return np.zeros(prep.signal.shape, bool)
    s = prep.signal
    w = _window(window_factor / 2 * prep.particle_size, s.shape)
    # window statistics vary on the window's scale: compute them on a grid of
    # blocks ~w/8 px (box of ~8 blocks) and interpolate the threshold back
    f = max(1, w // 8)
    seed = (s > _seed_level(prep)).astype(np.float32)
    stats = [s, s * s, seed, s * seed]
    if f > 1:
        stats = [block_mean(a, f) for a in stats]
    wb = max(3, int(round(w / f)))
    wb += 1 - wb % 2
    mean, sq, frac, fg_sum = (ndi.uniform_filter(a, wb, mode="reflect") for a in stats)
    std = np.sqrt(np.maximum(sq - mean * mean, 0))
    # class means inside the window: confident particle pixels vs. the rest
    both = (frac > 0.02) & (frac < 0.98)
    fg_mean = fg_sum / np.maximum(frac, 1e-6)
    bg_mean = (mean - fg_sum) / np.maximum(1 - frac, 1e-6)
    local = bg_mean + np.float32(level) * (fg_mean - bg_mean)
    edge = both & (std > edge_factor * prep.noise)
    t = np.where(edge, local, np.float32(max(prep.global_threshold, 2 * prep.noise)))
    if f > 1:
        t = upsample(t, s.shape, f)
    logger.debug("hybrid: window %d px, %.1f%% of pixels decided locally", w, 100 * edge.mean())
    return _finish(prep, s > t, t, min_fraction)
