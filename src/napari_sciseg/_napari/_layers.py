"""Layers <-> arrays + spacing: the one place where layer ``scale`` becomes ``spacing``.

Widgets call :func:`layer_spacing` to hand physical sizes to the core, and
:func:`output_kwargs` / :func:`add_or_update` to show results aligned with their
source without ever touching the source layer.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..io.calibration import CalibratedImage

__all__ = [
    "layer_kind",
    "layer_spacing",
    "layer_unit",
    "output_kwargs",
    "add_or_update",
    "calibrated_to_layer_data",
]


_KINDS = ("labels", "image", "points", "shapes", "vectors", "surface", "tracks")


def layer_kind(layer) -> str:
    """``"image"``, ``"labels"``, ``"points"``, ... of a layer, from napari's public classes."""
    from napari import layers

    for kind in _KINDS:
        if isinstance(layer, getattr(layers, kind.capitalize())):
            return kind
    return type(layer).__name__.lower()


def layer_spacing(layer, ndim: int | None = None) -> tuple[float, ...]:
    """Physical pixel size of the last ``ndim`` axes of ``layer`` (all axes by default)."""
    scale = tuple(float(s) for s in layer.scale)
    return scale if ndim is None else scale[-ndim:]


def layer_unit(layer) -> str:
    """The length unit of ``layer``'s last axis as a string (``"pixel"`` when none)."""
    units = getattr(layer, "units", None)
    if not units:
        return "pixel"
    unit = str(units[-1])
    return "pixel" if unit in ("pixel", "px", "") else unit.replace("nanometer", "nm")


def output_kwargs(source, name: str, *, ndim: int | None = None, **extra) -> dict:
    """Layer keyword arguments that align a new layer with ``source``.

    Copies scale, translate, units and axis labels of the last ``ndim`` axes
    (all by default) and merges ``extra`` (colormap, metadata, ...).
    """
    n = source.ndim if ndim is None else ndim
    kwargs = {
        "name": name,
        "scale": tuple(source.scale)[-n:],
        "translate": tuple(source.translate)[-n:],
    }
    units = getattr(source, "units", None)
    if units is not None:
        kwargs["units"] = tuple(units)[-n:]
    labels = getattr(source, "axis_labels", None)
    if labels is not None:
        kwargs["axis_labels"] = tuple(labels)[-n:]
    kwargs.update(extra)
    return kwargs


def add_or_update(viewer, data, layer_type: str, kwargs: dict):
    """Add a layer, or update the data and properties of the one with the same name.

    Re-running a workflow thus refreshes its output layers instead of piling up
    copies. A layer of the same name but another type is left alone and the new
    one gets a suffixed name.
    """
    name = kwargs["name"]
    if name in viewer.layers:
        existing = viewer.layers[name]
        same_kind = layer_kind(existing) == layer_type
        if same_kind and existing.data.shape == np.shape(data):
            existing.data = data
            for key in ("metadata", "features", "colormap", "contrast_limits", "opacity"):
                if key in kwargs and hasattr(existing, key):
                    setattr(existing, key, kwargs[key])
            return existing
        if same_kind:  # our earlier output with another shape: replace it
            viewer.layers.remove(existing)
    add = getattr(viewer, f"add_{layer_type}")
    return add(data, **kwargs)


def calibrated_to_layer_data(img: CalibratedImage, name: str, layer_type: str = "image") -> list:
    """napari LayerData tuples for a :class:`CalibratedImage` (one layer per channel)."""
    spatial = img.spatial_axes
    units = tuple("nm" if img.unit == "nm" else "pixel" for _ in spatial)
    axis_labels = tuple(a.lower() for a in spatial)
    meta = {
        "calibration_source": img.source,
        "calibrated": img.calibrated,
        **{k: v for k, v in img.metadata.items() if isinstance(v, (str, int, float))},
    }
    data = img.data
    ch = img.channel_axis
    # Non-spatial, non-channel leading axes (T) keep scale 1.
    extra = len([a for a in img.axes if a not in "CZYX"])
    scale = (1.0,) * extra + tuple(img.spacing)
    units = ("pixel",) * extra + units
    axis_labels = tuple(a.lower() for a in img.axes if a not in "CZYX") + axis_labels
    if not img.calibrated:
        warnings.warn(
            f"{name}: no pixel size in the file; using scale 1 (pixels). Set the scale by hand "
            "or pass the pixel size to measurements.",
            UserWarning,
            stacklevel=2,
        )
    base = {"scale": scale, "units": units, "axis_labels": axis_labels, "metadata": meta}
    if ch is None:
        return [(data, {"name": name, **base}, layer_type)]
    layers = []
    names = img.channel_names or tuple(f"ch{i}" for i in range(data.shape[ch]))
    for i in range(data.shape[ch]):
        chunk = np.take(data, i, axis=ch)
        cmeta = dict(meta)
        if img.channel_units:
            cmeta["value_unit"] = img.channel_units[i]
        kwargs = {"name": f"{name} {names[i]}", **base, "metadata": cmeta}
        layers.append((chunk, kwargs, layer_type))
    return layers
