"""Predict one slice or box of an image: only the data the region needs is read.

The window read around the region is the region grown by the network's receptive
field (the halo) on every axis the network sees (not along the slice axis of a 2D
model on a volume), clipped to the image. Every output pixel of the region then sees
exactly the input it sees in a prediction of the whole image, so the result equals
the same region cut out of :func:`~napari_sciseg.dl.predict` (for the graph networks;
U-Nets pool on a grid, see :func:`~napari_sciseg.dl.iter_predict`).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np

from .._generators import drain
from .prediction import (
    Prediction,
    PredictProgress,
    _as_array,
    _as_trained,
    _ModelSpec,
    _plan,
    iter_predict,
)

__all__ = ["iter_predict_region", "predict_region"]


def _boxes(region: Sequence, spatial: tuple[int, ...]) -> tuple[list, list[int]]:
    """``[(start, stop)]`` per spatial axis and the axes given as a single index."""
    region = tuple(region)
    if len(region) != len(spatial):
        raise ValueError(
            f"region needs one entry per spatial axis of the image {spatial} (an index or a "
            f"slice); got {len(region)}: {region!r}."
        )
    boxes, dropped = [], []
    for axis, (r, n) in enumerate(zip(region, spatial)):
        if isinstance(r, slice):
            start, stop, step = r.indices(n)
            if step != 1 or stop <= start:
                raise ValueError(f"region axis {axis}: {r} must be a non-empty slice with "
                                 f"step 1 inside 0..{n}.")
            boxes.append((start, stop))
        elif isinstance(r, int | np.integer) and not isinstance(r, bool):
            if not -n <= r < n:
                raise ValueError(f"region axis {axis}: index {r} is outside 0..{n - 1}.")
            boxes.append((int(r) % n, int(r) % n + 1))
            dropped.append(axis)
        else:
            raise TypeError(f"region axis {axis}: expected an int or a slice; got {r!r}.")
    return boxes, dropped


def _read_window(image, window: list[tuple[int, int]], channel_axis: int | None):
    index = [slice(a, b) for a, b in window]
    if channel_axis is not None:
        index.insert(channel_axis, slice(None))
    block = image[tuple(index)]
    if hasattr(block, "compute"):
        block = block.compute()
    return np.asarray(block)


def iter_predict_region(
    trained,
    image,
    region: Sequence,
    *,
    channel_axis: int | None = None,
    slice_axis: int | None = None,
    k: float = 1.0,
    device: str = "auto",
    tile: int | tuple[int, ...] | None = None,
    batch_size: int | None = None,
) -> Generator[PredictProgress, None, Prediction]:
    """Predict one region of ``image``; yield progress, return its :class:`Prediction`.

    Parameters
    ----------
    trained : TrainedModel or path
    image : (Y, X) or (Z, Y, X) array, numpy / dask / zarr
        Plus a channel axis at ``channel_axis``. Only the window around the region is read.
    region : sequence of int or slice, one per spatial axis
        An int keeps one index of that axis (the axis is dropped from the result), a
        slice a range: ``(12, slice(None), slice(None))`` is slice 12 of a volume,
        ``(slice(0, 64), slice(100, 200))`` a box of a 2D image.
    channel_axis, slice_axis, k, device, tile, batch_size
        As for :func:`~napari_sciseg.dl.iter_predict`. A 2D model on a volume runs
        along ``slice_axis`` (default: the model's own for a 2.5D model).

    Returns
    -------
    Prediction
        ``mean``/``std`` (K, *region), ``segmentation``/``uncertainty`` (*region), numpy.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_sciseg.data.scribbles import scribbles_2d
    >>> from napari_sciseg.dl import predict, train
    >>> image, scribbles = scribbles_2d(shape=(64, 64))
    >>> model = train(image, scribbles, members=1, steps=2, crop=32, device="cpu",
    ...               model_kwargs={"depth": 3})
    >>> part = predict_region(model, image, (slice(10, 30), 40), device="cpu")
    >>> part.mean.shape
    (2, 20)
    >>> whole = predict(model, image, device="cpu")
    >>> bool(np.allclose(part.mean, whole.mean[:, 10:30, 40], atol=1e-5))
    True
    """
    trained = _as_trained(trained)
    image = _as_array(image)
    spec = _ModelSpec.of(trained)
    plan = _plan(spec, image, channel_axis, slice_axis, tile)
    boxes, dropped = _boxes(region, plan.spatial_shape)
    window = [(a, b) if d == plan.slice_axis else (max(0, a - spec.halo), min(n, b + spec.halo))
              for d, ((a, b), n) in enumerate(zip(boxes, plan.spatial_shape))]
    block = _read_window(image, window, plan.channel_axis)
    result = yield from iter_predict(trained, block, tile=tile, k=k,
                                     channel_axis=plan.channel_axis,
                                     slice_axis=plan.slice_axis, device=device,
                                     batch_size=batch_size)
    local = tuple(slice(a - w0, b - w0) for (a, b), (w0, _) in zip(boxes, window))
    keep = tuple(0 if d in dropped else slice(None) for d in range(len(boxes)))

    def cut(array, channels: bool):
        pre = (slice(None),) if channels else ()
        return np.ascontiguousarray(np.asarray(array)[pre + local][pre + keep])

    return Prediction(mean=cut(result.mean, True), std=cut(result.std, True),
                      segmentation=cut(result.segmentation, False),
                      uncertainty=cut(result.uncertainty, False), k=result.k)


def predict_region(trained, image, region: Sequence, **kwargs) -> Prediction:
    """Run :func:`iter_predict_region` to the end and return its :class:`Prediction`.

    Parameters
    ----------
    trained : TrainedModel or path
    image : array
    region : sequence of int or slice
        As for :func:`iter_predict_region`.
    **kwargs
        The options of :func:`iter_predict_region`.

    Returns
    -------
    Prediction
        The prediction of the region only.
    """
    return drain(iter_predict_region(trained, image, region, **kwargs))
