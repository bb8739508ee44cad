"""The instant mode's worker job: fit a pixel forest on the scribbles, predict a region.

Filter-bank features are computed once per image (or slice) and kept in the
caller's :class:`~napari_sciseg.segment.features.FeatureCache`, so a stroke costs
one fit on the scribbled pixels plus one prediction of the visible slice (on a
strided grid with ``settings["stride"]`` > 1, interpolated in between).
"""

from __future__ import annotations

import numpy as np

from ..._workers import JobStep
from ._outputs import Region

__all__ = ["instant_job"]


def _slice(data, axis, index):
    key = [slice(None)] * data.ndim
    key[axis] = index
    return np.asarray(data[tuple(key)])


def instant_job(data, scribbles, region: Region, cache, settings: dict, whole: bool = False):
    """Fit the forest on ``scribbles``; predict the region (or everything with ``whole``).

    Returns ``(forest, prediction)``. Runs in a worker; ``cache`` is only touched here.
    """
    from napari_sciseg.classify.forest_engine import (
        image_features,
        iter_train_forest,
        predict_features,
        predict_forest,
    )

    sigmas, spacing = settings["sigmas"], settings["spacing"]
    axis = region.axis if region.axis is not None else 0
    sub = None if spacing is None or data.ndim == 2 else tuple(
        s for i, s in enumerate(spacing) if i != axis)

    def features_of(index):
        if index is None:
            key = (settings["layer"], None, None, sigmas, spacing)
            return cache.get(key, lambda: image_features(data, sigmas=sigmas, spacing=spacing))
        key = (settings["layer"], axis, index, sigmas, sub)
        return cache.get(key, lambda: image_features(_slice(data, axis, index), sigmas=sigmas,
                                                     spacing=sub))

    yield JobStep(0, 3, "features of the scribbled slices")
    forest = settings.get("model")
    if forest is None:
        forest = yield from iter_train_forest(
            data, scribbles, dim="2" if data.ndim == 2 else "2.5", slice_axis=axis,
            sigmas=sigmas, spacing=spacing, trees=settings["trees"], seed=0,
            max_samples=settings.get("fit_pixels", 10_000),
            class_names=settings["class_names"], class_colors=settings["class_colors"],
            features_of=features_of)
    yield JobStep(2, 3, "predicting")
    if whole:
        slice_axis = axis if data.ndim == 3 else None
        return forest, predict_forest(forest, data, k=settings["k"], slice_axis=slice_axis)
    index = None if region.axis is None else region.index
    return forest, predict_features(forest, features_of(index), k=settings["k"],
                                    stride=settings.get("stride", 1))
