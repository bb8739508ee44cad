"""Bruker NanoScope files (``.spm``, ``.000``-``.999``, ``.di``): text header + int16/int32."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..calibration import CalibratedImage, length_to_nm
from ._common import _physical, _stack

__all__ = ["is_bruker", "read_bruker"]


def is_bruker(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return head.startswith(b"\\*File list") or head.startswith(b"?*File list")


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


def read_bruker(path: Path) -> CalibratedImage:
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
