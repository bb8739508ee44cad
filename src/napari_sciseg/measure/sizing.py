"""Particle sizing, the one workflow behind ``sciseg particles`` and the "Size particles" widget.

:func:`size_particles` does the whole job on an array: colour to gray, the
pixel-size rule (:func:`napari_sciseg.io.calibration.resolve_spacing`),
segmentation (a thresholding method, or a trained ensemble's prediction) and
measurement (:func:`napari_sciseg.measure.particles.measure_particles`). The
front ends only turn files or layers into arrays and the result into files or
layers.

A trained model comes in as a callable (``image -> mask``) made by
:func:`napari_sciseg.dl.particle_model.particle_segmenter`, so this numpy layer
never imports the torch engine.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from .._generators import check_cancelled
from ..io.calibration import ResolvedSpacing, resolve_spacing
from .particles import ParticleResult, measure_particles

__all__ = ["SizingResult", "size_particles", "to_gray"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizingResult:
    """Everything :func:`size_particles` found in one image.

    Attributes
    ----------
    mask : (Y, X) bool ndarray
        Semantic particle mask (before instance splitting and selection).
    particles : ParticleResult
        Instances, the per-particle table (with rejection reasons) and the PSD.
    spacing : ResolvedSpacing
        The pixel size used and where it came from.
    method : str
        ``"hybrid"``, ``"otsu"``, ``"local"``, ``"edge"`` or ``"model"``.
    notes : tuple of str
        What the user should know (RGB converted, NaNs filled, no pixel size...).
    """

    mask: np.ndarray
    particles: ParticleResult
    spacing: ResolvedSpacing
    method: str
    notes: tuple[str, ...] = ()

    @property
    def labels(self) -> np.ndarray:
        """(Y, X) int32 instance labels (row ``i`` of the table is label ``i + 1``)."""
        return self.particles.labels

    @property
    def table(self) -> dict:
        """Per-particle columns (see :class:`ParticleResult`)."""
        return self.particles.table

    @property
    def psd(self):
        """Size distribution of the isolated particles."""
        return self.particles.psd

    @property
    def rejected(self) -> dict[str, int]:
        """How many particles each rejection reason removed from the PSD."""
        reasons = self.particles.table["reason"]
        return {r: int((reasons == r).sum()) for r in sorted(set(reasons) - {""})}


def to_gray(image, *, rgb: bool | None = None) -> tuple[np.ndarray, bool]:
    """A 2D gray image from a gray or RGB(A) ``(Y, X, 3|4)`` array; stacks are refused.

    Parameters
    ----------
    image : (Y, X) or (Y, X, 3|4) array
    rgb : bool, optional
        Whether the last axis holds colour samples; default: a last axis of 3
        or 4 on a 3D array.

    Returns
    -------
    gray : (Y, X) ndarray
    converted : bool
        True when colour was converted (luminance).

    Examples
    --------
    >>> gray, converted = to_gray(np.ones((8, 8, 3)))
    >>> gray.shape, converted
    ((8, 8), True)
    """
    arr = np.asarray(image)
    if rgb is None:
        rgb = arr.ndim == 3 and arr.shape[-1] in (3, 4)
    if rgb:
        from skimage.color import rgb2gray

        return rgb2gray(arr[..., :3]).astype(np.float32), True
    if arr.ndim != 2:
        raise ValueError(
            f"image must be one 2D (Y, X) image or an RGB (Y, X, 3) image; got shape "
            f"{arr.shape}. Particle sizing works on single images: size each slice of a "
            "stack separately."
        )
    return arr, False


def _check_spacing(spacing) -> None:
    if spacing is None:
        return
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError(
            f"spacing (pixel size) must be > 0 nm per pixel; got {spacing}. Give the pixel "
            "size of the image, or None to use the file's calibration."
        )


def _segment(gray, method, polarity, particle_size_px, model) -> np.ndarray:
    if model is not None:
        if not callable(model):
            raise TypeError(
                f"model must be a callable image -> mask (e.g. "
                f"napari_sciseg.dl.particle_model.particle_segmenter(path)); got "
                f"{type(model).__name__}."
            )
        mask = np.asarray(model(gray))
        if mask.shape != gray.shape:
            raise ValueError(f"model returned shape {mask.shape} for an image of {gray.shape}.")
        return mask.astype(bool)
    from ..segment import segment_particles

    return segment_particles(
        gray, method=method, polarity=polarity, particle_size=particle_size_px
    )


def size_particles(
    image,
    *,
    spacing: float | tuple[float, float] | None = None,
    calibration=None,
    method: str = "hybrid",
    polarity: str = "auto",
    particle_size: float | None = None,
    split_touching: bool = False,
    model=None,
    rgb: bool | None = None,
    cancel=None,
    **selection,
) -> SizingResult:
    """Segment the particles of one image, measure them and summarise the isolated ones.

    Parameters
    ----------
    image : (Y, X) or (Y, X, 3|4) array
        Gray TEM/STEM image (RGB is converted to luminance, with a note).
    spacing : float or (float, float), optional
        Pixel size in nm given by the user; wins over ``calibration``.
    calibration : CalibratedImage or (spacing, unit, source), optional
        The file's or layer's calibration, used when ``spacing`` is None.
        Neither: sizes in pixels, with a note.
    method : {"hybrid", "otsu", "local", "edge"}
        Thresholding method (ignored with ``model``).
    polarity : {"auto", "dark", "bright"}
        Particles darker (bright field) or brighter (HAADF) than the support.
    particle_size : float, optional
        Typical particle diameter in nm (pixels when uncalibrated); estimated.
    split_touching : bool
        Size touching particles separately (distance-transform watershed).
    model : callable, optional
        ``image -> (Y, X) bool mask`` used instead of thresholding, e.g. a trained
        ensemble: ``napari_sciseg.dl.particle_model.particle_segmenter("M.sciseg")``.
    rgb : bool, optional
        Whether the last axis is colour (default: guessed from the shape).
    cancel : threading.Event or callable, optional
        Checked between the stages (segmentation, measurement); when set, the
        call raises :class:`napari_sciseg._generators.Cancelled`.
    **selection
        Passed to :func:`measure_particles` (``min_solidity``,
        ``max_aspect_ratio``, ``exclude_border``, ``diameter_range``...).

    Returns
    -------
    SizingResult

    Examples
    --------
    >>> from napari_sciseg.data import tem_particles
    >>> res = size_particles(tem_particles("haadf", shape=(128, 128), seed=0), spacing=0.2)
    >>> res.psd.unit, res.psd.count > 0, res.spacing.source
    ('nm', True, 'user')
    """
    _check_spacing(spacing)
    notes: list[str] = []
    gray, converted = to_gray(image, rgb=rgb)
    if converted:
        notes.append("RGB converted to gray (luminance)")
    resolved = resolve_spacing(spacing, calibration, ndim=2)
    if resolved.calibrated and resolved.unit not in ("nm",):
        from ..io.calibration import length_to_nm

        nm = tuple(length_to_nm(s, resolved.unit) for s in resolved.spacing)
        resolved = ResolvedSpacing(nm, "nm", resolved.source) if None not in nm else resolved
    size_px = None
    if particle_size is not None and particle_size > 0:
        size_px = particle_size / (resolved.spacing[-1] if resolved.calibrated else 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_cancelled(cancel, "segmentation")
        mask = _segment(gray, method, polarity, size_px, model)
        check_cancelled(cancel, "measurement")
        res = measure_particles(
            mask, gray, spacing=resolved.spacing, split_touching=split_touching,
            calibration=resolved.source, cancel=cancel, **selection,
        )  # fmt: skip
    check_cancelled(cancel, "the result")
    for w in caught:  # keep them for the report, and let callers see them too
        notes.append(str(w.message))
        warnings.warn(w.message, w.category, stacklevel=2)
    return SizingResult(
        mask=np.asarray(mask, bool), particles=res, spacing=resolved,
        method="model" if model is not None else method, notes=tuple(notes),
    )  # fmt: skip
