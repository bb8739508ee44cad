"""Sparse labels (napari convention: 0 = unlabeled, classes 1..K): checks and splits.

Pure numpy. The training engine uses these; prediction's conformal calibration
re-creates the validation split from the saved ``split_seed`` and
``val_fraction``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["split_labels", "split_strokes", "split_by", "check_labels", "class_counts",
           "SPLITS"]

#: How :func:`split_by` holds labels out: scattered pixels, or whole strokes.
SPLITS = ("pixels", "strokes")


def check_labels(labels: np.ndarray, *, n_classes: int | None = None) -> int:
    """Validate sparse labels; return the number of classes K.

    Parameters
    ----------
    labels : (...) integer ndarray
        0 = unlabeled, 1..K = classes.
    n_classes : int, optional
        Declared K (e.g. the number of class names); values above it are an error.
        Without it, K is the largest value, and a value above the number of
        painted classes (a stray ``7`` among ``1`` and ``2``) is an error that
        lists the values found and their pixel counts: unpainted classes
        would silently become classes of the model.

    Returns
    -------
    int
        K: ``n_classes`` when given, else the largest label.

    Examples
    --------
    >>> check_labels(np.array([[0, 1], [2, 0]]))
    2
    >>> check_labels(np.array([[0, 1], [3, 0]]), n_classes=3)  # class 2 declared, not painted
    3
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
    counts = np.bincount(labels.ravel().astype(np.int64))
    present = np.flatnonzero(counts[1:]) + 1
    found = ", ".join(f"{v}: {counts[v]} px" for v in present)
    if n_classes is not None and high > n_classes:
        raise ValueError(
            f"labels use class {high} but only {n_classes} classes are declared "
            f"(values 1..{n_classes}); values found (value: pixels): {found}. Add class names "
            "for the extra classes or relabel those pixels."
        )
    if n_classes is None and high > present.size:
        missing = [int(v) for v in np.setdiff1d(np.arange(1, high + 1), present)]
        raise ValueError(
            f"labels use value {high}, which would make a {high}-class model, but classes "
            f"{missing} are never painted; values found (value: pixels): {found}. If {high} "
            f"classes are meant, declare them in class_names ({high} names); otherwise relabel "
            "the stray pixels."
        )
    if present.size < 2:
        raise ValueError(
            f"labels hold only one class ({int(present[0])}); expected at least two labeled "
            "classes (e.g. background and foreground). Paint the other class too."
        )
    return int(n_classes) if n_classes is not None else high


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Labeled pixels per class 1..K, shape (K,).

    Parameters
    ----------
    labels : int ndarray
        Labels (0 = unlabeled, 1..K).
    n_classes : int
        K.

    Returns
    -------
    (K,) int ndarray

    Examples
    --------
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


