"""Calibrated readers and writers.

:func:`read_image` dispatches on the file: TIFF (plain, ImageJ, OME, FEI),
EM formats through rosettasciio, and AFM vendor files. Every reader returns a
:class:`~napari_sciseg.io.calibration.CalibratedImage` with spacing in nm.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .calibration import CalibratedImage

__all__ = ["CalibratedImage", "read_image", "supported_suffixes", "UnsupportedFormatError"]


class UnsupportedFormatError(ValueError):
    """The file's format is not one this package reads."""


def _afm_module():
    try:
        return importlib.import_module(f"{__name__}.afm")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.afm":
            return None
        raise


def supported_suffixes() -> tuple[str, ...]:
    """Every file suffix :func:`read_image` accepts.

    Returns
    -------
    tuple of str
        The suffixes with their dot (``".tif"``).
    """
    from .em import EM_SUFFIXES
    from .tiff import TIFF_SUFFIXES

    suffixes = list(TIFF_SUFFIXES) + list(EM_SUFFIXES)
    afm = _afm_module()
    if afm is not None:
        suffixes += [s for s in afm.AFM_SUFFIXES if s not in suffixes]
    return tuple(suffixes)


def read_image(path: str | Path) -> CalibratedImage:
    """Read any supported image file with its calibration.

    Parameters
    ----------
    path : str or Path
        A TIFF/OME-TIFF/ImageJ TIFF, DM3/DM4/EMD/SER/MRC (``em`` extra) or an
        AFM vendor file (``afm`` extra).

    Returns
    -------
    CalibratedImage

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    UnsupportedFormatError
        The suffix is not supported (the message lists the supported ones).
    ValueError
        The file claims a supported format but cannot be parsed; the message
        names the file and the problem.
    """
    path = Path(path)
    if path.suffix.lower() == ".zarr" and path.is_dir():  # OME-Zarr, read lazily
        from .ome_zarr import read_ome_zarr

        return read_ome_zarr(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    suffix = path.suffix.lower()
    afm = _afm_module()
    try:
        if afm is not None and afm.is_afm_file(path):
            return afm.read_afm(path)
        from .tiff import TIFF_SUFFIXES, read_tiff

        if suffix in TIFF_SUFFIXES:
            return read_tiff(path)
        from .em import EM_SUFFIXES, read_em

        if suffix in EM_SUFFIXES:
            return read_em(path)
    except (UnsupportedFormatError, ImportError):
        raise
    except ValueError as exc:
        if path.name in str(exc):
            raise
        raise ValueError(f"Cannot read {path.name}: {exc}") from exc
    except Exception as exc:  # a parser's own error: say which file and what
        raise ValueError(f"Cannot read {path.name}: {type(exc).__name__}: {exc}") from exc
    valid = ", ".join(supported_suffixes())
    raise UnsupportedFormatError(
        f"{path.name}: unsupported file format {suffix or '(no suffix)'}; supported: {valid}."
    )
