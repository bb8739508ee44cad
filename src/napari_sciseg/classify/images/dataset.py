"""Image classification data sets: a folder per class, or a CSV.

A **folder per class**: ``DATA/<class>/<image>`` (sub-folders of a class folder
are searched too); the class is the folder's name. A **CSV**:
``file,class[,group][,metadata...]`` with ``file`` relative to the CSV; ``group``
(or ``sample``) names images that share a sample so that cross-validation never
splits them; every other column is kept as metadata. A CSV without a ``class``
column lists images to predict.

Errors name the problem, the file and the fix: a class folder without images,
fewer than two classes, images whose channel count differs from the rest.
Unreadable images are skipped and named (:attr:`LoadedImages.skipped`), never
silently dropped.

Examples
--------
>>> import tempfile
>>> from napari_sciseg.data.cnt import write_cnt_dataset
>>> root = write_cnt_dataset(tempfile.mkdtemp(), 12, shape=(32, 32))
>>> ds = read_image_dataset(root)
>>> ds.class_names, len(ds)
(('cluster', 'fiber', 'matrix', 'mixed'), 14)
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ImageDataset",
    "LoadedImages",
    "read_image_dataset",
    "list_images",
    "load_images",
    "read_any_image",
]

logger = logging.getLogger(__name__)

#: plain picture formats read besides the microscopy formats of :mod:`napari_sciseg.io`.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GROUP_COLUMNS = ("group", "sample")


def _suffixes() -> tuple[str, ...]:
    from ...io import supported_suffixes

    return tuple(s.lower() for s in supported_suffixes()) + PICTURE_SUFFIXES


@dataclass(frozen=True)
class ImageDataset:
    """Files with their class, sample group and metadata.

    ``labels[i]`` indexes ``class_names`` (-1: unlabelled, for prediction);
    ``groups[i]`` is the sample (the file itself when the data set has none).
    """

    files: tuple[Path, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    groups: np.ndarray
    metadata: dict = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return len(self.files)

    @property
    def has_groups(self) -> bool:
        """True when the data set named sample groups (not one group per image)."""
        return len(np.unique(self.groups)) < len(self.groups)

    def counts(self) -> dict:
        """Images per class name."""
        n = np.bincount(self.labels[self.labels >= 0], minlength=len(self.class_names))
        return dict(zip(self.class_names, n.tolist()))

    def subset(self, index) -> ImageDataset:
        """The images at ``index`` (same class names)."""
        index = np.asarray(index, int)
        meta = {k: [v[i] for i in index] for k, v in self.metadata.items()}
        return ImageDataset(tuple(self.files[i] for i in index), self.labels[index],
                            self.class_names, self.groups[index], meta, self.source)


def list_images(folder) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted), by suffix."""
    suffixes = _suffixes()
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))


def _from_folders(root: Path) -> ImageDataset:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        loose = list_images(root)
        return ImageDataset(tuple(loose), np.full(len(loose), -1), (),
                            np.array([str(p) for p in loose]), {}, str(root))
    files, labels = [], []
    for k, d in enumerate(class_dirs):
        found = list_images(d)
        if not found:
            raise ValueError(
                f"Class folder {d} holds no images (looked for {', '.join(_suffixes())}). "
                "Add images to it or remove the folder.")
        files += found
        labels += [k] * len(found)
    return ImageDataset(tuple(files), np.array(labels), tuple(d.name for d in class_dirs),
                        np.array([str(p) for p in files]), {}, str(root))


