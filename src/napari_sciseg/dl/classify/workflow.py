"""Image classification workflows shared by ``sciseg classify`` and the "Classify images" widget.

Train (:func:`iter_train_classifier`), cross-validate (:func:`iter_cross_validate`),
predict whole images (:func:`predict_images`) or tiles (:func:`predict_tiles`, a
class map). The ``*_dataset`` versions take a data set path (a folder of class
folders or a CSV, :mod:`napari_sciseg.classify.images.dataset`).

Every image is first prepared the same way (:mod:`napari_sciseg.classify.images.prepare`):
resampled to one pixel size chosen from the data and normalised. Training on a
small, imbalanced set: rarer classes get D4 copies (``augment``) and every class
the same total weight (``balance``); probabilities are calibrated by a
temperature fitted on inner, grouped cross-validation (``calibrate``).

Examples
--------
>>> from napari_sciseg.data.cnt import cnt_images
>>> s = cnt_images(16, shape=(32, 32), seed=1)
>>> model = train_classifier(s.images, s.labels, s.class_names, representation="texture",
...                          n_estimators=10, calibrate=False)
>>> predict_images(model, s.images[:2]).shape
(2, 4)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..._generators import drain
from ...classify.images.balance import augment_rare, class_weights
from ...classify.images.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
)
from ...classify.images.model import BOOSTED, ClassifierConfig, ClassifyOptions, ImageClassifier
from ...classify.images.prepare import choose_spacing, choose_tile, prepare_image, tile_starts
from .features import load_encoder, pixel_features_of
from .progress import ClassifyProgress

__all__ = [
    "ClassifyProgress",
    "CrossValidation",
    "DatasetPrediction",
    "iter_train_classifier",
    "train_classifier",
    "predict_images",
    "predict_tiles",
    "iter_cross_validate",
    "cross_validate",
    "train_dataset",
    "cross_validate_dataset",
    "predict_dataset",
]

logger = logging.getLogger(__name__)


def _channels_of(images) -> int:
    n = {np.asarray(im).shape[0] if np.ndim(im) == 3 else 1 for im in images}
    if len(n) > 1:
        raise ValueError(f"images must all have the same number of channels; got {sorted(n)}.")
    return n.pop()


def _as_cyx(image) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        return image[None]
    if image.ndim != 3:
        raise ValueError(f"images must be (Y, X) or (C, Y, X); got shape {image.shape}.")
    return image


def prepare_all(images, spacings, target_spacing) -> list[np.ndarray]:
    """Every image as (C, Y, X), resampled to ``target_spacing`` and normalised."""
    spacings = [None] * len(images) if spacings is None else list(spacings)
    return [prepare_image(_as_cyx(im), s, target_spacing=target_spacing)
            for im, s in zip(images, spacings)]


def _fit_boosted(prepared, labels, n_classes, options, encoder):
    """Generator: the boosted trees (a VladModel) on the prepared images."""
    from ...classify.vlad import fit_vlad

    images, labels = list(prepared), np.asarray(labels)
    if options.augment:
        images, labels, _ = augment_rare(images, labels, seed=options.seed)
    feats = []
    for i, im in enumerate(images):
        feats.append(pixel_features_of(im, options, encoder))
        if i % 8 == 7 or i == len(images) - 1:
            yield ClassifyProgress("features", i + 1, len(images))
    weights = class_weights(labels) if options.balance else np.ones(len(labels))
    yield ClassifyProgress("fit", 0, 1, "boosting")
    return fit_vlad(images, labels, n_classes=n_classes, k=options.k,
                    pixels_per_scan=options.pixels_per_image, n_estimators=options.n_estimators,
                    seed=options.seed, descriptor="texture" if options.representation == "texture"
                    else "vlad", features=feats, sample_weight=weights,
                    max_depth=options.max_depth)


def _fit_core(prepared, labels, n_classes, tile, options, encoder, pretrained=None):
    """Generator: (boosted, net) fitted on prepared images (no calibration)."""
    if options.representation in BOOSTED:
        boosted = yield from _fit_boosted(prepared, labels, n_classes, options, encoder)
        return boosted, None
    from .cnn import iter_fit_cnn

    net = yield from iter_fit_cnn(prepared, labels, n_classes, tile=tile, options=options,
                                  pretrained=pretrained)
    return None, net


def descriptors(model: ImageClassifier, prepared) -> np.ndarray:
    """The representation vector of each prepared image (N, F): VLAD/texture or CNN features."""
    if model.boosted is None:
        from .cnn import cnn_embed

        return cnn_embed(model.net, prepared, model.config.tile)
    options = ClassifyOptions.from_dict(model.config.options)
    n = 4 * options.pixels_per_image
    return np.stack([model.boosted.encode(im, features=pixel_features_of(im, options,
                                                                          model.encoder),
                                          n_pixels=n, seed=0) for im in prepared])


def _raw_proba(model: ImageClassifier, prepared) -> np.ndarray:
    if not prepared:
        return np.zeros((0, len(model.class_names)), np.float32)
    if model.boosted is None:
        from .cnn import cnn_proba

        return cnn_proba(model.net, prepared, model.config.tile)
    return model.boosted.predict_proba(descriptors(model, prepared))


def _inner_temperature(prepared, labels, groups, n_classes, tile, options, encoder,
                       pretrained=None):
    """Generator: a temperature from 3-fold grouped CV on the training images (1 if too few)."""
    from ...evaluate.classification import grouped_kfold

    if len(np.unique(groups)) < 3 or np.bincount(labels).min() < 2:
        return 1.0, {}
    folds = grouped_kfold(groups, labels, n_folds=3, seed=options.seed)
    proba = np.zeros((len(labels), n_classes), np.float32)
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(labels)), test)
        boosted, net = yield from _fit_core([prepared[i] for i in train], labels[train],
                                            n_classes, tile, options, encoder, pretrained)
        part = ImageClassifier(_bare_config(n_classes, tile, options), boosted, net, encoder)
        proba[test] = _raw_proba(part, [prepared[i] for i in test])
        yield ClassifyProgress("calibrate", f + 1, len(folds))
    t = fit_temperature(proba, labels)
    calibrated = apply_temperature(proba, t)
    return t, {"inner_cv_accuracy": float((proba.argmax(1) == labels).mean()),
               "ece_before": expected_calibration_error(proba, labels),
               "ece_after": expected_calibration_error(calibrated, labels)}


def _bare_config(n_classes, tile, options) -> ClassifierConfig:
    return ClassifierConfig(tuple(str(i) for i in range(n_classes)), 1, options.representation,
                            None, tile, options=options.to_dict())


def _check_training_set(images, labels, class_names):
    labels = np.asarray(labels, int)
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length.")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(f"labels must index class_names (0-{len(class_names) - 1}); got "
                         f"{labels.min()}-{labels.max()}.")
    if len(np.unique(labels)) < 2:
        raise ValueError("A classifier needs images of at least two classes; got one.")
    return labels


def iter_train_classifier(images, labels, class_names, *, spacings=None, groups=None,
                          target_spacing="auto", unlabeled=None, pretrained=None, **options):
    """Train an image classifier; a generator of :class:`ClassifyProgress`.

    Parameters
    ----------
    images : list of (Y, X) or (C, Y, X) ndarrays
        Any sizes; one channel count.
    labels : (N,) int sequence
        Index into ``class_names``.
    class_names : sequence of str
    spacings : sequence of float or None, optional
        Pixel size (nm) of each image; None where unknown.
    groups : (N,) sequence, optional
        Sample of each image (inner cross-validation never splits one).
    target_spacing : float, None or "auto"
        Working pixel size; "auto": the median of ``spacings``.
    unlabeled : list of ndarrays, optional
        More images of the same kind (at the working pixel size), used only by the
        self-supervised pretraining of ``representation="pretrained"``.
    pretrained : tuple, optional
        An encoder from :func:`~napari_sciseg.dl.classify.cnn.iter_pretrain_encoder`
        (skips the pretraining).
    **options
        :class:`~napari_sciseg.classify.images.model.ClassifyOptions` fields.

    Returns
    -------
    ImageClassifier
    """
    opts = ClassifyOptions(**options)
    labels = _check_training_set(images, labels, class_names)
    n_channels = _channels_of(images)
    if target_spacing == "auto":
        target_spacing = choose_spacing([None] * len(images) if spacings is None else spacings)
    prepared = prepare_all(images, spacings, target_spacing)
    tile = choose_tile([p.shape for p in prepared], max_tile=opts.max_tile)
    groups = np.arange(len(labels)).astype(str) if groups is None else np.asarray(groups, str)
    encoder = load_encoder(opts)
    if opts.representation == "pretrained" and pretrained is None:
        pretrained = yield from _pretrain(prepared, unlabeled, target_spacing, tile, opts)
    temperature, metrics = 1.0, {}
    if opts.calibrate:
        temperature, metrics = yield from _inner_temperature(
            prepared, labels, groups, len(class_names), tile, opts, encoder, pretrained)
    boosted, net = yield from _fit_core(prepared, labels, len(class_names), tile, opts, encoder,
                                        pretrained)
    config = ClassifierConfig(tuple(class_names), n_channels, opts.representation,
                              target_spacing, tile, temperature, opts.to_dict(),
                              _encoder_config(opts), _net_config(net), metrics)
    yield ClassifyProgress("done", 1, 1)
    return ImageClassifier(config, boosted, net, encoder)


def _pretrain(prepared, unlabeled, target_spacing, tile, opts):
    """Generator: the self-supervised encoder on the training + unlabelled images."""
    from .cnn import iter_pretrain_encoder

    extra = prepare_all(unlabeled, None, target_spacing) if unlabeled else []
    return (yield from iter_pretrain_encoder(list(prepared) + extra, tile=tile, options=opts))


def _encoder_config(opts: ClassifyOptions) -> dict:
    if opts.representation != "hypercolumn":
        return {}
    from .features import layers_of

    onnx = str(opts.weights).lower().endswith(".onnx")
    return {"arch": "onnx" if onnx else opts.arch,
            "layers": list(opts.layers or ()) if onnx else list(layers_of(opts)),
            "stride": opts.stride}


def _net_config(net) -> dict:
    return {} if net is None else dict(net.config)


def train_classifier(images, labels, class_names, **kwargs) -> ImageClassifier:
    """:func:`iter_train_classifier` run to the end."""
    return drain(iter_train_classifier(images, labels, class_names, **kwargs))


def predict_images(model: ImageClassifier, images, *, spacings=None) -> np.ndarray:
    """Calibrated class probabilities (N, K) of whole images.

    Parameters
    ----------
    model : ImageClassifier
    images : list of (Y, X) or (C, Y, X) ndarrays
    spacings : sequence of float or None, optional
        Pixel sizes (nm); images are resampled to the model's.

    Returns
    -------
    (N, K) float32 ndarray
    """
    if images and _channels_of(images) != model.config.n_channels:
        raise ValueError(f"The model takes {model.config.n_channels} channel(s); the images "
                         f"have {_channels_of(images)}.")
    prepared = prepare_all(images, spacings, model.config.target_spacing)
    return apply_temperature(_raw_proba(model, prepared), model.config.temperature)


def predict_tiles(model: ImageClassifier, image, *, spacing=None, tile: int | None = None):
    """A class map: calibrated probabilities of each tile of one image.

    Parameters
    ----------
    model : ImageClassifier
    image : (Y, X) or (C, Y, X) ndarray
    spacing : float, optional
        The image's pixel size (nm).
    tile : int, optional
        Tile edge at the model's pixel size; default the model's tile.

    Returns
    -------
    proba : (Ty, Tx, K) float32 ndarray
        One row of tiles per ``tile`` (the last row/column flush with the edge).
    step : float
        Tile edge in the image's own pixels (the map's scale).
    """
    prepared = prepare_all([image], [spacing], model.config.target_spacing)[0]
    tile = int(tile or model.config.tile)
    if min(prepared.shape[-2:]) < tile:
        tile = int(min(prepared.shape[-2:]))
    starts = tile_starts(prepared.shape, tile)
    tiles = [prepared[:, y:y + tile, x:x + tile] for y, x in starts]
    proba = apply_temperature(_raw_proba(model, tiles), model.config.temperature)
    ny = len({y for y, _ in starts})
    grid = proba.reshape(ny, len(starts) // ny, -1)
    f = (spacing / model.config.target_spacing) if spacing and model.config.target_spacing \
        else 1.0
    return grid, tile / f


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold results: ``proba`` calibrated by ``temperature`` (fitted on the raw ones)."""

    report: object
    proba: np.ndarray
    raw_proba: np.ndarray
    labels: np.ndarray
    folds: list
    temperature: float
    class_names: tuple
    ece_before: float
    ece_after: float
    embedding: np.ndarray | None = None

    def summary(self) -> dict:
        """Accuracy, balanced accuracy, per-class recall/precision/F1, calibration."""
        r = self.report
        return {"accuracy": r.accuracy, "balanced_accuracy": r.macro_recall,
                "macro_f1": r.macro_f1,
                "recall": dict(zip(self.class_names, np.round(r.recall, 4).tolist())),
                "precision": dict(zip(self.class_names, np.round(r.precision, 4).tolist())),
                "f1": dict(zip(self.class_names, np.round(r.f1, 4).tolist())),
                "temperature": self.temperature, "ece_before": self.ece_before,
                "ece_after": self.ece_after, "n_folds": len(self.folds)}


