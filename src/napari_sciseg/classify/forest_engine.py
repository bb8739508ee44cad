"""Train and run the fast pixel forest on images: features, slices, tiles, progress.

Same shape as the deep engine: :func:`iter_train_forest` / :func:`iter_predict_forest`
are generators that yield small progress records and return the result;
:func:`train_forest` / :func:`predict_forest` drain them. Features come from
:func:`napari_sciseg.segment.features.filter_bank`; a caller that keeps features
(the instant mode) passes ``features_of`` so nothing is computed twice.

Examples
--------
>>> from napari_sciseg.data.scribbles import scribbles_2d
>>> image, scribbles = scribbles_2d(shape=(96, 96))
>>> forest = train_forest(image, scribbles, trees=4, sigmas=(1.0, 2.0))
>>> result = predict_forest(forest, image)
>>> result.mean.shape, result.segmentation.dtype
((2, 96, 96), dtype('uint8'))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._generators import drain
from .._validation import check_choice, check_spacing
from ..segment.features import DEFAULT_SIGMAS, filter_bank
from .forest import PixelForest, check_classes, fit_forest, pixel_samples

__all__ = ["ForestProgress", "ForestPrediction", "iter_train_forest", "train_forest",
           "iter_predict_forest", "predict_forest", "image_features", "predict_features"]


@dataclass(frozen=True)
class ForestProgress:
    """Progress: stage ``done`` of ``total`` (features per slice, then fitting)."""

    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class ForestPrediction:
    """Like the ensemble's ``Prediction``: mean/std (K, *spatial), segmentation, uncertainty."""

    mean: Any
    std: Any
    segmentation: Any
    uncertainty: Any
    k: float = 1.0


def _channels_last(image, channel_axis):
    image = np.asarray(image) if not hasattr(image, "shape") else image
    if channel_axis is None:
        return image, 1
    return np.moveaxis(np.asarray(image), channel_axis, -1), int(image.shape[channel_axis])


def image_features(image, *, sigmas, spacing, channel_axis=None, tile=None) -> np.ndarray:
    """Pixel features (*spatial, F) of a gray or multichannel image (channels' banks stacked).

    Channels last, C-contiguous: the scribbled pixels' rows and any block of pixels
    are contiguous, which is what fitting and prediction read.
    """
    if channel_axis is None:
        banks = [filter_bank(image, sigmas=sigmas, spacing=spacing, tile=tile)]
    else:
        data, c = _channels_last(image, channel_axis)
        banks = [filter_bank(data[..., i], sigmas=sigmas, spacing=spacing, tile=tile)
                 for i in range(c)]
    if len(banks) == 1:
        return np.ascontiguousarray(np.moveaxis(banks[0], 0, -1))
    return np.concatenate([np.moveaxis(b, 0, -1) for b in banks], axis=-1)


def _sub_spacing(spacing, axis):
    return None if spacing is None else tuple(s for i, s in enumerate(spacing) if i != axis)


def _take(data, axis, index):
    key = [slice(None)] * data.ndim
    key[axis] = index
    return np.asarray(data[tuple(key)])


