"""Segmentation scores of a class map against a ground truth.

Per class ``c`` (pixels counted over the whole image, or outside ``ignore``):
IoU ``TP / (TP + FP + FN)``, Dice ``2 TP / (2 TP + FP + FN)``, precision
``TP / (TP + FP)``, recall ``TP / (TP + FN)``; the **boundary F-score**
(Csurka et al., BMVC 2013): the harmonic mean of the fraction of predicted
boundary pixels within ``tolerance`` of a true boundary pixel and the converse;
and the **instance F1 at IoU 0.5**: connected components of each non-background
class, a predicted object matching a true one when their IoU exceeds 0.5 (such
a match is one-to-one), ``F1 = 2 matched / (n_true + n_pred)``.

A score whose denominator is empty (a class absent from both) is NaN.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "SegmentationScores",
    "segmentation_scores",
    "boundary_f_score",
    "instance_f1",
    "check_same_grid",
]

#: the per-class columns of :attr:`SegmentationScores.table`, in CSV order.
COLUMNS = (
    "class", "name", "iou", "dice", "precision", "recall", "boundary_f",
    "n_true_objects", "n_pred_objects", "n_matched", "instance_f1",
    "true_pixels", "pred_pixels",
)


def check_same_grid(pred_shape, truth_shape, pred_spacing=None, truth_spacing=None,
                    *, rtol: float = 1e-3) -> None:
    """Raise a ValueError when prediction and truth do not lie on the same pixel grid.

    Parameters
    ----------
    pred_shape, truth_shape : tuple of int
    pred_spacing, truth_spacing : tuple of float, optional
        Pixel sizes; compared only when both are known.
    rtol : float
        Relative tolerance of the spacing comparison.

    Examples
    --------
    >>> check_same_grid((4, 4), (4, 5))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: prediction and truth differ in shape: prediction (4, 4), truth (4, 5). ...
    """
    pred_shape, truth_shape = tuple(pred_shape), tuple(truth_shape)
    if pred_shape != truth_shape:
        raise ValueError(
            f"prediction and truth differ in shape: prediction {pred_shape}, truth "
            f"{truth_shape}. Score a prediction against the truth of the same image (crop or "
            "resample one of them first)."
        )
    if pred_spacing is None or truth_spacing is None:
        return
    p = np.asarray(pred_spacing, float)[-len(pred_shape):]
    t = np.asarray(truth_spacing, float)[-len(truth_shape):]
    if p.shape != t.shape or not np.allclose(p, t, rtol=rtol, atol=0):
        raise ValueError(
            f"prediction and truth differ in pixel size: prediction {tuple(p.tolist())}, truth "
            f"{tuple(t.tolist())}. They must come from the same image at the same calibration."
        )


def _as_labels(name: str, array) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0):
            return array.astype(np.int64)
        raise TypeError(
            f"{name} must be a class map of integers (or bool); got dtype {array.dtype}. "
            "Threshold probabilities into classes first."
        )
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2D or 3D; got shape {array.shape}.")
    return array


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a face neighbour outside it (the image edge is no boundary)."""
    if not mask.any():
        return mask
    inner = ndi.binary_erosion(mask, structure=ndi.generate_binary_structure(mask.ndim, 1),
                               border_value=1)
    return mask & ~inner


