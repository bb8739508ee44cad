"""Tiled ensemble prediction with uncertainty, for images larger than memory.

The image is cut into tiles whose halo is the network's receptive field
(:mod:`napari_sciseg.tiling`), so the tiled result equals the untiled one to
float tolerance. Tiles are read lazily, so numpy, dask and zarr inputs all
work, and with ``out=`` every tile's core is written straight to a zarr group:
a volume larger than memory is predicted with bounded memory.

Outputs (a :class:`Prediction`):

- ``mean`` (K, *spatial) float32: the ensemble's mean softmax probability;
- ``std`` (K, *spatial) float32: the standard deviation between members
  (as the engine's ``Ensemble`` defines it; 0 for a single member);
- ``segmentation`` (*spatial) uint8: class c (1..K) where
  ``mean_c - k * std_c > 0.5``, else 0 = "unsure" (the DLSIA fiber-study rule
  at ``k = 1``);
- ``uncertainty`` (*spatial) float32: the member standard deviation of the most
  probable class (0 = members agree).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._generators import drain
from ..tiling import Tile, tile_grid
from .device import resolve_device

__all__ = ["PredictProgress", "Prediction", "iter_predict", "predict", "confident_segmentation"]

logger = logging.getLogger(__name__)

#: default core edge (pixels) per model dimensionality; the halo is added on both sides.
_DEFAULT_CORE = {2: 512, 3: 64}
#: on CPU a 2D window (halo included) of about this edge: the state of a graph network
#: (all its node activations) then stays in the last-level cache. Measured on the
#: benchmark's 5 x depth-5 SMSNet ensemble (1 thread, CPU time per pixel): 384^2
#: windows ~1.15 us, 538^2 ~1.85 us (state 36 MB > 32 MB L3).
_CPU_WINDOW_2D = 384
#: default number of input voxels per batch of tiles (accelerators; CPU runs one tile).
_BATCH_VOXELS = 1 << 19


@dataclass(frozen=True)
class PredictProgress:
    """Progress of :func:`iter_predict`: ``done`` of ``total`` tiles finished."""

    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class Prediction:
    """The result of :func:`predict`.

    Attributes
    ----------
    mean : (K, *spatial) float32 array
        Mean class probability over the ensemble members (numpy, or zarr with ``out=``).
    std : (K, *spatial) float32 array
        Standard deviation of the class probability between members.
    segmentation : (*spatial) uint8 array
        Confident class id 1..K, 0 where no class passes ``mean - k * std > 0.5``.
    uncertainty : (*spatial) float32 array
        Member standard deviation of the most probable class.
    k : float
        The number of standard deviations used for ``segmentation``.
    """

    mean: Any
    std: Any
    segmentation: Any
    uncertainty: Any
    k: float = 1.0


def confident_segmentation(mean: np.ndarray, std: np.ndarray, k: float = 1.0) -> np.ndarray:
    """Class id where ``mean - k * std > 0.5`` (1..K), else 0 = unsure.

    Parameters
    ----------
    mean, std : (K, *spatial) ndarray
        Per-class mean probability and member standard deviation.
    k : float
        Standard deviations subtracted before the 0.5 threshold.

    Returns
    -------
    (*spatial) uint8 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> mean = np.array([[0.9, 0.55, 0.3]], np.float32)
    >>> mean = np.concatenate([1 - mean, mean])
    >>> std = np.full_like(mean, 0.1)
    >>> confident_segmentation(mean, std, k=1.0)
    array([2, 0, 1], dtype=uint8)
    """
    margin = np.asarray(mean, np.float32) - np.float32(k) * np.asarray(std, np.float32)
    best = margin.argmax(axis=0)
    ok = np.take_along_axis(margin, best[None], axis=0)[0] > 0.5
    return np.where(ok, best + 1, 0).astype(np.uint8)


def _uncertainty(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    best = mean.argmax(axis=0)
    return np.take_along_axis(std, best[None], axis=0)[0].astype(np.float32)


@dataclass(frozen=True)
class _Plan:
    spatial_shape: tuple[int, ...]
    channel_axis: int | None
    slice_axis: int | None  # spatial axis predicted slice by slice (2D model on a volume)
    halo: int
    tile: tuple[int, ...]


def _as_array(image):
    if hasattr(image, "shape") and hasattr(image, "__getitem__") and hasattr(image, "dtype"):
        return image
    return np.asarray(image)


@dataclass(frozen=True)
class _ModelSpec:
    """What planning needs to know of a model, read once from its configuration."""

    in_channels: int
    n_classes: int
    model_ndim: int
    dim: str
    slice_axis: int
    halo: int

    @classmethod
    def of(cls, trained) -> _ModelSpec:
        """From a :class:`~.config.TrainedModel` (or an object with the same attributes)."""
        cfg = trained.config
        if isinstance(cfg, dict):  # a config read from JSON but not parsed
            from .config import ModelConfig

            cfg = ModelConfig.from_dict(cfg)
        return cls(
            in_channels=int(getattr(cfg, "in_channels", 1)),
            n_classes=int(getattr(cfg, "n_classes", 0) or trained.network.out_channels),
            model_ndim=int(getattr(cfg, "model_ndim", 2)),
            dim=str(getattr(cfg, "dim", "2")),
            slice_axis=int(getattr(cfg, "slice_axis", 0) or 0),
            halo=int(trained.network.receptive_field),
        )


def _split_channels(shape: tuple[int, ...], channel_axis, in_channels: int):
    """``(channel_axis, spatial shape)``, checking the channel count against the model."""
    if channel_axis is not None:
        if not -len(shape) <= channel_axis < len(shape):
            raise ValueError(f"channel_axis {channel_axis} is out of range for shape {shape}.")
        channel_axis %= len(shape)
        n_channels = shape[channel_axis]
        spatial = shape[:channel_axis] + shape[channel_axis + 1 :]
    else:
        n_channels, spatial = 1, shape
    if n_channels != in_channels:
        where = f"channel_axis={channel_axis}" if channel_axis is not None else "no channel_axis"
        raise ValueError(
            f"The model expects {in_channels} input channel(s) but the image has {n_channels} "
            f"({where}, shape {shape}). Pass channel_axis= for a multichannel image, or the "
            "channels the model was trained on."
        )
    if len(spatial) not in (2, 3):
        raise ValueError(
            f"image must be 2D or 3D (plus channel_axis); got spatial shape {spatial}. "
            "Pass channel_axis= if one axis holds channels."
        )
    return channel_axis, spatial


def _resolve_slice_axis(spec: _ModelSpec, spatial, shape, slice_axis) -> int | None:
    """The axis a 2D model runs along on a volume (None when the dimensions match)."""
    if spec.model_ndim == 3 and len(spatial) == 2:
        raise ValueError(
            f"The model is 3D but the image is 2D (shape {shape}); predict a (Z, Y, X) volume "
            "or train a 2D model."
        )
    if not (spec.model_ndim == 2 and len(spatial) == 3):
        return None
    if slice_axis is None and spec.dim == "2.5":
        slice_axis = spec.slice_axis
    if slice_axis is None:
        raise ValueError(
            f"The model is 2D but the image is 3D (spatial shape {spatial}); pass "
            "slice_axis= (e.g. slice_axis=0 for Z) to predict it slice by slice, or "
            "channel_axis= if one axis holds channels."
        )
    if not -3 <= slice_axis < 3:
        raise ValueError(f"slice_axis {slice_axis} is out of range for a 3D image.")
    return slice_axis % 3


def _tiles(spec: _ModelSpec, spatial, slice_axis, tile, cpu: bool) -> tuple[int, ...]:
    """Window edge per spatial axis (1 along a slice axis)."""
    halo = spec.halo
    if tile is None and spec.model_ndim == 2 and cpu:
        # cache-sized windows (a core of at least 128 px so halos stay cheap), as few per
        # axis as that allows, shrunk to share the axis evenly (less overlap at the edge)
        max_core = max(_CPU_WINDOW_2D - 2 * halo, 128)
        tile = tuple(-(-n // -(-n // max_core)) + 2 * halo for n in spatial)
    elif tile is None:
        tile = _DEFAULT_CORE[spec.model_ndim] + 2 * halo
    tiles = (tile,) * len(spatial) if np.isscalar(tile) else tuple(tile)
    if slice_axis is not None and len(tiles) == len(spatial):
        tiles = tuple(1 if d == slice_axis else t for d, t in enumerate(tiles))
    elif slice_axis is not None and len(tiles) == 2:
        tiles = tiles[:slice_axis] + (1,) + tiles[slice_axis:]
    return tuple(int(t) for t in tiles)


def _plan(trained, image, channel_axis, slice_axis, tile, cpu: bool = False) -> _Plan:
    """How to cut ``image`` into windows for ``trained`` (a model, or its :class:`_ModelSpec`)."""
    spec = trained if isinstance(trained, _ModelSpec) else _ModelSpec.of(trained)
    if np.issubdtype(np.dtype(image.dtype), np.complexfloating) or image.dtype == object:
        raise TypeError(f"image must hold real numbers; got dtype {image.dtype}.")
    shape = tuple(int(s) for s in image.shape)
    channel_axis, spatial = _split_channels(shape, channel_axis, spec.in_channels)
    slice_axis = _resolve_slice_axis(spec, spatial, shape, slice_axis)
    tiles = _tiles(spec, spatial, slice_axis, tile, cpu)
    return _Plan(tuple(spatial), channel_axis, slice_axis, spec.halo, tiles)


def _read(image, plan: _Plan, window: tuple[slice, ...]) -> np.ndarray:
    """Read one window as (C, *window) from numpy, dask or zarr."""
    index = list(window)
    if plan.channel_axis is not None:
        index.insert(plan.channel_axis, slice(None))
    block = image[tuple(index)]
    if hasattr(block, "compute"):
        block = block.compute()
    block = np.asarray(block)
    if plan.channel_axis is None:
        return block[None]
    return np.moveaxis(block, plan.channel_axis, 0)


class _SlabReader:
    """Reads windows; for slice-by-slice prediction, a slab of slices at a time.

    Lazy stores (zarr, dask) are chunked along the slice axis too: reading one slice
    decodes whole chunks, so consecutive slices are read together (one slab of
    ``slab`` slices, a few MB) and served from memory.
    """

    def __init__(self, image, plan: _Plan, slab: int):
        self.image, self.plan, self.slab = image, plan, max(1, int(slab))
        self.box: tuple[slice, ...] | None = None
        self.block: np.ndarray | None = None

    def __call__(self, window: tuple[slice, ...]) -> np.ndarray:
        axis = self.plan.slice_axis
        if axis is None or isinstance(self.image, np.ndarray) or self.slab == 1:
            return _read(self.image, self.plan, window)
        inside = self.box is not None and all(
            b.start <= w.start and w.stop <= b.stop for b, w in zip(self.box, window)
        )
        if not inside:
            start = window[axis].start
            stop = min(start + self.slab, self.plan.spatial_shape[axis])
            self.box = tuple(slice(start, stop) if d == axis else w for d, w in enumerate(window))
            self.block = _read(self.image, self.plan, self.box)
        local = tuple(slice(None) if d == axis else slice(w.start - b.start, w.stop - b.start)
                      for d, (w, b) in enumerate(zip(window, self.box)))
        z = window[axis].start - self.box[axis].start
        local = local[:axis] + (slice(z, z + 1),) + local[axis + 1:]
        return self.block[(slice(None), *local)]


def _slab_depth(image, plan: _Plan) -> int:
    """Slices per read: the store's chunk depth along the slice axis (at most 64)."""
    if plan.slice_axis is None:
        return 1
    chunks = getattr(image, "chunks", None)
    axis = plan.slice_axis
    if plan.channel_axis is not None and axis >= plan.channel_axis:
        axis += 1
    try:
        depth = chunks[axis]
        depth = max(depth) if isinstance(depth, tuple) else int(depth)
    except (TypeError, IndexError):
        depth = 16
    return int(min(max(depth, 1), 64))


