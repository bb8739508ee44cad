"""Per-pixel features of a representation: the filter bank, or a weight file's hypercolumns.

Examples
--------
>>> from napari_sciseg.classify.images.model import ClassifyOptions
>>> pixel_features_of(np.zeros((1, 16, 16), np.float32), ClassifyOptions("texture")).shape
(16, 16, 15)
"""

from __future__ import annotations

import numpy as np

from ...classify.images.model import ClassifyOptions
from ...classify.vlad import pixel_features

__all__ = ["pixel_features_of", "load_encoder"]


def load_encoder(options: ClassifyOptions):
    """The hypercolumn network of ``options`` (None for the filter-bank representations)."""
    if options.representation != "hypercolumn":
        return None
    if str(options.weights).lower().endswith(".onnx"):
        from .onnx_encoder import OnnxEncoder

        return OnnxEncoder.from_file(options.weights, options.layers or ())
    from .backbones import load_backbone

    return load_backbone(options.weights, options.arch)


def layers_of(options: ClassifyOptions) -> tuple:
    """The hypercolumn layers: the user's, else the architecture's defaults."""
    from .backbones import DEFAULT_LAYERS

    return tuple(options.layers) if options.layers else DEFAULT_LAYERS[options.arch]


def pixel_features_of(image: np.ndarray, options: ClassifyOptions, encoder=None) -> np.ndarray:
    """(Y', X', D) per-pixel features of a prepared (C, Y, X) image.

    The filter bank (:func:`napari_sciseg.classify.vlad.pixel_features`) at
    ``options.sigmas`` for ``texture``/``vlad``; hypercolumns of ``encoder`` on
    every ``options.stride``-th pixel for ``hypercolumn``.
    """
    if options.representation == "hypercolumn":
        from .backbones import hypercolumns

        return hypercolumns(encoder, image, layers_of(options), stride=options.stride)
    return pixel_features(image, sigmas=options.sigmas)
