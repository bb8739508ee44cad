"""Split-conformal calibration of the ensemble's probabilities: per-pixel prediction sets.

Held-out labeled pixels (the validation split of training) give nonconformity
scores ``s = 1 - p_y`` (one minus the mean probability of the true class). For a
user coverage ``1 - alpha`` the threshold ``q`` is the ``ceil((n + 1)(1 - alpha)) / n``
empirical quantile of the ``n`` scores; a pixel's prediction set is every class
with ``p_c >= 1 - q``. If calibration and new pixels are exchangeable, the set
holds the true class with probability at least ``1 - alpha`` (Angelopoulos &
Bates 2021, "A gentle introduction to conformal prediction"). A set with one
class means "surely this class"; two or more mean "ambiguous"; none means the
pixel looks unlike every labeled pixel.

With ``per_class=True`` each class gets its own threshold from the pixels
labeled with it (class-conditional, "Mondrian" conformal): coverage then holds
for each class separately, which matters when background outnumbers the
foreground ten to one.

Caveat: sparse scribbles are not a random sample of the image (they sit where
the annotator was sure), so on the whole image the coverage is a guide, not a
guarantee.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ConformalCalibration", "conformal_threshold", "calibrate_probabilities", "calibrate"]

logger = logging.getLogger(__name__)


def conformal_threshold(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal quantile of ``scores`` for coverage ``1 - alpha``.

    Examples
    --------
    >>> round(conformal_threshold(np.linspace(0, 1, 99), alpha=0.1), 6)
    0.908163
    """
    scores = np.sort(np.asarray(scores, np.float64).ravel())
    n = scores.size
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (coverage 1 - alpha); got {alpha}.")
    if n == 0:
        raise ValueError("No calibration pixels: label some pixels held out from training.")
    rank = math.ceil((n + 1) * (1 - alpha))
    if rank > n:
        logger.warning("%d calibration pixels are too few for alpha=%g; sets are full.", n, alpha)
        return 1.0
    return float(scores[rank - 1])


@dataclass(frozen=True)
class ConformalCalibration:
    """Thresholds that turn mean probabilities into prediction sets.

    Attributes
    ----------
    alpha : float
        Allowed miss rate; sets cover the true class with probability ``1 - alpha``.
    thresholds : tuple of float
        Score threshold ``q`` per class (all equal unless ``per_class``); class c
        enters a pixel's set when ``p_c >= 1 - q_c``.
    n_calibration : int
        Number of held-out labeled pixels used.
    per_class : bool
        Whether thresholds are class-conditional.
    """

    alpha: float
    thresholds: tuple[float, ...]
    n_calibration: int
    per_class: bool = False

    def prediction_sets(self, mean) -> np.ndarray:
        """(K, *spatial) bool: which classes are in each pixel's set.

        Examples
        --------
        >>> cal = ConformalCalibration(alpha=0.1, thresholds=(0.7, 0.7), n_calibration=100)
        >>> cal.prediction_sets(np.array([[0.9, 0.5], [0.1, 0.5]])).astype(int).tolist()
        [[1, 1], [0, 1]]
        """
        mean = np.asarray(mean, np.float32)
        if mean.shape[0] != len(self.thresholds):
            raise ValueError(
                f"mean has {mean.shape[0]} classes on axis 0; the calibration has "
                f"{len(self.thresholds)}."
            )
        q = np.asarray(self.thresholds, np.float32).reshape((-1,) + (1,) * (mean.ndim - 1))
        return mean >= 1 - q

    def classify(self, mean) -> np.ndarray:
        """(*spatial) uint8: class id 1..K where the set holds exactly that class, else 0.

        Examples
        --------
        >>> cal = ConformalCalibration(alpha=0.1, thresholds=(0.7, 0.7), n_calibration=100)
        >>> cal.classify(np.array([[0.9, 0.5], [0.1, 0.5]])).tolist()
        [1, 0]
        """
        sets = self.prediction_sets(mean)
        single = sets.sum(axis=0) == 1
        return np.where(single, sets.argmax(axis=0) + 1, 0).astype(np.uint8)

    def set_size(self, mean) -> np.ndarray:
        """(*spatial) uint8: number of classes in each pixel's set (1 = sure)."""
        return self.prediction_sets(mean).sum(axis=0).astype(np.uint8)

    def coverage(self, mean, labels) -> float:
        """Fraction of labeled pixels (labels > 0) whose set holds their class."""
        labels = np.asarray(labels)
        sets = self.prediction_sets(mean)
        mask = labels > 0
        if not mask.any():
            raise ValueError("labels has no labeled pixel (all 0).")
        hit = np.take_along_axis(sets, (np.clip(labels, 1, None) - 1)[None], axis=0)[0]
        return float(hit[mask].mean())


