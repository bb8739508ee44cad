"""``sciseg predict`` for one file: read it, predict, write its TIFFs or zarr group.

Run on a local thread or a Dask worker by :mod:`._predict` (and by the Batch widget);
it returns an error message instead of raising, so one bad file does not stop a batch.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

__all__ = ["output_paths", "predict_file"]

_OUTPUTS_TIFF = ("probability", "std", "segmentation")
_MODEL_LOCK = threading.Lock()


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


#: output name of a restoration model's result, per task
_RESTORED = {"inpaint": "inpainted", "denoise": "denoised", "regression": "regression"}


def output_paths(path: Path, outdir: Path, use_zarr: bool, task: str = "segment") -> list[Path]:
    """Where the outputs of ``path`` go (restoration models: the result and its std)."""
    stem = _stem(path)
    if task in _RESTORED:
        return [outdir / f"{stem}_{_RESTORED[task]}.tif", outdir / f"{stem}_std.tif"]
    if use_zarr:
        return [outdir / f"{stem}.zarr"]
    return [outdir / f"{stem}_{name}.tif" for name in _OUTPUTS_TIFF]


@functools.lru_cache(maxsize=4)
def _load(model_path: str, engine: str = "auto", device: str = "auto"):
    """The model, run by ``engine`` (``sciseg predict --engine``; see dl.export.engine)."""
    from ..dl.export import load_for_prediction

    return load_for_prediction(model_path, engine=engine, device=device)


def _read(path: Path):
    """(data, spacing, unit, axes) of an image file or zarr array."""
    if path.suffix == ".zarr":
        import zarr

        from ..io.ome_zarr import is_ome_zarr, read_ome_zarr

        if is_ome_zarr(path):  # lazily, with the scale of its multiscales metadata
            img = read_ome_zarr(path)
            return img.data, img.spacing, img.unit, img

        node = zarr.open(str(path), mode="r")
        if hasattr(node, "shape"):
            array = node
        else:
            names = [name for name, _ in node.arrays()]
            if not names:
                raise ValueError(f"{path} holds no zarr array.")
            array = node["image"] if "image" in names else node[names[0]]
        attrs = dict(array.attrs)
        spacing = attrs.get("spacing")
        return array, tuple(spacing) if spacing else None, attrs.get("unit", "pixel"), None
    from ..io import read_image

    img = read_image(path)
    return img.data, img.spacing, img.unit, img


def predict_file(model_path: str, path: Path, outdir: Path, options: dict) -> tuple[str, str]:
    """Predict one file; return (file name, "" on success or the error message).

    ``options["image"]`` (a ``CalibratedImage``, e.g. a napari layer's data and
    scale), when given, is predicted instead of reading ``path``, which then only
    names the outputs.
    """
    try:
        from ..dl.prediction import predict

        with _MODEL_LOCK:
            trained = _load(model_path, options.get("engine", "auto"),
                            options.get("device", "auto"))
        if getattr(trained.config, "arch", None) == "forest":  # the instant pixel forest
            from ..classify.forest_engine import predict_forest as predict
        img = options.get("image")
        data, spacing, unit, img = (_read(path) if img is None else
                                    (img.data, img.spacing, img.unit, img))
        channel_axis = options.get("channel_axis")
        if channel_axis is None and img is not None and img.channel_axis is not None:
            channel_axis = img.channel_axis
        task = getattr(trained.config, "task", "segment")
        if task in _RESTORED:
            _restore_tiff(trained, data, path, outdir, options, channel_axis, spacing, unit)
            return path.name, ""
        kwargs = dict(tile=options.get("tile"), k=options.get("k", 1.0),
                      channel_axis=channel_axis, slice_axis=options.get("slice_axis"),
                      device=options.get("device", "auto"))
        if options.get("zarr"):
            _predict_zarr(predict, trained, data, path, outdir, kwargs, spacing, unit)
        else:
            _predict_tiff(predict, trained, data, path, outdir, kwargs, spacing, unit)
        return path.name, ""
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        return path.name, f"{type(exc).__name__}: {exc}"


def _predict_zarr(predict, trained, data, path, outdir, kwargs, spacing, unit) -> None:
    """One ``<stem>.zarr`` OME-Zarr group, staged under a hidden name and renamed when whole."""
    import zarr

    from ..io.ome_zarr import write_prediction_pyramids
    from ..io.outputs import atomic_path

    # a failed or killed run leaves no store that looks complete, and does not block the retry
    with atomic_path(output_paths(path, outdir, True)[0]) as staging:
        group = zarr.open_group(str(staging), mode="w")
        predict(trained, data, out=group, **kwargs)
        names = list(getattr(trained.config, "class_names", ()) or ())
        group.attrs.update({"source": str(path), "spacing": list(spacing or ()),
                            "unit": unit, "class_names": names})
        # OME-Zarr: pyramids, calibrated axes, the labels group
        write_prediction_pyramids(
            group, spacing=spacing, unit=unit, class_names=names,
            class_colors=list(getattr(trained.config, "class_colors", ()) or ()))


def _predict_tiff(predict, trained, data, path, outdir, kwargs, spacing, unit) -> None:
    """The three TIFFs, with memory that does not grow with the image.

    The tiles go to a hidden zarr store in the output folder first (compressed, chunk by
    chunk), and each TIFF is then written tile by tile from it, so neither the prediction
    nor the writer holds a whole output in memory (a 16k x 16k image: ~1 GB per class
    and output otherwise). The store is removed afterwards; one left by a killed run
    has a partial name, which the next run in the folder removes.
    """
    import shutil

    import zarr

    from ..io.outputs import partial_name
    from ..io.tiff import write_tiff

    prob, std, seg = output_paths(path, outdir, False)
    staging = partial_name(outdir / f"{_stem(path)}_staging.zarr")
    try:
        result = predict(trained, data, out=zarr.open_group(str(staging), mode="w"), **kwargs)
        spatial = "YX" if result.segmentation.ndim == 2 else "ZYX"
        calib = dict(spacing=spacing, unit=unit if unit != "pixel" else "pixel")
        write_tiff(prob, result.mean, axes="C" + spatial, **calib)
        write_tiff(std, result.std, axes="C" + spatial, **calib)
        write_tiff(seg, result.segmentation, axes=spatial, **calib)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _restore_tiff(trained, data, path, outdir, options, channel_axis, spacing, unit) -> None:
    """A restoration model (inpainting, denoising): the result and its member std."""
    import numpy as np

    from ..dl.restore import restore
    from ..io.tiff import write_tiff

    mask = options.get("mask")
    if mask is not None:
        mask = np.asarray(_read(Path(mask))[0]) != 0
    result = restore(trained, np.asarray(data), mask=mask, channel_axis=channel_axis,
                     tile=options.get("tile"), device=options.get("device", "auto"))
    spatial = "YX" if trained.config.model_ndim == 2 else "ZYX"
    axes = spatial if result.values.ndim == len(spatial) else "C" + spatial
    calib = dict(spacing=spacing, unit=unit if unit != "pixel" else "pixel")
    values_path, std_path = output_paths(path, outdir, False, result.task)
    write_tiff(values_path, result.values, axes=axes, **calib)
    write_tiff(std_path, result.std, axes=axes, **calib)
