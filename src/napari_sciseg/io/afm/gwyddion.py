"""Gwyddion files (``.gwy``) through ``gwyfile`` (the ``afm`` extra)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..calibration import CalibratedImage, length_to_nm
from ._common import _MISSING_EXTRA, _physical_any, _stack

__all__ = ["read_gwy"]

logger = logging.getLogger(__name__)


def read_gwy(path: Path) -> CalibratedImage:
    try:
        import gwyfile
    except ImportError as exc:
        raise ImportError(_MISSING_EXTRA.format(fmt="Gwyddion .gwy", pkg="gwyfile")) from exc
    obj = gwyfile.load(str(path))
    fields = gwyfile.util.get_datafields(obj)
    if not fields:
        raise ValueError("no data field (channel) in the .gwy file")
    names, units, arrays, spacing, calibrated = [], [], [], None, True
    for name, field in fields.items():
        data = np.asarray(field.data, dtype=np.float64)  # (yres, xres)
        zunit = _gwy_unit(field.get("si_unit_z"))
        data, zunit = _physical_any(data, zunit) if zunit else (data, "a.u.")
        names.append(name)
        units.append(zunit)
        arrays.append(data)
        if spacing is None:
            xy = _gwy_unit(field.get("si_unit_xy"))
            ny, nx = data.shape
            sx, sy = length_to_nm(field.xreal, xy), length_to_nm(field.yreal, xy)
            if sx is None or sy is None:
                calibrated, spacing = False, (1.0, 1.0)
                logger.warning("%s: no lateral unit; using 1 pixel spacing.", path.name)
            else:
                spacing = (sy / ny, sx / nx)
    img = _stack(path, names, units, arrays, spacing, "Gwyddion data field", {"vendor": "Gwyddion"})
    if not calibrated:
        img = CalibratedImage(**{**img.__dict__, "unit": "pixel", "calibrated": False})
    return img


def _gwy_unit(unit) -> str:
    if unit is None:
        return ""
    return str(unit.get("unitstr", "") if hasattr(unit, "get") else unit).strip()
