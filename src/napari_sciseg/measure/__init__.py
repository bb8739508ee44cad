"""Measurements in physical units (``spacing``): particles and fibers.

Names are imported lazily from their modules so ``import napari_sciseg.measure``
stays cheap. Add a name to ``_WHERE`` as ``"name": "module"``.
"""

from __future__ import annotations

import importlib

# Imported eagerly (both modules import only numpy at top level): the function
# ``fibers`` shares its module's name, and binding it here keeps
# ``napari_sciseg.measure.fibers`` the function even after the submodule is imported.
from .fibers import FiberResult, fibers, label_fibers, measure_labels
from .orientation import autocorrelation_shell, direction_density
from .particles import ParticleResult, measure_particles, particles
from .psd import PSDSummary, psd_summary
from .sizing import SizingResult, size_particles

_WHERE: dict[str, str] = {}

__all__ = [
    "FiberResult",
    "autocorrelation_shell",
    "direction_density",
    "fibers",
    "label_fibers",
    "measure_labels",
    "measure_particles",
    "particles",
    "ParticleResult",
    "size_particles",
    "SizingResult",
    "PSDSummary",
    "psd_summary",
]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
