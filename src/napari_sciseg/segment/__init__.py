"""Semantic segmentation without learning: thresholding of particle images and clean-up.

Names are loaded on first use (``from napari_sciseg.segment import hybrid_threshold``),
so importing the package stays cheap.

- :func:`hybrid_threshold`, :func:`threshold_global`, :func:`threshold_local`,
  :func:`segment_particles`, :func:`detect_polarity`, :func:`prepare_image`
  (``segment/thresholding.py``)
- :func:`edge_threshold`, :func:`anscombe` (``segment/edges.py``: the ``"edge"`` method)
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
            "segment_particles",
            "detect_polarity",
            "prepare_image",
        ],
        "edges": ["edge_threshold", "anscombe"],
        "postprocess": ["distance_markers", "fill_holes", "remove_small", "split_touching"],
    },
)
