"""A training recipe that chooses its configuration on the user's own data.

Grouped inner cross-validation (whole samples per fold) scores a small menu of
candidates on the training scans: the texture classifier (texture statistics +
gradient boosting, the classical baseline) and a few networks (fusion variant,
tile size, number of steps). The candidate with the best pooled out-of-fold
macro F1 is trained on all the scans and shipped, unless it beats the texture
classifier (the first candidate) by no more than the standard error of their
paired per-fold difference: then the texture classifier is shipped. So a
network ships only when it clearly beat texture + boosting on these data. The choice, every
candidate's score and the chosen candidate's out-of-fold confusion matrix are
stored in ``config.selection``.

Tile size and pixel size come from the data: scans are resampled to the median
pixel size, and the tile is 128 px or the smallest scan's side (multiples of 16).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass

import numpy as np

from ...classify.afm.dataset import CLASSES, AfmDataset, MetadataEncoder
from ...classify.afm.model import AfmModel
from ...classify.afm.scans import CHANNEL_ROLES, prepare_dataset
from ...classify.afm.training import auto_tile, default_normalization
from ...evaluate.classification import grouped_kfold
from .evaluation import cross_validate
from .train import AfmProgress, train_afm

__all__ = [
    "Candidate",
    "default_menu",
    "inner_folds",
    "iter_train_recipe",
    "train_recipe",
    "selection_report",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One configuration of the menu: a fusion variant and its training options."""

    name: str
    fusion: str
    tile: int | None = None
    steps: int = 0
    use_metadata: bool = False

    def options(self) -> dict:
        """Keyword arguments of :func:`~napari_sciseg.dl.afm.train.train_afm`."""
        out = {"fusion": self.fusion, "use_metadata": self.use_metadata, "tile": self.tile}
        if self.steps:
            out["steps"] = self.steps
        return out


