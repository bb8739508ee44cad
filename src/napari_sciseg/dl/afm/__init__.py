"""AFM crystal-class models in the torch layer: networks, training, prediction, files, evaluation.

The one import for using them:

- training: :func:`iter_train_afm`, :func:`train_afm` (:mod:`.train`; the texture
  classifiers train torch-free in :mod:`napari_sciseg.classify.afm.training`);
- prediction: :func:`predict_scan`, :func:`tile_maps`, :func:`tile_labels`,
  :func:`tile_table`, :class:`ScanPrediction` (:mod:`.predict`);
- files: :func:`save_afm_model`, :func:`load_afm_model` (:mod:`.io`);
- evaluation: :func:`evaluate`, :func:`cross_validate` (:mod:`.evaluation`);
- the recipe that chooses its configuration on the user's data by grouped
  cross-validation: :func:`iter_train_recipe`, :func:`train_recipe` (:mod:`.recipe`).

Names are loaded on first use, so importing this package does not import torch.
"""

from __future__ import annotations

import importlib

#: public name -> submodule that defines it
_WHERE = {
    "AfmConfig": "io",
    "AfmModel": "io",
    "save_afm_model": "io",
    "load_afm_model": "io",
    "AfmProgress": "train",
    "iter_train_afm": "train",
    "train_afm": "train",
    "drop_channels": "train",
    "ScanPrediction": "predict",
    "predict_scan": "predict",
    "tile_maps": "predict",
    "tile_labels": "predict",
    "tile_table": "predict",
    "Evaluation": "evaluation",
    "CrossValidation": "evaluation",
    "evaluate": "evaluation",
    "cross_validate": "evaluation",
    "predict_dataset": "evaluation",
    "Candidate": "recipe",
    "default_menu": "recipe",
    "iter_train_recipe": "recipe",
    "train_recipe": "recipe",
    "selection_report": "recipe",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__():
    return sorted(__all__)
