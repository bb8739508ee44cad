"""The torch engine: segmentation models, sparse-label training, prediction.

This is the only subpackage (besides the front ends) that imports torch. Its
public names are loaded lazily, so ``import napari_sciseg.dl`` stays cheap and
torch is imported on first use of a name.

Training (``napari_sciseg.dl.training`` and friends):
:func:`create_model`, :func:`list_models`, :func:`iter_train`, :func:`train`,
:class:`TrainRecipe`, :func:`iter_train_recipe`,
:class:`TrainProgress`, :class:`TrainedModel`, :class:`ModelConfig`,
:func:`save_model`, :func:`load_model`, :class:`Ensemble`.

Prediction (``napari_sciseg.dl.prediction``): :func:`iter_predict`,
:func:`predict`, :class:`Prediction`; one slice or box with its halo
(``napari_sciseg.dl.region``): :func:`iter_predict_region`, :func:`predict_region`;
conformal calibration
(``napari_sciseg.dl.conformal``): :func:`calibrate`, :class:`ConformalCalibration`.

Autoencoders (``napari_sciseg.dl.autoencoder``, network in ``dl.models.autoencoder``):
:func:`iter_train_autoencoder`, :func:`train_autoencoder`, :func:`encode_tiles`,
:func:`save_autoencoder`, :func:`load_autoencoder`, :class:`TrainedAutoencoder`;
tiles -> latent vectors -> UMAP -> clusters (``napari_sciseg.dl.embedding``):
:func:`iter_embed_tiles`, :func:`embed_tiles`, :class:`Embedding`.
Restoration (regression tasks; ``napari_sciseg.dl.restore`` and ``.regression``):
:func:`train_inpainting`, :func:`train_denoising`, :func:`train_regression` (and
their ``iter_`` generators), :func:`inpaint`, :func:`denoise`, :func:`restore`,
:func:`iter_restore`, :class:`Restoration`.
"""

import lazy_loader as _lazy

from .threads import passive_openmp as _passive_openmp

# before torch is first imported: OpenMP threads sleep, not spin, between parallel regions
# (measured at load ~11 on 2 cores, 2 threads: 7x less CPU time; see dl/threads.py)
_passive_openmp()

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "models": ["create_model", "list_models", "Ensemble", "SegmentationModel"],
        "training": ["iter_train", "train", "iter_train_recipe"],
        "recipe": ["TrainRecipe"],
        "config": ["TrainProgress", "TrainedModel", "ModelConfig"],
        "serialization": ["save_model", "load_model"],
        "device": ["resolve_device"],
        "prediction": ["iter_predict", "predict", "Prediction"],
        "region": ["iter_predict_region", "predict_region"],
        "conformal": ["calibrate", "ConformalCalibration"],
        "autoencoder": ["iter_train_autoencoder", "train_autoencoder", "encode_tiles",
                        "save_autoencoder", "load_autoencoder", "TrainedAutoencoder"],
        "embedding": ["iter_embed_tiles", "embed_tiles", "Embedding"],
        "regression": ["iter_train_regression", "train_regression"],
        "restore": ["iter_restore", "restore", "inpaint", "denoise", "Restoration",
                    "iter_train_inpainting", "train_inpainting", "iter_train_denoising",
                    "train_denoising", "iter_train_and_restore", "RestoreRun"],
    },
)