def default_menu(tile: int, *, steps: int = 200, metadata: bool = False) -> tuple[Candidate, ...]:
    """The candidates tried: texture first, then networks of two fusions, tiles and lengths.

    Small on purpose (the inner cross-validation trains each candidate once per
    fold on a CPU): texture statistics + boosting, early fusion at the data's
    tile and at half of it, and hybrid fusion at half the tile for half the steps.

    Parameters
    ----------
    tile : int
        The data's tile (:func:`~napari_sciseg.classify.afm.training.auto_tile`).
    steps : int
        Training steps of the networks (half of it is a candidate too).
    metadata : bool
        Whether the networks may add the metadata term (it is switched off by
        its own cross-validation when the fields do not help).

    Returns
    -------
    tuple of Candidate

    Examples
    --------
    >>> [c.name for c in default_menu(128)]
    ['texture', 'early 128px 200', 'early 64px 200', 'hybrid 64px 100']
    """
    half = max(32, tile // 2 // 16 * 16)
    nets = [("early", tile, steps), ("early", half, steps), ("hybrid", half, steps // 2)]
    return (Candidate("texture", "texture"),) + tuple(
        Candidate(f"{f} {t}px {s}", f, t, s, metadata) for f, t, s in nets
    )


def inner_folds(groups, labels, n_folds: int, *, seed: int = 0):
    """Grouped folds for the inner cross-validation, fewer when there are fewer samples.

    Returns
    -------
    folds : list of int ndarrays
        Test indices per fold (whole samples).
    note : str
        Empty, or what was changed and why (to tell the user).

    Raises
    ------
    ValueError
        With fewer than 2 samples (no grouped cross-validation is possible).
    """
    n_groups = len(set(str(g) for g in groups))
    if n_groups < 2:
        raise ValueError(
            f"The recipe cross-validates over samples and needs at least 2; the data set has "
            f"{n_groups}. Give each film its own 'sample', or choose a fusion explicitly."
        )
    note = ""
    if n_groups < n_folds:
        note = (
            f"only {n_groups} samples: inner cross-validation with {n_groups} folds "
            f"instead of {n_folds}"
        )
        logger.warning(note)
        n_folds = n_groups
    return grouped_kfold(groups, labels, n_folds=n_folds, seed=seed), note


def _check_classes(labels) -> None:
    present = sorted(set(np.asarray(labels).tolist()))
    if len(present) < 2:
        names = [CLASSES[i] for i in present]
        raise ValueError(
            f"Training needs scans of at least 2 classes; the data set has only {names}."
        )


def _prepared(dataset, target_spacing):
    """Scans prepared once per normalisation the menu needs, at one pixel size."""
    scans, target_spacing = prepare_dataset(
        dataset, CHANNEL_ROLES, target_spacing, normalize="median"
    )
    texture, _ = prepare_dataset(
        dataset, CHANNEL_ROLES, target_spacing, normalize=default_normalization("texture")
    )
    return {"median": scans, "scan": texture}, target_spacing


def _choose(scores: list[dict], cvs: list) -> tuple[int, str]:
    """Index of the candidate to ship, and why.

    The best pooled macro F1 (the first of ties), unless it beats the first
    candidate (texture + boosting) by no more than the standard error of their
    paired per-fold difference: with a few samples per fold the scores are
    noisy, and the simpler classifier is kept unless a network is clearly better
    (the one-standard-error rule, as for the metadata term).

    Examples
    --------
    >>> s = [{"name": "texture", "macro_f1": 0.5}, {"name": "early", "macro_f1": 0.6}]
    >>> class CV:
    ...     def __init__(self, f): self.fold_f1 = f
    >>> _choose(s, [CV([0.5, 0.5, 0.5]), CV([0.6, 0.62, 0.58])])[0]
    1
    >>> _choose(s, [CV([0.5, 0.5, 0.5]), CV([0.2, 0.9, 0.7])])[0]
    0
    """
    f1 = [s["macro_f1"] for s in scores]
    best = int(np.argmax(f1))
    if best == 0:
        return 0, "best cross-validated macro F1"
    diff = np.subtract(cvs[best].fold_f1, cvs[0].fold_f1)
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else np.inf
    if f1[best] - f1[0] <= se:
        return 0, (
            f"{scores[best]['name']} scored {f1[best] - f1[0]:+.3f} over texture, within one "
            f"standard error of the per-fold difference ({se:.3f}): texture kept"
        )
    return (
        best,
        f"best cross-validated macro F1, {f1[best] - f1[0]:+.3f} over texture (SE {se:.3f})",
    )


def _score(cv, candidate, seconds) -> dict:
    return {
        **asdict(candidate),
        "macro_f1": round(float(cv.report.macro_f1), 4),
        "accuracy": round(float(cv.report.accuracy), 4),
        "fold_f1": [round(float(f), 4) for f in cv.fold_f1],
        "seconds": round(seconds, 1),
    }


def iter_train_recipe(
    dataset: AfmDataset,
    *,
    menu: tuple[Candidate, ...] | None = None,
    n_folds: int = 3,
    steps: int = 200,
    tile: int | None = None,
    target_spacing: float | None = None,
    use_metadata: bool | None = None,
    seed: int = 0,
    cancel: threading.Event | None = None,
) -> Generator[AfmProgress, None, AfmModel]:
    """Choose a configuration by grouped inner cross-validation, then train it on all scans.

    Parameters
    ----------
    dataset : AfmDataset
        Labelled scans with a ``sample`` per scan (the folds hold out whole samples).
    menu : tuple of Candidate, optional
        :func:`default_menu` of the data's tile by default.
    n_folds : int
        Inner folds (fewer when there are fewer samples, with a note).
    steps : int
        Training steps of the networks in the default menu.
    tile : int, optional
        The networks' tile in the default menu; from the scans by default.
    target_spacing : float, optional
        Pixel size (nm) scans are resampled to; their median by default.
    use_metadata : bool, optional
        Let the networks use the metadata columns; by default when the CSV has any.
    seed : int
        Seed of the folds and of every training; the same seed gives the same choice.
    cancel : threading.Event, optional
        Set it to stop after the current candidate; the best candidate so far is trained.

    Yields
    ------
    AfmProgress
        After each candidate (``message`` names it and its score) and at the end.

    Returns
    -------
    AfmModel
        The chosen candidate trained on all scans; ``config.selection`` holds
        ``chosen``, ``candidates`` (name, options, macro F1, accuracy, per-fold F1,
        seconds), ``confusion`` (the chosen candidate's out-of-fold confusion matrix),
        ``n_folds``, ``note`` and ``train_seconds``.

    Raises
    ------
    ValueError
        One class only, fewer than 2 samples, no labels.
    """
    t0 = time.perf_counter()
    if dataset.labels is None:
        raise ValueError("The data set has no labels; training needs 'class' or counts.")
    _check_classes(dataset.labels)
    folds, note = inner_folds(dataset.groups, dataset.labels, n_folds, seed=seed)
    prepared, target_spacing = _prepared(dataset, target_spacing)
    if menu is None:
        if use_metadata is None:
            use_metadata = MetadataEncoder.fit(dataset.metadata).n_features > 0
        tile = tile or auto_tile(prepared["median"])
        menu = default_menu(tile, steps=steps, metadata=use_metadata)
    scores, cvs = [], []
    for i, cand in enumerate(menu):
        if cancel is not None and cancel.is_set() and scores:
            break
        t1 = time.perf_counter()
        norm = default_normalization(cand.fusion)
        cv = cross_validate(
            dataset,
            folds,
            prepared=prepared[norm],
            target_spacing=target_spacing,
            seed=seed,
            **cand.options(),
        )
        scores.append(_score(cv, cand, time.perf_counter() - t1))
        cvs.append(cv)
        msg = f"{cand.name}: cross-validated macro F1 {cv.report.macro_f1:.3f}"
        yield AfmProgress(i + 1, len(menu) + 1, float("nan"), time.perf_counter() - t0, msg)
    best, rule = _choose(scores, cvs)
    chosen = menu[best]
    norm = default_normalization(chosen.fusion)
    model = train_afm(
        dataset,
        prepared=prepared[norm],
        target_spacing=target_spacing,
        seed=seed,
        **chosen.options(),
    )
    selection = {
        "chosen": chosen.name,
        "candidates": scores,
        "confusion": cvs[best].report.confusion.tolist(),
        "n_folds": len(folds),
        "note": note,
        "rule": rule,
        "seed": seed,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    model.config = model.config.replace(selection=selection)
    yield AfmProgress(
        len(menu) + 1,
        len(menu) + 1,
        float("nan"),
        time.perf_counter() - t0,
        f"trained {chosen.name} on all scans",
    )
    return model


def train_recipe(dataset: AfmDataset, **kwargs) -> AfmModel:
    """Drain :func:`iter_train_recipe` and return the model.

    Parameters
    ----------
    dataset : AfmDataset
        Labelled scans with a sample per scan.
    **kwargs
        The options of :func:`iter_train_recipe` (``menu``, ``n_folds``, ``seed``, ...).

    Returns
    -------
    AfmModel
        The chosen candidate trained on all scans; ``config.selection`` says why.

    Examples
    --------
    >>> import tempfile
    >>> from napari_sciseg.classify.afm.dataset import read_dataset
    >>> from napari_sciseg.data.afm import afm_dataset
    >>> data = read_dataset(afm_dataset(tempfile.mkdtemp(), n_scans=8, n_samples=4,
    ...                                 shape=(64, 64)))
    >>> model = train_recipe(data, menu=(Candidate("texture", "texture"),), n_folds=2)
    >>> model.config.selection["chosen"], model.config.fusion
    ('texture', 'texture')
    """
    from ..._generators import drain

    return drain(iter_train_recipe(dataset, **kwargs))


def selection_report(selection: dict) -> str:
    """The recipe's choice as text: the cross-validation table, the choice, its confusion.

    Parameters
    ----------
    selection : dict
        ``config.selection`` of a model the recipe trained.

    Returns
    -------
    str
        A table of the candidates' cross-validated scores, the choice and its confusion.

    Examples
    --------
    >>> sel = {"chosen": "texture", "n_folds": 2, "note": "", "train_seconds": 3.0,
    ...        "confusion": [[1, 0], [0, 1]],
    ...        "candidates": [{"name": "texture", "macro_f1": 0.9, "accuracy": 0.9,
    ...                        "fold_f1": [0.8, 1.0], "seconds": 1.0}]}
    >>> print(selection_report(sel).splitlines()[2])
    texture                     0.900     0.900  0.80 1.00      1 s
    """
    lines = [
        f"grouped {selection['n_folds']}-fold cross-validation over samples"
        + (f" ({selection['note']})" if selection.get("note") else ""),
        f"{'candidate':24s} macro F1  accuracy  fold F1       time",
    ]
    for c in selection["candidates"]:
        folds = " ".join(f"{f:.2f}" for f in c["fold_f1"])
        lines.append(
            f"{c['name']:24s} {c['macro_f1']:8.3f}  {c['accuracy']:8.3f}  {folds:12s}"
            f"{c['seconds']:4.0f} s"
        )
    lines.append(
        f"chosen: {selection['chosen']} (trained on all scans; total "
        f"{selection['train_seconds']:.0f} s)"
    )
    lines.append("out-of-fold confusion of the chosen (rows true, columns predicted):")
    lines += ["  " + " ".join(f"{v:3d}" for v in row) for row in selection["confusion"]]
    return "\n".join(lines)
