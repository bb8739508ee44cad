"""Fibers matched between a prediction and the truth: the numbers of the fiber benchmark.

Each predicted fiber is matched to the true fiber it overlaps most (none when it
overlaps no true fiber). Precision is the fraction of predicted fibers with a
match, recall the fraction of true fibers matched by at least one predicted
fiber; length and angle errors are medians over the matched pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FiberMatch", "match_fibers", "fiber_scores"]


@dataclass(frozen=True)
class FiberMatch:
    """What :func:`match_fibers` returns.

    Attributes
    ----------
    n_true, n_pred, n_matched : int
        True fibers, predicted fibers, predicted fibers overlapping a true one.
    recall, precision : float
    median_length_error : float
        Median ``|length_pred - length_true|`` (unit of the spacing).
    median_length_error_rel : float
        Median of the same divided by the true length.
    median_angle_error_deg : float
        Median angle between matched fiber directions (0-90 degrees).
    """

    n_true: int
    n_pred: int
    n_matched: int
    recall: float
    precision: float
    median_length_error: float
    median_length_error_rel: float
    median_angle_error_deg: float

    def to_dict(self) -> dict:
        """A JSON-able dict."""
        return asdict(self)


def _best_overlap(pred_labels: np.ndarray, true_labels: np.ndarray, n_pred: int) -> np.ndarray:
    both = (pred_labels > 0) & (true_labels > 0)
    match = np.zeros(n_pred, np.int64)
    if not both.any():
        return match
    n_true = int(true_labels.max())
    pair = pred_labels[both].astype(np.int64) * (n_true + 1) + true_labels[both]
    pairs, counts = np.unique(pair, return_counts=True)
    p, t = pairs // (n_true + 1), pairs % (n_true + 1)
    order = np.lexsort((-counts, p))  # per predicted fiber, the largest overlap first
    first = np.ones(order.size, bool)
    first[1:] = p[order][1:] != p[order][:-1]
    best = order[first]
    match[p[best] - 1] = t[best]
    return match


def match_fibers(pred, truth) -> FiberMatch:
    """Match the fibers of two :class:`~napari_sciseg.measure.FiberResult`.

    Parameters
    ----------
    pred, truth : FiberResult
        From :func:`napari_sciseg.measure.fibers` on the prediction and the truth,
        with the same spacing.

    Returns
    -------
    FiberMatch

    Examples
    --------
    >>> from napari_sciseg.measure import fibers
    >>> vol = np.zeros((20, 20, 40), bool); vol[5:8, 5:8, 2:38] = True
    >>> res = fibers(vol, min_size=5)
    >>> m = match_fibers(res, res)
    >>> m.recall, m.precision, m.median_angle_error_deg
    (1.0, 1.0, 0.0)
    """
    if pred.labels.shape != truth.labels.shape:
        raise ValueError(
            f"prediction and truth differ in shape: {pred.labels.shape} and {truth.labels.shape}."
        )
    if tuple(pred.stats.spacing) != tuple(truth.stats.spacing):
        raise ValueError(
            f"prediction and truth were measured with different spacing: {pred.stats.spacing} "
            f"and {truth.stats.spacing}."
        )
    m = _best_overlap(pred.labels, truth.labels, pred.count)
    ok = m > 0
    idx = m[ok] - 1
    nan = float("nan")
    if ok.any():
        lp, lt = pred.table["length"][ok], truth.table["length"][idx]
        err = np.abs(lp - lt)
        cos = np.abs((pred.directions[ok] * truth.directions[idx]).sum(1))
        length_err, rel = float(np.median(err)), float(np.median(err / np.maximum(lt, 1e-12)))
        angle = float(np.degrees(np.median(np.arccos(np.clip(cos, 0, 1)))))
    else:
        length_err = rel = angle = nan
    return FiberMatch(
        n_true=truth.count, n_pred=pred.count, n_matched=int(ok.sum()),
        recall=len(set(idx.tolist())) / truth.count if truth.count else nan,
        precision=float(ok.mean()) if pred.count else nan,
        median_length_error=length_err, median_length_error_rel=rel,
        median_angle_error_deg=angle,
    )


def fiber_scores(pred_mask, true_mask, *, spacing=None, min_size: int = 50,
                 **fibers_kwargs) -> FiberMatch:
    """Label and measure the fibers of both 3D masks, then :func:`match_fibers`.

    Parameters
    ----------
    pred_mask, true_mask : (Z, Y, X) bool or int ndarray
        Fiber masks or instance labels.
    spacing : float or 3 floats, optional
    min_size : int
        Dusting size in voxels, for both.
    **fibers_kwargs
        Passed to :func:`napari_sciseg.measure.fibers`.

    Returns
    -------
    FiberMatch
        Counts, recall and precision of the matched fibers, median length and angle errors.

    Examples
    --------
    >>> truth = np.zeros((16, 16, 40), bool); truth[6:9, 6:9, 4:36] = True
    >>> shorter = truth.copy(); shorter[..., 32:] = False
    >>> match = fiber_scores(shorter, truth, min_size=10)
    >>> match.n_matched, match.recall, round(match.median_length_error_rel, 1)
    (1, 1.0, 0.1)
    """
    from ..measure import fibers
    from .segmentation import check_same_grid

    check_same_grid(np.shape(pred_mask), np.shape(true_mask))
    if np.ndim(pred_mask) != 3:
        raise ValueError(f"fiber matching needs 3D volumes; got shape {np.shape(pred_mask)}.")
    kw = dict(spacing=spacing, min_size=min_size, **fibers_kwargs)
    return match_fibers(fibers(pred_mask, **kw), fibers(true_mask, **kw))
