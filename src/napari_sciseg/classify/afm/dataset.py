"""AFM crystal-class data sets: classes, the CSV, metadata encoding, grouped splits.

A data set is a CSV beside the scans. Required column ``file`` (path relative
to the CSV). Labels come from ``class`` (one of :data:`CLASSES`) or from the
counts ``spherulite_count`` and ``lamellar_count`` (class from the spherulite
fraction f = S / (S + L), see :class:`ClassCutoffs`). Optional ``sample``
groups scans for splitting (no sample is ever in both train and test, see
:func:`napari_sciseg.evaluate.classification.grouped_kfold`) and
``nm_per_px`` overrides the pixel size (nm). Every other column is metadata:
categorical columns with at most 3 distinct values are one-hot encoded, numeric
columns standardised, other text columns dropped (with a log message).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "CLASSES",
    "ClassCutoffs",
    "class_from_fraction",
    "class_from_counts",
    "AfmDataset",
    "read_dataset",
    "MetadataEncoder",
    "LABEL_COLUMNS",
]

logger = logging.getLogger(__name__)

CLASSES = (
    "Equal",
    "Majority Spherulite",
    "Majority Lamellar",
    "Vast Majority Spherulite",
    "Vast Majority Lamellar",
)
LABEL_COLUMNS = ("file", "class", "spherulite_count", "lamellar_count", "sample", "nm_per_px")


@dataclass(frozen=True)
class ClassCutoffs:
    """Cut-offs on the spherulite fraction f = S / (S + L).

    Equal: ``equal_low <= f <= equal_high``; Majority Spherulite:
    ``equal_high < f <= vast_high``; Vast Majority Spherulite: ``f > vast_high``;
    symmetric on the lamellar side (Majority Lamellar ``vast_low <= f < equal_low``,
    Vast Majority Lamellar ``f < vast_low``). The study does not publish its
    cut-offs; these defaults split the fraction axis in fifths around 0.5.
    """

    equal_low: float = 0.4
    equal_high: float = 0.6
    vast_low: float = 0.2
    vast_high: float = 0.8

    def __post_init__(self):
        if not 0 <= self.vast_low <= self.equal_low <= self.equal_high <= self.vast_high <= 1:
            raise ValueError(
                "Cut-offs must satisfy 0 <= vast_low <= equal_low <= equal_high <= vast_high <= 1; "
                f"got {self}."
            )

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def class_from_fraction(fraction: float, cutoffs: ClassCutoffs | None = None) -> str:
    """The class of a spherulite fraction.

    Examples
    --------
    >>> class_from_fraction(0.5), class_from_fraction(0.7), class_from_fraction(0.1)
    ('Equal', 'Majority Spherulite', 'Vast Majority Lamellar')
    """
    c = cutoffs or ClassCutoffs()
    f = float(fraction)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"A spherulite fraction must be in [0, 1]; got {f}.")
    if c.equal_low <= f <= c.equal_high:
        return "Equal"
    if f > c.vast_high:
        return "Vast Majority Spherulite"
    if f > c.equal_high:
        return "Majority Spherulite"
    if f < c.vast_low:
        return "Vast Majority Lamellar"
    return "Majority Lamellar"


def class_from_counts(spherulites: int, lamellae: int, cutoffs: ClassCutoffs | None = None) -> str:
    """The class from crystal counts S and L.

    Examples
    --------
    >>> class_from_counts(12, 3)
    'Majority Spherulite'
    """
    s, n_l = float(spherulites), float(lamellae)
    if s < 0 or n_l < 0 or not np.isfinite(s + n_l):
        raise ValueError(f"Counts must be non-negative numbers; got S={spherulites}, L={lamellae}.")
    if s + n_l == 0:
        raise ValueError(
            "No crystals counted (S = L = 0): the class is undefined. "
            "Give a 'class' or non-zero counts."
        )
    return class_from_fraction(s / (s + n_l), cutoffs)


@dataclass(frozen=True)
class AfmDataset:
    """A parsed data-set CSV.

    Attributes
    ----------
    files : tuple of Path
        Absolute scan paths.
    labels : (N,) int ndarray or None
        Index into :data:`CLASSES`; None when the CSV has no labels.
    groups : tuple of str
        The ``sample`` of each scan (the file name when there is no column).
    metadata : list of dict
        The metadata columns per scan (raw strings).
    spacing : (N,) float ndarray
        Pixel size in nm from the ``nm_per_px`` column; NaN where not given.
    """

    files: tuple[Path, ...]
    labels: np.ndarray | None
    groups: tuple[str, ...]
    metadata: list[dict]
    spacing: np.ndarray
    metadata_columns: tuple[str, ...] = ()
    cutoffs: ClassCutoffs = field(default_factory=ClassCutoffs)

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, index) -> AfmDataset:
        index = np.asarray(index, dtype=int)
        return AfmDataset(
            files=tuple(self.files[i] for i in index),
            labels=None if self.labels is None else self.labels[index],
            groups=tuple(self.groups[i] for i in index),
            metadata=[self.metadata[i] for i in index],
            spacing=self.spacing[index],
            metadata_columns=self.metadata_columns,
            cutoffs=self.cutoffs,
        )


def read_dataset(
    csv_path: str | Path,
    *,
    cutoffs: ClassCutoffs | None = None,
    require_labels: bool = True,
    group_column: str = "sample",
) -> AfmDataset:
    """Parse and check a data-set CSV (see the module docstring for the columns).

    Parameters
    ----------
    csv_path : str or Path
    cutoffs : ClassCutoffs, optional
        For labels from counts.
    require_labels : bool
        When False (prediction) label columns are optional and ignored.
    group_column : str
        Column that groups scans for splitting.

    Raises
    ------
    ValueError
        No ``file`` column, files that do not exist, unknown class names,
        invalid counts, or no labels when they are required.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"No such data-set CSV: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{csv_path.name} has no rows.")
    columns = [c.strip() for c in rows[0]]
    rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in rows]
    if "file" not in columns:
        raise ValueError(f"{csv_path.name} has no 'file' column; columns are {columns}.")
    files = tuple((csv_path.parent / r["file"]).resolve() for r in rows)
    missing = [r["file"] for r, f in zip(rows, files) if not f.is_file()]
    if missing:
        raise ValueError(
            f"{len(missing)} file(s) listed in {csv_path.name} do not exist (paths are relative "
            f"to the CSV): {missing[:5]}"
        )
    cutoffs = cutoffs or ClassCutoffs()
    labels = None
    has_counts = "spherulite_count" in columns and "lamellar_count" in columns
    if require_labels:
        if "class" in columns:
            unknown = sorted({r["class"] for r in rows} - set(CLASSES))
            if unknown:
                raise ValueError(
                    f"Unknown class name(s) {unknown} in {csv_path.name}; "
                    f"expected one of {list(CLASSES)}."
                )
            labels = np.array([CLASSES.index(r["class"]) for r in rows])
        elif has_counts:
            out = []
            for i, r in enumerate(rows):
                try:
                    s, n_l = float(r["spherulite_count"]), float(r["lamellar_count"])
                    out.append(CLASSES.index(class_from_counts(s, n_l, cutoffs)))
                except ValueError as exc:
                    raise ValueError(f"{csv_path.name} row {i + 2} ({r['file']}): {exc}") from exc
            labels = np.array(out)
        else:
            raise ValueError(
                f"{csv_path.name} has no labels: add a 'class' column (one of {list(CLASSES)}) or "
                "the two columns 'spherulite_count' and 'lamellar_count'."
            )
    groups = tuple(r.get(group_column) or r["file"] for r in rows)
    if group_column not in columns:
        logger.warning("%s: no %r column; each scan is its own group.", csv_path.name, group_column)
    spacing = np.array([float(r["nm_per_px"]) if r.get("nm_per_px") else np.nan for r in rows])
    meta_cols = tuple(c for c in columns if c not in LABEL_COLUMNS and c != group_column)
    metadata = [{c: r.get(c, "") for c in meta_cols} for r in rows]
    return AfmDataset(files, labels, groups, metadata, spacing, meta_cols, cutoffs)


