"""An image classifier without its torch weights: its config, options and parts.

Torch-free, so the texture and VLAD representations train and predict without
the torch layer; the network parts (a CNN, a weight file's encoder) are torch
modules held in ``ImageClassifier.net`` / ``.encoder``, built by
:mod:`napari_sciseg.dl.classify`. Files: ``dl.classify.io.save_classifier`` /
``load_classifier`` (``config.json`` + ``weights.safetensors``; no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Representation", "REPRESENTATIONS", "BOOSTED", "ClassifierConfig", "ClassifyOptions",
           "ImageClassifier", "CLASSIFIER_FORMAT", "CLASSIFIER_VERSION"]

CLASSIFIER_FORMAT = "napari-sciseg image classifier"
#: version of the file layout; loading a newer one is refused.
CLASSIFIER_VERSION = 1


class Representation(StrEnum):
    """What an image becomes before it is classified.

    ``texture``: statistics of multi-scale filter responses, then boosted trees;
    ``vlad``: the same per-pixel features, K-means visual words, VLAD, boosted
    trees (Luo, Holm & Wang 2021, with a filter bank for the network);
    ``hypercolumn``: VLAD + boosting of hypercolumns of a network whose weights
    the user has on disk (VGG16 / ResNet18, torchvision layout);
    ``cnn``: a small CNN trained from scratch;
    ``pretrained``: the same CNN whose encoder was first trained as an
    autoencoder on the (unlabelled) images.
    """

    TEXTURE = "texture"
    VLAD = "vlad"
    HYPERCOLUMN = "hypercolumn"
    CNN = "cnn"
    PRETRAINED = "pretrained"


REPRESENTATIONS = tuple(r.value for r in Representation)
#: representations classified by boosted trees (the rest are networks end to end)
BOOSTED = ("texture", "vlad", "hypercolumn")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild a classifier and prepare its inputs (saved as JSON).

    ``target_spacing``: the working pixel size (nm; None: images as they are);
    ``tile``: the network's input edge in those pixels (also the tile of class
    maps); ``temperature``: the calibration of the probabilities; ``options``:
    the training options; ``encoder``: a weight file's architecture and layers;
    ``net``: the CNN's settings; ``metrics``: held-out scores.
    """

    class_names: tuple[str, ...]
    n_channels: int
    representation: str
    target_spacing: float | None
    tile: int
    temperature: float = 1.0
    options: dict = field(default_factory=dict)
    encoder: dict = field(default_factory=dict)
    net: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    format_version: int = CLASSIFIER_VERSION

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ClassifierConfig:
        """Read a config written by this or an earlier version.

        Examples
        --------
        >>> c = ClassifierConfig(("a", "b"), 1, "vlad", 2.0, 64)
        >>> ClassifierConfig.from_dict(c.to_dict()) == c
        True
        """
        d = dict(d)
        if int(d.get("format_version", 0)) > CLASSIFIER_VERSION:
            raise ValueError(
                f"Classifier format {d['format_version']} is newer than this version "
                f"understands ({CLASSIFIER_VERSION}); update napari-sciseg.")
        d["class_names"] = tuple(d["class_names"])
        return cls(**d)

    def replace(self, **changes) -> ClassifierConfig:
        """A copy with ``changes``."""
        return ClassifierConfig(**{**self.__dict__, **changes})


@dataclass
class ImageClassifier:
    """A trained classifier: ``config`` plus boosted trees and/or torch modules.

    ``boosted`` is a :class:`~napari_sciseg.classify.vlad.VladModel` (the
    boosted representations); ``net`` a torch classifier (``cnn``,
    ``pretrained``); ``encoder`` the hypercolumn network (``hypercolumn``).
    """

    config: ClassifierConfig
    boosted: object = None
    net: object = None
    encoder: object = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names


@dataclass(frozen=True)
class ClassifyOptions:
    """Training options of an image classifier (saved in the model as ``options``).

    Parameters
    ----------
    representation : str
        One of :data:`REPRESENTATIONS`.
    balance : bool
        Class-balanced sample weights (boosting) or sampling (networks).
    augment : bool
        D4 (90° rotations, flips) copies of the rarer classes' images.
    calibrate : bool
        Fit a temperature on inner cross-validated predictions.
    k, pixels_per_image, n_estimators, max_depth
        VLAD dictionary size, pixels sampled per image, boosting stages, tree depth.
    sigmas : tuple of float
        Scales of the filter bank (texture, vlad).
    weights : str, optional
        Weight file of the ``hypercolumn`` representation: ``.safetensors`` (``arch``
        layout) or ``.onnx`` (``layers`` name its tensors).
    arch : {"vgg16", "resnet18"}
        Its architecture.
    layers : tuple of str, optional
        Its hypercolumn layers (default: ``dl.classify.backbones.DEFAULT_LAYERS``).
    stride : int
        Hypercolumns on every ``stride``-th pixel.
    epochs, pretrain_epochs : int
        Network training epochs; autoencoder epochs (``pretrained``).
    max_tile : int
        Largest network tile.
    seed : int
    """

    representation: str = "vlad"
    balance: bool = True
    augment: bool = True
    calibrate: bool = True
    k: int = 16
    pixels_per_image: int = 500
    n_estimators: int = 100
    max_depth: int = 3
    sigmas: tuple = (1.0, 2.0, 4.0)
    weights: str | None = None
    arch: str = "vgg16"
    layers: tuple | None = None
    stride: int = 4
    epochs: int = 30
    pretrain_epochs: int = 20
    max_tile: int = 64
    seed: int = 0

    def __post_init__(self):
        from ..._validation import check_choice

        check_choice("representation", self.representation, REPRESENTATIONS)
        if self.representation == "hypercolumn" and not self.weights:
            raise ValueError("The hypercolumn representation needs weights= (a torchvision-"
                             "layout VGG16/ResNet18 state_dict in .safetensors, or an .onnx "
                             "file with layers= naming its tensors).")
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["sigmas"] = list(self.sigmas)
        d["layers"] = None if self.layers is None else list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ClassifyOptions:
        """Options from :meth:`to_dict` (unknown keys are refused by name)."""
        return cls(**d)

    def replace(self, **changes) -> ClassifyOptions:
        """A copy with ``changes``."""
        return ClassifyOptions(**{**self.__dict__, **changes})
