"""Headless demo step ``predict``: train small ensembles on the samples, predict, write outputs.

Registered in ``cli/_demo.py`` as ``("predict", "napari_sciseg.dl.demo_predict:run_demo")``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

__all__ = ["run_demo"]

logger = logging.getLogger(__name__)

#: small, seconds-long training recipes for the demo (members, steps per member).
_RECIPE = {"members": 3, "steps": 80, "crop": 48, "batch": 2, "seed": 0,
           "model_kwargs": {"depth": 5, "dilations": (1, 2, 3, 4)}}


def _write(outdir: Path, stem: str, result, spacing=None) -> None:
    from ..io.tiff import write_tiff

    spatial = "YX" if result.segmentation.ndim == 2 else "ZYX"
    unit = "nm" if spacing is not None else "pixel"
    write_tiff(outdir / f"{stem}_probability.tif", result.mean, axes="C" + spatial,
               spacing=spacing, unit=unit)
    write_tiff(outdir / f"{stem}_std.tif", result.std, axes="C" + spatial, spacing=spacing,
               unit=unit)
    write_tiff(outdir / f"{stem}_segmentation.tif", result.segmentation, axes=spatial,
               spacing=spacing, unit=unit)


def _f1(segmentation: np.ndarray, truth: np.ndarray) -> float:
    """F1 of the confident foreground (class 2) against a boolean truth."""
    pred = segmentation == 2
    tp = np.count_nonzero(pred & truth)
    denom = np.count_nonzero(pred) + np.count_nonzero(truth)
    return 2 * tp / denom if denom else 1.0


def run_demo(outdir: Path) -> str:
    """Train on the 2D scribble sample and the 3D fiber sample; write prob/std/segmentation.

    Returns a one-line summary (F1 of the confident foreground against the truth,
    the unsure fraction and the conformal coverage on held-out scribbles).
    """
    from ..data import fiber_volume, scribbles_2d
    from . import save_model, train
    from .conformal import calibrate
    from .prediction import predict

    outdir = Path(outdir)
    parts = []
    image, scribbles, truth = scribbles_2d(return_truth=True)
    trained = train(image, scribbles, dim="2", **_RECIPE)
    save_model(trained, outdir / "scribbles_2d.sciseg")
    result = predict(trained, image)
    _write(outdir, "scribbles_2d", result)
    cal = calibrate(trained, image, scribbles, alpha=0.1, prediction=result)
    fg = np.asarray(truth, bool)
    parts.append(
        f"2D F1 {_f1(result.segmentation, fg):.2f}, unsure "
        f"{np.mean(result.segmentation == 0):.1%}, conformal q {cal.thresholds[0]:.2f}"
    )
    volume, vscribbles, vtruth = fiber_volume(shape=(64, 64, 64), return_truth=True)
    trained3 = train(volume, vscribbles, dim="2.5", slice_axis=0, **_RECIPE)
    save_model(trained3, outdir / "fibers_2.5d.sciseg")
    result3 = predict(trained3, volume)
    _write(outdir, "fibers", result3)
    fibers = np.asarray(vtruth.labels) > 0
    parts.append(
        f"3D fibers F1 {_f1(result3.segmentation, fibers):.2f}, unsure "
        f"{np.mean(result3.segmentation == 0):.1%}"
    )
    return "; ".join(parts)
