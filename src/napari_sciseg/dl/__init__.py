"""The torch engine: segmentation models, sparse-label training, prediction.

This is the only subpackage (besides the front ends) that imports torch. Its
public names are loaded lazily, so ``import napari_sciseg.dl`` stays cheap and
torch is imported on first use of a name.

Training (``napari_sciseg.dl.training`` and friends):
:func:`create_model`, :func:`list_models`, :func:`iter_train`, :func:`train`,
:class:`TrainProgress`, :class:`TrainedModel`, :class:`ModelConfig`,
:func:`save_model`, :func:`load_model`, :class:`Ensemble`.

Prediction (``napari_sciseg.dl.prediction``): :func:`iter_predict`,
:func:`predict`, :class:`Prediction`; conformal calibration
(``napari_sciseg.dl.conformal``): :func:`calibrate`, :class:`ConformalCalibration`.
"""

from __future__ import annotations

import importlib

__all__ = [
    "create_model",
    "list_models",
    "Ensemble",
    "SegmentationModel",
    "iter_train",
    "train",
    "TrainProgress",
    "TrainedModel",
    "ModelConfig",
    "save_model",
    "load_model",
    "resolve_device",
    "iter_predict",
    "predict",
    "Prediction",
    "calibrate",
    "ConformalCalibration",
]

#: public name -> submodule of ``napari_sciseg.dl`` that defines it.
_WHERE = {
    "create_model": "models",
    "list_models": "models",
    "Ensemble": "models",
    "SegmentationModel": "models",
    "iter_train": "training",
    "train": "training",
    "TrainProgress": "config",
    "TrainedModel": "config",
    "ModelConfig": "config",
    "save_model": "serialization",
    "load_model": "serialization",
    "resolve_device": "device",
    # prediction (issue 4); the module is ``prediction`` so that it never shadows the
    # function ``predict`` once imported
    "iter_predict": "prediction",
    "predict": "prediction",
    "Prediction": "prediction",
    "calibrate": "conformal",
    "ConformalCalibration": "conformal",
}


def __getattr__(name: str):
    if name in _WHERE:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        value = getattr(module, name)
        # a function named like its module (``predict``): importing the submodule
        # bound the module here; rebind the public name to the function.
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