def calibrate_probabilities(
    mean, labels, *, alpha: float = 0.1, per_class: bool = False
) -> ConformalCalibration:
    """Calibrate from mean probabilities and sparse labels of held-out pixels.

    Parameters
    ----------
    mean : (K, *spatial) array
        Mean class probabilities (``Prediction.mean``).
    labels : (*spatial) int array
        0 = not a calibration pixel, 1..K the true class.
    alpha : float
        Target miss rate (coverage ``1 - alpha``).
    per_class : bool
        One threshold per class from that class's pixels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(size=2000)
    >>> labels = np.where(rng.uniform(size=2000) < p1, 2, 1)
    >>> cal = calibrate_probabilities(np.stack([1 - p1, p1]), labels, alpha=0.2)
    >>> round(cal.coverage(np.stack([1 - p1, p1]), labels), 2)
    0.8
    """
    mean = np.asarray(mean, np.float32)
    labels = np.asarray(labels)
    if mean.shape[1:] != labels.shape:
        raise ValueError(
            f"labels shape {labels.shape} does not match the spatial shape {mean.shape[1:]} of "
            "mean (K, *spatial)."
        )
    n_classes = mean.shape[0]
    if labels.max(initial=0) > n_classes or labels.min(initial=0) < 0:
        raise ValueError(
            f"labels must be 0 (none) or 1..{n_classes}; got {labels.min()}..{labels.max()}."
        )
    mask = labels > 0
    truth = labels[mask].astype(np.int64) - 1
    probs = mean[:, mask]
    scores = 1.0 - probs[truth, np.arange(truth.size)]
    if per_class:
        thresholds = []
        for c in range(n_classes):
            if not (truth == c).any():
                raise ValueError(
                    f"per_class calibration needs pixels of every class; class {c + 1} has none."
                )
            thresholds.append(conformal_threshold(scores[truth == c], alpha))
    else:
        thresholds = [conformal_threshold(scores, alpha)] * n_classes
    logger.info("conformal thresholds %s from %d pixels", thresholds, truth.size)
    return ConformalCalibration(float(alpha), tuple(thresholds), int(truth.size), bool(per_class))


def calibrate(
    trained,
    image,
    labels,
    alpha: float = 0.1,
    *,
    per_class: bool = False,
    prediction=None,
    **predict_kwargs,
) -> ConformalCalibration:
    """Calibrate a trained ensemble on the validation split of its training labels.

    The validation pixels are re-drawn exactly as training drew them
    (``napari_sciseg.annotation.split_by`` with the recipe's ``val_split``,
    ``val_fraction`` and ``split_seed``), so they were never trained on.

    Parameters
    ----------
    trained : TrainedModel
    image : array
        The training image (same as for :func:`~napari_sciseg.dl.prediction.predict`).
    labels : (*spatial) int array
        The training labels (0 = unlabeled, 1..K).
    alpha : float
        Target miss rate.
    per_class : bool
        Class-conditional thresholds.
    prediction : Prediction, optional
        A prediction of ``image`` to reuse; otherwise one is computed.
    **predict_kwargs
        Passed to ``predict`` (``channel_axis``, ``slice_axis``, ``tile``, ``device``).

    Returns
    -------
    ConformalCalibration
        The score threshold(s) and how many held-out pixels set them.
    """
    from ..annotation import split_by

    recipe = dict(getattr(trained.config, "recipe", {}) or {})
    val_fraction = float(recipe.get("val_fraction", 0.2))
    if val_fraction <= 0:
        raise ValueError(
            "The model was trained without a validation split (val_fraction=0); there are no "
            "held-out pixels to calibrate on. Retrain with val_fraction > 0."
        )
    labels = np.asarray(labels)
    _, val = split_by(labels, recipe.get("val_split", "pixels"), val_fraction=val_fraction,
                      seed=recipe.get("split_seed", 0))
    if prediction is None:
        from .prediction import predict

        prediction = predict(trained, image, **predict_kwargs)
    return calibrate_probabilities(
        np.asarray(prediction.mean), val, alpha=alpha, per_class=per_class
    )
