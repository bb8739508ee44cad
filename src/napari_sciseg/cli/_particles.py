"""``sciseg particles``: nanoparticle size distributions for images or whole folders.

    sciseg particles IMAGE_OR_FOLDER... -o OUTDIR [--pixel-size NM]
                     [--polarity auto|dark|bright] [--method hybrid|otsu|local]
                     [--split-touching] [--jobs N] [--overwrite]

For every image: ``<stem>_particles.csv`` (one row per particle, isolated or
rejected with its reason), ``<stem>_mask.tif`` (uint8 semantic mask),
``<stem>_labels.tif`` (isolated particles), ``<stem>_psd.png``; and
``summary.csv`` with one row per image. Folders are processed in parallel
(one process per image); a file that cannot be read or sized is reported and
skipped while the others finish (exit status 1).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import warnings
from pathlib import Path

from ._common import add_overwrite, add_resume, collect_inputs, existing_path, positive_int

logger = logging.getLogger(__name__)

#: core parameter names that this command's flags spell differently (see cli.in_flag_words)
PARAMETER_FLAGS = {"spacing": "--pixel-size"}
SUFFIXES_OUT = ("_particles.csv", "_mask.tif", "_labels.tif", "_psd.png")
SUMMARY_COLUMNS = (
    "file", "status", "n_particles", "n_isolated", "unit", "pixel_size_nm", "calibration",
    "method", "count", "mean", "sd", "median", "d10", "d50", "d90", "lognorm_sigma",
    "lognorm_median", "n_split", "rejected", "warnings",
)  # fmt: skip


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "particles",
        help="size nanoparticles (hybrid thresholding, isolated particles, PSD in nm)",
        description="Segment nanoparticles in TEM/STEM images by hybrid thresholding, keep the "
        "isolated ones (not cut by the border, touching or aggregated) and write per-particle "
        "sizes, masks and the particle size distribution.",
    )
    p.add_argument("inputs", nargs="+", type=existing_path, metavar="IMAGE_OR_FOLDER")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument(
        "--pixel-size", type=float, default=None, metavar="NM",
        help="nm per pixel (default: the file's calibration; none -> sizes in pixels)",
    )  # fmt: skip
    p.add_argument("--polarity", choices=("auto", "dark", "bright"), default="auto")
    p.add_argument("--method", choices=("hybrid", "otsu", "local"), default="hybrid")
    p.add_argument(
        "--split-touching", action="store_true",
        help="size touching particles separately (distance-transform watershed); the summary "
        "says how many were split",
    )  # fmt: skip
    p.add_argument(
        "--model", type=Path, default=None, metavar="M.sciseg",
        help="segment with a trained 2D one-channel ensemble instead of thresholding",
    )  # fmt: skip
    p.add_argument(
        "--particle-class", type=int, default=None, metavar="K",
        help="with --model: the particle class (default: the one named 'particle', else the last)",
    )  # fmt: skip
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="parallel processes (default: CPUs)")  # fmt: skip
    add_overwrite(p)
    add_resume(p)
    return p


def process_image(path, outdir, *, pixel_size=None, model=None, particle_class=None,
                  image=None, **options) -> dict:  # fmt: skip
    """Size the particles of one image file and write its four outputs; return a summary row.

    ``options`` go to :func:`napari_sciseg.measure.size_particles` (``method``,
    ``polarity``, ``split_touching``...). ``image`` (a ``CalibratedImage``, e.g. a
    napari layer's data and scale) is sized instead of reading ``path``, which
    then only names the outputs.
    """
    import numpy as np

    from ..io import read_image
    from ..io.outputs import atomic_path
    from ..io.tiff import write_tiff
    from ..measure import size_particles
    from ..plot.particles import psd_figure

    path, outdir = Path(path), Path(outdir)
    if model is not None and not callable(model):
        from ..dl.particle_model import particle_segmenter

        model = particle_segmenter(model, particle_class)
    img = read_image(path) if image is None else image
    data = np.asarray(img.data)
    if data.ndim == 3 and not (data.shape[-1] in (3, 4) and img.axes[-1] in "CS"):
        raise ValueError(
            f"{path.name} is a stack of shape {data.shape} (axes {img.axes}); particle sizing "
            "needs one 2D image per file. Save the slices as separate files."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # they come back in res.notes
        res = size_particles(
            data, spacing=pixel_size, calibration=img, model=model,
            rgb=data.ndim == 3, **options,
        )  # fmt: skip
    parts = res.particles
    stem = path.name.split(".")[0]
    with atomic_path(outdir / f"{stem}_particles.csv") as tmp:  # whole files or none
        parts.to_csv(tmp)
    tif_spacing = parts.spacing if parts.unit == "nm" else None
    unit = "nm" if parts.unit == "nm" else "pixel"
    for suffix, arr in (("mask", res.mask.astype(np.uint8)), ("labels", parts.isolated_labels())):
        write_tiff(outdir / f"{stem}_{suffix}.tif", arr, spacing=tif_spacing, unit=unit)
    with atomic_path(outdir / f"{stem}_psd.png") as tmp:
        psd_figure(parts, title=path.name).savefig(tmp, dpi=110)
    row = {
        "file": str(path), "status": "ok", "n_particles": parts.count,
        "n_isolated": int(parts.isolated.sum()),
        "pixel_size_nm": parts.spacing[-1] if res.spacing.calibrated else "",
        "method": res.method, "rejected": ";".join(f"{k}={v}" for k, v in res.rejected.items()),
        "warnings": " | ".join(res.notes),
    }  # fmt: skip
    row.update(res.psd.to_dict())
    return row


def _safe(path, outdir, opts) -> dict:
    try:
        return process_image(path, outdir, **opts)
    except Exception as exc:  # reported and skipped: the batch goes on
        logger.debug("failed on %s", path, exc_info=True)
        return {"file": str(path), "status": f"error: {type(exc).__name__}: {exc}"}


def _check_model(path: Path, particle_class) -> None:
    """Refuse a model that cannot size particles before anything is written."""
    from ..dl.particle_model import particle_segmenter

    try:
        particle_segmenter(path, particle_class)
    except (ValueError, FileNotFoundError) as exc:
        msg = str(exc).replace("particle class must", "--particle-class must")
        raise ValueError(f"--model {path}: {msg}") from None


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _outputs(path: Path, out: Path) -> list[Path]:
    return [out / (path.name.split(".")[0] + suffix) for suffix in SUFFIXES_OUT]


def _size_all(files, out, opts, jobs, batch) -> None:
    """Size every file (in ``jobs`` processes), recording each in ``batch`` as it finishes."""

    def record(path, row):
        if row["status"] == "ok":
            batch.done(path, _outputs(path, out), record={k: _fmt(v) for k, v in row.items()})
        else:
            batch.failed(path, row["status"])

    if jobs <= 1:
        for f in files:
            record(f, _safe(f, out, opts))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_safe, f, out, opts): f for f in files}
        try:
            for fut in as_completed(futures):
                record(futures[fut], fut.result())
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _report(rows, args) -> int:
    """Print one line per image; return the number that failed."""
    from . import in_flag_words

    failed = 0
    for row in rows:
        name = Path(row["file"]).name
        if row["status"] != "ok":
            failed += 1
            print(f"{name}: skipped ({in_flag_words(row['status'], args)})", file=sys.stderr)
            continue
        unit = row["unit"]
        mean = f"{float(row['mean']):.2f} ± {float(row['sd']):.2f} {unit}" if row["count"] else "-"
        print(f"{name}: {row['n_isolated']}/{row['n_particles']} isolated, mean {mean}")
        if row["warnings"]:
            print(f"{name}: warning: {row['warnings']}", file=sys.stderr)
    return failed


def run(args) -> int:
    from ..io.outputs import atomic_open
    from ._runs import output_run

    if args.pixel_size is not None and not args.pixel_size > 0:
        raise ValueError(f"--pixel-size must be > 0 nm; got {args.pixel_size}.")
    if args.model is not None:
        _check_model(args.model, args.particle_class)
    files = collect_inputs(args.inputs)
    out = Path(args.output)
    opts = {
        "pixel_size": args.pixel_size, "polarity": args.polarity, "method": args.method,
        "split_touching": args.split_touching, "model": args.model,
        "particle_class": args.particle_class,
    }  # fmt: skip
    planned = {f: _outputs(f, out) for f in files}
    with output_run(out, "particles", planned, args, options=opts, model=args.model,
                    shared=(out / "summary.csv",)) as batch:  # fmt: skip
        jobs = min(args.jobs or os.cpu_count() or 1, max(1, len(batch.todo)))
        _size_all(batch.todo, out, opts, jobs, batch)
        records, errors = batch.records(), batch.manifest.data["failed"]
        rows = [records.get(str(f)) or {"file": str(f), "status": errors.get(str(f), "?")}
                for f in files]  # fmt: skip
        with atomic_open(out / "summary.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _fmt(v) for k, v in row.items()})
    failed = _report(rows, args)
    print(f"{len(rows) - failed} of {len(rows)} images sized -> {out}")
    return 1 if failed else 0
