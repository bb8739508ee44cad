"""Particle segmentation by method name: the one entry point of the ``segment`` layer.

It lives apart from ``thresholding`` and ``edges`` so that neither imports the other.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from .edges import edge_threshold
from .thresholding import METHODS, hybrid_threshold, threshold_global, threshold_local

__all__ = ["segment_particles"]

def segment_particles(image: np.ndarray, *, method: str = "hybrid", **kwargs) -> np.ndarray:
    """Dispatch to :func:`hybrid_threshold`, :func:`threshold_global` (``"otsu"``),
    :func:`threshold_local` or :func:`~napari_sciseg.segment.edges.edge_threshold` by name.

    Parameters
    ----------
    image : (Y, X) ndarray
        Gray image.
    method : {"hybrid", "otsu", "local", "edge"}
        The segmentation method (:class:`~napari_sciseg.segment.Method`).
    **kwargs
        Options of the chosen method (``polarity``, ``particle_size``, ...).

    Returns
    -------
    (Y, X) bool ndarray
        The particle mask.

    Examples
    --------
    >>> segment_particles(np.zeros((16, 16)), method="median")
    Traceback (most recent call last):
    ...
    ValueError: Unknown method 'median'; expected one of 'hybrid', 'otsu', 'local', 'edge'.
    """
    check_choice("method", method, METHODS)
    func = {"hybrid": hybrid_threshold, "otsu": threshold_global, "local": threshold_local,
            "edge": edge_threshold}[method]  # fmt: skip
    return func(image, **kwargs)
