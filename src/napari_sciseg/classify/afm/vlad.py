"""The AFM texture classifiers: the shared engine of :mod:`napari_sciseg.classify.vlad`.

The AFM classifier is one configuration of the general image classifier
(:mod:`napari_sciseg.classify.images`): five classes, its channels, and this
engine's defaults. Kept as a module so AFM code and model files keep their names.
"""

from ..vlad import (  # noqa: F401
    DESCRIPTORS,
    SIGMAS,
    VladModel,
    fit_vlad,
    pixel_features,
    texture_statistics,
    vlad_encode,
    word_fractions,
)

__all__ = [
    "pixel_features",
    "vlad_encode",
    "word_fractions",
    "texture_statistics",
    "VladModel",
    "fit_vlad",
    "DESCRIPTORS",
]
