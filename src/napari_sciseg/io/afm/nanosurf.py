"""Nanosurf ``.nid`` scans -> :class:`CalibratedImage` (own parser, no extra needed).

A ``.nid`` file is an INI-like text header, the two bytes ``#!``, then the
binary data of every data set, back to back. ``[DataSet]`` lists groups
(``Gr0-Name=Scan forward``, ``Gr1-Name=Scan backward``, spectroscopy groups...)
and their channels (``Gr0-Ch1=DataSet-0:1``); the data are stored in that
order, group by group. Each ``[DataSet-g:c]`` section gives ``Points`` (per
line), ``Lines``, ``SaveBits`` (16 or 32, signed, little endian), the channel
name and unit (``Dim2Name=Z-Axis``, ``Dim2Unit=m``) and its value range::

    value = Dim2Min + Dim2Range * (raw + 2**(bits - 1)) / 2**bits

and the scan size ``Dim0Range`` (x, m) and ``Dim1Range`` (y, m), so the pixel
size is ``Dim0Range / Points`` by ``Dim1Range / Lines`` (the pixels need not
be square). Lines are stored bottom first (Nanosurf draws them with
``origin="lower"``) whatever the scan direction, so they are flipped to put
the top line in row 0. Only image data sets (x and y in metres, more than one
line) become channels; backward-scan channels get a ``" (retrace)"`` suffix.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..calibration import CalibratedImage, length_to_nm
from ._common import _physical_any, _stack

__all__ = ["read_nid"]

logger = logging.getLogger(__name__)

_DATA_MARK = b"#!"


def _sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), value.strip())
    return sections


def _decode(header: bytes) -> str:
    try:
        return header.decode("utf-8")
    except UnicodeDecodeError:  # older files are Windows-1252 / latin-1
        return header.decode("latin-1")


def _data_sets(sections: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """(section name, group name) of every data set, in storage order."""
    head = sections.get("DataSet")
    if head is None:
        raise ValueError("no [DataSet] section: not a Nanosurf .nid file")
    out = []
    for g in range(int(head.get("GroupCount", 0))):
        keys = [k for k in head if re.fullmatch(rf"Gr{g}-Ch\d+", k)]
        for key in sorted(keys, key=lambda k: int(k.rsplit("Ch", 1)[1])):
            out.append((head[key], head.get(f"Gr{g}-Name", "")))
    if not out:
        raise ValueError("the [DataSet] section lists no channel")
    return out


def _is_image(sec: dict[str, str]) -> bool:
    return (
        int(sec.get("Lines", 0)) > 1
        and length_to_nm(1.0, sec.get("Dim0Unit", "")) is not None
        and length_to_nm(1.0, sec.get("Dim1Unit", "")) is not None
    )


def read_nid(path: str | Path) -> CalibratedImage:
    """Read the image channels of a Nanosurf ``.nid`` file in nm, deg and V.

    Parameters
    ----------
    path : str or Path
        A ``.nid`` file from Nanosurf easyScan 2, FlexAFM, CoreAFM or DriveAFM.

    Returns
    -------
    CalibratedImage
        ``data`` (C, Y, X) float32 with row 0 the top line; channel names as in
        the file (``"Z-Axis"``, ``"Amplitude"``, ``"Phase"``, ``"Z-Axis
        Sensor"``), backward scans as ``"Z-Axis (retrace)"``; ``spacing``
        (dy, dx) in nm.

    Raises
    ------
    ValueError
        When the header or data are incomplete or the file holds no image
        (only spectroscopy).

    Examples
    --------
    A 3 × 2 pixel scan of 3 × 2 µm whose int16 zeros sit mid-range (0 nm):

    >>> import tempfile
    >>> header = (
    ...     "[DataSet]\\nGroupCount=1\\nGr0-Name=Scan forward\\nGr0-Ch1=DataSet-0:1\\n\\n"
    ...     "[DataSet-0:1]\\nPoints=3\\nLines=2\\nDim0Unit=m\\nDim0Range=3e-06\\n"
    ...     "Dim1Unit=m\\nDim1Range=2e-06\\nDim2Name=Z-Axis\\nDim2Unit=m\\n"
    ...     "Dim2Range=2e-06\\nDim2Min=-1e-06\\nSaveBits=16\\nSaveSign=Signed\\n"
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "tiny.nid"
    ...     _ = path.write_bytes(header.encode() + b"#!" + bytes(12))
    ...     img = read_nid(path)
    >>> img.channel_names, img.channel_units, img.spacing, float(img.data.max())
    (('Z-Axis',), ('nm',), (1000.0, 1000.0), 0.0)
    """
    path = Path(path)
    raw = path.read_bytes()
    end = raw.find(_DATA_MARK)
    if end < 0:
        raise ValueError("no '#!' data marker after the header")
    sections = _sections(_decode(raw[:end]))
    offset = end + len(_DATA_MARK)
    names, units, arrays, spacing = [], [], [], None
    for name, group in _data_sets(sections):
        sec = sections.get(name)
        if sec is None:
            raise ValueError(f"data set [{name}] is listed but has no section")
        nx, ny, bits = int(sec["Points"]), int(sec["Lines"]), int(sec.get("SaveBits", 32))
        if bits not in (16, 32):
            raise ValueError(f"[{name}] SaveBits={bits}, expected 16 or 32")
        count = nx * ny
        if offset + count * bits // 8 > len(raw):
            raise ValueError(f"file truncated: [{name}] needs {count * bits // 8} bytes")
        if _is_image(sec):
            signed = sec.get("SaveSign", "Signed").lower().startswith("s")
            dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
            counts = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
            level = counts.astype(np.float64) + (2.0 ** (bits - 1) if signed else 0.0)
            values = float(sec["Dim2Min"]) + float(sec["Dim2Range"]) * level / 2.0**bits
            values, unit = _physical_any(values.reshape(ny, nx)[::-1], sec.get("Dim2Unit", ""))
            backward = "backward" in (sec.get("Frame") or group).lower()
            names.append(sec.get("Dim2Name", name) + (" (retrace)" if backward else ""))
            units.append(unit)
            arrays.append(values)
            if spacing is None:
                spacing = (
                    length_to_nm(float(sec["Dim1Range"]), sec["Dim1Unit"]) / ny,
                    length_to_nm(float(sec["Dim0Range"]), sec["Dim0Unit"]) / nx,
                )
        else:
            logger.debug("%s: [%s] (%s) is not an image; skipped.", path, name, group)
        offset += count * bits // 8
    if not arrays:
        raise ValueError("no image data set (spectroscopy only?)")
    info = sections.get("DataSet-Info", {})
    meta = {"vendor": "Nanosurf"}
    meta.update({k: info[k] for k in ("Op. mode", "Scan direction", "Rotation") if k in info})
    return _stack(path, names, units, arrays, spacing, "Nanosurf header", meta)
