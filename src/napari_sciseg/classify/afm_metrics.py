"""Classification metrics (numpy): accuracy, per-class and macro P/R/F1, ROC AUC, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ClassificationReport", "classification_report", "roc_auc_ovr"]


@dataclass(frozen=True)
class ClassificationReport:
    """Metrics of a multi-class prediction.

    ``confusion[i, j]`` counts scans of true class i predicted as j. Macro
    averages are over classes present in ``y_true`` or predicted; ROC AUC is
    one-vs-rest averaged over classes present with both outcomes.
    """

    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    macro_precision: float
    macro_recall: float
    macro_f1: float
    roc_auc: float
    confusion: np.ndarray

    def to_dict(self) -> dict:
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
        }


def _auc(score, positive) -> float:
    from scipy.stats import rankdata

    n_pos, n_neg = positive.sum(), (~positive).sum()
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_ovr(y_true, proba) -> float:
    """Mean one-vs-rest ROC AUC over classes that occur and do not occur in y_true.

    Examples
    --------
    >>> roc_auc_ovr([0, 1, 1], np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]))
    1.0
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    aucs = [
        _auc(proba[:, k], y_true == k)
        for k in range(proba.shape[1])
        if 0 < (y_true == k).sum() < len(y_true)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_report(y_true, proba, *, n_classes: int | None = None) -> ClassificationReport:
    """Metrics from true labels (N,) and class probabilities (N, K).

    Examples
    --------
    >>> r = classification_report([0, 1, 2, 2], np.eye(3)[[0, 1, 2, 1]])
    >>> r.accuracy, round(r.macro_f1, 3)
    (0.75, 0.778)
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    k = n_classes or proba.shape[1]
    y_pred = proba.argmax(axis=1)
    confusion = np.zeros((k, k), int)
    np.add.at(confusion, (y_true, y_pred), 1)
    tp = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(0), confusion.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0
    )
    present = (actual + predicted) > 0
    return ClassificationReport(
        accuracy=float(tp.sum() / max(len(y_true), 1)),
        precision=precision,
        recall=recall,
        f1=f1,
        macro_precision=float(precision[present].mean()),
        macro_recall=float(recall[present].mean()),
        macro_f1=float(f1[present].mean()),
        roc_auc=roc_auc_ovr(y_true, proba),
        confusion=confusion,
    )
