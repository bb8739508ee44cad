"""What a trained model carries: its configuration, progress records, the result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .. import __version__

__all__ = ["ModelConfig", "TrainedModel", "TrainProgress", "FORMAT_VERSION"]

#: version of the ``.sciseg`` file layout; loading a newer one is refused.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild, normalise for and describe a trained ensemble.

    Attributes
    ----------
    arch : str
        Registry name of the members ("smsnet", "tunet", "msdnet").
    member_configs : list of dict
        Each member's :attr:`SegmentationModel.config` (an SMSNet's graph included).
    model_ndim : int
        2 or 3, the network's spatial dimensions.
    dim : str
        "2" (2D images), "2.5" (2D model on slices of a volume), "3" (3D model).
    slice_axis : int
        Axis of the volume along which "2.5" slices were taken.
    in_channels, n_classes : int
        Image channels C and classes K (class k = output channel k - 1).
    class_names, class_colors : tuple
        One name and one RGBA tuple (or None) per class.
    normalization : tuple of (float, float)
        Per channel (low, high) robust percentiles; input becomes (x - low) / (high - low).
    target_normalization : tuple of (float, float)
        Regression tasks: per output channel (low, high) of the targets; outputs
        become ``y * (high - low) + low`` (then the recipe's ``transform`` is undone).
        Empty for segmentation.
    recipe : dict
        Training settings (loss, steps, lr, seed, crop, batch, val_fraction, split_seed, ...).
    metrics : dict
        Validation results (val_loss, val_f1, ...).
    """

    arch: str
    member_configs: list
    model_ndim: int
    dim: str
    slice_axis: int
    in_channels: int
    n_classes: int
    class_names: tuple = ()
    class_colors: tuple = ()
    normalization: tuple = ()
    target_normalization: tuple = ()
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    version: str = __version__
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        """A JSON-able dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.class_names)
        d["class_colors"] = [None if c is None else list(c) for c in self.class_colors]
        d["normalization"] = [list(map(float, lh)) for lh in self.normalization]
        if self.target_normalization:
            d["target_normalization"] = [list(map(float, lh))
                                         for lh in self.target_normalization]
        else:  # segmentation files stay as they were
            del d["target_normalization"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}.")
        d = dict(d)
        d["class_names"] = tuple(d.get("class_names", ()))
        d["class_colors"] = tuple(None if c is None else tuple(c)
                                  for c in d.get("class_colors", ()))
        d["normalization"] = tuple(tuple(lh) for lh in d.get("normalization", ()))
        d["target_normalization"] = tuple(tuple(lh)
                                          for lh in d.get("target_normalization", ()))
        return cls(**d)

    @property
    def task(self) -> str:
        """What the model predicts: "segment", "regression", "inpaint" or "denoise"."""
        return str(self.recipe.get("task", "segment"))

    def with_metrics(self, **metrics) -> ModelConfig:
        return dataclasses.replace(self, metrics={**self.metrics, **metrics})


@dataclass
class TrainedModel:
    """A trained ensemble with its configuration.

    Attributes
    ----------
    network : Ensemble
        The members, on CPU or the training device (``.eval()`` mode).
    config : ModelConfig
    """

    network: object
    config: ModelConfig

    def normalize(self, image_chw: np.ndarray) -> np.ndarray:
        """Apply the stored per-channel normalisation to a channels-first image.

        Parameters
        ----------
        image_chw : (C, *spatial) ndarray

        Returns
        -------
        (C, *spatial) float32 ndarray
        """
        image = np.asarray(image_chw, dtype=np.float32)
        if image.shape[0] != len(self.config.normalization):
            raise ValueError(
                f"image has {image.shape[0]} channels first; the model expects "
                f"{len(self.config.normalization)} (channels-first (C, ...) array)."
            )
        low = np.array([lh[0] for lh in self.config.normalization], np.float32)
        high = np.array([lh[1] for lh in self.config.normalization], np.float32)
        shape = (-1,) + (1,) * (image.ndim - 1)
        return (image - low.reshape(shape)) / (high - low).reshape(shape)

    @property
    def receptive_field(self) -> int:
        """Halo radius in pixels needed around a tile for exact tiled prediction."""
        return int(self.network.receptive_field)


@dataclass(frozen=True)
class TrainProgress:
    """One progress record yielded by :func:`~napari_sciseg.dl.iter_train`.

    ``val_loss``/``val_score`` are None between validations; ``val_score`` is
    the ensemble's macro F1 on the validation pixels. ``model`` refers to the
    :class:`TrainedModel` being trained: its members hold the best weights so
    far once a validation has run (and the latest weights after training
    stops, including when the generator is closed).
    """

    step: int
    total_steps: int
    loss: float
    val_loss: float | None
    val_score: float | None
    elapsed_s: float
    eta_s: float
    device: str
    message: str = ""
    model: TrainedModel | None = field(default=None, repr=False, compare=False)
