"""Classification metrics and grouped splits (numpy), for any classifier of whole images.

Accuracy, per-class and macro precision / recall / F1, one-vs-rest ROC AUC and
the confusion matrix (:func:`classification_report`); splits that keep every
group (a sample, a film, a specimen) on one side (:func:`grouped_split`,
:func:`grouped_kfold`); and a bootstrap over groups of the macro F1
(:func:`grouped_bootstrap`), for intervals that respect that scans of one sample
are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ClassificationReport",
    "classification_report",
    "roc_auc_ovr",
    "grouped_split",
    "grouped_kfold",
    "grouped_bootstrap",
]


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

    Parameters
    ----------
    y_true : (N,) int array-like
        True class indices.
    proba : (N, K) array-like
        Class probabilities; the prediction is their argmax.
    n_classes : int, optional
        K when some classes are missing from both (default: ``proba.shape[1]``).

    Returns
    -------
    ClassificationReport
        Accuracy, per-class and macro precision/recall/F1, ROC AUC, confusion matrix.

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


def grouped_split(
    groups, labels=None, *, test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split scan indices so that no group (sample) is in both parts.

    Groups are shuffled with ``seed`` and added to the test part until it holds
    about ``test_fraction`` of the scans; with labels, the split among a few
    random shuffles that best covers every class in both parts is kept.

    Parameters
    ----------
    groups : (N,) array-like
        The group (sample) of each scan.
    labels : (N,) array-like, optional
        Class of each scan, to keep every class in both parts where possible.
    test_fraction : float
        Share of the scans in the test part.
    seed : int
        Seeds the shuffles.

    Returns
    -------
    train_index, test_index : int ndarrays

    Examples
    --------
    >>> tr, te = grouped_split(["a", "a", "b", "b", "c", "c", "d", "d"], test_fraction=0.25)
    >>> len(tr), len(te)
    (6, 2)
    """
    groups = np.asarray([str(g) for g in groups])
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError(f"Need at least 2 groups (samples) to split; got {len(unique)}.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}.")
    rng = np.random.default_rng(seed)
    best, best_score = None, -1.0
    for _ in range(20 if labels is not None else 1):
        order = rng.permutation(unique)
        test_groups, n_test = [], 0
        for g in order:
            if n_test >= test_fraction * len(groups) or len(test_groups) == len(unique) - 1:
                break
            test_groups.append(g)
            n_test += int((groups == g).sum())
        is_test = np.isin(groups, test_groups)
        score = 0.0
        if labels is not None:
            labels = np.asarray(labels)
            score = len(set(labels[is_test])) + len(set(labels[~is_test]))
            score -= abs(is_test.mean() - test_fraction)
        if score > best_score:
            best, best_score = is_test, score
    return np.flatnonzero(~best), np.flatnonzero(best)


def grouped_kfold(groups, labels=None, *, n_folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Fold index of grouped k-fold cross-validation: every scan is tested exactly once.

    Whole groups (samples) are dealt to folds, so no sample is ever in the
    training and the test part of one fold. Groups are taken largest first (ties
    in a ``seed``-shuffled order) and each goes to the fold that then holds the
    fewest scans; with labels, ties are broken towards the fold that lacks the
    group's most common class, so classes spread over the folds.

    Parameters
    ----------
    groups : (N,) sequence
        Sample of each scan.
    labels : (N,) int sequence, optional
        Class index of each scan.
    n_folds : int
        At least 2 and at most the number of groups.
    seed : int
        Seed of the group order.

    Returns
    -------
    list of int ndarrays
        ``n_folds`` test indices; fold k trains on every scan not in ``folds[k]``.

    Examples
    --------
    >>> folds = grouped_kfold(["a", "a", "b", "b", "c", "c"], n_folds=3)
    >>> sorted(len(f) for f in folds), sorted(int(i) for f in folds for i in f)
    ([2, 2, 2], [0, 1, 2, 3, 4, 5])
    """
    groups = np.asarray([str(g) for g in groups])
    unique = np.unique(groups)
    if not 2 <= int(n_folds) <= len(unique):
        raise ValueError(
            f"n_folds must be between 2 and the number of groups (samples), "
            f"{len(unique)}; got {n_folds}. Use fewer folds or more samples."
        )
    n_folds = int(n_folds)
    labels = None if labels is None else np.asarray(labels)
    rng = np.random.default_rng(seed)
    order = rng.permutation(unique)
    sizes = np.array([(groups == g).sum() for g in order])
    order = order[np.argsort(-sizes, kind="stable")]
    fold_of_group: dict[str, int] = {}
    n_in = np.zeros(n_folds, int)
    seen: list[set] = [set() for _ in range(n_folds)]
    for g in order:
        members = groups == g
        cost = n_in.astype(float)
        if labels is not None:
            common = np.bincount(labels[members]).argmax()
            cost += 0.5 * np.array([common in s for s in seen])
        k = int(np.argmin(cost))
        fold_of_group[g] = k
        n_in[k] += int(members.sum())
        if labels is not None:
            seen[k].update(labels[members].tolist())
    fold = np.array([fold_of_group[g] for g in groups])
    return [np.flatnonzero(fold == k) for k in range(n_folds)]


def grouped_bootstrap(
    labels, groups, probas, *, n: int = 1000, seed: int = 0, n_classes: int | None = None
) -> np.ndarray:
    """Macro F1 of each of ``probas`` on ``n`` resamplings of whole groups.

    Parameters
    ----------
    labels : (N,) int sequence
        True class of each item.
    groups : (N,) sequence
        Group (sample) of each item; groups are drawn with replacement.
    probas : sequence of (N, K) ndarrays
        Class probabilities of one or more classifiers on the same items (paired).
    n, seed : int
        Resamplings and their seed.
    n_classes : int, optional
        K (the probabilities' width by default).

    Returns
    -------
    (n, len(probas)) ndarray

    Examples
    --------
    >>> p = np.eye(2)[[0, 1, 1, 1]]
    >>> f1 = grouped_bootstrap([0, 1, 0, 1], ["a", "a", "b", "b"], [p], n=50)
    >>> f1.shape, bool((f1 <= 1).all())
    ((50, 1), True)
    """
    labels = np.asarray(labels)
    groups = np.asarray([str(g) for g in groups])
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in unique]
    out = np.empty((n, len(probas)))
    for b in range(n):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(unique), len(unique))])
        for j, p in enumerate(probas):
            out[b, j] = classification_report(labels[idx], p[idx], n_classes=n_classes).macro_f1
    return out