def iter_train_forest(
    image,
    scribbles,
    *,
    dim: str | None = None,
    slice_axis: int = 0,
    sigmas=None,
    spacing=None,
    channel_axis: int | None = None,
    trees: int = 16,
    max_depth: int | None = 12,
    max_samples: int = 10_000,
    seed: int = 0,
    class_names=(),
    class_colors=(),
    features_of: Callable[[int | None], np.ndarray] | None = None,
    cancel: threading.Event | None = None,
) -> Generator[ForestProgress, None, PixelForest]:
    """Fit a pixel forest on the scribbled pixels of ``image``.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        With ``channel_axis``, one more axis holds channels.
    scribbles : (*spatial) int ndarray
        0 unlabeled, 1..K classes.
    dim : {"2", "2.5", "3"}, optional
        2D image; 2D features on slices of a volume (along ``slice_axis``); or 3D
        features. Default "2" for images, "2.5" for volumes.
    sigmas, spacing
        Filter-bank scales (units of ``spacing``) and pixel size per spatial axis.
    trees, max_depth, seed
        Forest settings.
    max_samples : int
        At most this many scribbled pixels per class are drawn for the fit.
    features_of : callable, optional
        ``features_of(index)`` returns the pixel features (*spatial, F) of slice
        ``index`` (or of the whole image for ``None``), e.g. from a cache.

    Returns
    -------
    PixelForest
    """
    labels = np.asarray(scribbles)
    data, n_channels = _channels_last(image, channel_axis)
    spatial = tuple(data.shape[:-1]) if channel_axis is not None else tuple(data.shape)
    if labels.shape != spatial:
        raise ValueError(f"scribbles shape {labels.shape} does not match the image's spatial "
                         f"shape {spatial}; make the scribbles on this image.")
    if len(spatial) not in (2, 3):
        raise ValueError(f"image must be 2D or 3D (plus channel_axis); got spatial {spatial}.")
    dim = dim or ("2" if len(spatial) == 2 else "2.5")
    check_choice("dim", dim, ("2",) if len(spatial) == 2 else ("2.5", "3"))
    spacing = check_spacing(spacing, len(spatial)) if spacing is not None else None
    n_classes = max(int(labels.max(initial=0)), len(class_names), 2)
    check_classes(np.unique(labels[labels > 0]), n_classes, class_names)
    slice_axis %= len(spatial)
    sub = _sub_spacing(spacing, slice_axis) if dim == "2.5" else spacing
    if sigmas is None:
        finest = min(sub) if sub is not None else 1.0
        sigmas = tuple(s * finest for s in DEFAULT_SIGMAS)
    sigmas = tuple(float(s) for s in sigmas)

    def compute(index):
        if features_of is not None:
            return features_of(index)
        if index is None:
            return image_features(image, sigmas=sigmas, spacing=sub, channel_axis=channel_axis)
        return image_features(_take(data, slice_axis, index), sigmas=sigmas, spacing=sub,
                              channel_axis=-1 if channel_axis is not None else None)

    if dim == "2.5":
        other = tuple(a for a in range(3) if a != slice_axis)
        indices = np.flatnonzero(labels.any(axis=other))
    else:
        indices = [None]
    X, y = [], []
    for i, index in enumerate(indices):
        if cancel is not None and cancel.is_set():
            raise InterruptedError("training cancelled")
        yield ForestProgress(i, len(indices) + 1, "features")
        feats = compute(None if index is None else int(index))
        lab = labels if index is None else _take(labels, slice_axis, int(index))
        xs, ys = pixel_samples(feats, lab)
        X.append(xs)
        y.append(ys)
    yield ForestProgress(len(indices), len(indices) + 1, "fitting")
    config = {"dim": dim, "slice_axis": slice_axis, "sigmas": sigmas, "spacing": sub,
              "in_channels": n_channels, "class_names": tuple(class_names),
              "class_colors": tuple(class_colors)}
    forest = fit_forest(np.concatenate(X), np.concatenate(y), n_classes=n_classes, trees=trees,
                        max_depth=max_depth, max_samples=max_samples, seed=seed,
                        config=config)
    yield ForestProgress(len(indices) + 1, len(indices) + 1, "done")
    return forest


def train_forest(image, scribbles, **kwargs) -> PixelForest:
    """Drain :func:`iter_train_forest`."""
    return drain(iter_train_forest(image, scribbles, **kwargs))


