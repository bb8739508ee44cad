"""Scores of restored images (inpainting, denoising) and their classical baselines.

:func:`restoration_scores` compares a restored image with the truth (Pearson r and
L1 on the scored pixels, PSNR and SSIM of the whole image); the baselines a learned
method must beat are :func:`inpaint_classical` (biharmonic inpainting) and
:func:`denoise_classical` (a Gaussian filter or non-local means whose strength is
tuned on the truth, so the baseline is as good as it can be).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .._validation import check_choice, check_same_shape

__all__ = ["RestorationScores", "restoration_scores", "inpaint_classical",
           "denoise_classical", "DENOISE_BASELINES"]

#: classical denoisers of :func:`denoise_classical`
DENOISE_BASELINES = ("gaussian", "nlm")


@dataclass(frozen=True)
class RestorationScores:
    """Scores of one restored image against its truth.

    Attributes
    ----------
    pearson_r, l1 : float
        Over the scored pixels (the mask, or every pixel).
    psnr, ssim : float
        Of the whole image, with the truth's value range (``data_range``).
    n_pixels : int
        Scored pixels.
    """

    pearson_r: float
    l1: float
    psnr: float
    ssim: float
    n_pixels: int

    def row(self) -> dict:
        """A flat dict (a table row)."""
        return asdict(self)


def restoration_scores(restored: np.ndarray, truth: np.ndarray, *, mask=None,
                       data_range: float | None = None) -> RestorationScores:
    """Pearson r and L1 on the ``mask`` pixels, PSNR and SSIM of the whole image.

    Parameters
    ----------
    restored, truth : (Y, X) or (Z, Y, X) ndarray
    mask : bool ndarray, optional
        Pixels to score with r and L1 (inpainting: the gaps); default every pixel.
    data_range : float, optional
        For PSNR/SSIM; default the truth's max - min.

    Returns
    -------
    RestorationScores

    Examples
    --------
    >>> truth = np.linspace(0, 1, 64).reshape(8, 8)
    >>> s = restoration_scores(truth + 0.01, truth)
    >>> round(s.pearson_r, 6), round(s.l1, 3), round(s.psnr, 1)
    (1.0, 0.01, 40.0)
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    restored = np.asarray(restored, np.float64)
    truth = np.asarray(truth, np.float64)
    check_same_shape("truth", truth, "restored", restored)
    mask = np.ones(truth.shape, bool) if mask is None else np.asarray(mask, bool)
    check_same_shape("truth", truth, "mask", mask)
    if not mask.any():
        raise ValueError("mask selects no pixel to score; pass the gaps (True = scored).")
    a, b = restored[mask], truth[mask]
    r = float(np.corrcoef(a, b)[0, 1]) if a.size > 1 and a.std() and b.std() else float("nan")
    span = float(data_range) if data_range is not None else float(np.ptp(truth)) or 1.0
    psnr = float(peak_signal_noise_ratio(truth, restored, data_range=span))
    win = min(7, *(s - (1 - s % 2) for s in truth.shape))
    ssim = float(structural_similarity(truth, restored, data_range=span, win_size=win)) \
        if win >= 3 else float("nan")
    return RestorationScores(pearson_r=r, l1=float(np.abs(a - b).mean()), psnr=psnr,
                             ssim=ssim, n_pixels=int(mask.sum()))


def inpaint_classical(image: np.ndarray, mask: np.ndarray, *, log: bool = False) -> np.ndarray:
    """Biharmonic inpainting of the ``mask`` pixels (``skimage.restoration``).

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
    mask : bool ndarray
        True where values are missing; only those pixels change.
    log : bool
        Interpolate log(1 + counts) (for data spanning decades), then go back.

    Returns
    -------
    float32 ndarray

    Examples
    --------
    >>> ramp = np.tile(np.arange(8.0), (8, 1))
    >>> gaps = np.zeros_like(ramp, bool); gaps[:, 3:5] = True
    >>> np.round(inpaint_classical(np.where(gaps, 0, ramp), gaps)[0], 3)
    array([0., 1., 2., 3., 4., 5., 6., 7.], dtype=float32)
    """
    from skimage.restoration import inpaint_biharmonic

    image = np.asarray(image, np.float64)
    mask = np.asarray(mask, bool)
    check_same_shape("image", image, "mask", mask)
    if not mask.any():
        return image.astype(np.float32)
    if mask.all():
        raise ValueError("mask covers every pixel: nothing is known to interpolate from.")
    data = np.log1p(np.clip(image, 0, None)) if log else image
    filled = inpaint_biharmonic(np.where(mask, 0, data), mask)
    filled = np.expm1(filled) if log else filled
    return np.where(mask, filled, image).astype(np.float32)


def _tuned(candidates, run, truth):
    """The candidate whose output has the lowest squared error against ``truth``."""
    best, best_err, best_out = None, np.inf, None
    for c in candidates:
        out = run(c)
        err = float(np.mean((out - truth) ** 2))
        if err < best_err:
            best, best_err, best_out = c, err, out
    return best, best_out


def denoise_classical(image: np.ndarray, truth: np.ndarray, *,
                      method: str = "gaussian") -> tuple[np.ndarray, float]:
    """A classical denoiser with its strength tuned on the truth (an upper bound of it).

    Parameters
    ----------
    image, truth : (Y, X) ndarray
        Noisy image and clean truth.
    method : {"gaussian", "nlm"}
        Gaussian filter (sigma searched over 0.3-4 px) or non-local means
        (``skimage.restoration.denoise_nl_means``; h searched from 0.3 to 1.2 times
        the noise sigma, measured against the truth).

    Returns
    -------
    denoised : float32 ndarray
    strength : float
        The chosen sigma (Gaussian) or h (non-local means).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = np.tile(np.sin(np.linspace(0, 3, 32)), (32, 1))
    >>> noisy = truth + rng.normal(0, 0.2, truth.shape)
    >>> out, sigma = denoise_classical(noisy, truth)
    >>> bool(np.mean((out - truth) ** 2) < np.mean((noisy - truth) ** 2) / 4)
    True
    """
    from scipy import ndimage as ndi

    check_choice("method", method, DENOISE_BASELINES)
    image = np.asarray(image, np.float64)
    truth = np.asarray(truth, np.float64)
    check_same_shape("truth", truth, "image", image)
    if method == "gaussian":
        sigmas = np.geomspace(0.3, 4.0, 16)
        best, out = _tuned(sigmas, lambda s: ndi.gaussian_filter(image, s), truth)
        return out.astype(np.float32), float(best)
    from skimage.restoration import denoise_nl_means

    sigma = float(np.std(image - truth))  # the noise level, known here (oracle tuning)
    hs = sigma * np.array([0.3, 0.45, 0.6, 0.8, 1.0, 1.2])
    best, out = _tuned(hs, lambda h: denoise_nl_means(image, h=h, sigma=sigma, patch_size=5,
                                                      patch_distance=6, fast_mode=True), truth)
    return out.astype(np.float32), float(best)
