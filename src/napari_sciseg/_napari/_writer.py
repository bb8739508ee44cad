"""napari writers: Image and Labels layers to OME-TIFF, calibration kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.calibration import length_to_nm
from ..io.tiff import write_tiff


def _write(path: str, data, meta: dict) -> list[str]:
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_suffix(".tif")
    scale = tuple(float(s) for s in meta.get("scale", (1.0,) * np.ndim(data)))
    units = [str(u) for u in (meta.get("units") or ())]
    in_nm = [length_to_nm(s, u) for s, u in zip(scale, units)]
    unit = "pixel"
    if units and all(v is not None for v in in_nm):
        scale, unit = tuple(in_nm), "nm"
    data = np.asarray(data)
    axes = meta.get("axis_labels")
    letters = "".join(str(a).upper()[:1] for a in axes) if axes else None
    if not letters or len(set(letters)) != len(letters) or not set(letters) <= set("TCZYX"):
        letters = {2: "YX", 3: "ZYX", 4: "TZYX"}.get(data.ndim)
    if letters and "T" in letters:
        scale = tuple(s for s, a in zip(scale, letters) if a != "T")
    write_tiff(path, data, spacing=scale, unit=unit, axes=letters)
    return [str(path)]


def write_image(path: str, data, meta: dict) -> list[str]:
    """Write an Image layer's data as OME-TIFF with its scale and units."""
    return _write(path, data, meta)


def write_labels(path: str, data, meta: dict) -> list[str]:
    """Write a Labels layer's data as OME-TIFF with its scale and units."""
    return _write(path, data, meta)
