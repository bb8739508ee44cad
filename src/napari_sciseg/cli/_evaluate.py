"""``sciseg evaluate``: score a segmentation against the user's ground truth.

Prints a short report and, with ``-o REPORT.csv``, writes the per-class table
(IoU, Dice, precision, recall, boundary F-score, instance F1 at IoU 0.5) plus
``REPORT.md`` (the report) and, with ``--particles`` / ``--fibers``,
``REPORT_particles.csv`` / ``REPORT_fibers.csv`` (metric, value).
"""

from __future__ import annotations

import argparse
import csv
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


def _write_metrics(path: Path, metrics: dict) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["metric", "value"])
        for k, v in metrics.items():
            w.writerow([k, v])


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def run(args) -> int:
    from ..evaluate import check_same_grid, segmentation_scores

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
    unit = unit if spacing else "pixel"
    scores = segmentation_scores(pred, truth, spacing=spacing, tolerance=args.tolerance,
                                 background=args.background, ignore=args.ignore)
    lines = [f"# sciseg evaluate: {args.pred.name} vs {args.truth.name}", "",
             f"shape {pred.shape}, pixel size {spacing or 'uncalibrated'} {unit}", "",
             "| class | IoU | Dice | precision | recall | boundary F | instance F1 |",
             "|---|---|---|---|---|---|---|"]
    for r in scores.table:
        lines.append("| " + " | ".join(_fmt(r[k]) for k in (
            "class", "iou", "dice", "precision", "recall", "boundary_f", "instance_f1")) + " |")
    s = scores.summary()
    lines += ["", "mean IoU {mean_iou:.4f}, mean Dice {mean_dice:.4f}, mean boundary F "
              "{mean_boundary_f:.4f}, instance F1 (IoU 0.5) {instance_f1:.4f}, pixel accuracy "
              "{pixel_accuracy:.4f}".format(**s)]
    fg = (lambda a: a == args.foreground) if args.foreground is not None else (
        lambda a: a != args.background)
    extra = {}
    if args.particles:
        from ..evaluate import particle_scores

        d = particle_scores(fg(pred), fg(truth), spacing=spacing, unit=unit).to_dict()
        extra["particles"] = d
        lines += ["", f"particles: {d['n_pred']} predicted vs {d['n_true']} true isolated; mean "
                  f"diameter {d['mean_pred']:.4g} vs {d['mean_true']:.4g} {d['unit']} (error "
                  f"{d['mean_error']:+.2%}), median error {d['median_error']:+.2%}, KS "
                  f"{d['ks']:.3f}"]
    if args.fibers:
        from ..evaluate import fiber_scores

        d = fiber_scores(fg(pred), fg(truth), spacing=spacing).to_dict()
        extra["fibers"] = d
        lines += ["", f"fibers: {d['n_pred']} predicted vs {d['n_true']} true; recall "
                  f"{d['recall']:.3f}, precision {d['precision']:.3f}, median length error "
                  f"{d['median_length_error']:.4g} {unit} ({d['median_length_error_rel']:.1%}), "
                  f"median angle error {d['median_angle_error_deg']:.2f} deg"]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        scores.to_csv(args.output)
        args.output.with_suffix(".md").write_text(report)
        stem = args.output.with_suffix("")
        for name, metrics in extra.items():
            _write_metrics(Path(f"{stem}_{name}.csv"), metrics)
        print(f"wrote {args.output}")
    return 0
