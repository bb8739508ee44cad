"""Image classification in the torch layer: representations, training, prediction, files.

- :mod:`.workflow`: :func:`iter_train_classifier` / :func:`train_classifier`,
  :func:`predict_images`, :func:`predict_tiles`, :func:`iter_cross_validate` /
  :func:`cross_validate`, and their data-set versions (a folder of class folders or
  a CSV): :func:`train_dataset`, :func:`cross_validate_dataset`, :func:`predict_dataset`.
- :mod:`.backbones`: VGG16 / ResNet18 in torchvision's layout, loaded from a user's
  safetensors file, and their hypercolumns.
- :mod:`.cnn`: the CNN trained from scratch or from a self-supervised encoder.
- :mod:`.explain`: Grad-CAM (HiResCAM form) and occlusion maps; embeddings.
- :mod:`.io`: :func:`save_classifier`, :func:`load_classifier`.

Names are loaded on first use, so importing this package does not import torch.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "workflow": ["iter_train_classifier", "train_classifier", "predict_images",
                     "predict_tiles", "iter_cross_validate", "cross_validate",
                     "train_dataset", "cross_validate_dataset", "predict_dataset",
                     "ClassifyProgress", "CrossValidation", "DatasetPrediction"],
        "io": ["save_classifier", "load_classifier"],
    },
)
