"""``sciseg fibers``: lengths and orientations of the fibres in a tomogram.

    sciseg fibers VOLUME -o OUTDIR [--mask MASK | --model MODEL.sciseg]
                  [--spacing Z Y X] [--min-size N] [--connectivity 6|18|26] ...

Without ``--mask`` or ``--model`` the grey volume is thresholded (polarity
detected). The work is :func:`napari_sciseg.measure.fiber_workflow.measure_fibers`;
this module reads the inputs and writes ``fibers.csv`` (one row per fibre),
``removed.csv`` (objects the filter removed, with the reason), ``labels.tif``,
``lengths.png``, ``orientation.png`` and ``summary.json``. With ``--model`` the
ensemble's confident segmentation (mean - k std > 0.5, k = 1) is measured, with
its fibre probability and std as evidence.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ._common import add_overwrite, existing_path, non_negative_int

logger = logging.getLogger(__name__)

OUTPUTS = ("fibers.csv", "removed.csv", "labels.tif", "lengths.png", "orientation.png",
           "summary.json")  # fmt: skip
#: first columns of fibers.csv (the rest follow in the table's order).
CSV_FIRST = ("label", "length", "arc_length", "dz", "dy", "dx", "radius", "volume")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fibers",
        help="find fibres in a 3D volume; lengths, directions, orientation maps",
        description="Find the fibres of a 3D volume (from a mask, a trained model's "
        "confident segmentation, or a threshold of the grey volume), remove dust, pores "
        "and fragments (each with its reason), split touching fibres, and measure each "
        "fibre's length, direction and radius. Writes " + ", ".join(OUTPUTS) + " to OUTDIR.",
    )
    p.add_argument("volume", type=existing_path, help="the tomogram (TIFF, OME-TIFF, ...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--mask", type=existing_path, help="fibre mask, class map or instance labels")
    src.add_argument(
        "--model", type=existing_path, help="trained model (.sciseg) to segment VOLUME"
    )
    p.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        metavar=("Z", "Y", "X"),
        help="voxel size (default: the file's calibration, else 1 voxel)",
    )
    p.add_argument("--unit", default=None, help="unit of --spacing (default: voxel)")
    p.add_argument(
        "--fiber-class",
        type=int,
        default=None,
        help="class value of fibres in a --mask class map or the model's output "
        "(default: the model's class named fiber; a mask: any non-zero voxel)",
    )
    p.add_argument(
        "--polarity",
        choices=("auto", "dark", "bright"),
        default="auto",
        help="without --mask/--model: fibres darker or brighter than the matrix",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="without --mask/--model: grey threshold (default: from the noise)",
    )
    p.add_argument(
        "--min-size",
        type=non_negative_int,
        default=None,
        help="remove objects under N voxels (default: a fifth of the expected "
        "fibre volume, the median of the elongated objects)",
    )
    p.add_argument(
        "--min-elongation",
        type=float,
        default=3.0,
        help="remove rounder objects (pores, aggregates); 1 keeps every shape",
    )
    p.add_argument("--no-split", action="store_true", help="keep touching fibres together")
    p.add_argument("--connectivity", type=int, choices=(6, 18, 26), default=26)
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
        help="autocorrelation sphere radius (default: a third of the shortest fibre)",
    )
    add_overwrite(p, help="replace outputs in OUTDIR")
    return p  # fmt: skip


def _model_inputs(model_path: Path, volume, fiber_class: int | None):
    """(class map, fibre class, probability, std) from a saved ensemble."""
    from ..dl import load_model, predict
    from ..measure.fiber_workflow import fiber_class_index

    trained = load_model(model_path)
    names = list(getattr(trained.config, "class_names", None) or [])
    cls = fiber_class or fiber_class_index(names)
    if cls is None:
        raise ValueError(
            f"{model_path} has no class named fiber (its classes: {names or 'unnamed'}); "
            "pass --fiber-class K with the class value of the fibres (1 = first class)."
        )
    pred = predict(trained, volume, k=1.0)
    return pred.segmentation, cls, pred.mean[cls - 1], pred.std[cls - 1]


def _write_csv(path: Path, table: dict, first=()) -> None:
    import csv

    from ..io.outputs import atomic_open

    names = [c for c in first if c in table] + [c for c in table if c not in first]
    n = len(table[names[0]]) if names else 0

    def cell(v):
        return v if isinstance(v, str) else f"{float(v):.6g}"

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows([cell(table[c][i]) for c in names] for i in range(n))


def write_report(analysis, outdir: Path, *, unit: str = "voxel", extra=None, truth=None) -> dict:
    """Write the outputs of a :class:`~napari_sciseg.measure.fiber_workflow.FiberAnalysis`.

    Every file is written under a temporary name and renamed when whole
    (:mod:`napari_sciseg.io.outputs`); ``summary.json`` comes last.
    """
    from .. import __version__
    from ..io.outputs import atomic_path, write_text
    from ..io.tiff import write_tiff
    from ..plot.fibers import length_histogram, orientation_figure

    outdir.mkdir(parents=True, exist_ok=True)
    _write_csv(outdir / "fibers.csv", analysis.table, CSV_FIRST)
    _write_csv(outdir / "removed.csv", analysis.removed, ("label", "reason"))
    tif_unit = "pixel" if unit in ("voxel", "pixel") else unit
    write_tiff(outdir / "labels.tif", analysis.labels, spacing=analysis.stats.spacing,
               unit=tif_unit)  # fmt: skip
    with atomic_path(outdir / "lengths.png") as tmp:
        length_histogram(analysis.table["length"], unit=unit,
                         truth=None if truth is None else truth.lengths,
                         ).savefig(tmp, dpi=110, format="png")  # fmt: skip
    with atomic_path(outdir / "orientation.png") as tmp:
        orientation_figure(
            shell=analysis.orientation,
            directions=analysis.directions if analysis.count else None,
            truth_directions=None if truth is None else truth.directions,
            note="no fibres",
        ).savefig(tmp, dpi=110, format="png")
    summary = {"version": __version__, "unit": unit, **analysis.summary, **(extra or {})}
    write_text(outdir / "summary.json", json.dumps(summary, indent=2))
    return summary


def _read_inputs(args):
    """(volume or mask, kwargs of measure_fibers, unit) from the arguments."""
    import numpy as np

    from ..io import read_image
    from ..io.calibration import resolve_spacing

    img = read_image(args.volume)
    volume = np.asarray(img.data)
    if volume.ndim != 3:
        raise ValueError(
            f"{args.volume}: fibers need a 3D volume (Z, Y, X); got shape "
            f"{volume.shape}. Export the whole stack, not one slice."
        )
    res = resolve_spacing(args.spacing, img, ndim=3, user_unit=args.unit or "voxel")
    unit = "voxel" if res.unit == "pixel" else res.unit
    kw = {"spacing": res.spacing, "fiber_class": args.fiber_class}
    data = volume
    if args.mask is not None:
        data = np.asarray(read_image(args.mask).data)
        if data.shape != volume.shape:
            raise ValueError(
                f"--mask shape {data.shape} does not match the volume's "
                f"{volume.shape}; they must be the same."
            )
    elif args.model is not None:
        data, cls, prob, std = _model_inputs(args.model, volume, args.fiber_class)
        kw.update(fiber_class=cls, probability=prob, std=std)
    else:
        kw.update(polarity=args.polarity, threshold=args.threshold)
    return data, kw, unit


def run(args) -> int:
    from ..measure.fiber_filter import FiberFilter
    from ..measure.fiber_workflow import describe_summary, measure_fibers
    from ._runs import output_run

    out = Path(args.output)
    if out.exists() and not args.overwrite:  # before any work; output_run checks again, locked
        clash = [n for n in OUTPUTS if (out / n).exists()]
        if clash:
            raise FileExistsError(f"{out} already holds {', '.join(clash)}; pass --overwrite.")
    if args.min_elongation < 1:
        raise ValueError(f"--min-elongation must be >= 1; got {args.min_elongation}.")
    source = {
        "volume": str(args.volume),
        "mask": str(args.mask) if args.mask else None,
        "model": str(args.model) if args.model else None,
        "min_size": args.min_size,
        "connectivity": args.connectivity,
        "arc": args.arc,
    }
    data, kw, unit = _read_inputs(args)  # bad inputs fail before the output folder is made
    planned = {Path(args.volume): [out / n for n in OUTPUTS]}
    # the folder is locked (a second run into it is refused) while the fibres are measured and
    # written; run.json comes last
    with output_run(out, "fibers", planned, args, options=source, model=args.model) as batch:
        rule = FiberFilter(min_elongation=args.min_elongation, min_voxels=args.min_size)
        analysis = measure_fibers(data, rule=rule, connectivity=args.connectivity,
                                  split=not args.no_split, arc=args.arc,
                                  shell_radius=args.radius, **kw)  # fmt: skip
        summary = write_report(analysis, out, unit=unit, extra={"inputs": source})
        batch.done(Path(args.volume), planned[Path(args.volume)])
    print(f"{describe_summary(summary, summary['unit'])} -> {out}")
    return 0