def _upsample(coarse: np.ndarray, shape: tuple, stride: int) -> np.ndarray:
    """Linear interpolation of ``coarse`` (C, *grid), sampled every ``stride`` px, to ``shape``.

    Grid point ``i`` sits on pixel ``i * stride``; pixels past the last grid point
    take its value (no extrapolation), so probabilities stay in [0, 1].
    """
    out = coarse
    for axis, n in enumerate(shape, start=1):
        pos = np.arange(n, dtype=np.float32) / stride
        lo = np.minimum(pos.astype(np.int64), out.shape[axis] - 1)
        hi = np.minimum(lo + 1, out.shape[axis] - 1)
        w = np.clip(pos - lo, 0, 1).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, lo, axis=axis) * (1 - w) + np.take(out, hi, axis=axis) * w
    return np.ascontiguousarray(out, np.float32)


def predict_features(forest: PixelForest, features: np.ndarray, *, k: float = 1.0,
                     chunk: int = 1 << 18, stride: int = 1) -> ForestPrediction:
    """Prediction from pixel features (*spatial, F) computed with the forest's settings.

    Parameters
    ----------
    forest : PixelForest
    features : (*spatial, F) float32 ndarray
        As :func:`image_features` returns them.
    k : float
        Confidence margin of the segmentation (mean - k std > 0.5).
    chunk : int
        Pixels per call of the trees.
    stride : int
        Predict every ``stride``-th pixel along each axis and interpolate the mean
        and std linearly in between: ``stride ** ndim`` times fewer tree
        evaluations, for a quick first answer (the instant mode refines it at
        ``stride`` 1 when no stroke is waiting).

    Returns
    -------
    ForestPrediction
    """
    n_feat = features.shape[-1]
    if n_feat != forest.config.n_features:
        raise ValueError(
            f"the features have {n_feat} channels but the forest was trained on "
            f"{forest.config.n_features}; compute them with the forest's sigmas "
            f"{forest.config.sigmas} and its channels ({forest.config.in_channels})."
        )
    full = tuple(features.shape[:-1])
    stride = max(int(stride), 1)
    if stride > 1:
        features = features[(slice(None, None, stride),) * len(full)]
    spatial = features.shape[:-1]
    flat = np.ascontiguousarray(features.reshape(-1, n_feat))
    kk = forest.config.n_classes
    mean = np.empty((flat.shape[0], kk), np.float32)
    std = np.empty_like(mean)
    for start in range(0, flat.shape[0], chunk):
        stop = min(start + chunk, flat.shape[0])
        mean[start:stop], std[start:stop] = forest.predict_samples(flat[start:stop])
    mean = np.moveaxis(mean.reshape(*spatial, kk), -1, 0)
    std = np.moveaxis(std.reshape(*spatial, kk), -1, 0)
    if stride > 1 and kk == 2:  # p0 = 1 - p1 and one std: interpolate one column of each
        both = _upsample(np.stack([mean[1], std[1]]), full, stride)
        mean, std = np.stack([1 - both[0], both[0]]), np.stack([both[1], both[1]])
    elif stride > 1:
        mean, std = _upsample(mean, full, stride), _upsample(std, full, stride)
    return _finish(mean, std, k)


def _finish(mean, std, k) -> ForestPrediction:
    if len(mean) == 2 and np.array_equal(std[0], std[1]):  # the forest's two-class output
        p, sd = mean[1], std[1]
        ok = np.maximum(mean[0], p) - np.float32(k) * sd > 0.5
        seg = np.where(ok, (p > mean[0]).astype(np.uint8) + 1, 0).astype(np.uint8)
        return ForestPrediction(np.ascontiguousarray(mean), np.ascontiguousarray(std), seg,
                                np.ascontiguousarray(sd), float(k))
    margin = mean - np.float32(k) * std
    best = margin.argmax(axis=0)
    ok = np.take_along_axis(margin, best[None], 0)[0] > 0.5
    seg = np.where(ok, best + 1, 0).astype(np.uint8)
    unc = np.take_along_axis(std, mean.argmax(axis=0)[None], 0)[0]
    return ForestPrediction(np.ascontiguousarray(mean), np.ascontiguousarray(std), seg, unc,
                            float(k))