def _as_float(value) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


@dataclass(frozen=True)
class MetadataEncoder:
    """Metadata columns -> a fixed-length float vector; saved with a model.

    Numeric columns are standardised with the training mean and standard
    deviation (missing values -> 0, the mean); categorical columns with at most
    ``max_categories`` distinct training values are one-hot encoded (an unseen
    category -> all zeros). Other columns are dropped.
    """

    numeric: dict = field(default_factory=dict)  # column -> (mean, std)
    categorical: dict = field(default_factory=dict)  # column -> list of categories

    @classmethod
    def fit(cls, rows: list[dict], *, max_categories: int = 3) -> MetadataEncoder:
        """Learn the encoding from training rows (dicts of strings).

        Examples
        --------
        >>> enc = MetadataEncoder.fit([{"a": "1", "f": "yes"}, {"a": "3", "f": "no"}])
        >>> enc.transform([{"a": "2", "f": "yes"}]).round(3).tolist()
        [[0.0, 0.0, 1.0]]
        """
        numeric, categorical = {}, {}
        columns = list(rows[0]) if rows else []
        for col in columns:
            values = [r.get(col, "") for r in rows]
            floats = [_as_float(v) for v in values if v != ""]
            if floats and all(f is not None for f in floats):
                arr = np.array(floats, dtype=float)
                numeric[col] = (float(arr.mean()), float(arr.std() or 1.0))
            else:
                cats = sorted({v for v in values if v != ""})
                if 1 <= len(cats) <= max_categories:
                    categorical[col] = cats
                else:
                    logger.info("metadata column %r has %d categories; dropped.", col, len(cats))
        return cls(numeric, categorical)

    @property
    def n_features(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.categorical.values())

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.numeric) + tuple(self.categorical)

    def transform(self, rows: list[dict]) -> np.ndarray:
        """(N, n_features) float32. Raises ValueError when a column is missing."""
        missing = [c for c in self.columns if rows and c not in rows[0]]
        if missing:
            raise ValueError(
                f"Metadata column(s) {missing} used by the model are missing; the model was "
                f"trained with {list(self.columns)}. Give them with the scan (the data-set CSV's "
                "columns) or use a model trained with use_metadata=False."
            )
        out = np.zeros((len(rows), self.n_features), np.float32)
        for i, r in enumerate(rows):
            j = 0
            for col, (mean, std) in self.numeric.items():
                v = _as_float(r.get(col, ""))
                out[i, j] = 0.0 if v is None else (v - mean) / std
                j += 1
            for col, cats in self.categorical.items():
                v = r.get(col, "")
                if v in cats:
                    out[i, j + cats.index(v)] = 1.0
                j += len(cats)
        return out

    def to_dict(self) -> dict:
        return {
            "numeric": {k: list(v) for k, v in self.numeric.items()},
            "categorical": dict(self.categorical),
        }

    @classmethod
    def from_dict(cls, d: dict) -> MetadataEncoder:
        return cls(
            {k: tuple(v) for k, v in d.get("numeric", {}).items()}, dict(d.get("categorical", {}))
        )