def boundary_f_score(pred_mask: np.ndarray, true_mask: np.ndarray, *,
                     tolerance: float | None = None, spacing=None) -> float:
    """Boundary F-score of two binary masks.

    Parameters
    ----------
    pred_mask, true_mask : (Y, X) or (Z, Y, X) bool ndarray
    tolerance : float, optional
        Largest distance (in the unit of ``spacing``, pixels without it) at which
        a boundary pixel still counts as matched; default 2 pixels.
    spacing : float or tuple of float, optional
        Pixel size per axis.

    Returns
    -------
    float
        In [0, 1]; NaN when neither mask has a boundary.

    Examples
    --------
    A square shifted by one pixel: with zero tolerance, half of each boundary
    still coincides (the two edges along the shift); within one pixel, all of it.

    >>> truth = np.zeros((12, 12), bool); truth[2:8, 2:8] = True
    >>> shifted = np.roll(truth, 1, axis=1)
    >>> boundary_f_score(shifted, truth, tolerance=0)
    0.5
    >>> boundary_f_score(shifted, truth, tolerance=1)
    1.0
    """
    pred_mask, true_mask = np.asarray(pred_mask, bool), np.asarray(true_mask, bool)
    check_same_grid(pred_mask.shape, true_mask.shape)
    sampling = _sampling(spacing, pred_mask.ndim)
    if tolerance is None:
        tolerance = 2 * min(sampling)
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a distance >= 0; got {tolerance}.")
    bp, bt = _boundary(pred_mask), _boundary(true_mask)
    n_p, n_t = int(bp.sum()), int(bt.sum())
    if n_p == 0 and n_t == 0:
        return float("nan")
    if n_p == 0 or n_t == 0:
        return 0.0
    to_true = ndi.distance_transform_edt(~bt, sampling=sampling)
    to_pred = ndi.distance_transform_edt(~bp, sampling=sampling)
    eps = 1e-9 * max(sampling)
    precision = float((to_true[bp] <= tolerance + eps).mean())
    recall = float((to_pred[bt] <= tolerance + eps).mean())
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _sampling(spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = np.atleast_1d(np.asarray(spacing, float))
    if values.size == 1:
        values = np.repeat(values, ndim)
    values = values[-ndim:]
    if values.size != ndim or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"spacing must be {ndim} positive numbers (one per axis); got {spacing}.")
    return tuple(float(v) for v in values)


def instance_f1(pred_mask: np.ndarray, true_mask: np.ndarray, *, threshold: float = 0.5
                ) -> tuple[int, int, int]:
    """Objects (connected components, full connectivity) matched at IoU > ``threshold``.

    Parameters
    ----------
    pred_mask, true_mask : (Y, X) or (Z, Y, X) bool ndarray
    threshold : float
        IoU above which a predicted and a true object match; at 0.5 or more a
        match is one-to-one.

    Returns
    -------
    n_true, n_pred, n_matched : int
        F1 is ``2 * n_matched / (n_true + n_pred)``.

    Examples
    --------
    >>> truth = np.zeros((10, 10), bool); truth[1:4, 1:4] = truth[6:9, 6:9] = True
    >>> pred = truth.copy(); pred[6:9, 6:9] = False; pred[6, 0] = True
    >>> instance_f1(pred, truth)
    (2, 2, 1)
    """
    if not 0.5 <= threshold < 1:
        raise ValueError(f"threshold must be in [0.5, 1) for one-to-one matches; got {threshold}.")
    structure = ndi.generate_binary_structure(np.ndim(pred_mask), np.ndim(pred_mask))
    lp, n_p = ndi.label(np.asarray(pred_mask, bool), structure=structure)
    lt, n_t = ndi.label(np.asarray(true_mask, bool), structure=structure)
    if n_p == 0 or n_t == 0:
        return int(n_t), int(n_p), 0
    both = (lp > 0) & (lt > 0)
    pair = lt[both].astype(np.int64) * (n_p + 1) + lp[both]
    pairs, inter = np.unique(pair, return_counts=True)
    area_t = np.bincount(lt.ravel(), minlength=n_t + 1)
    area_p = np.bincount(lp.ravel(), minlength=n_p + 1)
    t, p = pairs // (n_p + 1), pairs % (n_p + 1)
    iou = inter / (area_t[t] + area_p[p] - inter)
    return int(n_t), int(n_p), int((iou > threshold).sum())


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