def iter_predict_forest(
    forest: PixelForest,
    image,
    *,
    k: float = 1.0,
    channel_axis: int | None = None,
    slice_axis: int | None = None,
    spacing=None,
    tile: int | None = None,
    out=None,
    **_ignored,
) -> Generator[ForestProgress, None, ForestPrediction]:
    """Predict a whole image (slice by slice for 2D features on a volume).

    Same keywords and outputs as the ensemble's ``iter_predict`` (``device`` and
    other engine options are accepted and ignored). ``spacing`` defaults to the
    training image's, so σ keeps its physical size on images of that pixel size.
    With ``out`` (a zarr group or path) the arrays ``mean``, ``std``,
    ``segmentation`` and ``uncertainty`` are written there as well.
    """
    result = yield from _predict(forest, image, k=k, channel_axis=channel_axis,
                                 slice_axis=slice_axis, spacing=spacing, tile=tile)
    if out is not None:
        _write_zarr(out, result)
    return result


def _write_zarr(out, result: ForestPrediction) -> None:
    import zarr

    group = zarr.open_group(str(out), mode="a") if isinstance(out, str | Path) else out
    for name in ("mean", "std", "segmentation", "uncertainty"):
        values = np.asarray(getattr(result, name))
        array = group.create_array(name, shape=values.shape, dtype=values.dtype,
                                   chunks=values.shape, fill_value=0, overwrite=True)
        array[...] = values
    group.attrs.update({"k": float(result.k), "layout": "mean/std: (K, *spatial); classes 1..K"})


def _predict(forest, image, *, k, channel_axis, slice_axis, spacing, tile):
    cfg = forest.config
    data, n_channels = _channels_last(image, channel_axis)
    spatial = tuple(data.shape[:-1]) if channel_axis is not None else tuple(data.shape)
    if n_channels != cfg.in_channels:
        raise ValueError(f"The forest expects {cfg.in_channels} channel(s) but the image has "
                         f"{n_channels}; pass channel_axis= for a multichannel image.")
    if len(spatial) == 2 and cfg.model_ndim == 3:
        raise ValueError(f"The forest uses 3D features but the image is 2D {spatial}; "
                         "predict a volume or train on a 2D image.")
    if len(spatial) == 3 and cfg.model_ndim == 2:
        if slice_axis is None and cfg.dim == "2.5":
            slice_axis = cfg.slice_axis
        if slice_axis is None:
            raise ValueError(
                f"The forest is 2D (trained on a 2D image) but the image is 3D {spatial}; "
                "pass slice_axis= (--slice-axis 0 for Z) to predict it slice by slice, or "
                "train a forest on a volume.")
    caxis = -1 if channel_axis is not None else None
    sp = cfg.spacing if spacing is None else spacing
    if len(spatial) == 2 or cfg.model_ndim == 3:
        yield ForestProgress(0, 1, "features")
        feats = image_features(data if caxis is not None else image, sigmas=cfg.sigmas,
                               spacing=sp, channel_axis=caxis, tile=tile)
        result = predict_features(forest, feats, k=k)
        yield ForestProgress(1, 1, "done")
        return result
    slice_axis %= 3
    kk = cfg.n_classes
    mean = np.zeros((kk, *spatial), np.float32)
    std = np.zeros_like(mean)
    n = spatial[slice_axis]
    for i in range(n):
        yield ForestProgress(i, n, "slices")
        feats = image_features(_take(data, slice_axis, i), sigmas=cfg.sigmas, spacing=sp,
                               channel_axis=caxis, tile=tile)
        part = predict_features(forest, feats, k=k)
        key = [slice(None)] * 4
        key[slice_axis + 1] = i
        mean[tuple(key)], std[tuple(key)] = part.mean, part.std
    yield ForestProgress(n, n, "done")
    return _finish(mean, std, k)


def predict_forest(forest: PixelForest, image, **kwargs) -> ForestPrediction:
    """Drain :func:`iter_predict_forest`."""
    return drain(iter_predict_forest(forest, image, **kwargs))
