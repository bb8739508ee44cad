"""An AFM crystal-class model without its weights: :class:`AfmConfig` and :class:`AfmModel`.

Torch-free, so the texture classifiers (:mod:`.vlad`) train and predict
without the torch layer; the networks' weights are torch modules held in
``AfmModel.net`` (built by :mod:`napari_sciseg.dl.afm`). Files:
:func:`napari_sciseg.dl.afm.io.save_afm_model` / ``load_afm_model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .dataset import CLASSES, MetadataEncoder

__all__ = ["AfmConfig", "AfmModel", "FORMAT_VERSION", "Fusion", "FUSIONS", "TEXTURE_KINDS"]

# 2: metadata enter the networks as added logits (late merge); version-1 networks
# (metadata concatenated to the image features) cannot be rebuilt.
# 3: ``normalization`` and ``channel_scales`` (channels keep their physical contrast,
# see classify.afm.scans); version-2 files have neither and are read as "scan".
# 4: the header of every .sciseg file ({"format", "format_version", "config"}),
# ``target_spacing`` instead of ``target_nm_per_px``, ``selection`` (the recipe's
# cross-validated choice) and the ``texture`` kind.
FORMAT_VERSION = 4



class Fusion(StrEnum):
    """How a model combines the channels (and metadata); see :mod:`napari_sciseg.dl.afm.nets`."""

    SINGLE = "single"
    EARLY = "early"
    LATE = "late"
    HYBRID = "hybrid"
    METADATA = "metadata"
    MADDI = "maddi"
    VLAD = "vlad"
    TEXTURE = "texture"


FUSIONS = tuple(f.value for f in Fusion)
#: fusion names of the torch-free classifiers (a descriptor -> gradient boosting)
TEXTURE_KINDS = ("vlad", "texture")


@dataclass(frozen=True)
class AfmConfig:
    """Everything needed to rebuild a model and prepare its inputs (saved as config.json).

    ``target_spacing`` is the pixel size (nm) scans are resampled to before
    tiling; ``tile`` the tile edge in those pixels. ``recipe`` holds the training
    options, ``metrics`` the held-out evaluation, ``selection`` the recipe's
    cross-validated choice (candidates, their scores, the chosen one).
    """

    fusion: str
    use_metadata: bool
    channels: tuple[str, ...]
    tile: int
    target_spacing: float | None
    encoder: dict
    cutoffs: dict
    class_names: tuple[str, ...] = CLASSES
    net: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    normalization: str = "scan"
    channel_scales: tuple[float, ...] = ()
    selection: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["channels"], d["class_names"] = list(self.channels), list(self.class_names)
        d["channel_scales"] = [float(v) for v in self.channel_scales]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AfmConfig:
        """Read a config of any format version up to :data:`FORMAT_VERSION`.

        Examples
        --------
        >>> old = {"fusion": "vlad", "use_metadata": False, "channels": ["height"], "tile": 64,
        ...        "target_nm_per_px": 39.0, "encoder": {}, "cutoffs": {}, "class_names": [],
        ...        "format_version": 3}
        >>> AfmConfig.from_dict(old).target_spacing
        39.0
        """
        d = dict(d)
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"Model format {d['format_version']} is newer than this version "
                f"understands ({FORMAT_VERSION}); update napari-sciseg."
            )
        if "target_nm_per_px" in d:  # formats <= 3
            d["target_spacing"] = d.pop("target_nm_per_px")
        d["channels"], d["class_names"] = tuple(d["channels"]), tuple(d["class_names"])
        d["channel_scales"] = tuple(float(v) for v in d.get("channel_scales", ()))
        return cls(**d)

    def replace(self, **changes) -> AfmConfig:
        """A copy with ``changes`` (field name -> value)."""
        return AfmConfig(**{**self.__dict__, **changes})


@dataclass
class AfmModel:
    """A trained model: ``config`` plus a torch ``net`` or a ``vlad`` (arrays) classifier.

    ``vlad`` holds either texture classifier (:data:`TEXTURE_KINDS`, a
    :class:`~napari_sciseg.classify.afm.vlad.VladModel`).
    """

    config: AfmConfig
    net: object = None
    vlad: object = None

    @property
    def encoder(self) -> MetadataEncoder:
        return MetadataEncoder.from_dict(self.config.encoder)

    @property
    def needs_metadata(self) -> bool:
        return self.config.use_metadata or self.config.fusion in ("metadata", "maddi")