def split_strokes(
    labels: np.ndarray, *, val_fraction: float = 0.2, seed: int = 0, gap: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole strokes, spatially apart from the training scribbles.

    A held-out pixel next to a training pixel of the same stroke is easy by
    construction, so a per-pixel split (:func:`split_labels`) says little about how
    the model does on the rest of the image. Here each class's strokes (its
    connected scribbles) are drawn at random, whole, until they hold about
    ``val_fraction`` of the class's pixels; at least one stroke of every class with
    two or more strokes is held out and at least one is kept. A class drawn as a
    single stroke is cut across its longest extent: its far end (``val_fraction``
    of its pixels) is held out, and the ``gap`` pixels before the cut go to neither
    set, so no held-out pixel touches a training pixel of its stroke.

    Parameters
    ----------
    labels : (...) integer ndarray
        0 = unlabeled, 1..K = classes.
    val_fraction : float
        Target fraction of each class's labeled pixels held out, in [0, 1).
    seed : int
        Seed of the draw; the same seed and labels give the same split.
    gap : int
        Length (pixels along the stroke) dropped before the cut of a single-stroke class.

    Returns
    -------
    train_labels, val_labels : ndarray
        Same shape and dtype as ``labels``, disjoint; pixels on a cut are in neither.

    Examples
    --------
    >>> labels = np.zeros((20, 20), np.uint8)
    >>> labels[2, 2:18] = 1; labels[10, 2:18] = 1; labels[17, 2:18] = 2
    >>> train, val = split_strokes(labels, val_fraction=0.3, seed=0)
    >>> [int(r) for r in np.unique(np.nonzero(val == 1)[0])]  # one whole stroke of class 1
    [2]
    >>> int((val == 2).sum()), int((train == 2).sum())  # class 2's one stroke, cut, 3 px gap
    (5, 8)
    """
    from scipy import ndimage

    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction!r}.")
    if int(gap) != gap or gap < 0:
        raise ValueError(f"gap must be a whole number of pixels >= 0; got {gap!r}.")
    labels = np.asarray(labels)
    val_mask = np.zeros(labels.shape, dtype=bool)
    drop = np.zeros(labels.shape, dtype=bool)
    rng = np.random.default_rng(seed)
    structure = np.ones((3,) * labels.ndim, dtype=bool)  # diagonal neighbours join a stroke
    for cls in np.unique(labels[labels > 0]) if val_fraction > 0 else ():
        strokes, n = ndimage.label(labels == cls, structure=structure)
        sizes = np.bincount(strokes.ravel())[1:]
        target = val_fraction * sizes.sum()
        if n >= 2:
            held, total = [], 0
            for i in rng.permutation(n):
                if held and (total >= target or len(held) == n - 1):
                    break
                held.append(i + 1)
                total += sizes[i]
            val_mask |= np.isin(strokes, held)
        elif sizes.sum() >= 2:
            _cut_stroke(strokes == 1, val_fraction, gap, val_mask, drop)
    train = np.where(val_mask | drop, 0, labels).astype(labels.dtype)
    val = np.where(val_mask, labels, 0).astype(labels.dtype)
    return train, val


def _cut_stroke(stroke: np.ndarray, val_fraction: float, gap: int, val_mask, drop) -> None:
    """Mark the far end of one stroke as held out and ``gap`` pixels around the cut dropped."""
    coords = np.argwhere(stroke).astype(float)
    centred = coords - coords.mean(0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]  # the stroke's long axis
    along = centred @ direction
    order = np.sort(along)
    n_val = int(np.clip(round(len(order) * val_fraction), 1, len(order) - 1))
    cut = order[len(order) - n_val]
    index = tuple(coords.astype(int).T)
    held = along >= cut
    near = (along < cut) & (along >= cut - gap)  # the gap comes out of the training part
    if (~held & ~near).sum() == 0:
        near = np.zeros_like(held)  # too short for a gap
    val_mask[index] |= held
    drop[index] |= near


def split_by(
    labels: np.ndarray, how: str = "pixels", *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_labels` (``how="pixels"``) or :func:`split_strokes` (``"strokes"``).

    Parameters
    ----------
    labels : int ndarray
        Sparse labels (0 = unlabeled).
    how : {"pixels", "strokes"}
        Hold out scattered pixels, or whole strokes.
    val_fraction : float
        Share of the labelled pixels held out.
    seed : int
        Seeds the choice.

    Returns
    -------
    train, val : int ndarrays
        Two label images that split ``labels`` between them.

    Examples
    --------
    >>> labels = np.zeros((4, 4), np.uint8); labels[0] = 1; labels[3] = 2
    >>> train, val = split_by(labels, "pixels", val_fraction=0.25)
    >>> int((val > 0).sum())
    2
    """
    if how == "pixels":
        return split_labels(labels, val_fraction=val_fraction, seed=seed)
    if how == "strokes":
        return split_strokes(labels, val_fraction=val_fraction, seed=seed)
    valid = ", ".join(repr(h) for h in SPLITS)
    raise ValueError(f"Unknown validation split {how!r}; expected one of {valid}.")
