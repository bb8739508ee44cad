"""Saving and loading AFM crystal-class models (``.sciseg`` zips, no pickle).

A model file holds ``config.json`` (:class:`AfmConfig`: fusion, channels, tile,
nm/pixel, metadata encoding, class cut-offs, training recipe and held-out
metrics) and ``weights.safetensors`` (the network's weights, or the VLAD
dictionary and trees as arrays). Loading never runs code from the file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classify.afm_dataset import CLASSES, MetadataEncoder

__all__ = ["AfmConfig", "AfmModel", "save_afm_model", "load_afm_model", "FORMAT_VERSION"]

# 2: metadata enter the networks as added logits (late merge); version-1 networks
# (metadata concatenated to the image features) cannot be rebuilt.
# 3: ``normalization`` and ``channel_scales`` (channels keep their physical contrast,
# see classify.afm_scans); version-2 files have neither and are read as "scan".
FORMAT_VERSION = 3
_OLDEST_NETWORK = 2


@dataclass(frozen=True)
class AfmConfig:
    """Everything needed to rebuild a model and prepare its inputs (saved as config.json)."""

    fusion: str
    use_metadata: bool
    channels: tuple[str, ...]
    tile: int
    target_nm_per_px: float | None
    encoder: dict
    cutoffs: dict
    class_names: tuple[str, ...] = CLASSES
    net: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    normalization: str = "scan"
    channel_scales: tuple[float, ...] = ()
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["channels"], d["class_names"] = list(self.channels), list(self.class_names)
        d["channel_scales"] = [float(v) for v in self.channel_scales]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AfmConfig:
        d = dict(d)
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"Model format {d['format_version']} is newer than this version "
                f"understands ({FORMAT_VERSION}); update napari-sciseg."
            )
        d["channels"], d["class_names"] = tuple(d["channels"]), tuple(d["class_names"])
        d["channel_scales"] = tuple(float(v) for v in d.get("channel_scales", ()))
        return cls(**d)


@dataclass
class AfmModel:
    """A trained model: ``config`` plus a torch ``net`` or a ``vlad`` (arrays) classifier."""

    config: AfmConfig
    net: object = None
    vlad: object = None

    @property
    def encoder(self) -> MetadataEncoder:
        return MetadataEncoder.from_dict(self.config.encoder)

    @property
    def needs_metadata(self) -> bool:
        return self.config.use_metadata or self.config.fusion in ("metadata", "maddi")


def save_afm_model(model: AfmModel, path: str | Path) -> Path:
    """Save as a ``.sciseg`` zip: ``config.json`` + ``weights.safetensors`` (no pickle)."""
    from safetensors.numpy import save as save_np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict()
    if model.vlad is not None:
        tensors = model.vlad.arrays()
        cfg["vlad"] = {"learning_rate": model.vlad.learning_rate, "n_classes": model.vlad.n_classes}
    else:
        tensors = {k: v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
    cfg["kind"] = "napari-sciseg afm classifier"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(cfg, indent=1))
        zf.writestr(
            "weights.safetensors", save_np({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        )
    return path


def load_afm_model(path: str | Path) -> AfmModel:
    """Load a model saved by :func:`save_afm_model`; never runs code from the file."""
    from safetensors.numpy import load as load_np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            cfg = json.loads(zf.read("config.json"))
            tensors = load_np(zf.read("weights.safetensors"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path.name} is not an AFM model saved by napari-sciseg ({exc})."
        ) from exc
    if cfg.pop("kind", None) != "napari-sciseg afm classifier":
        raise ValueError(f"{path.name} is a napari-sciseg model but not an AFM classifier.")
    vlad_cfg = cfg.pop("vlad", None)
    config = AfmConfig.from_dict(cfg)
    if vlad_cfg is not None:
        from ..classify.afm_vlad import VladModel

        return AfmModel(config, vlad=VladModel.from_arrays(tensors, **vlad_cfg))
    if int(cfg.get("format_version", 0)) < _OLDEST_NETWORK:
        raise ValueError(
            f"{path.name} holds a network of model format {cfg.get('format_version')}, "
            f"which this version cannot rebuild (formats {_OLDEST_NETWORK}-{FORMAT_VERSION}); "
            "retrain it."
        )
    import torch

    from .afm import AfmNet

    net = AfmNet(**config.net)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    net.eval()
    return AfmModel(config, net=net)
