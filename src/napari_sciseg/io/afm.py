"""Vendor AFM files -> :class:`CalibratedImage` (axes ``"CYX"``, spacing in nm).

Supported formats and how they are read:

========================  ======================  ==========================================
format                    suffixes                reader
========================  ======================  ==========================================
Bruker NanoScope          .spm .000-.999 .di      own parser (text header + int16/int32)
Park Systems TIFF         .tif .tiff (tag 50432)  own parser (tifffile + private tags)
JPK                       .jpk                    own parser (tifffile + private tags)
Gwyddion                  .gwy                    ``gwyfile`` (``afm`` extra)
Asylum Research / Igor    .ibw                    ``igor2`` (``afm`` extra), afm_igor
Nanosurf                  .nid                    own parser, afm_nanosurf
========================  ======================  ==========================================

Each channel keeps its vendor name (``"Height Sensor"``, ``"Amplitude Error"``,
``"Phase"``; retrace/backward channels get a ``" (retrace)"`` suffix) and is converted to
physical values: nm for heights, deg for phase, V (or nm when the file
calibrates it) for amplitude. Images are oriented as the vendor software shows
them: row 0 is the top of the image. Bruker, Park, Igor and Nanosurf files
store the bottom line first and are flipped; JPK rows are kept as stored.

Existing Python readers get several of these wrong (pySPM labels Bruker phase
and amplitude in V with a wrong scale; AFMReader multiplies every channel by
1e9), which is why the binary formats are parsed here.
"""

from __future__ import annotations

import logging
import re
import struct
from pathlib import Path

import numpy as np

from .calibration import CalibratedImage, length_to_nm

__all__ = ["AFM_SUFFIXES", "SUPPORTED_VENDORS", "is_afm_file", "read_afm"]

logger = logging.getLogger(__name__)

#: suffixes handled by :func:`read_afm` (plus Bruker's numbered ``.000``-``.999``).
AFM_SUFFIXES = (".spm", ".di", ".gwy", ".ibw", ".jpk", ".nid", ".tif", ".tiff")
SUPPORTED_VENDORS = (
    "Bruker NanoScope (.spm, .000-.999, .di)",
    "Park Systems (.tiff)",
    "JPK (.jpk)",
    "Gwyddion (.gwy)",
    "Asylum Research / Igor (.ibw)",
    "Nanosurf (.nid)",
)
_PARK_MAGIC = 0x0E031301
_PARK_TAGS = range(50432, 50442)
_MISSING_EXTRA = (
    "Reading {fmt} files needs the optional package {pkg!r}; install it with "
    "pip install 'napari-sciseg[afm]'."
)


def _is_bruker(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return head.startswith(b"\\*File list") or head.startswith(b"?*File list")


def _is_park(path: Path) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags.get(50432)
            return tag is not None and int(tag.value) == _PARK_MAGIC
    except Exception:  # not a TIFF at all
        return False


def is_afm_file(path: str | Path) -> bool:
    """Whether :func:`read_afm` handles ``path`` (by suffix and, where needed, content).

    Numbered Bruker files (``.000``-``.999``) must start with a NanoScope header;
    ``.tif``/``.tiff`` files only count when they carry Park's private tags, so
    plain TIFFs stay with the TIFF reader.

    Examples
    --------
    >>> is_afm_file("scan.txt")
    False
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".spm", ".di", ".gwy", ".ibw", ".jpk", ".nid"):
        return True
    if re.fullmatch(r"\.\d{3}", suffix):
        return _is_bruker(path)
    if suffix in (".tif", ".tiff"):
        return path.is_file() and _is_park(path)
    return False


def read_afm(path: str | Path) -> CalibratedImage:
    """Read an AFM file: every channel in physical units, spacing in nm.

    Parameters
    ----------
    path : str or Path
        A Bruker, Park, JPK, Gwyddion, Igor or Nanosurf file (see the module
        docstring).
        A plain multi-channel TIFF (C, Y, X) is read with
        :func:`napari_sciseg.io.tiff.read_tiff`.

    Returns
    -------
    CalibratedImage
        ``data`` (C, Y, X) float32, ``axes="CYX"``, ``channel_names`` and
        ``channel_units`` per channel, ``spacing`` (dy, dx) in nm.

    Raises
    ------
    ValueError
        For a file of an unsupported vendor (the message lists the supported
        ones) or one that cannot be parsed (the message names the file).
    ImportError
        When the optional reader package for the format is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such AFM file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".spm", ".di") or re.fullmatch(r"\.\d{3}", suffix):
            return _read_bruker(path)
        if suffix == ".jpk":
            return _read_jpk(path)
        if suffix == ".gwy":
            return _read_gwy(path)
        if suffix == ".ibw":
            from .afm_igor import read_ibw

            return read_ibw(path)
        if suffix == ".nid":
            from .afm_nanosurf import read_nid

            return read_nid(path)
        if suffix in (".tif", ".tiff"):
            if _is_park(path):
                return _read_park(path)
            from .tiff import read_tiff

            return read_tiff(path)
    except (ImportError, FileNotFoundError):
        raise
    except (ValueError, KeyError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read AFM file {path.name}: {exc}") from exc
    raise ValueError(
        f"{path.name}: unsupported AFM file type {suffix!r}; supported: "
        + "; ".join(SUPPORTED_VENDORS)
        + "; or a multi-channel TIFF (C, Y, X)."
    )


def _stack(path, names, units, arrays, spacing, source, metadata) -> CalibratedImage:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"channels of different shapes {sorted(shapes)}")
    names = _unique(names)
    return CalibratedImage(
        data=np.stack(arrays).astype(np.float32),
        spacing=tuple(float(s) for s in spacing),
        unit="nm",
        axes="CYX",
        calibrated=True,
        source=source,
        channel_names=tuple(names),
        channel_units=tuple(units),
        metadata={"file": str(path), **metadata},
    )


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        candidate, k = n, 2
        while candidate in out:
            candidate, k = f"{n} {k}", k + 1
        out.append(candidate)
    return out


