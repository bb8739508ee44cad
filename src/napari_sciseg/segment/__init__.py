"""Semantic segmentation without learning: thresholding of particle images and clean-up.

Names are loaded on first use (``from napari_sciseg.segment import hybrid_threshold``),
so importing the package stays cheap.

- :func:`hybrid_threshold`, :func:`threshold_global`, :func:`threshold_local`,
  :func:`detect_polarity`, :func:`prepare_image`, the choices :class:`Method` and
  :class:`Polarity` (``segment/thresholding.py``)
- :func:`segment_particles`: any of them by name (``segment/particles.py``)
- :func:`edge_threshold`, :func:`anscombe`, :func:`estimate_size`
  (``segment/edges.py``: the ``"edge"`` method)
- :func:`fill_holes`, :func:`remove_small`, :func:`split_touching`,
  :func:`distance_markers` (``segment/postprocess.py``)
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "thresholding": [
            "hybrid_threshold",
            "threshold_global",
            "threshold_local",
            "detect_polarity",
            "prepare_image",
            "Method",
            "Polarity",
        ],
        "edges": ["edge_threshold", "anscombe", "estimate_size"],
        "particles": ["segment_particles"],
        "postprocess": ["distance_markers", "fill_holes", "remove_small", "split_touching"],
    },
)