@dataclass(frozen=True)
class SegmentationScores:
    """What :func:`segmentation_scores` returns.

    Attributes
    ----------
    table : list of dict
        One row per class, keys :data:`COLUMNS`.
    mean_iou, mean_dice, mean_boundary_f : float
        Means over the classes (NaN entries skipped).
    instance_f1 : float
        Over all non-background classes' objects together.
    pixel_accuracy : float
        Fraction of (scored) pixels whose class is right.
    settings : dict
        ``tolerance``, ``spacing``, ``background``, ``ignore``.
    """

    table: list
    mean_iou: float
    mean_dice: float
    mean_boundary_f: float
    instance_f1: float
    pixel_accuracy: float
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The image-level numbers as one dict."""
        return {"mean_iou": self.mean_iou, "mean_dice": self.mean_dice,
                "mean_boundary_f": self.mean_boundary_f, "instance_f1": self.instance_f1,
                "pixel_accuracy": self.pixel_accuracy}

    def to_csv(self, path: str | Path) -> Path:
        """Write the per-class table (and a final ``all`` row of the means) to ``path``."""
        path = Path(path)
        s = self.summary()
        rows = self.table + [{"class": "all", "name": "mean", "iou": s["mean_iou"],
                              "dice": s["mean_dice"], "boundary_f": s["mean_boundary_f"],
                              "instance_f1": s["instance_f1"]}]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _fmt(row.get(k, "")) for k in COLUMNS})
        return path


def _fmt(value):
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.6g}"
    return value


def _nanmean(values) -> float:
    values = np.asarray([v for v in values if not np.isnan(v)], float)
    return float(values.mean()) if values.size else float("nan")


def segmentation_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    spacing=None,
    tolerance: float | None = None,
    background: int | None = 0,
    ignore: int | None = None,
    classes=None,
    class_names=None,
) -> SegmentationScores:
    """Score a class map against the truth.

    Parameters
    ----------
    pred, truth : (Y, X) or (Z, Y, X) int or bool ndarray
        Class ids (the same ids mean the same class in both).
    spacing : float or tuple of float, optional
        Pixel size per axis, for the boundary ``tolerance``.
    tolerance : float, optional
        Boundary match distance in the unit of ``spacing``; default 2 pixels.
    background : int or None
        The class that is not made of objects (no instance F1); None: every class.
    ignore : int, optional
        A truth value that marks unlabeled pixels (sparse truth): they are left
        out of the pixel scores, and the boundary and instance scores, which
        need complete objects, are NaN.
    classes : sequence of int, optional
        Classes to score; default every value in ``pred`` or ``truth``.
    class_names : dict or sequence, optional
        Names for the table (``{id: name}`` or one per entry of ``classes``).

    Returns
    -------
    SegmentationScores

    Examples
    --------
    >>> truth = np.zeros((8, 8), np.uint8); truth[2:6, 2:6] = 1
    >>> s = segmentation_scores(truth, truth)
    >>> s.mean_iou, s.instance_f1, s.mean_boundary_f
    (1.0, 1.0, 1.0)
    """
    pred, truth = _as_labels("prediction", pred), _as_labels("truth", truth)
    check_same_grid(pred.shape, truth.shape)
    scored = np.ones(truth.shape, bool) if ignore is None else truth != ignore
    if classes is None:
        values = np.union1d(np.unique(pred), np.unique(truth[scored]))
        classes = [int(v) for v in values if ignore is None or v != ignore]
    classes = [int(c) for c in classes]
    if isinstance(class_names, dict):
        names = {int(k): str(v) for k, v in class_names.items()}
    elif class_names is not None:
        names = dict(zip(classes, map(str, class_names)))
    else:
        names = {}
    p, t = pred[scored], truth[scored]
    rows = []
    total_t = total_p = total_m = 0
    for c in classes:
        pc, tc = p == c, t == c
        tp = int(np.count_nonzero(pc & tc))
        fp = int(np.count_nonzero(pc)) - tp
        fn = int(np.count_nonzero(tc)) - tp
        row = {"class": c, "name": names.get(c, ""),
               "iou": _ratio(tp, tp + fp + fn), "dice": _ratio(2 * tp, 2 * tp + fp + fn),
               "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
               "true_pixels": tp + fn, "pred_pixels": tp + fp}
        if ignore is None:
            row["boundary_f"] = boundary_f_score(pred == c, truth == c, tolerance=tolerance,
                                                 spacing=spacing)
        else:
            row["boundary_f"] = float("nan")
        if ignore is None and c != background:
            n_t, n_p, n_m = instance_f1(pred == c, truth == c)
            row.update(n_true_objects=n_t, n_pred_objects=n_p, n_matched=n_m,
                       instance_f1=_ratio(2 * n_m, n_t + n_p))
            total_t, total_p, total_m = total_t + n_t, total_p + n_p, total_m + n_m
        else:
            row.update(n_true_objects="", n_pred_objects="", n_matched="",
                       instance_f1=float("nan"))
        rows.append(row)
    return SegmentationScores(
        table=rows,
        mean_iou=_nanmean(r["iou"] for r in rows),
        mean_dice=_nanmean(r["dice"] for r in rows),
        mean_boundary_f=_nanmean(r["boundary_f"] for r in rows),
        instance_f1=_ratio(2 * total_m, total_t + total_p),
        pixel_accuracy=_ratio(int(np.count_nonzero(p == t)), p.size),
        settings={"tolerance": tolerance, "spacing": spacing, "background": background,
                  "ignore": ignore},
    )