# --------------------------------------------------------------------- Bruker
def _bruker_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("\\*"):
            sections.append((line[2:].strip(), {}))
        elif line.startswith("\\") and sections:
            body = line[1:]
            prefix = body[:3] if re.match(r"@\d:", body) else ""
            key, _, value = body[len(prefix) :].partition(":")
            sections[-1][1].setdefault((prefix + key).strip().lower(), value.strip())
    return sections


def _bruker_value_unit(text: str) -> tuple[float, str]:
    """``'V [Sens. Zsens] (0.005 V/LSB) 329.9950 V'`` -> (329.995, 'V')."""
    rest = re.sub(r"^[VCS]\s+", "", text)
    rest = re.sub(r"\[[^\]]*\]\s*", "", rest)
    rest = re.sub(r"\([^)]*\)\s*", "", rest).strip()
    match = re.match(r"([-+0-9.eE]+)\s*(.*)$", rest)
    if not match:
        raise ValueError(f"cannot parse scale {text!r}")
    return float(match.group(1)), match.group(2).strip()


def _physical(value: float, unit: str) -> tuple[float, str]:
    """Convert value in a Bruker unit to nm / deg / V."""
    u = unit.replace("º", "deg").replace("°", "deg").replace("~", "µ").strip()
    if u in ("deg", "degree", "degrees"):
        return value, "deg"
    volts = {"V": 1.0, "mV": 1e-3, "uV": 1e-6, "µV": 1e-6}
    if u in volts:
        return value * volts[u], "V"
    nm = length_to_nm(value, u)
    if nm is not None:
        return nm, "nm"
    return value, u or "a.u."


def _read_bruker(path: Path) -> CalibratedImage:
    raw = path.read_bytes()
    end = raw.find(b"\\*File list end")
    if end < 0:
        raise ValueError("no '\\*File list end' in the NanoScope header")
    sections = _bruker_sections(raw[:end].decode("latin-1"))
    sens: dict[str, str] = {}
    for title, sec in sections:
        if title.lower() in ("scanner list", "ciao scan list", "equipment list"):
            sens.update({k[1:]: v for k, v in sec.items() if k.startswith("@sens.")})
    images = [sec for title, sec in sections if title.lower() == "ciao image list"]
    if not images:
        raise ValueError("no image in the NanoScope file (only force curves?)")
    names, units, arrays, spacing = [], [], [], None
    for sec in images:
        ny = int(sec["number of lines"])
        nx = int(sec["samps/line"])
        offset = int(sec["data offset"])
        length = int(sec["data length"])
        bpp = int(sec.get("bytes/pixel", length // (nx * ny)))
        dtype = {2: "<i2", 4: "<i4"}[bpp]
        counts = np.frombuffer(raw, dtype=dtype, count=nx * ny, offset=offset)
        name_field = sec.get("@2:image data", "")
        match = re.search(r'"([^"]*)"', name_field)
        name = match.group(1) if match else name_field
        if sec.get("line direction", "").lower() == "retrace":
            name += " (retrace)"
        zscale = sec["@2:z scale"]
        full, hard_unit = _bruker_value_unit(zscale)
        soft = re.search(r"\[([^\]]*)\]", zscale)
        factor, unit = full / 2.0 ** (8 * bpp), hard_unit
        sens_value = (
            sens.get("sens. " + soft.group(1).lower().removeprefix("sens. ")) if soft else None
        )
        if sens_value is not None:
            s_val, s_unit = _bruker_value_unit(sens_value)
            if "/" in s_unit:  # e.g. nm/V: multiply volts by the sensitivity
                volts, _ = _physical(1.0, hard_unit)
                factor *= volts * s_val
                unit = s_unit.split("/")[0]
        factor, unit = _physical(factor, unit)
        image = counts.reshape(ny, nx).astype(np.float64) * factor
        arrays.append(image[::-1].astype(np.float32))  # stored bottom line first
        names.append(name)
        units.append(unit)
        if spacing is None:
            size = sec.get("scan size", "").split()
            sx = length_to_nm(float(size[0]), size[-1].replace("~", "µ"))
            sy = length_to_nm(float(size[1]), size[-1].replace("~", "µ")) if len(size) > 2 else sx
            if sx is None:
                raise ValueError(f"cannot parse scan size {sec.get('scan size')!r}")
            spacing = (sy / ny, sx / nx)
    version = next((s.get("version", "") for t, s in sections if t.lower() == "file list"), "")
    return _stack(
        path,
        names,
        units,
        arrays,
        spacing,
        "Bruker NanoScope header",
        {"vendor": "Bruker", "version": version},
    )


# ----------------------------------------------------------------------- Park
def _utf16(buf: bytes, offset: int, n: int) -> str:
    return buf[offset : offset + 2 * n].decode("utf-16-le").split("\x00")[0]


def _read_park(path: Path) -> CalibratedImage:
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


def _physical_any(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    factor, out_unit = _physical(1.0, unit)
    return values * factor, out_unit


# ------------------------------------------------------------------------ JPK
def _read_jpk(path: Path) -> CalibratedImage:
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


# -------------------------------------------------------------------- Gwyddion
def _read_gwy(path: Path) -> CalibratedImage:
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
