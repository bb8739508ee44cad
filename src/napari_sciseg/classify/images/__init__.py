"""Whole-image (or tile) classification into the user's own classes (torch-free parts).

- :mod:`.dataset`: a data set is a folder per class or a CSV ``file,class[,group][,...]``;
  :func:`read_image_dataset`, :func:`load_images`.
- :mod:`.prepare`: one pixel size and tile size chosen from the data, normalisation, tiles.
- :mod:`.balance`: class-balanced sampling and weights, D4 augmentation of rare classes.
- :mod:`.descriptors`: the texture / VLAD representations and the boosted trees
  (the engine shared with the AFM classifier, :mod:`napari_sciseg.classify.vlad`).
- :mod:`.calibration`: temperature scaling of class probabilities.

The torch representations (a CNN from scratch, user weight files, self-supervised
encoders), model files and the workflow functions live in
:mod:`napari_sciseg.dl.classify`.
"""
