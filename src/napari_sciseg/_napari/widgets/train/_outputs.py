"""Prediction -> layers, and the visible slice of an image as an array region.

Outputs are "<image> probability" (Image, classes first), "<image> std" (Image, the
member spread of the most probable class) and "<image> segmentation" (Labels in the
class colours, 0 = unsure), aligned with the source image. A prediction of one slice
is written into that slice of full-size layers, so slice and whole-image results
share the same layers; re-running updates them in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._layers import add_or_update, output_kwargs
from ._scribbles import PALETTE, class_colormap, to_hex

__all__ = ["Region", "visible_region", "write_prediction", "output_names"]


@dataclass(frozen=True)
class Region:
    """Where a prediction goes: ``axis``/``index`` of a slice (``None``: the whole image).

    ``start``/``stop`` bound the slab read around the slice (3D models need context).
    For a slice, the prediction handed to :func:`write_prediction` is that slice only.
    """

    axis: int | None = None
    index: int = 0
    start: int = 0
    stop: int = 0


def output_names(image_name: str) -> tuple[str, str, str]:
    return (f"{image_name} probability", f"{image_name} std", f"{image_name} segmentation")


def visible_region(viewer, layer, ndim: int) -> Region:
    """The 2D slice of ``layer`` shown in the viewer.

    ``Region()`` (the whole image) for 2D images and for 3D rendering.
    """
    if ndim == 2 or viewer.dims.ndisplay == 3:
        return Region()
    offset = viewer.dims.ndim - layer.ndim
    displayed = [d - offset for d in viewer.dims.displayed if d >= offset]
    hidden = [a for a in range(ndim) if a not in displayed]
    axis = hidden[0]
    point = layer.world_to_data(viewer.dims.point)
    size = layer.data.shape[axis]
    index = int(np.clip(np.round(point[axis]), 0, size - 1))
    return Region(axis, index, index, index + 1)


def read_region(data, region: Region) -> np.ndarray:
    """The slab of ``data`` (spatial axes first, optional channels last) for ``region``."""
    if region.axis is None:
        return data
    key = [slice(None)] * data.ndim
    key[region.axis] = slice(region.start, region.stop)
    return np.asarray(data[tuple(key)])


def _layer(viewer, data_shape, dtype, layer_type, kwargs):
    name = kwargs["name"]
    existing = viewer.layers[name] if name in viewer.layers else None
    if existing is not None and existing.data.shape == data_shape and existing.dtype == dtype:
        for key in ("metadata", "colormap"):
            if key in kwargs:
                setattr(existing, key, kwargs[key])
        return existing
    return add_or_update(viewer, np.zeros(data_shape, dtype), layer_type, kwargs)


def write_prediction(viewer, image, prediction, config, region: Region, shape, metadata):
    """Show ``prediction`` (of ``region`` of ``image``) as the three output layers.

    Parameters
    ----------
    shape : tuple of int
        Spatial shape of the whole image.
    config : ModelConfig
        For the class names and colours.

    Returns
    -------
    list of Layer
        probability, std and segmentation layers.
    """
    mean = np.asarray(prediction.mean)
    spread = np.asarray(prediction.uncertainty)
    seg = np.asarray(prediction.segmentation)
    n = len(shape)
    k = mean.shape[0]
    colors = [to_hex(c, PALETTE[i % len(PALETTE)])
              for i, c in enumerate(config.class_colors or [None] * k)]
    names = output_names(image.name)
    meta = {"sciseg": metadata}
    # the segmentation shows; probability and std are one click away (hidden): stacked
    # they would blend with the class colours
    prob_kwargs = output_kwargs(image, names[0], ndim=n, colormap="viridis", metadata=meta,
                                contrast_limits=(0.0, 1.0), visible=False)
    prob_kwargs["scale"] = (1.0, *prob_kwargs["scale"])
    prob_kwargs["translate"] = (0.0, *prob_kwargs["translate"])
    for key, first in (("units", "pixel"), ("axis_labels", "class")):
        if key in prob_kwargs:
            prob_kwargs[key] = (first, *prob_kwargs[key])
    std_kwargs = output_kwargs(image, names[1], ndim=n, colormap="magma", metadata=meta,
                               contrast_limits=(0.0, 0.5), blending="additive", visible=False)
    seg_kwargs = output_kwargs(image, names[2], ndim=n, metadata=meta, opacity=0.5,
                               colormap=class_colormap(colors))
    if region.axis is None:
        return [
            add_or_update(viewer, mean.astype(np.float32), "image", prob_kwargs),
            add_or_update(viewer, spread.astype(np.float32), "image", std_kwargs),
            add_or_update(viewer, seg.astype(np.uint8), "labels", seg_kwargs),
        ]
    layers = [
        _layer(viewer, (k, *shape), np.float32, "image", prob_kwargs),
        _layer(viewer, tuple(shape), np.float32, "image", std_kwargs),
        _layer(viewer, tuple(shape), np.uint8, "labels", seg_kwargs),
    ]
    for layer, values, lead in zip(layers, (mean, spread, seg), (1, 0, 0)):
        key = [slice(None)] * (n + lead)
        key[region.axis + lead] = region.index
        layer.data[tuple(key)] = values
        layer.refresh()
    return layers
