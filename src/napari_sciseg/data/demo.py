"""Headless demo step: write every sample (with ground truth) to calibrated TIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.tiff import write_tiff

TEM_PIXEL_SIZE_NM = 0.2


def write_samples(outdir: Path) -> str:
    """Write the sample images and their scribbles/truth into ``outdir``; return a summary."""
    from . import afm_scan, fiber_volume, scribbles_2d, tem_particles

    outdir = Path(outdir)
    written = []
    for mode in ("bf", "haadf"):
        image, truth = tem_particles(mode, pixel_size=TEM_PIXEL_SIZE_NM, seed=0, return_truth=True)
        sp = (TEM_PIXEL_SIZE_NM,) * 2
        write_tiff(outdir / f"tem_{mode}.tif", image, spacing=sp)
        write_tiff(outdir / f"tem_{mode}_truth.tif", np.asarray(truth.labels), spacing=sp)
        written += [f"tem_{mode}.tif"]
    image, scribbles, truth = scribbles_2d(seed=0, return_truth=True)
    write_tiff(outdir / "scribbles_2d_image.tif", image, unit="pixel")
    write_tiff(outdir / "scribbles_2d_labels.tif", scribbles, unit="pixel")
    write_tiff(outdir / "scribbles_2d_truth.tif", np.asarray(truth, dtype=np.uint8), unit="pixel")
    volume, scribbles, ftruth = fiber_volume(seed=0, return_truth=True)
    write_tiff(outdir / "fiber_volume.tif", volume, unit="pixel")
    write_tiff(outdir / "fiber_volume_scribbles.tif", scribbles, unit="pixel")
    write_tiff(outdir / "fiber_volume_truth.tif", np.asarray(ftruth.labels), unit="pixel")
    scan = afm_scan(seed=0)
    write_tiff(
        outdir / "afm_scan.tif",
        scan.data,
        spacing=scan.spacing,
        axes=scan.axes,
        channel_names=scan.channel_names,
    )
    written += ["scribbles_2d_*.tif", "fiber_volume*.tif", "afm_scan.tif"]
    return f"wrote {', '.join(written)}"
