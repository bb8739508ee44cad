"""Measurements in physical units (``spacing``): particles and fibers.

The modules import only numpy/scipy at top level, so the names are imported
eagerly (no lazy loader): the functions ``fibers`` and ``particles`` share their
modules' names, and binding them here keeps ``napari_sciseg.measure.fibers`` the
function even after the submodule is imported. The workflow functions are
:func:`size_particles` (``sizing.py``) and ``fiber_workflow.measure_fibers``.
"""

from __future__ import annotations

from .fibers import FiberResult, fibers, label_fibers, measure_labels
from .orientation import autocorrelation_shell, direction_density
from .particles import ParticleResult, measure_particles, particles
from .psd import PSDSummary, psd_summary
from .sizing import SizingResult, size_particles

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

