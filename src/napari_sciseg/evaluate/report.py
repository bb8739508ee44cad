"""One prediction scored against its truth: every score and the text report.

:func:`evaluate_segmentation` is the workflow behind ``sciseg evaluate`` and the
napari "Evaluate" widget: both call it on the same arrays, so both show the same
numbers (the report's text is built here, once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fibers import FiberMatch
from .particles import PSDDistances
from .segmentation import SegmentationScores

__all__ = ["EvaluationReport", "evaluate_segmentation"]

#: columns of the per-class table, as the report shows them
TABLE_COLUMNS = ("class", "iou", "dice", "precision", "recall", "boundary_f", "instance_f1")
TABLE_HEADERS = ("class", "IoU", "Dice", "precision", "recall", "boundary F", "instance F1")


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate_segmentation` returns.

    Attributes
    ----------
    scores : SegmentationScores
        Per-class table and image-level means.
    particles : PSDDistances or None
        Particle size distributions compared (when asked for).
    fibers : FiberMatch or None
        Fibre matching (when asked for).
    pred_diameters, true_diameters : ndarray or None
        The diameters behind ``particles`` (for a PSD plot).
    spacing : tuple of float or None
        The pixel size used (None: uncalibrated).
    unit : str
        Its unit (``"pixel"`` when uncalibrated).
    text : str
        The Markdown report ``sciseg evaluate`` prints.
    """

    scores: SegmentationScores
    particles: PSDDistances | None = None
    fibers: FiberMatch | None = None
    pred_diameters: np.ndarray | None = None
    true_diameters: np.ndarray | None = None
    spacing: tuple | None = None
    unit: str = "pixel"
    text: str = field(default="", repr=False)

    def extras(self) -> dict:
        """``{"particles": {...}, "fibers": {...}}`` for what was computed."""
        out = {}
        if self.particles is not None:
            out["particles"] = self.particles.to_dict()
        if self.fibers is not None:
            out["fibers"] = self.fibers.to_dict()
        return out


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _report_lines(scores, shape, spacing, unit, title: str) -> list[str]:
    lines = [f"# sciseg evaluate: {title}", "",
             f"shape {tuple(shape)}, pixel size {spacing or 'uncalibrated'} {unit}", "",
             "| " + " | ".join(TABLE_HEADERS) + " |", "|---" * len(TABLE_HEADERS) + "|"]
    for r in scores.table:
        lines.append("| " + " | ".join(_fmt(r[k]) for k in TABLE_COLUMNS) + " |")
    lines += ["", "mean IoU {mean_iou:.4f}, mean Dice {mean_dice:.4f}, mean boundary F "
              "{mean_boundary_f:.4f}, instance F1 (IoU 0.5) {instance_f1:.4f}, pixel accuracy "
              "{pixel_accuracy:.4f}".format(**scores.summary())]
    return lines


def _particle_line(d: dict) -> str:
    return (f"particles: {d['n_pred']} predicted vs {d['n_true']} true isolated; mean "
            f"diameter {d['mean_pred']:.4g} vs {d['mean_true']:.4g} {d['unit']} (error "
            f"{d['mean_error']:+.2%}), median error {d['median_error']:+.2%}, KS {d['ks']:.3f}")


def _fiber_line(d: dict, unit: str) -> str:
    return (f"fibers: {d['n_pred']} predicted vs {d['n_true']} true; recall "
            f"{d['recall']:.3f}, precision {d['precision']:.3f}, median length error "
            f"{d['median_length_error']:.4g} {unit} ({d['median_length_error_rel']:.1%}), "
            f"median angle error {d['median_angle_error_deg']:.2f} deg")


def evaluate_segmentation(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    spacing=None,
    unit: str = "pixel",
    background: int = 0,
    ignore: int | None = None,
    tolerance: float | None = None,
    foreground: int | None = None,
    particles: bool = False,
    fibers: bool = False,
    title: str = "prediction vs truth",
) -> EvaluationReport:
    """Score a class map against the truth: segmentation, and optionally particles and fibres.

    Parameters
    ----------
    pred, truth : (Y, X) or (Z, Y, X) int ndarray
        Class ids on the same grid.
    spacing : tuple of float, optional
        Pixel size per axis (None: uncalibrated, scores in pixels).
    unit : str
        Unit of ``spacing``.
    background : int
        The class that is not objects (no instance F1).
    ignore : int, optional
        Truth value of unlabeled pixels (sparse truth).
    tolerance : float, optional
        Boundary match distance in ``unit`` (default 2 pixels).
    foreground : int, optional
        Class id of the particles / fibres (default every class but ``background``).
    particles, fibers : bool
        Also compare particle size distributions (2D) / match fibres (3D).
    title : str
        What the report's heading names (e.g. the two file names).

    Returns
    -------
    EvaluationReport

    Examples
    --------
    >>> truth = np.zeros((16, 16), np.uint8); truth[4:12, 4:12] = 1
    >>> r = evaluate_segmentation(truth, truth)
    >>> r.scores.mean_iou, "mean IoU 1.0000" in r.text
    (1.0, True)
    """
    from .fibers import fiber_scores
    from .particles import psd_distances, sized_particles
    from .segmentation import segmentation_scores

    pred, truth = np.asarray(pred), np.asarray(truth)
    spacing = tuple(float(s) for s in spacing) if spacing is not None else None
    unit = unit if spacing else "pixel"
    scores = segmentation_scores(pred, truth, spacing=spacing, tolerance=tolerance,
                                 background=background, ignore=ignore)
    lines = _report_lines(scores, pred.shape, spacing, unit, title)
    fg = (lambda a: a == foreground) if foreground is not None else (lambda a: a != background)
    psd = fib = dp = dt = None
    if particles:
        dp, dt = sized_particles(fg(pred), fg(truth), spacing=spacing)
        psd = psd_distances(dp, dt, unit=unit if spacing is not None else "pixel")
        lines += ["", _particle_line(psd.to_dict())]
    if fibers:
        fib = fiber_scores(fg(pred), fg(truth), spacing=spacing)
        lines += ["", _fiber_line(fib.to_dict(), unit)]
    return EvaluationReport(scores=scores, particles=psd, fibers=fib, pred_diameters=dp,
                            true_diameters=dt, spacing=spacing, unit=unit,
                            text="\n".join(lines) + "\n")
