"""Seeded synthetic sample data, each with its ground truth.

Every generator is deterministic for a seed, runs in well under a second at
its default size, and downloads nothing. Pass ``return_truth=True`` to get the
ground truth used by tests and benchmarks.

- :func:`tem_particles` (``data/particles.py``): bright-field TEM or HAADF-STEM
  nanoparticles, calibrated (~0.2 nm/px).
- :func:`scribbles_2d` (``data/scribbles.py``): a 2D image of disks and lines
  with sparse scribbles (0 unlabeled, 1 background, 2 foreground).
- :func:`fiber_volume` (``data/fibers.py``): a fiber-reinforced-concrete-like
  volume with scribbles on a few slices.
- :func:`afm_scan` (``data/afm.py``): a four-channel AFM scan with metadata.
"""

from __future__ import annotations

import importlib

__all__ = ["tem_particles", "scribbles_2d", "fiber_volume", "afm_scan"]

_WHERE = {
    "tem_particles": "particles",
    "scribbles_2d": "scribbles",
    "fiber_volume": "fibers",
    "afm_scan": "afm",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
