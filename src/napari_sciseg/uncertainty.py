"""Where to annotate next: rank regions by ensemble disagreement (pure numpy).

Pixels where the ensemble members disagree are where a few more scribbles
teach the model most. :func:`suggest_regions` scores either square/cubic
blocks of the image (``mode="tiles"``: the mean disagreement inside each
block) or connected areas of high disagreement (``mode="components"``: the
summed disagreement of each area above a quantile), skips regions that are
already densely labeled, and returns the top ``n`` as boxes and points that
a viewer can show as shapes/points layers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._validation import check_choice, check_ndim, check_same_shape

__all__ = ["Suggestions", "suggest_regions"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestions:
    """The most uncertain regions, best first.

    Attributes
    ----------
    boxes : (N, 2, ndim) int array
        ``boxes[i, 0]`` is the first pixel (inclusive) and ``boxes[i, 1]`` the
        end (exclusive) of region i, per axis.
    points : (N, ndim) int array
        The most uncertain pixel inside each region (where to click).
    scores : (N,) float array
        The region's score (mean or summed disagreement), decreasing.
    """

    boxes: np.ndarray
    points: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def _block_scores(unc: np.ndarray, size: tuple[int, ...]):
    """Mean of ``unc`` over blocks of ``size`` (last blocks may be smaller)."""
    grid = tuple(-(-n // s) for n, s in zip(unc.shape, size))
    padded_shape = tuple(g * s for g, s in zip(grid, size))
    pad = [(0, p - n) for p, n in zip(padded_shape, unc.shape)]
    total = np.pad(unc, pad)
    count = np.pad(np.ones(unc.shape, np.float32), pad)
    shape = [v for g, s in zip(grid, size) for v in (g, s)]
    axes = tuple(range(1, 2 * unc.ndim, 2))
    return total.reshape(shape).sum(axes) / count.reshape(shape).sum(axes)


def _argmax_in(unc: np.ndarray, box: np.ndarray) -> np.ndarray:
    region = unc[tuple(slice(a, b) for a, b in zip(box[0], box[1]))]
    return box[0] + np.array(np.unravel_index(int(np.argmax(region)), region.shape))


def suggest_regions(
    prediction,
    *,
    n: int = 5,
    mode: str = "tiles",
    size: int | None = None,
    labels: np.ndarray | None = None,
    max_labeled: float = 0.05,
    quantile: float = 0.95,
) -> Suggestions:
    """The ``n`` regions where the ensemble disagrees most.

    Parameters
    ----------
    prediction : Prediction or (*spatial) array
        A prediction (its ``uncertainty`` is used) or any per-pixel disagreement map.
    n : int
        How many regions to return (fewer when fewer exist).
    mode : {"tiles", "components"}
        ``"tiles"``: blocks of edge ``size`` ranked by mean disagreement.
        ``"components"``: connected areas above the ``quantile`` of disagreement,
        ranked by summed disagreement.
    size : int, optional
        Block edge in pixels for ``"tiles"`` (default 64 in 2D, 32 in 3D).
    labels : (*spatial) int array, optional
        Existing annotations (0 = unlabeled): regions with more than
        ``max_labeled`` of their pixels labeled are skipped.
    max_labeled : float
        Largest labeled fraction a suggested region may have.
    quantile : float
        Disagreement quantile defining "high" for ``"components"``.

    Returns
    -------
    Suggestions

    Examples
    --------
    >>> unc = np.zeros((128, 128), np.float32)
    >>> unc[70:80, 10:20] = 0.4
    >>> unc[5:9, 100:110] = 0.2
    >>> s = suggest_regions(unc, n=2, size=32)
    >>> s.boxes.tolist(), s.points.tolist()
    ([[[64, 0], [96, 32]], [[0, 96], [32, 128]]], [[70, 10], [5, 100]])
    >>> suggest_regions(unc, n=5, mode="components").boxes.tolist()
    [[[70, 10], [80, 20]], [[5, 100], [9, 110]]]
    """
    check_choice("mode", mode, ["tiles", "components"])
    unc = np.asarray(getattr(prediction, "uncertainty", prediction), np.float32)
    check_ndim("uncertainty", unc, (2, 3))
    if int(n) < 1:
        raise ValueError(f"n must be at least 1 region; got {n}.")
    labeled = None
    if labels is not None:
        labels = np.asarray(labels)
        check_same_shape("uncertainty", unc, "labels", labels)
        labeled = (labels > 0).astype(np.float32)
    if mode == "tiles":
        edge = int(size or (64 if unc.ndim == 2 else 32))
        if edge < 1:
            raise ValueError(f"size must be a positive number of pixels; got {size}.")
        block = (edge,) * unc.ndim
        scores = _block_scores(unc, block)
        if labeled is not None:
            scores = np.where(_block_scores(labeled, block) > max_labeled, -np.inf, scores)
        order = np.argsort(scores, axis=None)[::-1]
        boxes = []
        for flat in order[: int(n)]:
            if not np.isfinite(scores.flat[flat]) or scores.flat[flat] <= 0:
                break
            idx = np.array(np.unravel_index(flat, scores.shape))
            start = idx * edge
            stop = np.minimum(start + edge, unc.shape)
            boxes.append((np.stack([start, stop]), scores.flat[flat]))
    else:
        from scipy import ndimage

        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be between 0 and 1; got {quantile}.")
        level = np.quantile(unc, quantile)
        comp, count = ndimage.label((unc >= level) & (unc > 0))
        index = np.arange(1, count + 1)
        sums = ndimage.sum_labels(unc, comp, index)
        slices = ndimage.find_objects(comp)
        boxes = []
        for i in np.argsort(sums)[::-1]:
            box = np.array([[s.start for s in slices[i]], [s.stop for s in slices[i]]])
            if labeled is not None:
                frac = labeled[slices[i]][comp[slices[i]] == i + 1].mean()
                if frac > max_labeled:
                    continue
            boxes.append((box, sums[i]))
            if len(boxes) == int(n):
                break
    ndim = unc.ndim
    if not boxes:
        logger.info("no region with disagreement > 0 to suggest")
        return Suggestions(np.zeros((0, 2, ndim), int), np.zeros((0, ndim), int), np.zeros(0))
    box_arr = np.stack([b for b, _ in boxes]).astype(int)
    points = np.stack([_argmax_in(unc, b) for b in box_arr]).astype(int)
    return Suggestions(box_arr, points, np.array([s for _, s in boxes], float))
