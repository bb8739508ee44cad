"""Models that travel: ONNX files and bioimage.io model packages.

- :func:`export_onnx` / :func:`load_onnx` (:mod:`.onnx`): the whole ensemble
  as one ONNX graph, predicted through our tiling by ONNX Runtime;
- :func:`export_bioimageio` / :func:`load_bioimageio` (:mod:`.bioimageio`): a
  BioImage Model Zoo package (spec 0.5) that ilastik, deepImageJ, QuPath,
  Fiji and bioimage.io's own tools run, and packages of other tools' 2D/3D
  segmentation models imported for our tiling;
- :func:`load_any_model`: the loader ``sciseg predict`` and the Train &
  predict widget use for ``.sciseg``, ``.onnx`` and bioimage.io packages;
- :func:`load_for_prediction` (:mod:`.engine`): ``sciseg predict --engine``:
  on the CPU a ``.sciseg`` model runs in ONNX Runtime from an export cached
  by the model's hash, falling back to torch.

These need the ``export`` extra (``pip install napari-sciseg[export]``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["export_onnx", "load_onnx", "export_bioimageio", "load_bioimageio",
           "load_any_model", "is_bioimageio_package", "OnnxExportError",
           "load_for_prediction", "ENGINES"]

_WHERE = {
    "export_onnx": "onnx",
    "load_onnx": "onnx",
    "OnnxExportError": "onnx",
    "export_bioimageio": "bioimageio",
    "load_bioimageio": "bioimageio",
    "load_for_prediction": "engine",
    "ENGINES": "engine",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_bioimageio_package(path) -> bool:
    """True for a bioimage.io package: a folder with an ``rdf.yaml``, that file, or a zip.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    import zipfile

    path = Path(path)
    names = ("rdf.yaml", "bioimageio.yaml")
    if path.is_dir():
        return any((path / n).is_file() for n in names)
    if path.name in names or path.name.endswith((".bioimageio.yaml", ".rdf.yaml")):
        return path.is_file()
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return any(n.split("/")[-1] in names or n.endswith(".bioimageio.yaml")
                       for n in zf.namelist())
    return False


def load_any_model(path):
    """A model :func:`~napari_sciseg.dl.prediction.predict` runs, from any of our formats.

    Parameters
    ----------
    path : str or Path
        A ``.sciseg`` model (file or folder), an ``.onnx`` file from
        ``sciseg export --format onnx``, or a bioimage.io package (folder, its
        ``rdf.yaml``, or a ``.zip``) of a 2D/3D segmentation model.

    Returns
    -------
    TrainedModel
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model {path} does not exist.")
    if path.suffix.lower() == ".onnx":
        from .onnx import load_onnx

        return load_onnx(path)
    if is_bioimageio_package(path):
        from .bioimageio import load_bioimageio

        return load_bioimageio(path)
    from ..serialization import load_model

    return load_model(path)
