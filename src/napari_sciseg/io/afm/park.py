"""Park Systems TIFF files (private tags 50432-50441)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..calibration import CalibratedImage
from ._common import _physical_any, _stack

__all__ = ["is_park", "read_park"]

_PARK_MAGIC = 0x0E031301
_PARK_TAGS = range(50432, 50442)


def is_park(path: Path) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags.get(50432)
            return tag is not None and int(tag.value) == _PARK_MAGIC
    except Exception:  # not a TIFF at all
        return False


def _utf16(buf: bytes, offset: int, n: int) -> str:
    return buf[offset : offset + 2 * n].decode("utf-16-le").split("\x00")[0]


def read_park(path: Path) -> CalibratedImage:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        tags = {t.code: t.value for t in tif.pages[0].tags.values() if t.code in _PARK_TAGS}
    header, data, version = tags[50435], tags[50434], int(tags[50433])
    image_type = struct.unpack_from("<I", header, 0)[0]
    if image_type != 0:
        raise ValueError("Park file holds a line profile or spectroscopy, not an image")
    name = _utf16(header, 4, 32) or "Z Height"
    mode = _utf16(header, 68, 8)
    nx, ny = struct.unpack_from("<II", header, 100)
    xreal, yreal = struct.unpack_from("<dd", header, 140)  # µm
    gain, scale, offset = struct.unpack_from("<ddd", header, 220)
    unit = _utf16(header, 244, 8) or "um"
    data_type = struct.unpack_from("<I", header, 348)[0] if version >= 0x1000002 else 0
    dtype = {0: "<i2", 1: "<i4", 2: "<f4"}[data_type]
    values = np.frombuffer(data, dtype=dtype, count=nx * ny).reshape(ny, nx).astype(np.float64)
    values = gain * ((scale or 1.0) * values + offset)
    values, unit = _physical_any(values, unit)
    return _stack(
        path,
        [name],
        [unit],
        [values[::-1]],
        (yreal * 1e3 / ny, xreal * 1e3 / nx),
        "Park Systems header",
        {"vendor": "Park Systems", "mode": mode},
    )
