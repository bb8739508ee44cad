"""Shared pieces of the AFM vendor readers: unit conversion and the output image."""

from __future__ import annotations

import numpy as np

from ..calibration import CalibratedImage, length_to_nm

_MISSING_EXTRA = (
    "Reading {fmt} files needs the optional package {pkg!r}; install it with "
    "pip install 'napari-sciseg[afm]'."
)


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


def _physical_any(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    factor, out_unit = _physical(1.0, unit)
    return values * factor, out_unit


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
