"""Electron-microscopy formats (DM3/DM4, EMD, SER, MRC) through rosettasciio.

rosettasciio is the reader library of the HyperSpy ecosystem; it lives in the
``em`` extra. Calibration is converted to nm.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np

from .calibration import CalibratedImage, length_to_nm

__all__ = ["read_em", "EM_SUFFIXES"]

logger = logging.getLogger(__name__)

#: suffix -> rosettasciio plugin module
EM_SUFFIXES = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".emd": "emd",
    ".ser": "tia",
    ".mrc": "mrc",
}


def _load_plugin(suffix: str):
    try:
        return importlib.import_module(f"rsciio.{EM_SUFFIXES[suffix]}")
    except ImportError as exc:
        raise ImportError(
            f"Reading {suffix} files needs rosettasciio: pip install 'napari-sciseg[em]' "
            f"(missing: {exc.name})."
        ) from exc


def _is_image(signal: dict) -> bool:
    sig_axes = [ax for ax in signal["axes"] if not ax.get("navigate", False)]
    return len(sig_axes) == 2 and np.asarray(signal["data"]).ndim in (2, 3)


def read_em(path: str | Path) -> CalibratedImage:
    """Read the first image of a DM3/DM4/EMD/SER/MRC file, spacing in nm.

    Parameters
    ----------
    path : str or Path
        The file; its suffix picks the rosettasciio reader.

    Returns
    -------
    CalibratedImage
        (Y, X) or (Z, Y, X) for image stacks. Axes in a non-length unit (or
        none) make the image uncalibrated (spacing 1, ``unit="pixel"``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EM_SUFFIXES:
        valid = ", ".join(EM_SUFFIXES)
        raise ValueError(f"{path.name}: not an EM file; expected one of {valid}.")
    plugin = _load_plugin(suffix)
    signals = plugin.file_reader(str(path))
    images = [s for s in signals if _is_image(s)]
    if not images:
        kinds = [np.asarray(s["data"]).shape for s in signals]
        raise ValueError(
            f"{path.name}: no 2D image in the file (found signals of shapes {kinds})."
        )
    if len(images) > 1:
        logger.info("%s holds %d images; reading the first.", path.name, len(images))
    signal = images[0]
    data = np.asarray(signal["data"])
    axes_meta = sorted(signal["axes"], key=lambda ax: int(ax.get("index_in_array", 0)))
    spacing = []
    calibrated = True
    for ax in axes_meta[-2:]:
        nm = length_to_nm(float(ax.get("scale", 1.0)), ax.get("units"))
        if nm is None or nm <= 0:
            calibrated = False
        spacing.append(nm or 1.0)
    axes = "YX" if data.ndim == 2 else "ZYX"
    if data.ndim == 3:
        z = axes_meta[0]
        nm = length_to_nm(float(z.get("scale", 1.0)), z.get("units"))
        spacing.insert(0, nm if nm else 1.0)
    if not calibrated:
        spacing = [1.0] * data.ndim
    general = signal.get("metadata", {}).get("General", {})
    return CalibratedImage(
        data=data,
        spacing=tuple(float(s) for s in spacing),
        unit="nm" if calibrated else "pixel",
        axes=axes,
        calibrated=calibrated,
        source=f"rosettasciio {EM_SUFFIXES[suffix]}",
        metadata={"file": str(path), "title": str(general.get("title", ""))},
    )
