"""Semantic segmentation without learning: thresholding of particle images and clean-up.

Names are loaded on first use (``from napari_sciseg.segment import hybrid_threshold``),
so importing the package stays cheap.

- :func:`hybrid_threshold`, :func:`threshold_global`, :func:`threshold_local`,
  :func:`segment_particles`, :func:`detect_polarity`, :func:`prepare_image`
  (``segment/thresholding.py``)
- :func:`fill_holes`, :func:`remove_small`, :func:`split_touching`
  (``segment/postprocess.py``)
"""

from __future__ import annotations

import importlib

_WHERE = {
    "hybrid_threshold": "thresholding",
    "threshold_global": "thresholding",
    "threshold_local": "thresholding",
    "segment_particles": "thresholding",
    "detect_polarity": "thresholding",
    "prepare_image": "thresholding",
    "fill_holes": "postprocess",
    "remove_small": "postprocess",
    "split_touching": "postprocess",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
