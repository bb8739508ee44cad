"""Restoration with regression ensembles: inpainting and denoising (workflow functions).

Training: :func:`iter_train_inpainting` (a gap mask; copies of it are moved onto known
pixels and the network learns to fill them, as in DLSIA) and
:func:`iter_train_denoising` (clean targets when given, else self-supervised
blind-spot training, Noise2Self). Prediction: :func:`iter_restore` applies the task
stored in the model, tile by tile, and returns the values and the member standard
deviation; :func:`inpaint` changes only the masked pixels. The CLI and the Restore
widget call these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .._generators import drain
from ..tiling import tile_grid
from .config import TrainedModel, TrainProgress
from .device import resolve_device
from .prediction import PredictProgress, _as_trained, _network_on
from .regression import _normalise, forward_transform, inverse_transform, iter_train_regression
from .restore_patches import biharmonic_fill, neighbour_mean

__all__ = ["Restoration", "iter_restore", "restore", "inpaint", "denoise",
           "iter_train_inpainting", "train_inpainting", "iter_train_denoising",
           "train_denoising", "REGRESSION_DEFAULTS", "RestoreRun", "iter_train_and_restore"]

logger = logging.getLogger(__name__)

#: default network of the restoration workflows: a small U-Net learns a correction
#: of its input (the biharmonic fill, or the noisy image) in a few hundred steps on CPU.
REGRESSION_DEFAULTS = {"arch": "tunet", "members": 1,
                       "model_kwargs": {"depth": 3, "base_channels": 16}, "crop": 64,
                       "batch": 4}
_CORE = {2: 512, 3: 64}


@dataclass(frozen=True)
class Restoration:
    """The result of :func:`restore`.

    Attributes
    ----------
    values : (*spatial) or (C, *spatial) float32 ndarray
        The restored image (inpainting: the input with only the masked pixels
        replaced); one channel comes without the channel axis.
    std : same shape as ``values``
        Standard deviation between the ensemble members (0 outside the mask when
        inpainting; 0 everywhere for one member). Under ``transform="log1p"`` it is
        carried to counts to first order (std * exp(log value)).
    task : str
        "inpaint", "denoise" or "regression".
    """

    values: np.ndarray
    std: np.ndarray
    task: str


def _inputs(trained: TrainedModel, image, mask, channel_axis):
    """Network input (C_in, *S), the base added to its output (C, *S), spatial shape."""
    cfg = trained.config
    image = np.asarray(image)
    img = image[None] if channel_axis is None else np.moveaxis(image, channel_axis, 0)
    img = img.astype(np.float32)
    spatial = img.shape[1:]
    if len(spatial) != cfg.model_ndim:
        raise ValueError(f"the model is {cfg.model_ndim}D; the image has spatial shape "
                         f"{spatial}. Pass channel_axis= if one axis holds channels.")
    transform = cfg.recipe.get("transform", "none")
    if cfg.task == "inpaint":
        n_channels = cfg.in_channels - 1
        mask = _check_mask(mask, spatial)
    else:
        n_channels = cfg.in_channels
        if mask is not None:
            raise ValueError(f"a {cfg.task} model takes no mask; pass mask=None (masks are "
                             "for inpainting models).")
    if img.shape[0] != n_channels:
        raise ValueError(f"the model expects {n_channels} channel(s); the image has "
                         f"{img.shape[0]} (channel_axis={channel_axis}).")
    known = np.ones(spatial, bool) if mask is None else ~mask
    if not np.isfinite(img[:, known]).all():
        raise ValueError("image holds NaN or infinite values outside the mask; fill them or "
                         "add them to the mask.")
    x = _normalise(np.where(known, forward_transform(img, transform), 0),
                   cfg.normalization[:n_channels])
    if cfg.task == "inpaint":
        base = biharmonic_fill(np.where(known, x, 0), mask)
        return np.concatenate([base, mask[None].astype(np.float32)]), base, img
    if cfg.task == "denoise":
        base = neighbour_mean(x) if cfg.recipe.get("self_supervised") else x
    else:
        base = np.zeros((cfg.n_classes,) + spatial, np.float32)
    return x, base, img


def _check_mask(mask, spatial) -> np.ndarray:
    if mask is None:
        raise ValueError("an inpainting model needs the mask of the pixels to fill (mask=, "
                         "True = missing).")
    mask = np.asarray(mask)
    if mask.shape != spatial:
        raise ValueError(f"mask shape {mask.shape} does not match the image's spatial shape "
                         f"{spatial}; draw the mask on the same image.")
    mask = mask.astype(bool)
    if mask.all():
        raise ValueError("the mask covers every pixel: nothing is known to fill from.")
    return mask


def _output(cfg, mean, std, base):
    """Normalised outputs to values in the data's units, with the std carried along."""
    y = mean + base
    shape = (-1,) + (1,) * (y.ndim - 1)
    low = np.array([lh[0] for lh in cfg.target_normalization], np.float32).reshape(shape)
    high = np.array([lh[1] for lh in cfg.target_normalization], np.float32).reshape(shape)
    y = y * (high - low) + low
    s = std * (high - low)
    transform = cfg.recipe.get("transform", "none")
    if transform == "log1p":
        s = s * np.exp(y)
    return inverse_transform(y, transform).astype(np.float32), s.astype(np.float32)


