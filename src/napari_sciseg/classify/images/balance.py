"""Small, imbalanced data: class-balanced weights and sampling, D4 augmentation of rare classes.

Examples
--------
>>> labels = np.array([0] * 90 + [1] * 10)
>>> np.bincount(labels[balanced_indices(labels, 100, seed=0)]).tolist()
[50, 50]
>>> class_weights(np.array([0, 0, 0, 1])).tolist()
[0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_weights", "balanced_indices", "dihedral", "augment_rare"]


def class_weights(labels) -> np.ndarray:
    """Per-sample weights that give every present class the same total weight (mean 1)."""
    labels = np.asarray(labels, int)
    counts = np.bincount(labels).astype(float)
    present = (counts > 0).sum()
    return len(labels) / (present * counts[labels])


def balanced_indices(labels, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` sample indices that draw every present class equally often.

    Classes take turns (``n // n_classes`` each, the remainder to the first
    classes); within a class, samples are drawn without replacement until all
    were used, then again.

    Parameters
    ----------
    labels : (N,) int sequence
    n : int
    seed : int

    Returns
    -------
    (n,) int ndarray
        Shuffled.
    """
    labels = np.asarray(labels, int)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    out = []
    for i, c in enumerate(classes):
        members = np.flatnonzero(labels == c)
        want = n // len(classes) + (i < n % len(classes))
        reps = int(np.ceil(want / len(members)))
        draws = np.concatenate([rng.permutation(members) for _ in range(reps)])[:want]
        out.append(draws)
    return rng.permutation(np.concatenate(out)).astype(int)


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The k-th (0-7) of the eight 90° rotations and flips of a (..., Y, X) image."""
    out = np.rot90(image, k % 4, axes=(-2, -1))
    return np.ascontiguousarray(out[..., ::-1] if k >= 4 else out)


def augment_rare(images: list, labels, *, max_factor: int = 8, seed: int = 0):
    """Add rotated / flipped copies of the rarer classes, towards the largest class.

    A class of n images gets up to ``min(max_factor, largest // n) - 1`` new
    copies of each image (distinct D4 transforms), as in the study's 90°
    rotations of its rare classes. Copies stay with their source image (same
    group), so cross-validation never tests on a twin of a training image.

    Parameters
    ----------
    images : list of (C, Y, X) ndarrays
    labels : (N,) int sequence
    max_factor : int
        At most this many versions of an image (1-8).
    seed : int

    Returns
    -------
    images : list of ndarrays
    labels : (M,) int ndarray
    source : (M,) int ndarray
        Index of the original image of each output.
    """
    labels = np.asarray(labels, int)
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels)
    largest = counts.max()
    out_images, out_labels, source = list(images), list(labels), list(range(len(images)))
    for i, lab in enumerate(labels):
        factor = int(min(max_factor, 8, largest // counts[lab]))
        for k in rng.permutation(np.arange(1, 8))[: factor - 1]:
            out_images.append(dihedral(images[i], int(k)))
            out_labels.append(lab)
            source.append(i)
    return out_images, np.array(out_labels), np.array(source)
