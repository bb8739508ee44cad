"""Physical calibration of an image: spacing per axis, in one unit (nm for lengths).

This is the one place where a file's notion of pixel size becomes ``spacing``.
Every reader returns a :class:`CalibratedImage`; the napari front end turns it
into layer ``scale``/``units`` in ``_napari/_layers.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CalibratedImage",
    "ResolvedSpacing",
    "length_to_nm",
    "normalise_unit",
    "resolve_spacing",
]

logger = logging.getLogger(__name__)

#: nanometres per unit, for every spelling of a length unit found in files.
_NM_PER_UNIT = {
    "m": 1e9,
    "meter": 1e9,
    "metre": 1e9,
    "cm": 1e7,
    "centimeter": 1e7,
    "mm": 1e6,
    "millimeter": 1e6,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "\\u00b5m": 1e3,
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "a": 0.1,
    "å": 0.1,
    "Å": 0.1,
    "angstrom": 0.1,
    "pm": 1e-3,
    "picometer": 1e-3,
}


def normalise_unit(unit: str | None) -> str | None:
    """Return a canonical lower-case spelling of a unit, or None when empty.

    Examples
    --------
    >>> normalise_unit(" Micron ")
    'micron'
    >>> normalise_unit("") is None
    True
    """
    if unit is None:
        return None
    unit = str(unit).strip()
    if not unit or unit.lower() in {"pixel", "pixels", "px", "none", "<undefined>"}:
        return None
    if unit.lower() == "\\u00b5m":
        return "µm"
    return unit if unit in ("Å", "µm", "μm") else unit.lower()


def length_to_nm(value: float, unit: str | None) -> float | None:
    """Convert a length to nanometres; None when ``unit`` is not a known length unit.

    Examples
    --------
    >>> length_to_nm(0.25, "µm")
    250.0
    >>> length_to_nm(1.0, "furlong") is None
    True
    """
    unit = normalise_unit(unit)
    if unit is None:
        return None
    factor = _NM_PER_UNIT.get(unit) or _NM_PER_UNIT.get(unit.lower())
    if factor is None:
        return None
    return float(value) * factor


@dataclass(frozen=True)
class CalibratedImage:
    """An array with its physical calibration.

    Attributes
    ----------
    data : ndarray or array-like
        The pixels, axes as in ``axes`` (channel axis included when present).
    spacing : tuple of float
        Physical size of one pixel along each spatial axis (not the channel axis),
        in ``unit``.
    unit : str
        ``"nm"`` for calibrated lengths, ``"pixel"`` when the file has none.
    axes : str
        One letter per axis of ``data``, e.g. ``"YX"``, ``"ZYX"``, ``"CYX"``.
    calibrated : bool
        False when the file carried no usable calibration (then spacing is 1).
    source : str
        Where the calibration came from (``"OME PhysicalSize"``, ``"ImageJ"``, ...).
    channel_names : tuple of str
        Names of the channels when ``axes`` has a ``C``.
    channel_units : tuple of str
        Units of the values of each channel (e.g. ``"nm"`` for AFM height).
    metadata : dict
        Anything else worth keeping (instrument, acquisition settings).
    """

    data: np.ndarray
    spacing: tuple[float, ...]
    unit: str = "pixel"
    axes: str = "YX"
    calibrated: bool = False
    source: str = "none"
    channel_names: tuple[str, ...] = ()
    channel_units: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)

    @property
    def channel_axis(self) -> int | None:
        """Index of the channel axis in ``data``, or None."""
        return self.axes.index("C") if "C" in self.axes else None

    @property
    def spatial_axes(self) -> str:
        """The axes letters without the channel axis."""
        return self.axes.replace("C", "")


@dataclass(frozen=True)
class ResolvedSpacing:
    """The pixel size a workflow will use, and where it came from.

    Attributes
    ----------
    spacing : tuple of float or None
        Size of one pixel per spatial axis in ``unit``; None when uncalibrated.
    unit : str
        ``"nm"`` (or the file's length unit) when calibrated, ``"pixel"`` otherwise.
    source : str
        ``"user"``, ``"file (<source>)"`` or ``"none"``: say it next to every number.
    """

    spacing: tuple[float, ...] | None
    unit: str
    source: str

    @property
    def calibrated(self) -> bool:
        """True when lengths come out in physical units."""
        return self.spacing is not None


def resolve_spacing(
    user: float | tuple[float, ...] | None,
    calibration: CalibratedImage | tuple[tuple[float, ...], str, str] | None,
    *,
    ndim: int,
    user_unit: str = "nm",
) -> ResolvedSpacing:
    """Choose the pixel size: the user's value, else the file's calibration, else none.

    This is the one rule every workflow (CLI and widgets) follows.

    Parameters
    ----------
    user : float, tuple of float or None
        What the user typed (a single value applies to every axis). None, or a
        value <= 0 from a widget's "auto" field, means "not given".
    calibration : CalibratedImage or (spacing, unit, source) or None
        The file's or layer's calibration; ignored when uncalibrated (unit ``"pixel"``).
    ndim : int
        Number of spatial axes the workflow measures (2 or 3).
    user_unit : str, optional
        Unit of ``user``.

    Returns
    -------
    ResolvedSpacing

    Raises
    ------
    ValueError
        When the user's value has the wrong number of entries or is not finite.

    Examples
    --------
    >>> resolve_spacing(0.5, None, ndim=2)
    ResolvedSpacing(spacing=(0.5, 0.5), unit='nm', source='user')
    >>> resolve_spacing(None, ((1.0, 0.2, 0.2), "nm", "OME"), ndim=2)
    ResolvedSpacing(spacing=(0.2, 0.2), unit='nm', source='file (OME)')
    >>> resolve_spacing(None, None, ndim=2).calibrated
    False
    """
    if user is not None:
        values = np.atleast_1d(np.asarray(user, dtype=float)).ravel()
        if values.size == 1 and values[0] <= 0:
            user = None  # a widget's "auto"
        else:
            if values.size == 1:
                values = np.repeat(values, ndim)
            if values.size != ndim or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ValueError(
                    f"pixel size: expected one positive number or {ndim} (one per axis); "
                    f"got {tuple(float(v) for v in np.atleast_1d(user))}."
                )
            return ResolvedSpacing(tuple(float(v) for v in values), user_unit, "user")
    if calibration is not None:
        if isinstance(calibration, CalibratedImage):
            spacing, unit, source = calibration.spacing, calibration.unit, calibration.source
            calibrated = calibration.calibrated
        else:
            spacing, unit, source = calibration
            calibrated = normalise_unit(unit) is not None
        if calibrated and len(spacing) >= ndim:
            return ResolvedSpacing(
                tuple(float(s) for s in spacing[-ndim:]), str(unit), f"file ({source})"
            )
    return ResolvedSpacing(None, "pixel", "none")