def iter_restore(trained, image, *, mask=None, channel_axis: int | None = None,
                 tile: int | None = None, device: str = "auto",
                 ) -> Generator[PredictProgress, None, Restoration]:
    """Apply a restoration model tile by tile; yield progress, return a :class:`Restoration`.

    Parameters
    ----------
    trained : TrainedModel or path
        From :func:`train_inpainting`, :func:`train_denoising`,
        :func:`~napari_sciseg.dl.regression.train_regression` or ``load_model``.
    image : (Y, X) or (Z, Y, X) ndarray
        Plus a channel axis at ``channel_axis``.
    mask : bool ndarray, optional
        Inpainting models: True on the pixels to fill (only those change).
    tile : int, optional
        Window edge with the halo (default: a core of 512 px in 2D, 64 in 3D).
    device : str

    Notes
    -----
    A self-supervised denoising model runs 16 times in 2D (27 in 3D): each pass hides
    every 4th (3rd) pixel along each axis, as training did, and every pixel is taken
    from the pass that hid it (J-invariant prediction, Noise2Self).

    Yields
    ------
    PredictProgress
    """
    trained = _as_trained(trained)
    cfg = trained.config
    if cfg.task == "segment":
        raise ValueError("this is a segmentation model; use predict() (or 'sciseg predict') "
                         "for it. restore() applies inpainting, denoising and regression "
                         "models.")
    x, base, img = _inputs(trained, image, mask, channel_axis)
    device, _ = resolve_device(device)
    network = _network_on(trained.network, device)
    halo = int(trained.network.receptive_field)
    spatial = x.shape[1:]
    edge = int(tile) if tile is not None else _CORE[len(spatial)] + 2 * halo
    grid = tile_grid(spatial, tile=edge, halo=halo)
    passes = _blind_spot_passes(spatial) if cfg.recipe.get("self_supervised") else [None]
    total = len(passes) * grid.n_tiles
    mean = np.zeros(base.shape, np.float32)
    std = np.zeros(base.shape, np.float32)
    for i, hidden in enumerate(passes):
        xp = x if hidden is None else np.where(hidden, neighbour_mean(x), x).astype(np.float32)
        m, s = yield from _run_tiles(network, xp, grid, device, i * grid.n_tiles, total)
        if hidden is None:
            mean, std = m, s
        else:  # each pixel predicted once while hidden, as in training (J-invariant)
            mean[:, hidden], std[:, hidden] = m[:, hidden], s[:, hidden]
            base[:, hidden] = neighbour_mean(xp)[:, hidden]
    values, spread = _output(cfg, mean, std, base)
    if cfg.task == "inpaint":
        mask = np.asarray(mask, bool)
        values = np.where(mask, values, img).astype(np.float32)  # known pixels: unchanged
        spread = np.where(mask, spread, 0).astype(np.float32)
    if values.shape[0] == 1 and channel_axis is None:
        values, spread = values[0], spread[0]
    elif channel_axis is not None:
        values, spread = np.moveaxis(values, 0, channel_axis), np.moveaxis(spread, 0, channel_axis)
    return Restoration(values=values, std=spread, task=cfg.task)


#: self-supervised denoising at prediction: pixels hidden on a grid of this pitch per pass
_BLIND_PITCH = {2: 4, 3: 3}


