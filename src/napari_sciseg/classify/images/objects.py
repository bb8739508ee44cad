"""Classify the objects of a label image (particles, fibres) from their crops and measurements.

Each object becomes a square crop of the image around it (the other objects
masked to the local background) described like a whole image (filter bank +
VLAD or texture statistics), plus its measured properties (area and equivalent
diameter in nm when ``spacing`` is given, eccentricity, solidity, extent,
perimeter² / area, mean and minimum intensity); boosted trees sort them into the
user's classes, e.g. "single / aggregate / contaminant". Rarer classes get D4
copies of their crops and every class the same weight, as for whole images.

Examples
--------
>>> from napari_sciseg.data.cnt import particle_objects
>>> image, labels, classes = particle_objects((160, 160), n=12, seed=0)
>>> model = train_object_classifier([image], [labels], [classes], n_estimators=10)
>>> result = classify_objects(model, image, labels)
>>> sorted(result.classes) == sorted(classes)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .balance import augment_rare, class_weights
from .model import ClassifierConfig, ClassifyOptions, ImageClassifier
from .prepare import normalise

__all__ = ["PROPERTIES", "object_crops", "object_properties", "train_object_classifier",
           "classify_objects", "ObjectClasses"]

PROPERTIES = ("area", "equivalent_diameter", "eccentricity", "solidity", "extent",
              "perimeter_ratio", "mean_intensity", "min_intensity")


def object_properties(labels: np.ndarray, image: np.ndarray, *, spacing=None) -> tuple:
    """Measured properties of every object: ``(label ids, (N, P) array)`` (:data:`PROPERTIES`)."""
    from skimage.measure import regionprops

    px = float(spacing) if spacing else 1.0
    ids, rows = [], []
    for r in regionprops(np.asarray(labels), intensity_image=np.asarray(image, np.float32)):
        ids.append(r.label)
        perimeter = max(r.perimeter, 1.0)
        rows.append([r.area * px * px, r.equivalent_diameter_area * px, r.eccentricity,
                     r.solidity, r.extent, perimeter**2 / max(r.area, 1),
                     r.intensity_mean, r.intensity_min])
    return np.array(ids, int), np.array(rows, np.float32).reshape(len(ids), len(PROPERTIES))


def object_crops(image: np.ndarray, labels: np.ndarray, ids, *, size: int = 48) -> list:
    """A (1, size, size) normalised crop centred on each object; other objects hidden."""
    from scipy import ndimage as ndi

    image = np.asarray(image, np.float32)
    background = float(np.median(image[labels == 0])) if (labels == 0).any() else 0.0
    pad = size
    padded = np.pad(image, pad, mode="reflect")
    lab = np.pad(labels, pad)
    centres = ndi.center_of_mass(np.ones_like(labels), labels, ids)
    crops = []
    for i, (cy, cx) in zip(ids, centres):
        y, x = int(round(cy)) + pad - size // 2, int(round(cx)) + pad - size // 2
        crop = padded[y:y + size, x:x + size].copy()
        other = lab[y:y + size, x:x + size]
        crop[(other > 0) & (other != i)] = background
        crops.append(normalise(crop[None]))
    return crops


def _examples(images, label_images, spacings):
    for k, (image, labels) in enumerate(zip(images, label_images)):
        spacing = None if spacings is None else spacings[k]
        ids, props = object_properties(labels, image, spacing=spacing)
        yield k, ids, props, image, labels


def train_object_classifier(images, label_images, object_classes, *, spacings=None,
                            crop: int = 48, **options) -> ImageClassifier:
    """Train on the objects of one or more label images.

    Parameters
    ----------
    images : list of (Y, X) ndarrays
    label_images : list of (Y, X) int ndarrays
        One label per object.
    object_classes : list of dict
        Per image, label -> class name (objects left out are not used).
    spacings : list of float, optional
        Pixel sizes (nm): areas and diameters in nm².
    crop : int
        Crop edge in pixels.
    **options
        :class:`~napari_sciseg.classify.images.model.ClassifyOptions` fields
        (``texture`` or ``vlad``).

    Returns
    -------
    ImageClassifier
        ``config.options["objects"]`` records the crop size and properties.
    """
    from ..vlad import fit_vlad, pixel_features

    opts = ClassifyOptions(**{"representation": "texture", **options})
    if opts.representation not in ("texture", "vlad"):
        raise ValueError("Objects are classified with representation 'texture' or 'vlad'; got "
                         f"{opts.representation!r}.")
    names = tuple(sorted({c for d in object_classes for c in d.values()}))
    if len(names) < 2:
        raise ValueError(f"Give objects of at least two classes; got {list(names)}.")
    crops, labels, props = [], [], []
    for k, ids, p, image, lab in _examples(images, label_images, spacings):
        keep = [j for j, i in enumerate(ids) if i in object_classes[k]]
        crops += object_crops(image, lab, ids[keep], size=crop)
        labels += [names.index(object_classes[k][int(i)]) for i in ids[keep]]
        props.append(p[keep])
    labels, props = np.array(labels), np.concatenate(props)
    if opts.augment:
        crops, aug_labels, source = augment_rare(crops, labels, seed=opts.seed)
        labels, props = aug_labels, props[source]
    feats = [pixel_features(c, sigmas=opts.sigmas) for c in crops]
    weights = class_weights(labels) if opts.balance else np.ones(len(labels))
    boosted = fit_vlad(crops, labels, extra=props, n_classes=len(names), k=opts.k,
                       pixels_per_scan=opts.pixels_per_image, n_estimators=opts.n_estimators,
                       seed=opts.seed, descriptor=opts.representation, features=feats,
                       sample_weight=weights, max_depth=opts.max_depth)
    config = ClassifierConfig(names, 1, opts.representation, None, crop,
                              options={**opts.to_dict(), "objects": {
                                  "crop": crop, "properties": list(PROPERTIES)}})
    return ImageClassifier(config, boosted)


@dataclass(frozen=True)
class ObjectClasses:
    """Per object: ``ids`` (labels), ``classes`` (label -> name), ``proba`` (N, K)."""

    ids: np.ndarray
    classes: dict
    proba: np.ndarray
    class_names: tuple

    def class_image(self, labels: np.ndarray) -> np.ndarray:
        """A label image where each object carries its class index + 1 (0: background)."""
        lut = np.zeros(int(labels.max()) + 1, np.int32)
        lut[self.ids] = self.proba.argmax(1) + 1
        return lut[labels]


def classify_objects(model: ImageClassifier, image, labels, *, spacing=None) -> ObjectClasses:
    """Sort the objects of ``labels`` with an object classifier.

    Parameters
    ----------
    model : ImageClassifier
        From :func:`train_object_classifier`.
    image : (Y, X) ndarray
    labels : (Y, X) int ndarray
    spacing : float, optional
        Pixel size (nm), as in training.

    Returns
    -------
    ObjectClasses
    """
    from ..vlad import pixel_features

    objects = model.config.options.get("objects")
    if not objects:
        raise ValueError("This model classifies whole images, not objects; train one with "
                         "train_object_classifier.")
    opts = ClassifyOptions.from_dict({k: v for k, v in model.config.options.items()
                                      if k != "objects"})
    ids, props = object_properties(labels, image, spacing=spacing)
    crops = object_crops(image, labels, ids, size=objects["crop"])
    x = np.stack([model.boosted.encode(c, features=pixel_features(c, sigmas=opts.sigmas),
                                       n_pixels=4 * opts.pixels_per_image, seed=0)
                  for c in crops]) if crops else np.zeros((0, 1))
    proba = model.boosted.predict_proba(np.concatenate([x, props], 1)) if len(ids) else \
        np.zeros((0, len(model.class_names)), np.float32)
    names = model.class_names
    return ObjectClasses(ids, {int(i): names[int(p.argmax())] for i, p in zip(ids, proba)},
                         proba, names)