def iter_cross_validate(images, labels, class_names, *, spacings=None, groups=None,
                        n_folds: int = 5, embed: bool = False, unlabeled=None, **options):
    """Grouped k-fold cross-validation; a generator of :class:`ClassifyProgress`.

    No group (sample) is ever in the training and the test part of one fold;
    without ``groups`` every image is its own group. Folds train without
    calibration; one temperature is then fitted on all out-of-fold predictions.

    Parameters
    ----------
    images, labels, class_names, spacings, groups
        As for :func:`iter_train_classifier`.
    n_folds : int
    embed : bool
        Also return the out-of-fold representation vectors (for a t-SNE plot).
    unlabeled : list of ndarrays, optional
        Extra images for the self-supervised pretraining (``pretrained``), which runs
        once on all images without their labels.
    **options
        :class:`~napari_sciseg.classify.images.model.ClassifyOptions` fields.

    Returns
    -------
    CrossValidation
    """
    from ...evaluate.classification import classification_report, grouped_kfold

    labels = _check_training_set(images, labels, class_names)
    groups = np.arange(len(labels)).astype(str) if groups is None else np.asarray(groups, str)
    folds = grouped_kfold(groups, labels, n_folds=n_folds, seed=options.get("seed", 0))
    target = choose_spacing([None] * len(images) if spacings is None else spacings)
    proba = np.zeros((len(labels), len(class_names)), np.float32)
    vectors = [None] * len(labels)
    pretrained = None
    if options.get("representation") == "pretrained":
        prepared_all = prepare_all(images, spacings, target)
        opts = ClassifyOptions(**options)
        tile = choose_tile([p.shape for p in prepared_all], max_tile=opts.max_tile)
        pretrained = yield from _pretrain(prepared_all, unlabeled, target, tile, opts)
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(labels)), test)
        sub = [spacings[i] for i in train] if spacings is not None else None
        model = yield from iter_train_classifier(
            [images[i] for i in train], labels[train], class_names, spacings=sub,
            target_spacing=target, pretrained=pretrained, **{**options, "calibrate": False})
        prepared = prepare_all([images[i] for i in test],
                               None if spacings is None else [spacings[i] for i in test], target)
        proba[test] = _raw_proba(model, prepared)
        if embed:
            for i, v in zip(test, descriptors(model, prepared)):
                vectors[i] = v
        yield ClassifyProgress("fold", f + 1, len(folds))
    t = fit_temperature(proba, labels)
    calibrated = apply_temperature(proba, t)
    return CrossValidation(
        classification_report(labels, calibrated, n_classes=len(class_names)), calibrated,
        proba, labels, folds, t, tuple(class_names), expected_calibration_error(proba, labels),
        expected_calibration_error(calibrated, labels), _stack(vectors) if embed else None)


