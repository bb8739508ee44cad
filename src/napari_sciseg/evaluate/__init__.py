"""Scores of a result against the user's own ground truth (pure numpy/scipy).

The same numbers the benchmarks compute, for any prediction and truth:

- :mod:`.segmentation`: per-class IoU, Dice, precision, recall, boundary
  F-score, and instance F1 at IoU 0.5 (:func:`segmentation_scores`);
- :mod:`.particles`: particle size distribution distances (:func:`psd_distances`);
- :mod:`.fibers`: fiber matching, length and angle errors (:func:`match_fibers`);
- :mod:`.report`: all of the above for one prediction/truth pair, with the text
  report that ``sciseg evaluate`` prints and the Evaluate widget shows
  (:func:`evaluate_segmentation`);
- :mod:`.classification`: accuracy, macro P/R/F1, ROC AUC, confusion of whole-image
  classes (:func:`classification_report`), grouped splits and a grouped bootstrap;
- :mod:`.restoration`: Pearson r, L1, PSNR, SSIM of inpainted or denoised images
  (:func:`restoration_scores`) and the classical baselines (biharmonic inpainting,
  tuned Gaussian / non-local means).

Names are imported lazily from their modules; add one to ``_WHERE`` as
``"name": "module"``.
"""

from __future__ import annotations

import importlib

_WHERE: dict[str, str] = {
    "SegmentationScores": "segmentation",
    "segmentation_scores": "segmentation",
    "boundary_f_score": "segmentation",
    "instance_f1": "segmentation",
    "check_same_grid": "segmentation",
    "PSDDistances": "particles",
    "psd_distances": "particles",
    "particle_scores": "particles",
    "sized_particles": "particles",
    "EvaluationReport": "report",
    "evaluate_segmentation": "report",
    "FiberMatch": "fibers",
    "match_fibers": "fibers",
    "fiber_scores": "fibers",
    "ClassificationReport": "classification",
    "classification_report": "classification",
    "grouped_split": "classification",
    "grouped_kfold": "classification",
    "grouped_bootstrap": "classification",
    "RestorationScores": "restoration",
    "restoration_scores": "restoration",
    "inpaint_classical": "restoration",
    "denoise_classical": "restoration",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
