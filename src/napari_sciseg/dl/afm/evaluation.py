"""Held-out evaluation of AFM crystal-class models, for the CLI, the recipe and benchmarks.

:func:`evaluate` scores a trained model on labelled scans it did not see;
:func:`cross_validate` trains one model per fold of whole samples and predicts
each scan once, by a model that never saw its sample (pooled out-of-fold
predictions, far less noisy than one small test set).

>>> import tempfile
>>> from napari_sciseg.classify.afm.dataset import read_dataset
>>> from napari_sciseg.data.afm import afm_dataset
>>> from napari_sciseg.dl.afm import train_afm
>>> from napari_sciseg.evaluate.classification import grouped_kfold, grouped_split
>>> data = read_dataset(afm_dataset(tempfile.mkdtemp(), n_scans=8, n_samples=4,
...                                 shape=(64, 64)))
>>> fit, held_out = grouped_split(data.groups, data.labels, test_fraction=0.25)
>>> result = evaluate(train_afm(data.subset(fit), fusion="texture"), data.subset(held_out))
>>> result.probabilities.shape, 0.0 <= result.report.accuracy <= 1.0
((2, 5), True)
>>> cv = cross_validate(data, grouped_kfold(data.groups, data.labels, n_folds=2),
...                     fusion="texture")
>>> cv.probabilities.shape, len(cv.fold_f1)
((8, 5), 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...classify.afm.dataset import CLASSES, AfmDataset
from ...classify.afm.model import AfmModel
from ...classify.afm.scans import prepare_dataset
from ...evaluate.classification import ClassificationReport, classification_report
from .predict import predict_scan

__all__ = ["Evaluation", "CrossValidation", "predict_dataset", "evaluate", "cross_validate"]


@dataclass(frozen=True)
class Evaluation:
    """Metrics of a model on labelled scans and its class probabilities (N, K)."""

    report: ClassificationReport
    probabilities: np.ndarray


@dataclass(frozen=True)
class CrossValidation:
    """Pooled out-of-fold results of grouped cross-validation.

    Attributes
    ----------
    report : ClassificationReport
        Of the pooled out-of-fold probabilities.
    probabilities : (N, K) ndarray
        Each scan's, from the model of the fold that held it out.
    fold_f1 : tuple of float
        Macro F1 per fold.
    seconds : tuple of float
        Training time per fold.
    models : tuple of AfmModel
        The fold models (their configs hold e.g. the metadata ridge).
    """

    report: ClassificationReport
    probabilities: np.ndarray
    fold_f1: tuple
    seconds: tuple
    models: tuple


def predict_dataset(
    model: AfmModel,
    dataset: AfmDataset,
    *,
    prepared: list[np.ndarray] | None = None,
    symmetries: int = 1,
) -> np.ndarray:
    """Class probabilities (N, K) of every scan of a data set.

    Parameters
    ----------
    model : AfmModel
    dataset : AfmDataset
        Labels are not needed.
    prepared : list of ndarrays, optional
        The scans prepared at ``model.config.target_spacing`` with the model's
        normalisation (loaded and prepared here otherwise).
    symmetries : {1, 2, 4, 8}
        As in :func:`~napari_sciseg.dl.afm.predict.predict_scan`.

    Returns
    -------
    (N, K) ndarray
        The class probabilities of every scan, in the order of :data:`CLASSES`.
    """
    cfg = model.config
    if not cfg.channels:
        prepared = [None] * len(dataset)
    elif prepared is None:
        prepared = prepare_dataset(
            dataset, cfg.channels, cfg.target_spacing, normalize=cfg.normalization
        )[0]
    return np.stack(
        [
            predict_scan(
                model, s, metadata=m, prepared=True, symmetries=symmetries, class_map=False
            ).probabilities
            for s, m in zip(prepared, dataset.metadata)
        ]
    )


def evaluate(
    model: AfmModel,
    dataset: AfmDataset,
    *,
    prepared: list[np.ndarray] | None = None,
    symmetries: int = 1,
) -> Evaluation:
    """Score a trained model on labelled scans (of samples it did not see).

    Parameters
    ----------
    model : AfmModel
    dataset : AfmDataset
        Labelled scans.
    prepared, symmetries
        As in :func:`predict_dataset`.

    Returns
    -------
    Evaluation
        Accuracy, per-class and macro P/R/F1, ROC AUC, confusion matrix, and the
        probabilities.

    Raises
    ------
    ValueError
        When the data set has no labels.
    """
    if dataset.labels is None:
        raise ValueError("evaluate needs labelled scans ('class' or counts); got none.")
    proba = predict_dataset(model, dataset, prepared=prepared, symmetries=symmetries)
    return Evaluation(classification_report(dataset.labels, proba, n_classes=len(CLASSES)), proba)


def cross_validate(
    dataset: AfmDataset,
    folds: list[np.ndarray],
    *,
    train: Callable[..., AfmModel] | None = None,
    prepared: list[np.ndarray] | None = None,
    symmetries: int = 1,
    **train_kwargs,
) -> CrossValidation:
    """Train on all folds but one, predict that one; every scan is predicted once.

    Parameters
    ----------
    dataset : AfmDataset
        Labelled scans.
    folds : list of int ndarrays
        Test indices per fold, whole samples each
        (:func:`~napari_sciseg.evaluate.classification.grouped_kfold`).
    train : callable, optional
        ``train(subset, prepared=..., **train_kwargs) -> AfmModel``;
        :func:`~napari_sciseg.dl.afm.train.train_afm` by default.
    prepared : list of ndarrays, optional
        Every scan prepared once, at the ``target_spacing`` and ``normalize``
        given in ``train_kwargs`` (saves reloading per fold).
    symmetries : int
        As in :func:`predict_dataset`.
    **train_kwargs
        Passed to ``train``.

    Returns
    -------
    CrossValidation
    """
    if train is None:
        from .train import train_afm as train
    labels = np.asarray(dataset.labels)
    proba = np.zeros((len(dataset), len(CLASSES)))
    fold_f1, seconds, models = [], [], []
    for test in folds:
        fit = np.setdiff1d(np.arange(len(dataset)), test)
        t0 = time.perf_counter()
        model = train(
            dataset.subset(fit),
            prepared=None if prepared is None else [prepared[i] for i in fit],
            **train_kwargs,
        )
        seconds.append(time.perf_counter() - t0)
        proba[test] = predict_dataset(
            model,
            dataset.subset(test),
            prepared=None if prepared is None else [prepared[i] for i in test],
            symmetries=symmetries,
        )
        fold_f1.append(classification_report(labels[test], proba[test], n_classes=5).macro_f1)
        models.append(model)
    report = classification_report(labels, proba, n_classes=len(CLASSES))
    return CrossValidation(report, proba, tuple(fold_f1), tuple(seconds), tuple(models))
