"""Saving and loading AFM crystal-class models (``.sciseg`` zips, no pickle).

A model file holds ``config.json`` and ``weights.safetensors`` (the network's
weights, or the texture classifier's dictionary and trees as arrays), like a
segmentation model (:mod:`napari_sciseg.dl.serialization`), with the same header:
``{"format": "napari-sciseg afm classifier", "format_version": N, "config": {...}}``
(:class:`~napari_sciseg.classify.afm.model.AfmConfig`). Files of formats 2-3 (a
flat config with ``"kind"``) still load. Loading never runs code from the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ...classify.afm.model import FORMAT_VERSION, AfmConfig, AfmModel

__all__ = ["AfmConfig", "AfmModel", "save_afm_model", "load_afm_model", "FORMAT_VERSION"]

FORMAT = "napari-sciseg afm classifier"
_OLDEST_NETWORK = 2


def save_afm_model(model: AfmModel, path: str | Path) -> Path:
    """Save as a ``.sciseg`` zip: ``config.json`` + ``weights.safetensors`` (no pickle).

    Parameters
    ----------
    model : AfmModel
    path : str or Path
        The file to write (its folder is created).

    Returns
    -------
    Path
    """
    from safetensors.numpy import save as save_np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION}
    header["config"] = model.config.replace(format_version=FORMAT_VERSION).to_dict()
    if model.vlad is not None:
        tensors = model.vlad.arrays()
        header["vlad"] = model.vlad.settings()
    else:
        tensors = {k: v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(header, indent=1))
        zf.writestr(
            "weights.safetensors", save_np({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        )
    return path


def _read_header(path: Path) -> tuple[dict, dict | None, dict]:
    """(config dict, texture-classifier settings or None, arrays) of a model file."""
    from safetensors.numpy import load as load_np

    try:
        with zipfile.ZipFile(path) as zf:
            header = json.loads(zf.read("config.json"))
            tensors = load_np(zf.read("weights.safetensors"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path.name} is not an AFM model saved by napari-sciseg ({exc})."
        ) from exc
    if header.get("format") == FORMAT:  # format 4 on
        config = dict(header["config"])
        config["format_version"] = header.get("format_version", config.get("format_version"))
        return config, header.get("vlad"), tensors
    if header.get("kind") == FORMAT:  # formats 2-3: a flat config
        header.pop("kind")
        return header, header.pop("vlad", None), tensors
    raise ValueError(f"{path.name} is a napari-sciseg model but not an AFM classifier.")


def load_afm_model(path: str | Path) -> AfmModel:
    """Load a model saved by :func:`save_afm_model` (any format from 2 on); never runs code.

    Parameters
    ----------
    path : str or Path
        A ``.sciseg`` file written by :func:`save_afm_model`.

    Returns
    -------
    AfmModel
        The network or texture classifier and its :class:`AfmConfig`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an AFM model, a newer format, or a network of format 1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {path}")
    cfg, vlad_cfg, tensors = _read_header(path)
    config = AfmConfig.from_dict(cfg)
    if vlad_cfg is not None:
        from ...classify.afm.vlad import VladModel

        return AfmModel(config, vlad=VladModel.from_arrays(tensors, **vlad_cfg))
    if int(cfg.get("format_version", 0)) < _OLDEST_NETWORK:
        raise ValueError(
            f"{path.name} holds a network of model format {cfg.get('format_version')}, "
            f"which this version cannot rebuild (formats {_OLDEST_NETWORK}-{FORMAT_VERSION}); "
            "retrain it."
        )
    import torch

    from .nets import AfmNet

    net = AfmNet(**config.net)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    net.eval()
    return AfmModel(config, net=net)