def _normalizer(trained):
    for owner in (trained, trained.config):
        fn = getattr(owner, "normalize", None)
        if callable(fn):
            return fn
    return lambda x: np.asarray(x, np.float32)


def _network_on(network, device):
    """The network on ``device``; a copy when it lives elsewhere (training may still use it)."""
    if getattr(network, "runs_numpy", False):  # an exported model (ONNX), runs as it is
        return network
    params = list(network.parameters())
    if params and params[0].device != device:
        network = copy.deepcopy(network).to(device)
    return network.eval()


def _allocate(out, n_classes: int, spatial: tuple[int, ...], chunks: tuple[int, ...], k: float):
    if out is None:
        return {
            "mean": np.zeros((n_classes, *spatial), np.float32),
            "std": np.zeros((n_classes, *spatial), np.float32),
            "segmentation": np.zeros(spatial, np.uint8),
            "uncertainty": np.zeros(spatial, np.float32),
        }
    import zarr

    group = zarr.open_group(str(out), mode="a") if isinstance(out, str | Path) else out
    arrays = {}
    for name, shape, chunk, dtype in (
        ("mean", (n_classes, *spatial), (1, *chunks), "float32"),
        ("std", (n_classes, *spatial), (1, *chunks), "float32"),
        ("segmentation", spatial, chunks, "uint8"),
        ("uncertainty", spatial, chunks, "float32"),
    ):
        arrays[name] = group.create_array(
            name, shape=shape, chunks=chunk, dtype=dtype, fill_value=0, overwrite=True
        )
    group.attrs.update({"k": float(k), "layout": "mean/std: (K, *spatial); classes 1..K"})
    return arrays