def _blind_spot_passes(spatial) -> list[np.ndarray]:
    """Masks hiding every pixel exactly once (a grid of pitch ``_BLIND_PITCH``)."""
    import itertools

    pitch = _BLIND_PITCH[len(spatial)]
    index = np.indices(spatial)
    return [np.logical_and.reduce([index[d] % pitch == o for d, o in enumerate(offsets)])
            for offsets in itertools.product(range(pitch), repeat=len(spatial))]


def _run_tiles(network, x, grid, device, done: int, total: int):
    """The network's mean and std over ``x`` tile by tile; yields progress."""
    import torch

    mean = np.zeros((network.out_channels,) + x.shape[1:], np.float32)
    std = np.zeros_like(mean)
    for t in grid:
        with torch.inference_mode():
            m, s = network(torch.from_numpy(np.ascontiguousarray(x[(slice(None),) + t.window]))
                           [None].to(device))
        core = (slice(None),) + t.core_in_window
        mean[(slice(None),) + t.core] = m[0].float().cpu().numpy()[core]
        std[(slice(None),) + t.core] = s[0].float().cpu().numpy()[core]
        done += 1
        yield PredictProgress(done=done, total=total, message=f"tile {done}/{total}")
    return mean, std


def restore(trained, image, **kwargs) -> Restoration:
    """Run :func:`iter_restore` to the end and return its :class:`Restoration`.

    Parameters
    ----------
    trained : TrainedModel or path
        An inpainting or denoising model.
    image : ndarray
        The image to restore.
    **kwargs
        The options of :func:`iter_restore`.

    Returns
    -------
    Restoration
    """
    return drain(iter_restore(trained, image, **kwargs))


def inpaint(trained, image, mask, **kwargs) -> Restoration:
    """Fill the ``mask`` pixels of ``image`` with an inpainting model (only those change).

    Parameters
    ----------
    trained : TrainedModel or path
        An inpainting model.
    image : ndarray
        The measured image.
    mask : bool ndarray
        True on the pixels to fill.
    **kwargs
        The options of :func:`iter_restore` (``device``, ``tile``, ...).

    Returns
    -------
    Restoration
        ``values``: ``image`` with the masked pixels filled; ``std`` there.

    Examples
    --------
    >>> from napari_sciseg.data.scattering import scattering_pattern
    >>> pattern, gaps = scattering_pattern((64, 64), module=(20, 28), gap=(3, 2))
    >>> model = train_inpainting(pattern, gaps, steps=2, crop=32, transform="log1p",
    ...                          device="cpu")
    >>> filled = inpaint(model, pattern, gaps).values
    >>> bool((filled[~gaps] == pattern[~gaps]).all()), bool((filled[gaps] > 0).all())
    (True, True)
    """
    return restore(trained, image, mask=mask, **kwargs)


def denoise(trained, image, **kwargs) -> Restoration:
    """Denoise ``image`` with a denoising model (see :func:`train_denoising`).

    Parameters
    ----------
    trained : TrainedModel or path
        A denoising model.
    image : ndarray
        The noisy image.
    **kwargs
        The options of :func:`iter_restore` (``device``, ``tile``, ...).

    Returns
    -------
    Restoration
        The denoised ``values`` and the members' ``std``.
    """
    return restore(trained, image, **kwargs)


def _settings(kwargs: dict) -> dict:
    settings = {k: v for k, v in REGRESSION_DEFAULTS.items() if k not in kwargs}
    if "arch" in kwargs and "model_kwargs" not in kwargs:
        settings.pop("model_kwargs", None)  # the defaults are the TUNet's
    return {**settings, **kwargs}


def iter_train_inpainting(image, mask, **kwargs) -> Generator[TrainProgress, None, TrainedModel]:
    """Train an ensemble to fill the ``mask`` pixels of images like ``image``.

    Copies of ``mask`` are moved onto pixels whose values are known, the input there
    is filled by biharmonic interpolation, and the network learns the correction
    that gives back the known values (L1 by default). Prediction (:func:`inpaint`)
    changes only masked pixels.

    Parameters
    ----------
    image : (Y, X) ndarray
        The measured image; values under ``mask`` are ignored (NaN allowed there).
    mask : (Y, X) bool ndarray
        True where the data are missing (e.g. a detector's module gaps).
    **kwargs
        Settings of :func:`~napari_sciseg.dl.regression.iter_train_regression`
        (steps, members, arch, loss, transform="log1p" for counts, seed, device,
        cancel, ...). Defaults: :data:`REGRESSION_DEFAULTS`.

    Yields
    ------
    TrainProgress

    Returns
    -------
    TrainedModel
        The inpainting ensemble (returned by the generator).
    """
    known = ~np.asarray(mask).astype(bool)
    return (yield from iter_train_regression(image, None, known=known, task="inpaint",
                                             **_settings(kwargs)))


