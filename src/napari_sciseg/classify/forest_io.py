"""``.sciseg`` files for the pixel forest: ``config.json`` + ``weights.safetensors`` (numpy).

The same container as the deep ensembles (a zip, or a folder with the two files),
with its own ``format`` name, so one loader can tell them apart. The trees are
plain arrays; reading a file parses JSON and safetensors only: nothing is
unpickled or executed, and scikit-learn is not needed to load or run it.

Examples
--------
>>> import tempfile
>>> from napari_sciseg.data.scribbles import scribbles_2d
>>> from napari_sciseg.classify.forest_engine import train_forest
>>> image, scribbles = scribbles_2d(shape=(64, 64))
>>> forest = train_forest(image, scribbles, trees=2, sigmas=(1.0,))
>>> path = save_forest(forest, tempfile.mkdtemp() + "/f.sciseg")
>>> load_forest(path).config.n_classes
2
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io.outputs import read_model_container, write_model_container
from .forest import ARRAY_NAMES, ForestConfig, PixelForest

__all__ = ["save_forest", "load_forest", "read_header", "FOREST_FORMAT", "FOREST_VERSION"]

FOREST_FORMAT = "napari-sciseg pixel forest"
#: version of the forest file layout; loading a newer one is refused.
FOREST_VERSION = 1
_CONFIG = "config.json"


def save_forest(forest: PixelForest, path) -> Path:
    """Write ``forest`` to ``path`` (a ``.sciseg`` zip, or a folder for a path ending in /)."""
    from safetensors.numpy import save

    path = Path(path)
    header = {"format": FOREST_FORMAT, "format_version": FOREST_VERSION,
              "config": forest.config.to_dict()}
    text = json.dumps(header, indent=1)
    blob = save({k: np.ascontiguousarray(v) for k, v in forest.arrays.items()},
                metadata={"format": FOREST_FORMAT})
    write_model_container(path, text, blob)  # atomic: never a half-written model file
    return path




def read_header(raw: bytes, path) -> dict:
    """The parsed ``config.json`` of a forest file, checked for format and version."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt model file ({_CONFIG} is not valid JSON: {exc}).") \
            from None
    if not isinstance(header, dict) or header.get("format") != FOREST_FORMAT:
        raise ValueError(f"{path}: not a napari-sciseg pixel forest.")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FOREST_VERSION:
        raise ValueError(
            f"{path}: a pixel forest written by a newer napari-sciseg (forest format {version}; "
            f"this version reads up to {FOREST_VERSION}). Upgrade napari-sciseg to load it, or "
            "retrain the forest with this version."
        )
    return header


def load_forest(path) -> PixelForest:
    """Read a forest written by :func:`save_forest` (never unpickles anything)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    raw_config, raw_weights = read_model_container(path)
    header = read_header(raw_config, path)
    try:
        config = ForestConfig.from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid forest configuration ({exc}).") from None
    try:
        arrays = load(raw_weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: corrupt or truncated forest arrays ({exc}).") from None
    missing = [k for k in ARRAY_NAMES if k not in arrays]
    if missing:
        raise ValueError(f"{path}: forest arrays {missing} are missing.")
    return PixelForest(config, arrays)
