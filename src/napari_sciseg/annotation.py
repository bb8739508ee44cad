"""Sparse labels (napari convention: 0 = unlabeled, classes 1..K): checks and splits.

Pure numpy. The training engine uses these; prediction's conformal calibration
re-creates the validation split from the saved ``split_seed`` and
``val_fraction``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["split_labels", "check_labels", "class_counts"]


def check_labels(labels: np.ndarray, *, n_classes: int | None = None) -> int:
    """Validate sparse labels; return the number of classes K.

    Parameters
    ----------
    labels : (...) integer ndarray
        0 = unlabeled, 1..K = classes.
    n_classes : int, optional
        Declared K (e.g. the number of class names); values above it are an error.

    Returns
    -------
    int
        K: ``n_classes`` when given, else the largest label.

    Examples
    --------
    >>> check_labels(np.array([[0, 1], [2, 0]]))
    2
    """
    labels = np.asarray(labels)
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise TypeError(
            f"labels must be an integer array (0 = unlabeled, 1..K = classes); got dtype "
            f"{labels.dtype}. Convert it, e.g. labels.astype(np.uint8)."
        )
    if labels.size == 0 or not labels.any():
        raise ValueError(
            "labels contain no labeled pixels (all 0 = unlabeled); expected scribbles of at "
            "least two classes (1, 2, ...). Paint a few strokes per class first."
        )
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise ValueError(f"labels must be >= 0 (0 = unlabeled); got a minimum of {low}.")
    present = np.flatnonzero(np.bincount(labels.ravel().astype(np.int64))[1:]) + 1
    if n_classes is not None and high > n_classes:
        raise ValueError(
            f"labels use class {high} but only {n_classes} classes are declared "
            f"(values 1..{n_classes}); add a class name or relabel those pixels."
        )
    if present.size < 2:
        raise ValueError(
            f"labels hold only one class ({int(present[0])}); expected at least two labeled "
            "classes (e.g. background and foreground). Paint the other class too."
        )
    return int(n_classes) if n_classes is not None else high


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Labeled pixels per class 1..K, shape (K,).

    >>> class_counts(np.array([0, 1, 1, 3]), 3).tolist()
    [2, 0, 1]
    """
    counts = np.bincount(np.asarray(labels).ravel().astype(np.int64), minlength=n_classes + 1)
    return counts[1:n_classes + 1]


def split_labels(
    labels: np.ndarray, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split labeled pixels at random into training and validation labels.

    The split is per pixel (not per image), so one sparsely labeled image still
    gives disjoint training and validation sets. Every class with at least two
    pixels gets at least one in each set.

    Parameters
    ----------
    labels : (...) integer ndarray
        0 = unlabeled, 1..K = classes.
    val_fraction : float
        Fraction of each class's labeled pixels that go to validation, in [0, 1).
    seed : int
        Seed of the draw; the same seed and labels give the same split.

    Returns
    -------
    train_labels, val_labels : ndarray
        Same shape and dtype as ``labels``; each keeps its pixels' classes and 0
        elsewhere. Together they give back ``labels``.

    Examples
    --------
    >>> labels = np.zeros((10, 10), np.uint8); labels[0] = 1; labels[9] = 2
    >>> train, val = split_labels(labels, val_fraction=0.2, seed=0)
    >>> int((val > 0).sum()), bool(np.array_equal(train + val, labels))
    (4, True)
    """
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction!r}.")
    labels = np.asarray(labels)
    flat = labels.ravel()
    val_mask = np.zeros(flat.shape, dtype=bool)
    rng = np.random.default_rng(seed)
    for cls in np.unique(flat[flat > 0]):
        idx = np.flatnonzero(flat == cls)
        if idx.size < 2 or val_fraction == 0:
            continue
        n_val = int(np.clip(round(idx.size * val_fraction), 1, idx.size - 1))
        val_mask[rng.choice(idx, size=n_val, replace=False)] = True
    val_mask = val_mask.reshape(labels.shape)
    train = np.where(val_mask, 0, labels).astype(labels.dtype)
    val = np.where(val_mask, labels, 0).astype(labels.dtype)
    return train, val