def _from_csv(table: Path, class_names=None) -> ImageDataset:
    with open(table, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "file" not in rows[0]:
        raise ValueError(f"{table}: expected a CSV with a 'file' column "
                         "(file,class[,group][,metadata...]); found none.")
    columns = list(rows[0])
    group_col = next((c for c in _GROUP_COLUMNS if c in columns), None)
    files = tuple((table.parent / r["file"]).resolve() for r in rows)
    if "class" in columns:
        names = tuple(sorted({r["class"].strip() for r in rows})) if class_names is None \
            else tuple(class_names)
        labels = np.array([names.index(r["class"].strip()) if r["class"].strip() in names
                           else -1 for r in rows])
    else:
        names, labels = tuple(class_names or ()), np.full(len(rows), -1)
    groups = np.array([r[group_col] if group_col else str(f) for r, f in zip(rows, files)])
    meta = {c: [r[c] for r in rows] for c in columns
            if c not in ("file", "class", group_col)}
    return ImageDataset(files, labels, names, groups, meta, str(table))


def read_image_dataset(path, *, require_labels: bool = True, class_names=None) -> ImageDataset:
    """Read a data set: a folder of class folders, or a CSV.

    Parameters
    ----------
    path : str or Path
        The folder or the ``.csv``.
    require_labels : bool
        Training needs at least two classes; prediction accepts unlabelled images
        (a plain folder of images, or a CSV without ``class``).
    class_names : sequence of str, optional
        Fix the class order (a model's classes, when evaluating it on a CSV).

    Returns
    -------
    ImageDataset
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such data set: {path} (a folder of class folders or a CSV).")
    ds = _from_csv(path, class_names) if path.is_file() else _from_folders(path)
    if len(ds) == 0:
        raise ValueError(f"{path}: no images found (looked for {', '.join(_suffixes())}).")
    if require_labels:
        present = [n for n, c in ds.counts().items() if c > 0]
        if len(present) < 2:
            raise ValueError(
                f"{path}: a classifier needs at least two classes; found "
                f"{present or 'none'}. Add a folder (or CSV rows) for another class.")
        if len(np.unique(ds.groups)) == 1:
            raise ValueError(
                f"{path}: the group column puts every image in one group "
                f"({ds.groups[0]!r}), so no image can be held out. Give images of "
                "different samples different groups, or drop the column.")
    return ds


def read_any_image(path) -> tuple[np.ndarray, float | None]:
    """One image as (C, Y, X) float32 and its pixel size in nm (None when unknown).

    Grey pictures saved as RGB(A) become one channel; other colour pictures keep
    three.
    """
    path = Path(path)
    if path.suffix.lower() in PICTURE_SUFFIXES:
        import imageio.v3 as iio

        data = np.asarray(iio.imread(path))
        spacing, axes = None, "YXC" if data.ndim == 3 else "YX"
    else:
        from ...io import read_image

        img = read_image(path)
        data, axes = np.asarray(img.data), img.axes
        spacing = float(np.mean(img.spacing[-2:])) if img.calibrated else None
    if axes.endswith("C") or (data.ndim == 3 and data.shape[-1] in (3, 4) and "C" not in axes):
        data = np.moveaxis(data[..., :3], -1, 0)
        if (data == data[:1]).all():
            data = data[:1]
    elif data.ndim == 2:
        data = data[None]
    elif data.ndim != 3:
        raise ValueError(f"{path}: expected a 2D image (Y, X) or (C, Y, X); got axes {axes}.")
    return data.astype(np.float32), spacing


@dataclass(frozen=True)
class LoadedImages:
    """The readable images of a data set, in order, and the files that were skipped."""

    images: list
    spacings: list
    dataset: ImageDataset
    skipped: tuple = ()


def load_images(dataset: ImageDataset, *, n_channels: int | None = None) -> LoadedImages:
    """Read every image of ``dataset``; unreadable files are skipped and named.

    Parameters
    ----------
    dataset : ImageDataset
    n_channels : int, optional
        The channel count every image must have (a model's); default that of
        the first readable image.

    Returns
    -------
    LoadedImages
        ``dataset`` narrowed to the readable images; ``skipped`` holds
        ``"file: reason"`` strings.
    """
    images, spacings, keep, skipped = [], [], [], []
    for i, f in enumerate(dataset.files):
        try:
            data, spacing = read_any_image(f)
        except (OSError, ValueError, SyntaxError, RuntimeError) as exc:
            skipped.append(f"{f}: {exc}")
            logger.warning("skipped unreadable image %s (%s)", f, exc)
            continue
        if n_channels is None:
            n_channels = data.shape[0]
        if data.shape[0] != n_channels:
            raise ValueError(
                f"{f} has {data.shape[0]} channel(s) but the data set (or model) has "
                f"{n_channels}. Use images with the same channels throughout, or move it out.")
        images.append(data)
        spacings.append(spacing)
        keep.append(i)
    if not images:
        raise ValueError(f"None of the {len(dataset)} images could be read: {'; '.join(skipped)}")
    return LoadedImages(images, spacings, dataset.subset(keep), tuple(skipped))
