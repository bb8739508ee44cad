"""``sciseg evaluate``: score a segmentation against the user's ground truth.

Prints a short report and, with ``-o REPORT.csv``, writes the per-class table
(IoU, Dice, precision, recall, boundary F-score, instance F1 at IoU 0.5) plus
``REPORT.md`` (the report) and, with ``--particles`` / ``--fibers``,
``REPORT_particles.csv`` / ``REPORT_fibers.csv`` (metric, value).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from ._common import add_overwrite


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        help="score a segmentation against ground truth (IoU, Dice, boundary F, instance F1)",
        description="Score a predicted class map (e.g. <stem>_segmentation.tif) against a ground "
        "truth class map of the same image: per-class IoU/Dice/precision/recall, boundary "
        "F-score, instance F1 at IoU 0.5; optionally particle size distribution distances "
        "(--particles, 2D) and fiber matching (--fibers, 3D).",
    )
    p.add_argument("pred", type=Path, help="predicted class map (TIFF, OME-Zarr, ...)")
    p.add_argument("truth", type=Path, help="ground-truth class map of the same image")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="REPORT.csv",
                   help="write the per-class table here (and REPORT.md next to it)")
    p.add_argument("--background", type=int, default=0,
                   help="class id that is not objects (no instance F1); default 0")
    p.add_argument("--ignore", type=int, default=None,
                   help="truth value of unlabeled pixels (sparse truth), left out of the scores")
    p.add_argument("--tolerance", type=float, default=None,
                   help="boundary match distance in the files' unit (default 2 pixels)")
    p.add_argument("--foreground", type=int, default=None,
                   help="class id of the particles/fibers (default: every class but "
                   "--background)")
    p.add_argument("--particles", action="store_true",
                   help="also compare the particle size distributions (2D)")
    p.add_argument("--fibers", action="store_true", help="also match fibers (3D)")
    add_overwrite(p, help="replace an existing report")
    return p


def _read(path: Path):
    """(array, spacing or None, unit) of a class map."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if path.suffix.lower() == ".zarr" or path.is_dir():
        from ..io.ome_zarr import read_ome_zarr

        img = read_ome_zarr(path)
    else:
        from ..io import read_image

        img = read_image(path)
    import numpy as np

    data = np.asarray(img.data)
    if img.channel_axis is not None:
        raise ValueError(
            f"{path.name} has a channel axis (axes {img.axes}); evaluate takes a class map "
            "(one integer class id per pixel), e.g. <stem>_segmentation.tif."
        )
    spacing = tuple(img.spacing) if img.calibrated else None
    return data, spacing, img.unit


def _outputs(report: Path, args) -> list[Path]:
    paths = [report, report.with_suffix(".md")]
    stem = report.with_suffix("")
    if args.particles:
        paths.append(Path(f"{stem}_particles.csv"))
    if args.fibers:
        paths.append(Path(f"{stem}_fibers.csv"))
    return paths


def _metrics_csv(metrics: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["metric", "value"])
    for k, v in metrics.items():
        w.writerow([k, v])
    return buf.getvalue()


def run(args) -> int:
    from ..evaluate import check_same_grid, evaluate_segmentation
    from ..io.outputs import atomic_path, write_text

    if args.output is not None:
        if args.output.suffix.lower() != ".csv":
            raise ValueError(f"-o must name a .csv file; got {args.output}.")
        existing = [p for p in _outputs(args.output, args) if p.exists()]
        if existing and not args.overwrite:
            raise FileExistsError(
                f"{', '.join(p.name for p in existing)} exist(s); pass --overwrite to replace "
                "or choose another -o."
            )
    pred, p_spacing, p_unit = _read(args.pred)
    truth, t_spacing, t_unit = _read(args.truth)
    if p_spacing and t_spacing and p_unit != t_unit:
        raise ValueError(f"prediction and truth are calibrated in different units: {p_unit} and "
                         f"{t_unit}.")
    check_same_grid(pred.shape, truth.shape, p_spacing, t_spacing)
    spacing, unit = (p_spacing, p_unit) if p_spacing else (t_spacing, t_unit)
    result = evaluate_segmentation(
        pred, truth, spacing=spacing, unit=unit, background=args.background,
        ignore=args.ignore, tolerance=args.tolerance, foreground=args.foreground,
        particles=args.particles, fibers=args.fibers,
        title=f"{args.pred.name} vs {args.truth.name}")
    print(result.text, end="")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.output) as tmp:
            result.scores.to_csv(tmp)
        write_text(args.output.with_suffix(".md"), result.text)
        stem = args.output.with_suffix("")
        for name, metrics in result.extras().items():
            write_text(Path(f"{stem}_{name}.csv"), _metrics_csv(metrics))
        print(f"wrote {args.output}")
    return 0
