"""Particle sizing, the one workflow behind ``sciseg particles`` and the "Size particles" widget.

:func:`size_particles` does the whole job on an array: colour to gray, the
pixel-size rule (:func:`napari_sciseg.io.calibration.resolve_spacing`),
segmentation (a thresholding method, or a trained ensemble's prediction) and
measurement (:func:`napari_sciseg.measure.particles.measure_particles`). The
front ends only turn files or layers into arrays and the result into files or
layers.

A trained model is run through the public prediction API of
:mod:`napari_sciseg.dl`, imported only when a model is given, so this module
and ``import napari_sciseg.measure`` never load torch.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.calibration import ResolvedSpacing, resolve_spacing
from .particles import ParticleResult, measure_particles

__all__ = ["SizingResult", "size_particles", "check_particle_model", "to_gray"]

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


def check_particle_model(model):
    """Load (if a path) and check a trained model for particle sizing.

    The model must segment 2D, one-channel images. Returns the loaded
    ``TrainedModel``; raises ``ValueError`` naming the problem otherwise.
    """
    from .. import dl

    if isinstance(model, str | Path):
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {path}")
        model = dl.load_model(path)
    cfg = model.config
    if int(cfg.model_ndim) != 2 or str(cfg.dim) not in ("2", "2.5"):
        raise ValueError(
            f"model segments {cfg.dim}D data; particle sizing needs a 2D model "
            "(trained with dim 2 on single images)."
        )
    if int(cfg.in_channels) != 1:
        raise ValueError(
            f"model expects {cfg.in_channels} input channels; particle sizing gives it one "
            "gray image. Use a model trained on gray (1-channel) images."
        )
    if int(cfg.n_classes) < 2:
        raise ValueError(f"model has {cfg.n_classes} class; particle sizing needs 2 or more.")
    return model


def _particle_class(model, particle_class: int | None) -> int:
    n = int(model.config.n_classes)
    if particle_class is None:
        names = [str(c).lower() for c in (model.config.class_names or ())]
        hits = [i + 1 for i, c in enumerate(names) if "particle" in c]
        return hits[0] if hits else n
    if not 1 <= int(particle_class) <= n:
        raise ValueError(f"particle_class must be in 1..{n} for this model; got {particle_class}.")
    return int(particle_class)


def _model_mask(image, model, particle_class) -> np.ndarray:
    from .. import dl
    from ..segment.postprocess import fill_holes, remove_small

    model = check_particle_model(model)
    cls = _particle_class(model, particle_class)
    pred = dl.predict(model, image)
    mean = np.asarray(pred.mean)
    mask = mean.argmax(axis=0) + 1 == cls
    return remove_small(fill_holes(mask), 6)


def _segment(gray, method, polarity, particle_size_px, model, particle_class) -> np.ndarray:
    if model is not None:
        return _model_mask(gray, model, particle_class)
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
    particle_class: int | None = None,
    rgb: bool | None = None,
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
    model : TrainedModel or path to a ``.sciseg`` file, optional
        Segment with a trained 2D one-channel ensemble instead of thresholding.
    particle_class : int, optional
        The model's particle class (1..K); default the class named like
        "particle", else the last one.
    rgb : bool, optional
        Whether the last axis is colour (default: guessed from the shape).
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
        mask = _segment(gray, method, polarity, size_px, model, particle_class)
        res = measure_particles(
            mask, gray, spacing=resolved.spacing, split_touching=split_touching,
            calibration=resolved.source, **selection,
        )  # fmt: skip
    for w in caught:  # keep them for the report, and let callers see them too
        notes.append(str(w.message))
        warnings.warn(w.message, w.category, stacklevel=2)
    return SizingResult(
        mask=np.asarray(mask, bool), particles=res, spacing=resolved,
        method="model" if model is not None else method, notes=tuple(notes),
    )  # fmt: skip
