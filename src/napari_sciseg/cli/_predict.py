"""``sciseg predict``: run a trained ensemble on files and folders, in parallel with dask.

For each input image it writes ``<stem>_probability.tif`` (classes first),
``<stem>_std.tif`` and ``<stem>_segmentation.tif`` (uint8, 0 = unsure), keeping
the input's calibration; with ``--zarr`` one ``<stem>.zarr`` group per image
instead (arrays ``mean``, ``std``, ``segmentation``, ``uncertainty`` written
tile by tile, so images larger than memory work). Files run in parallel on
local threads, or on an existing Dask cluster with ``--scheduler ADDRESS``.
A file that fails is reported and skipped; the others finish.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from pathlib import Path

_OUTPUTS_TIFF = ("probability", "std", "segmentation")
_MODEL_LOCK = threading.Lock()


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "predict",
        help="predict probability, std and confident segmentation for images or folders",
        description="Run a trained ensemble (.sciseg) on images or folders of images. Writes "
        "<stem>_probability.tif, <stem>_std.tif and <stem>_segmentation.tif (uint8, 0 = unsure: "
        "no class with mean - k*std > 0.5), or one <stem>.zarr group each with --zarr.",
    )
    p.add_argument("model", type=Path, help="trained model (.sciseg file or folder)")
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--tile", type=int, default=None, help="tile edge in pixels, halo included")
    p.add_argument("--k", type=float, default=1.0, help="std subtracted before 0.5 (default 1)")
    p.add_argument("--zarr", action="store_true", help="write one zarr group per image")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask distributed scheduler address (default: local threads)")
    p.add_argument("--workers", type=int, default=1, help="files predicted at once locally")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--channel-axis", type=int, default=None, help="axis of the input channels")
    p.add_argument("--slice-axis", type=int, default=None,
                   help="2D model on volumes: the axis to predict slice by slice")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def collect_inputs(inputs: list[Path]) -> list[Path]:
    """Files given directly, plus every readable file (and ``.zarr``) inside given folders."""
    from ..io import supported_suffixes

    suffixes = tuple(s.lower() for s in supported_suffixes())
    files: list[Path] = []
    for item in inputs:
        if not item.exists():
            raise FileNotFoundError(f"Input {item} does not exist.")
        if item.is_dir() and item.suffix.lower() != ".zarr":
            found = sorted(
                p for p in item.iterdir()
                if (p.is_file() and p.name.lower().endswith(suffixes)) or p.suffix == ".zarr"
            )
            if not found:
                raise FileNotFoundError(
                    f"Folder {item} holds no image file ({', '.join(suffixes)})."
                )
            files += found
        else:
            files.append(item)
    return files


def output_paths(path: Path, outdir: Path, use_zarr: bool) -> list[Path]:
    """Where the outputs of ``path`` go."""
    stem = _stem(path)
    if use_zarr:
        return [outdir / f"{stem}.zarr"]
    return [outdir / f"{stem}_{name}.tif" for name in _OUTPUTS_TIFF]


def check_output_dir(outdir: Path) -> None:
    """Create ``outdir``; raise PermissionError when it cannot be written."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"Cannot create output directory {outdir}: {exc}.") from exc
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Output directory {outdir} is not writable; choose another with -o."
        )


@functools.lru_cache(maxsize=4)
def _load(model_path: str):
    from ..dl import load_model

    return load_model(model_path)


def _read(path: Path):
    """(data, spacing, unit, axes) of an image file or zarr array."""
    if path.suffix == ".zarr":
        import zarr

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
    """Predict one file; return (file name, "" on success or the error message)."""
    try:
        from ..dl.prediction import predict
        from ..io.tiff import write_tiff

        with _MODEL_LOCK:
            trained = _load(model_path)
        data, spacing, unit, img = _read(path)
        channel_axis = options.get("channel_axis")
        if channel_axis is None and img is not None and img.channel_axis is not None:
            channel_axis = img.channel_axis
        kwargs = dict(tile=options.get("tile"), k=options.get("k", 1.0),
                      channel_axis=channel_axis, slice_axis=options.get("slice_axis"),
                      device=options.get("device", "auto"))
        if options.get("zarr"):
            import zarr

            target = output_paths(path, outdir, True)[0]
            group = zarr.open_group(str(target), mode="w")
            predict(trained, data, out=group, **kwargs)
            group.attrs.update({"source": str(path), "spacing": list(spacing or ()),
                                "unit": unit,
                                "class_names": list(getattr(trained.config, "class_names", ())
                                                    or ())})
            return path.name, ""
        result = predict(trained, data, **kwargs)
        spatial = "YX" if result.segmentation.ndim == 2 else "ZYX"
        prob, std, seg = output_paths(path, outdir, False)
        calib = dict(spacing=spacing, unit=unit if unit != "pixel" else "pixel")
        write_tiff(prob, result.mean, axes="C" + spatial, **calib)
        write_tiff(std, result.std, axes="C" + spatial, **calib)
        write_tiff(seg, result.segmentation, axes=spatial, **calib)
        return path.name, ""
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        return path.name, f"{type(exc).__name__}: {exc}"


def _run_local(tasks, workers: int, progress):
    import dask
    from dask.callbacks import Callback

    class _Tick(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(result, tuple):
                progress.update(1)

    with _Tick():
        return list(dask.compute(*tasks, scheduler="threads", num_workers=max(1, workers)))


def _run_distributed(address: str, calls, progress):
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = [client.submit(predict_file, *c, pure=False) for c in calls]
        results = []
        for fut in as_completed(futures):
            results.append(fut.result())
            progress.update(1)
    return results


def run(args) -> int:
    from tqdm import tqdm

    if not args.model.exists():
        raise FileNotFoundError(f"Model {args.model} does not exist.")
    files = collect_inputs(list(args.inputs))
    outdir = Path(args.output)
    check_output_dir(outdir)
    if not args.overwrite:
        existing = [p for f in files for p in output_paths(f, outdir, args.zarr) if p.exists()]
        if existing:
            shown = ", ".join(str(p.name) for p in existing[:3])
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise FileExistsError(
                f"{len(existing)} output(s) exist in {outdir} ({shown}{more}); pass --overwrite "
                "to replace them or choose another -o."
            )
    if args.tile is not None and args.tile < 1:
        raise ValueError(f"--tile must be a positive number of pixels; got {args.tile}.")
    _load(str(args.model))  # fail early on a bad model file, before any work is scheduled
    options = {"tile": args.tile, "k": args.k, "zarr": args.zarr, "device": args.device,
               "channel_axis": args.channel_axis, "slice_axis": args.slice_axis}
    calls = [(str(args.model), f, outdir, options) for f in files]
    with tqdm(total=len(calls), unit="file", desc="predict", file=sys.stderr) as bar:
        if args.scheduler:
            results = _run_distributed(args.scheduler, calls, bar)
        else:
            import dask

            tasks = [dask.delayed(predict_file, pure=False)(*c) for c in calls]
            results = _run_local(tasks, args.workers, bar)
    failed = [(name, msg) for name, msg in results if msg]
    for name, msg in failed:
        print(f"sciseg predict: {name} failed: {msg}", file=sys.stderr)
    print(f"predicted {len(results) - len(failed)} of {len(results)} file(s) -> {outdir}")
    return 1 if failed else 0