def _run_batch(network, device, batch: np.ndarray, plan: _Plan):
    if getattr(network, "runs_numpy", False):  # an exported model: numpy in, numpy out
        x = batch if plan.slice_axis is None else batch.squeeze(2 + plan.slice_axis)
        mean, std = network.run(x)
        if plan.slice_axis is not None:
            mean = np.expand_dims(mean, 2 + plan.slice_axis)
            std = np.expand_dims(std, 2 + plan.slice_axis)
        return mean, std
    import torch

    x = torch.from_numpy(batch)
    if plan.slice_axis is not None:
        x = x.squeeze(2 + plan.slice_axis)
    with torch.inference_mode():
        mean, std = network(x.to(device))
    mean, std = mean.float().cpu().numpy(), std.float().cpu().numpy()
    if plan.slice_axis is not None:
        mean = np.expand_dims(mean, 2 + plan.slice_axis)
        std = np.expand_dims(std, 2 + plan.slice_axis)
    return mean, std


def _write(arrays, tile: Tile, mean: np.ndarray, std: np.ndarray, k: float) -> None:
    m = np.ascontiguousarray(mean[(slice(None), *tile.core_in_window)])
    s = np.ascontiguousarray(std[(slice(None), *tile.core_in_window)])
    arrays["mean"][(slice(None), *tile.core)] = m
    arrays["std"][(slice(None), *tile.core)] = s
    arrays["segmentation"][tile.core] = confident_segmentation(m, s, k)
    arrays["uncertainty"][tile.core] = _uncertainty(m, s)