def _stack(vectors) -> np.ndarray:
    width = max(len(v) for v in vectors)  # folds may differ in descriptor length: pad
    return np.stack([np.pad(v, (0, width - len(v))) for v in vectors])


def cross_validate(images, labels, class_names, **kwargs) -> CrossValidation:
    """:func:`iter_cross_validate` run to the end."""
    return drain(iter_cross_validate(images, labels, class_names, **kwargs))


def _load_labelled(path):
    from ...classify.images.dataset import load_images, read_image_dataset

    loaded = load_images(read_image_dataset(path))
    ds = loaded.dataset
    if len({int(v) for v in ds.labels}) < 2:
        raise ValueError(f"{path}: fewer than two classes are left after skipping unreadable "
                         f"files ({'; '.join(loaded.skipped)}).")
    return loaded


def train_dataset(path, **kwargs):
    """Generator: train on a data set path; returns ``(ImageClassifier, LoadedImages)``."""
    loaded = _load_labelled(path)
    ds = loaded.dataset
    model = yield from iter_train_classifier(
        loaded.images, ds.labels, ds.class_names, spacings=loaded.spacings,
        groups=ds.groups if ds.has_groups else None, **kwargs)
    return model, loaded


def cross_validate_dataset(path, **kwargs):
    """Generator: cross-validate on a data set path; returns ``(CrossValidation, LoadedImages)``."""
    loaded = _load_labelled(path)
    ds = loaded.dataset
    cv = yield from iter_cross_validate(
        loaded.images, ds.labels, ds.class_names, spacings=loaded.spacings,
        groups=ds.groups if ds.has_groups else None, **kwargs)
    return cv, loaded


