"""``sciseg fibers``: lengths and orientations of the fibers in a tomogram.

    sciseg fibers VOLUME -o OUTDIR (--mask MASK | --model MODEL.sciseg)
                  [--spacing Z Y X] [--min-size N] [--connectivity 6|18|26]

writes ``fibers.csv`` (one row per fiber), ``labels.tif`` (instances),
``lengths.png``, ``orientation.png`` (Hammer maps) and ``summary.json``. With
``--model`` the ensemble's prediction is thresholded by the DLSIA rule
(mean - k std > 0.5, k = 1) before labelling.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

OUTPUTS = ("fibers.csv", "labels.tif", "lengths.png", "orientation.png", "summary.json")
#: first columns of fibers.csv (the rest follow in napari_sciseg.measure.fibers.COLUMNS order).
CSV_FIRST = ("label", "length", "arc_length", "dz", "dy", "dx", "radius", "volume")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fibers",
        help="label fibers in a 3D segmentation; lengths, directions, orientation maps",
        description="Label the fibers of a 3D volume (from a mask, or from a trained model's "
        "confident segmentation), remove dust, and measure each fiber's length, direction "
        "and radius. Writes " + ", ".join(OUTPUTS) + " to OUTDIR.",
    )
    p.add_argument("volume", type=Path, help="the tomogram (TIFF, OME-TIFF, ...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mask", type=Path, help="fiber mask or instance labels, same shape")
    src.add_argument("--model", type=Path, help="trained model (.sciseg) to segment VOLUME")
    p.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        metavar=("Z", "Y", "X"),
        help="voxel size (default: the file's calibration, else 1 voxel)",
    )
    p.add_argument("--unit", default=None, help="unit of --spacing (default: the file's, or voxel)")
    p.add_argument("--min-size", type=int, default=50, help="remove components under N voxels")
    p.add_argument("--connectivity", type=int, choices=(6, 18, 26), default=26)
    p.add_argument(
        "--fiber-class",
        type=int,
        default=None,
        help="class id of fibers in the mask/segmentation (default: any non-zero "
        "mask voxel; the model's class named 'fiber', else class 2)",
    )
    p.add_argument(
        "--arc",
        choices=("centerline", "skeleton"),
        default="centerline",
        help="how arc lengths are measured",
    )
    p.add_argument(
        "--radius",
        type=float,
        default=None,
        help="autocorrelation sphere radius (default: a third of the shortest fiber)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs in OUTDIR")
    return p


def _fiber_class_of(config) -> int:
    names = [str(n).lower() for n in (getattr(config, "class_names", None) or ())]
    for i, name in enumerate(names, start=1):
        if "fib" in name:
            return i
    return 2 if getattr(config, "n_classes", 2) >= 2 else 1


def segment_with_model(model_path: Path, volume, *, fiber_class: int | None = None, k: float = 1.0):
    """Confident fiber mask from a saved ensemble: segmentation == fiber class."""
    from ..dl import load_model, predict

    trained = load_model(model_path)
    cls = fiber_class or _fiber_class_of(trained.config)
    pred = predict(trained, volume, k=k)
    logger.info(
        "model %s: fiber class %d, %.4f of voxels confident fiber",
        model_path,
        cls,
        float((pred.segmentation == cls).mean()),
    )
    return pred.segmentation == cls


def write_report(
    result, outdir: Path, *, unit: str = "voxel", shell=None, extra=None, truth=None
) -> dict:
    """Write the five outputs of a :class:`~napari_sciseg.measure.fibers.FiberResult`."""
    import numpy as np

    from .. import __version__
    from ..io.tiff import write_tiff
    from ..plot.fibers import length_histogram, orientation_figure

    outdir.mkdir(parents=True, exist_ok=True)
    table = result.table
    names = list(CSV_FIRST) + [c for c in table if c not in CSV_FIRST]
    with open(outdir / "fibers.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(names) + "\n")
        for i in range(result.count):
            fh.write(",".join(f"{table[c][i]:.6g}" for c in names) + "\n")
    tif_unit = "pixel" if unit in ("voxel", "pixel") else unit
    write_tiff(outdir / "labels.tif", result.labels, spacing=result.stats.spacing, unit=tif_unit)
    length_histogram(
        table["length"], unit=unit, truth=None if truth is None else truth.lengths
    ).savefig(outdir / "lengths.png", dpi=110)
    if result.count or shell is not None:
        fig = orientation_figure(
            shell=shell,
            directions=result.directions if result.count else None,
            truth_directions=None if truth is None else truth.directions,
        )
        fig.savefig(outdir / "orientation.png", dpi=110)
    lengths = table["length"]
    summary = {
        "version": __version__,
        "unit": unit,
        **result.stats.to_dict(),
        "median_length": float(np.median(lengths)) if lengths.size else None,
        "mean_length": float(lengths.mean()) if lengths.size else None,
        "median_radius": float(np.median(table["radius"])) if lengths.size else None,
        "autocorrelation_radius": None if shell is None else shell.radius,
        "autocorrelation_peak": None if shell is None else [float(v) for v in shell.peak],
        **(extra or {}),
    }
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def run(args) -> int:
    import numpy as np

    from ..io import read_image
    from ..measure import autocorrelation_shell, fibers
    from ..measure.orientation import shell_radius

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        clash = [n for n in OUTPUTS if (out / n).exists()]
        if clash:
            raise FileExistsError(f"{out} already holds {', '.join(clash)}; pass --overwrite.")
    img = read_image(args.volume)
    volume = np.asarray(img.data)
    if volume.ndim != 3:
        raise ValueError(
            f"{args.volume}: fibers need a 3D volume (Z, Y, X); got shape "
            f"{volume.shape}. Export the whole stack, not one slice."
        )
    if args.spacing is not None:
        spacing, unit = tuple(args.spacing), args.unit or "voxel"
    elif img.calibrated:
        spacing, unit = tuple(img.spacing[-3:]), args.unit or img.unit
    else:
        spacing, unit = (1.0, 1.0, 1.0), "voxel"
    if args.mask is not None:
        mask = np.asarray(read_image(args.mask).data)
        if mask.shape != volume.shape:
            raise ValueError(
                f"--mask shape {mask.shape} does not match the volume's "
                f"{volume.shape}; they must be the same."
            )
        if args.fiber_class is not None:
            mask = mask == args.fiber_class
    else:
        mask = segment_with_model(args.model, volume, fiber_class=args.fiber_class)
    result = fibers(
        mask, spacing=spacing, connectivity=args.connectivity, min_size=args.min_size, arc=args.arc
    )
    shell = None
    if result.count:
        radius = args.radius or shell_radius(result.table["length"], result.table["radius"])
        shell = autocorrelation_shell(result.labels > 0, radius, spacing=spacing)
    source = {
        "volume": str(args.volume),
        "mask": str(args.mask) if args.mask else None,
        "model": str(args.model) if args.model else None,
        "min_size": args.min_size,
        "connectivity": args.connectivity,
        "arc": args.arc,
    }
    summary = write_report(result, out, unit=unit, shell=shell, extra={"inputs": source})
    med = summary["median_length"]
    print(
        f"{result.count} fibers, volume fraction {result.stats.volume_fraction:.4f}, "
        f"median length {med if med is None else round(med, 3)} {unit} -> {out}"
    )
    return 0


def demo(outdir: Path) -> str:
    """Headless demo: the 96³ sample's scribbles -> small SMSNet ensemble -> fibers report."""
    import time

    import numpy as np

    from ..data import fiber_volume
    from ..dl import predict, save_model, train
    from ..io.tiff import write_tiff
    from ..measure import autocorrelation_shell, fibers
    from ..measure.orientation import shell_radius

    outdir = Path(outdir)
    volume, scribbles, truth = fiber_volume(seed=0, return_truth=True)
    t0 = time.perf_counter()
    model = train(volume, scribbles, arch="smsnet", members=3, steps=150, dim="2.5",
                  slice_axis=0, seed=0, class_names=["matrix", "fiber"],
                  model_kwargs={"depth": 10})  # fmt: skip
    save_model(model, outdir / "fibers.sciseg")
    pred = predict(model, volume, k=1.0)
    mask = pred.segmentation == 2
    write_tiff(outdir / "confident_fiber_mask.tif", mask, unit="pixel")
    result = fibers(mask, min_size=50)
    shell = None
    if result.count:
        radius = shell_radius(result.table["length"], result.table["radius"])
        shell = autocorrelation_shell(result.labels > 0, radius)
    extra = {"inputs": {"volume": "sample fiber_volume(seed=0)", "model": "fibers.sciseg",
                        "min_size": 50, "connectivity": 26},
             "true_count": truth.n_fibers,
             "true_median_length": float(np.median(truth.lengths))}  # fmt: skip
    summary = write_report(result, outdir, shell=shell, extra=extra, truth=truth)
    med = summary["median_length"]
    return (
        f"{result.count} fibers (truth {truth.n_fibers}), median length "
        f"{med if med is None else round(med, 1)} voxels (truth "
        f"{np.median(truth.lengths):.1f}); train+predict {time.perf_counter() - t0:.0f} s"
    )
