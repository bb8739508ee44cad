"""JPK TIFF files (``.jpk``): the default calibration slot of each channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..calibration import CalibratedImage
from ._common import _physical_any, _stack

__all__ = ["read_jpk"]


def read_jpk(path: Path) -> CalibratedImage:
    import tifffile

    names, units, arrays = [], [], []
    with tifffile.TiffFile(path) as tif:
        first = tif.pages[0].tags
        sx, sy = float(first[32834].value) * 1e9, float(first[32835].value) * 1e9
        for page in tif.pages[1:]:
            tags = {t.code: t.value for t in page.tags.values()}
            if 32848 not in tags:
                continue
            name = str(tags[32848])
            if "retrace : true" in str(tags.get(32851, "")):
                name += " (retrace)"
            n_slots, default = int(tags.get(32896, 0)), str(tags.get(32897, ""))
            mult, off, unit = 1.0, 0.0, "a.u."
            for k in range(n_slots):
                base = 32912 + 48 * k
                if str(tags.get(base)) == default and tags.get(base + 19) == "LinearScaling":
                    mult, off = float(tags[base + 20]), float(tags[base + 21])
                    unit = str(tags.get(base + 18, "a.u."))
            values = page.asarray().astype(np.float64) * mult + off
            values, unit = _physical_any(values, unit)
            names.append(name)
            units.append(unit)
            arrays.append(values)
    ny, nx = arrays[0].shape
    return _stack(
        path, names, units, arrays, (sy / ny, sx / nx), "JPK TIFF tags", {"vendor": "JPK"}
    )
