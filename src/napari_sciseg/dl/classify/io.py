"""``.sciseg`` files of image classifiers: ``config.json`` + ``weights.safetensors``.

The container of every model of this package (a zip, or a folder ending in
``/``) with its own ``format`` name. The boosted trees are arrays
(``boosted.*``), a network's parameters are tensors (``net.*``), a weight
file's encoder is copied in (``encoder.*`` without its classifier head, or an ONNX
graph's bytes as ``encoder_onnx``), so the model predicts without the original
weight file. Loading parses JSON and
safetensors only: nothing is unpickled or executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...classify.images.model import (
    CLASSIFIER_FORMAT,
    CLASSIFIER_VERSION,
    ClassifierConfig,
    ImageClassifier,
)
from ...io.outputs import read_model_container, write_model_container

__all__ = ["save_classifier", "load_classifier"]

_CONFIG = "config.json"
_HEADS = ("classifier.", "fc.")


def _arrays(model: ImageClassifier) -> dict:
    arrays = {}
    if model.boosted is not None:
        arrays.update({f"boosted.{k}": v for k, v in model.boosted.arrays().items()})
    if hasattr(model.encoder, "model_bytes"):  # ONNX: the graph's bytes (data, not code)
        arrays["encoder_onnx"] = np.frombuffer(model.encoder.model_bytes, np.uint8)
    for prefix, module in (("net", model.net), ("encoder", model.encoder)):
        if module is not None and not hasattr(module, "model_bytes"):
            arrays.update({f"{prefix}.{k}": v.detach().cpu().numpy()
                           for k, v in module.state_dict().items()
                           if not (prefix == "encoder" and k.startswith(_HEADS))})
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}


def save_classifier(model: ImageClassifier, path) -> Path:
    """Write ``model`` to ``path`` (a ``.sciseg`` zip, or a folder for a path ending in /).

    Parameters
    ----------
    model : ImageClassifier
    path : str or Path

    Returns
    -------
    Path
    """
    from safetensors.numpy import save

    path = Path(path)
    header = {"format": CLASSIFIER_FORMAT, "format_version": CLASSIFIER_VERSION,
              "config": model.config.to_dict(),
              "boosted": None if model.boosted is None else model.boosted.settings()}
    blob = save(_arrays(model), metadata={"format": CLASSIFIER_FORMAT})
    write_model_container(path, json.dumps(header, indent=1), blob)  # atomic
    return path




def _header(raw: bytes, path) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt model file ({_CONFIG}: {exc}).") from None
    if not isinstance(header, dict) or header.get("format") != CLASSIFIER_FORMAT:
        kind = header.get("format") if isinstance(header, dict) else None
        raise ValueError(f"{path}: not an image classifier (format {kind!r}); train one with "
                         "`sciseg classify train`.")
    return header


def _split(arrays: dict, prefix: str) -> dict:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + ".")}


def load_classifier(path) -> ImageClassifier:
    """Read a classifier written by :func:`save_classifier` (never unpickles anything)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    raw_config, raw_weights = read_model_container(path)
    header = _header(raw_config, path)
    config = ClassifierConfig.from_dict(header["config"])
    try:
        arrays = load(raw_weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: corrupt or truncated arrays ({exc}).") from None
    boosted = net = encoder = None
    if header.get("boosted"):
        from ...classify.vlad import VladModel

        boosted = VladModel.from_arrays(_split(arrays, "boosted"), **header["boosted"])
    if config.net:
        from .cnn import build_cnn

        net = _with_state(build_cnn(config.net), _split(arrays, "net"))
    if config.encoder.get("arch") == "onnx":
        from .onnx_encoder import OnnxEncoder

        encoder = OnnxEncoder(arrays["encoder_onnx"].tobytes(), config.encoder["layers"],
                              source=str(path))
    elif config.encoder:
        from .backbones import create_backbone

        encoder = _with_state(create_backbone(config.encoder["arch"]),
                              _split(arrays, "encoder"), strict=False)
    return ImageClassifier(config, boosted, net, encoder)


def _with_state(module, arrays: dict, strict: bool = True):
    import torch

    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()},
                           strict=strict)
    return module.eval()
