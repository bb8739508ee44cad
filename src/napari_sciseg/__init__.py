"""napari-sciseg: turn microscope images into numbers a materials scientist can publish.

Importing this package is cheap: it loads neither torch nor Qt nor napari. The
heavy parts live in subpackages that are imported where they are used:

- ``napari_sciseg.io``: calibrated readers and writers (TIFF, EM formats, AFM).
- ``napari_sciseg.data``: seeded synthetic sample data with ground truth.
- ``napari_sciseg.segment`` / ``napari_sciseg.measure``: thresholding, particle
  and fiber measurements (numpy / scipy / scikit-image).
- ``napari_sciseg.dl``: the torch engine (models, sparse-label training, tiled
  prediction with uncertainty).
- ``napari_sciseg._napari``: the napari front end (reader, writers, widgets).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