@dataclass(frozen=True)
class DatasetPrediction:
    """Predicted class and calibrated probabilities of each readable file."""

    files: tuple
    proba: np.ndarray
    class_names: tuple
    true_labels: np.ndarray
    skipped: tuple = ()

    def rows(self) -> list[dict]:
        """``file, class, p_<class>...`` per image (the predictions.csv rows)."""
        out = []
        for f, p in zip(self.files, self.proba):
            row = {"file": str(f), "class": self.class_names[int(p.argmax())]}
            row.update({f"p_{c}": round(float(v), 6) for c, v in zip(self.class_names, p)})
            out.append(row)
        return out


def predict_dataset(model: ImageClassifier, path, *, batch: int = 16):
    """Generator: predict every image of a folder or CSV; returns :class:`DatasetPrediction`."""
    from ...classify.images.dataset import load_images, read_image_dataset

    ds = read_image_dataset(path, require_labels=False, class_names=model.class_names
                            if str(path).lower().endswith(".csv") else None)
    loaded = load_images(ds, n_channels=model.config.n_channels)
    proba = []
    for i in range(0, len(loaded.images), batch):
        proba.append(predict_images(model, loaded.images[i:i + batch],
                                    spacings=loaded.spacings[i:i + batch]))
        yield ClassifyProgress("predict", min(i + batch, len(loaded.images)),
                               len(loaded.images))
    names = loaded.dataset.class_names
    truth = np.array([model.class_names.index(names[k]) if k >= 0 and names[k] in
                      model.class_names else -1 for k in loaded.dataset.labels])
    return DatasetPrediction(loaded.dataset.files, np.concatenate(proba), model.class_names,
                             truth, loaded.skipped)
