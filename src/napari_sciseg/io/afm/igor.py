"""Asylum Research / Igor Pro ``.ibw`` scans -> :class:`CalibratedImage`.

An Asylum image is one Igor wave of shape (points, lines, channels): Igor
stores dimension 0 (the fast-scan x axis) fastest, so ``igor2`` returns it as
``wData[x, y, channel]`` and an image row is ``wData[:, y, c]``. Igor's y runs
upwards (line 0 is the bottom of the scan, whichever way it was scanned), so
the image is transposed and flipped to put the top line in row 0.

The channel names are the layer dimension labels (``HeightTrace``,
``AmplitudeRetrace``, ``ZSensorTrace``...). They are read from the file here:
``igor2`` 0.5 joins the bytes after the terminating NUL of each 32-byte label
slot (``HeightTrace\\0e`` becomes ``"HeightTracee"``). Asylum leaves the wave's
data unit empty for multi-channel images and stores lengths in metres, phase in
degrees and user inputs in volts; a "metre" channel whose values exceed 1 mm
holds an uncalibrated sensor (``ZLVDTSens``/``AmpInvOLS`` not set) and is kept
in V. The pixel size is ``FastScanSize / ScanPoints`` and
``SlowScanSize / ScanLines`` from the wave note (Igor's own wave scaling is
``ScanSize / (points - 1)``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..calibration import CalibratedImage, length_to_nm
from ._common import _MISSING_EXTRA, _physical_any, _stack

__all__ = ["read_ibw"]

logger = logging.getLogger(__name__)

_LABEL_BYTES = 32
_BIN_HEADER5 = 64
# channel name (without Trace/Retrace and a leading Nap) -> unit Asylum stores it in
_UNITS = (
    ("zsensor", "m"),
    ("height", "m"),
    ("amplitude", "m"),
    ("deflection", "m"),
    ("phase", "deg"),
    ("current", "A"),
    ("frequency", "Hz"),
    ("potential", "V"),
    ("userin", "V"),
    ("lateral", "V"),
    ("bias", "V"),
    ("input", "V"),
)
_MAX_METRES = 1e-3  # an AFM z range is < 100 µm; larger "metres" are volts


def _note_dict(note: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in note.decode("latin-1").replace("\n", "\r").split("\r"):
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _layer_labels(raw: bytes, bin_header: dict, version: int) -> list[str]:
    """Labels of dimension 2 (the channels), one per layer, parsed from the file."""
    sizes = bin_header.get("dimLabelsSize")
    if version != 5 or sizes is None or int(sizes[2]) == 0:
        return []
    start = (
        _BIN_HEADER5
        + int(bin_header["wfmSize"])
        + int(bin_header["formulaSize"])
        + int(bin_header["noteSize"])
        + int(bin_header["dataEUnitsSize"])
        + int(np.sum(bin_header["dimEUnitsSize"]))
        + int(sizes[0])
        + int(sizes[1])
    )
    block = raw[start : start + int(sizes[2])]
    slots = [block[i : i + _LABEL_BYTES] for i in range(0, len(block), _LABEL_BYTES)]
    # slot 0 labels the dimension as a whole; slot k + 1 labels layer k
    return [s.split(b"\0", 1)[0].decode("latin-1").strip() for s in slots[1:]]


def _channel_unit(base: str, note: dict[str, str]) -> str:
    stem = base.removeprefix("Nap")
    if f"{stem}Unit" in note and note[f"{stem}Unit"]:
        return note[f"{stem}Unit"].replace("°", "deg")
    lower = stem.lower()
    for prefix, unit in _UNITS:
        if lower.startswith(prefix):
            return unit
    return "a.u."


def read_ibw(path: str | Path) -> CalibratedImage:
    """Read an Asylum Research ``.ibw`` image: one channel per layer, nm/deg/V.

    Parameters
    ----------
    path : str or Path
        An Igor binary wave (version 5) written by the Asylum Research software.

    Returns
    -------
    CalibratedImage
        ``data`` (C, Y, X) float32 with row 0 the top scan line, channel names
        ``"Height"``, ``"Height (retrace)"``, ``"ZSensor"``..., ``spacing``
        (dy, dx) in nm.

    Raises
    ------
    ImportError
        When ``igor2`` (the ``afm`` extra) is not installed.
    ValueError
        When the wave is not a 2-D or 3-D numeric image.
    """
    try:
        from igor2 import binarywave
    except ImportError as exc:
        raise ImportError(_MISSING_EXTRA.format(fmt="Asylum .ibw", pkg="igor2")) from exc
    path = Path(path)
    loaded = binarywave.load(str(path))
    wave = loaded["wave"]
    data = np.asarray(wave["wData"])
    if data.ndim not in (2, 3) or not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"expected a 2-D or 3-D numeric wave, got shape {data.shape}")
    if data.ndim == 2:
        data = data[:, :, None]
    note = _note_dict(wave.get("note") or b"")
    labels = _layer_labels(path.read_bytes(), wave["bin_header"], int(loaded["version"]))
    wave_unit = (wave.get("data_units") or b"").decode("latin-1").strip()
    if not wave_unit:
        wave_unit = b"".join(wave["wave_header"].get("dataUnits", [])).decode("latin-1").strip()
    names, units, arrays = [], [], []
    for k in range(data.shape[2]):
        label = labels[k] if k < len(labels) and labels[k] else f"channel {k}"
        match = re.fullmatch(r"(.+?)(Trace|Retrace)", label)
        base, direction = (match.group(1), match.group(2)) if match else (label, "")
        unit = wave_unit if wave_unit and data.shape[2] == 1 else _channel_unit(base, note)
        values = data[:, :, k].astype(np.float64).T[::-1]  # (x, y) -> rows top-down
        if unit == "m" and np.nanmax(np.abs(values)) > _MAX_METRES:
            logger.warning("%s: %s exceeds 1 mm, so it is not in metres; kept in V.", path, label)
            unit = "V"
        values, unit = _physical_any(values, unit)
        names.append(base + (" (retrace)" if direction == "Retrace" else ""))
        units.append(unit)
        arrays.append(values)
    ny, nx = arrays[0].shape
    spacing = _spacing_nm(note, wave["wave_header"], ny, nx)
    meta = {"vendor": "Asylum Research"}
    meta.update(
        {k: note[k] for k in ("ScanSize", "ScanRate", "ScanAngle", "ImagingMode") if k in note}
    )
    return _stack(path, names, units, arrays, spacing, "Asylum wave note", meta)


def _spacing_nm(note: dict[str, str], header: dict, ny: int, nx: int) -> tuple[float, float]:
    try:
        fast, slow = float(note["FastScanSize"]), float(note["SlowScanSize"])
        points, lines = int(float(note["ScanPoints"])), int(float(note["ScanLines"]))
    except (KeyError, ValueError):
        fast = slow = None
    if fast and slow and (lines, points) == (ny, nx):
        return slow * 1e9 / ny, fast * 1e9 / nx
    units = header.get("dimUnits")
    xy = b"".join(units[0]).decode("latin-1").strip() if units is not None else ""
    sfa = header["sfA"]
    dy, dx = length_to_nm(float(sfa[1]), xy or "m"), length_to_nm(float(sfa[0]), xy or "m")
    if dx is None or dy is None:
        raise ValueError(f"cannot read the pixel size (unit {xy!r})")
    return dy, dx