def _write_batch(arrays, tiles: list[Tile], mean: np.ndarray, std: np.ndarray, k: float):
    for i, t in enumerate(tiles):
        _write(arrays, t, mean[i], std[i], k)


def _as_trained(trained):
    if isinstance(trained, str | Path):
        from . import load_model

        return load_model(trained)
    if not (hasattr(trained, "network") and hasattr(trained, "config")):
        raise TypeError(
            f"Expected a TrainedModel (from train() or load_model()) or a path to a .sciseg "
            f"file; got {type(trained).__name__}."
        )
    return trained


def _batch_size(batch_size, device, grid) -> int:
    if batch_size is None and device.type == "cpu":
        return 1  # one tile's activations stay in cache; batching buys nothing on CPU
    if batch_size is None:
        return max(1, _BATCH_VOXELS // int(np.prod(grid.window_shape)))
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    return int(batch_size)


def _batches(grid, plan: _Plan, batch_size: int) -> list[list[Tile]]:
    """The tiles in batches; slices innermost so that consecutive tiles share a slab read."""
    tiles = list(grid)
    if plan.slice_axis is not None:
        ax = plan.slice_axis
        tiles.sort(key=lambda t: t.index[:ax] + t.index[ax + 1 :] + t.index[ax:])
    return [tiles[i:i + batch_size] for i in range(0, len(tiles), batch_size)]


@dataclass
class _TileRunner:
    """Reads, normalises and predicts batches of tiles and writes their cores."""

    network: Any
    device: Any
    plan: _Plan
    normalize: Any
    read: Any
    arrays: dict
    k: float

    def batch(self, pending: list[Tile]):
        batch = np.stack([np.asarray(self.normalize(self.read(t.window)), np.float32)
                          for t in pending])
        return _run_batch(self.network, self.device, batch, self.plan)

    def all(self, batches, total: int, *, threaded_writes: bool):
        """Every batch; yields progress. Writing to a store (compression, file I/O) runs in
        one background thread, at most two batches behind the network (bounded memory)."""
        writer = ThreadPoolExecutor(max_workers=1) if threaded_writes else None
        inflight: list[Future] = []
        done = 0
        try:
            for pending in batches:
                mean, std = self.batch(pending)
                if writer is None:
                    _write_batch(self.arrays, pending, mean, std, self.k)
                else:
                    inflight.append(writer.submit(_write_batch, self.arrays, pending, mean,
                                                  std, self.k))
                    while len(inflight) > 2:
                        inflight.pop(0).result()
                done += len(pending)
                yield PredictProgress(done=done, total=total, message=f"tile {done}/{total}")
            for fut in inflight:
                fut.result()
        finally:
            if writer is not None:
                writer.shutdown(wait=True)


def iter_predict(
    trained,
    image,
    *,
    tile: int | tuple[int, ...] | None = None,
    k: float = 1.0,
    channel_axis: int | None = None,
    slice_axis: int | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    out=None,
) -> Generator[PredictProgress, None, Prediction]:
    """Predict ``image`` tile by tile; yield progress, return a :class:`Prediction`.

    Parameters
    ----------
    trained : TrainedModel or path
        A trained ensemble (``train()``, ``load_model()``) or a ``.sciseg`` path.
    image : (Y, X) or (Z, Y, X) array, numpy / dask / zarr
        Plus a channel axis when ``channel_axis`` is given. Read one tile at a time.
    tile : int or tuple of int, optional
        Window edge fed to the network, halo included (at least
        ``2 * receptive_field + 1``). Default: a core of 512 (2D) or 64 (3D)
        plus the halo on both sides; on CPU, 2D windows of 384 (a core of at
        least 128), whose activations stay in cache (~1.6x faster than 512).
    k : float
        Standard deviations subtracted from the mean for ``segmentation``.
    channel_axis : int, optional
        Axis of ``image`` holding channels; the model's channel count must match.
    slice_axis : int, optional
        For a 2D model on a 3D image: the spatial axis to predict slice by slice.
        Defaults to the model's own for a 2.5D model (``config.dim == "2.5"``).
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ...
    batch_size : int, optional
        Tiles per forward pass; default 1 on CPU, else from the tile size.
    out : zarr group or path, optional
        Write ``mean``, ``std``, ``segmentation`` and ``uncertainty`` arrays there,
        chunk by chunk (chunks = tile cores), instead of holding them in memory.

    Yields
    ------
    PredictProgress
        After each batch of tiles.

    Returns
    -------
    Prediction
        Numpy arrays, or the zarr arrays in ``out``.

    Examples
    --------
    See :func:`predict`, which drains this generator.
    """
    trained = _as_trained(trained)
    task = getattr(trained.config, "task", "segment")
    if task != "segment":
        raise ValueError(f"this is a {task} model (regression); apply it with "
                         "napari_sciseg.dl.restore() (or 'sciseg predict', which reads the "
                         "task from the model). predict() is for segmentation models.")
    image = _as_array(image)
    if not np.isfinite(k):
        raise ValueError(f"k must be a finite number of standard deviations; got {k}.")
    device, device_msg = resolve_device(device)
    spec = _ModelSpec.of(trained)
    plan = _plan(spec, image, channel_axis, slice_axis, tile, cpu=device.type == "cpu")
    halo = tuple(0 if d == plan.slice_axis else plan.halo for d in range(len(plan.spatial_shape)))
    grid = tile_grid(plan.spatial_shape, tile=plan.tile, halo=halo)
    arrays = _allocate(out, spec.n_classes, plan.spatial_shape, grid.core_shape, k)
    network = _network_on(trained.network, device)
    batch_size = _batch_size(batch_size, device, grid)
    logger.info(
        "predicting %s in %d tiles of %s (halo %s, batch %d); %s",
        plan.spatial_shape, grid.n_tiles, grid.window_shape, halo, batch_size, device_msg,
    )
    pooled = any(getattr(m, "arch", "") in ("tunet", "tunet3plus") for m in network.modules())
    if pooled and grid.n_tiles > 1:
        logger.warning(
            "U-Net members pool on a grid that tiles shift: tiled output matches untiled only "
            "approximately (~1e-3 in probability); pass a tile larger than the image for exact."
        )
    batches = _batches(grid, plan, batch_size)
    reader = _SlabReader(image, plan, _slab_depth(image, plan))
    run = _TileRunner(network, device, plan, _normalizer(trained), reader, arrays, k)
    yield from run.all(batches, grid.n_tiles, threaded_writes=out is not None)
    return Prediction(k=float(k), **arrays)


def predict(trained, image, **kwargs) -> Prediction:
    """Run :func:`iter_predict` to the end and return its :class:`Prediction`.

    Parameters
    ----------
    trained : TrainedModel or path
        The model, or the path of a ``.sciseg`` file.
    image : array
        As for :func:`iter_predict`.
    **kwargs
        The options of :func:`iter_predict` (``channel_axis``, ``slice_axis``, ``k``,
        ``device``, ``tile``, ...).

    Returns
    -------
    Prediction
        Ensemble mean and std per class, segmentation and uncertainty.

    Examples
    --------
    >>> from napari_sciseg.data.scribbles import scribbles_2d
    >>> from napari_sciseg.dl import train
    >>> image, scribbles = scribbles_2d(shape=(48, 48))
    >>> model = train(image, scribbles, members=2, steps=2, crop=32, device="cpu",
    ...               model_kwargs={"depth": 2})
    >>> result = predict(model, image, device="cpu", k=1.0)
    >>> result.mean.shape, result.std.shape, result.segmentation.dtype
    ((2, 48, 48), (2, 48, 48), dtype('uint8'))
    >>> steps = list(iter_predict(model, image, device="cpu"))  # progress records
    >>> steps[-1].done == steps[-1].total
    True
    """
    return drain(iter_predict(trained, image, **kwargs))