def train_inpainting(image, mask, **kwargs) -> TrainedModel:
    """Run :func:`iter_train_inpainting` to the end and return the model.

    Parameters
    ----------
    image : ndarray
        The measured image.
    mask : bool ndarray
        True where the data are missing.
    **kwargs
        As for :func:`iter_train_inpainting`.

    Returns
    -------
    TrainedModel
    """
    return drain(iter_train_inpainting(image, mask, **kwargs))


def iter_train_denoising(image, clean=None, **kwargs,
                         ) -> Generator[TrainProgress, None, TrainedModel]:
    """Train a denoising ensemble: paired with ``clean``, else self-supervised.

    Without ``clean`` a random share (``blind_spot``, default 3%) of each patch is
    replaced by the mean of its neighbours and the network learns to predict those
    pixels from their surroundings (Noise2Self): with noise independent between
    pixels, the best such prediction is the clean signal. With ``clean`` (same shape)
    it learns the mapping directly. The network predicts a correction of its input.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
    clean : ndarray, optional
        Clean targets of the same shape.
    **kwargs
        As for :func:`iter_train_inpainting`.

    Yields
    ------
    TrainProgress
        One record per step of the ensemble's training (loss, validation).

    Returns
    -------
    TrainedModel
        The denoising ensemble, returned by the generator; :func:`denoise` applies it.
    """
    return (yield from iter_train_regression(image, clean, task="denoise",
                                             **_settings(kwargs)))


def train_denoising(image, clean=None, **kwargs) -> TrainedModel:
    """Run :func:`iter_train_denoising` to the end and return the model.

    Parameters
    ----------
    image : ndarray
        The noisy image.
    clean : ndarray, optional
        Clean targets (paired training); None = self-supervised.
    **kwargs
        As for :func:`iter_train_denoising`.

    Returns
    -------
    TrainedModel
    """
    return drain(iter_train_denoising(image, clean, **kwargs))


@dataclass(frozen=True)
class RestoreRun:
    """What :func:`iter_train_and_restore` returns.

    Attributes
    ----------
    model : TrainedModel
    result : Restoration
        The model applied to the training image.
    baseline : ndarray or None
        Inpainting: biharmonic inpainting of the same mask, for comparison.
    """

    model: TrainedModel
    result: Restoration
    baseline: np.ndarray | None


def iter_train_and_restore(task: str, image, *, mask=None, clean=None, cancel=None,
                           device: str = "auto", **settings,
                           ) -> Generator[object, None, RestoreRun | None]:
    """Train an inpainting or denoising model on ``image`` and apply it there.

    The job of the Restore widget and of ``sciseg train --task inpainting|denoising``
    with an output: progress of training, then of prediction; returns None when
    ``cancel`` stopped the training.

    Parameters
    ----------
    task : {"inpaint", "denoise"}
    image : ndarray
    mask : bool ndarray, optional
        Inpainting: True on the missing pixels.
    clean : ndarray, optional
        Denoising: clean targets (paired); None = self-supervised.
    cancel : threading.Event, optional
    device : str
    **settings
        Training settings (see :func:`iter_train_inpainting`).

    Yields
    ------
    progress records
        Of the training, then of the prediction.

    Returns
    -------
    RestoreRun or None
        The model, its result on ``image`` and a classical baseline; None when cancelled.
    """
    from .._validation import check_choice

    check_choice("task", task, ("inpaint", "denoise"))
    if task == "inpaint":
        model = yield from iter_train_inpainting(image, mask, cancel=cancel, device=device,
                                                 **settings)
    else:
        if mask is not None:
            raise ValueError("denoising takes no mask; pass clean= for paired targets.")
        model = yield from iter_train_denoising(image, clean, cancel=cancel, device=device,
                                                **settings)
    if cancel is not None and cancel.is_set():
        return None
    result = yield from iter_restore(model, image, mask=mask, device=device)
    baseline = None
    if task == "inpaint":
        from ..evaluate.restoration import inpaint_classical

        baseline = inpaint_classical(image, mask, log=model.config.recipe["transform"] == "log1p")
    return RestoreRun(model=model, result=result, baseline=baseline)
