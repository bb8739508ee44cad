"""Input checks run on the GUI thread before a worker starts.

Each returns ``None`` when the input is fine, else the message to show; the
widget shows it as a napari notification and touches no layer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["image_problem", "scribbles_problem", "model_problem", "spatial_shape", "is_rgb"]


def is_rgb(image_layer) -> bool:
    return bool(getattr(image_layer, "rgb", False))


def spatial_shape(image_layer, as_channels: bool = False) -> tuple[int, ...]:
    """Shape of the image without its colour axis (when RGB data is used as channels)."""
    data = image_layer.data[0] if image_layer.multiscale else image_layer.data
    shape = tuple(data.shape)
    return shape[:-1] if is_rgb(image_layer) and as_channels else shape


def image_problem(image_layer, *, rgb_as_channels: bool) -> str | None:
    if image_layer is None:
        return "No image: open an image (or a sample) and pick it in 'image'."
    if is_rgb(image_layer) and not rgb_as_channels:
        return (
            f"'{image_layer.name}' is an RGB image; expected a gray image. Tick 'RGB as "
            "channels' to train on its colour channels, or convert it to gray first."
        )
    ndim = len(spatial_shape(image_layer, rgb_as_channels))
    if ndim not in (2, 3):
        return (
            f"'{image_layer.name}' has {ndim} dimensions; expected a 2D (Y, X) or 3D (Z, Y, X) "
            "image. Split time series or channels into separate layers first."
        )
    return None


def scribbles_problem(image_layer, scribbles_layer, n_classes: int, *, rgb_as_channels: bool):
    """Message when the scribbles cannot train a model, else ``None``."""
    if scribbles_layer is None:
        return "No scribbles: press 'New scribbles' and paint at least two classes."
    shape = spatial_shape(image_layer, rgb_as_channels)
    if tuple(scribbles_layer.data.shape) != shape:
        return (
            f"Scribbles '{scribbles_layer.name}' have shape {tuple(scribbles_layer.data.shape)} "
            f"but image '{image_layer.name}' has shape {shape}; they must match. Press "
            "'New scribbles' to make scribbles on this image."
        )
    present = _classes_present(np.asarray(scribbles_layer.data))
    if present.size == 0:
        return (f"Scribbles '{scribbles_layer.name}' are empty: paint strokes of at least "
                "two classes.")
    if present.size == 1:
        return (
            f"Scribbles hold only class {int(present[0])}; paint at least two classes "
            "(e.g. background and foreground) so the model can tell them apart."
        )
    if int(present.max()) > n_classes:
        return (
            f"Scribbles use class {int(present.max())} but only {n_classes} classes are "
            "declared; add a class in the table or erase those strokes."
        )
    return None


def _classes_present(labels: np.ndarray) -> np.ndarray:
    """Non-zero label values present (bincount: linear time, for big volumes per stroke)."""
    if labels.dtype.kind in "ub" and labels.dtype.itemsize <= 2:
        present = np.flatnonzero(np.bincount(labels.ravel(), minlength=1))
    else:
        present = np.unique(labels)
    return present[present > 0]


def model_problem(config, image_layer, *, rgb_as_channels: bool, whole: bool) -> str | None:
    """Message when ``config`` (a ModelConfig) cannot predict on ``image_layer``."""
    shape = spatial_shape(image_layer, rgb_as_channels)
    channels = image_layer.data.shape[-1] if is_rgb(image_layer) and rgb_as_channels else 1
    if channels != config.in_channels:
        return (
            f"The model expects {config.in_channels} input channel(s) but '{image_layer.name}' "
            f"gives {channels}; predict on an image like the training image or retrain."
        )
    if config.dim == "2" and len(shape) == 3 and whole:
        return (
            f"The model is 2D (trained on a 2D image) and '{image_layer.name}' is 3D; predict "
            "the visible slice, or retrain with dimensions '2D on slices' or '3D'."
        )
    if config.model_ndim == 3 and len(shape) == 2:
        return f"The model is 3D and '{image_layer.name}' is 2D; retrain with dimensions '2D'."
    return None
