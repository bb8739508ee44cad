"""Which engine predicts with a saved model: torch, or ONNX Runtime from a cached export.

On the CPU, ONNX Runtime runs our ensembles about 2.5x faster than torch
(``benchmarks/results/export.md``), but exporting a model costs seconds to tens
of seconds. :func:`load_for_prediction` therefore exports a ``.sciseg`` model once
and keeps the ``.onnx`` in a user cache folder, under a key made of the hash of
the model file and the versions that shape the export (onnx, opset, torch,
napari-sciseg); a later load with the same key opens the cached file directly.

``engine="auto"`` (the default of ``sciseg predict``) takes ONNX Runtime on the
CPU when ``onnx`` and ``onnxruntime`` are installed and the export works, and
torch otherwise (a GPU, a missing package, a model ONNX cannot express), saying
once in the log why. ``engine="onnx"`` insists (and raises instead), ``"torch"``
never exports.

The cache folder is ``$NAPARI_SCISEG_CACHE/onnx`` if that variable is set, else
``$XDG_CACHE_HOME/napari-sciseg/onnx`` (``~/.cache/napari-sciseg/onnx``). Files
are written under a temporary name and renamed when complete, so concurrent
runs never read a half-written export.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ..._validation import check_choice

__all__ = ["ENGINES", "load_for_prediction", "onnx_cache_dir", "onnx_cache_key"]

logger = logging.getLogger(__name__)

#: the engines ``sciseg predict --engine`` offers
ENGINES = ("auto", "torch", "onnx")
_said: set[str] = set()


def _say_once(message: str) -> None:
    """Log ``message`` as a warning the first time only (one per process)."""
    if message not in _said:
        _said.add(message)
        logger.warning(message)


def onnx_cache_dir() -> Path:
    """The folder of cached ONNX exports (see the module notes)."""
    env = os.environ.get("NAPARI_SCISEG_CACHE")
    if env:
        return Path(env) / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "napari-sciseg" / "onnx"


def onnx_cache_key(model_path) -> str:
    """Hash of the model file(s) and of the onnx / opset / torch / napari-sciseg versions.

    Parameters
    ----------
    model_path : str or Path
        A ``.sciseg`` file or folder.

    Returns
    -------
    str
        32 hex digits.
    """
    import torch

    from ... import __version__
    from ...io.outputs import file_digest
    from .onnx import OPSET

    h = hashlib.sha256(file_digest(model_path).encode())
    h.update(f"onnx {_package_version('onnx')} opset {OPSET} torch {torch.__version__} "
             f"napari-sciseg {__version__}".encode())
    return h.hexdigest()[:32]


def _package_version(name: str) -> str:
    """The installed version of ``name``, read without importing it (onnx takes seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def _onnx_missing() -> str | None:
    """Why ONNX Runtime cannot run here (None when it can); imports nothing."""
    from importlib.util import find_spec

    for name in ("onnx", "onnxruntime"):
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules
            found = False
        if not found:
            return f"{name} is not installed (pip install 'napari-sciseg[export]')"
    return None


def _on_cpu(device: str) -> bool:
    from ..device import resolve_device

    return resolve_device(device)[0].type == "cpu"


def _cached_onnx(path: Path, cache: Path):
    """The ONNX model of ``path`` from the cache, exporting it on a miss.

    Returns ``(model, hit)``; ``model`` is the torch model when it is not a segmentation
    ensemble (the instant forest, a regression or restoration model: their ONNX graph would
    not say what they predict).
    """
    from ..serialization import load_model
    from .onnx import export_onnx, load_onnx

    target = cache / f"{onnx_cache_key(path)}.onnx"
    if target.is_file():
        try:
            return load_onnx(target), True
        except ValueError as exc:  # damaged by hand: export again
            logger.warning("cached ONNX export %s unreadable (%s); exporting again", target, exc)
            target.unlink(missing_ok=True)
    trained = load_model(path)
    cfg = trained.config
    if getattr(cfg, "arch", None) == "forest" or getattr(cfg, "task", "segment") != "segment":
        return trained, False  # the instant forest, regression/restoration models: torch
    logger.info("exporting %s to ONNX once (cached as %s)", path.name, target)
    export_onnx(trained, target, overwrite=True, check=True)
    return load_onnx(target), False


def load_for_prediction(path, *, engine: str = "auto", device: str = "auto",
                        cache_dir=None):
    """Load a model for prediction with the engine asked for.

    Parameters
    ----------
    path : str or Path
        A ``.sciseg`` model, an ``.onnx`` export or a bioimage.io package
        (the last two run as they are; ``engine`` applies to ``.sciseg`` models).
    engine : {"auto", "torch", "onnx"}
        ``auto``: ONNX Runtime from a cached export on the CPU when it can, else
        torch; ``onnx``: ONNX Runtime or an error; ``torch``: torch.
    device : str
        The prediction device (``auto``, ``cpu``, ``cuda``...); ONNX runs on the CPU.
    cache_dir : str or Path, optional
        Folder of the cached exports (default :func:`onnx_cache_dir`).

    Returns
    -------
    TrainedModel
        Its ``network`` is an :class:`~napari_sciseg.dl.export.onnx.OnnxEnsemble`
        when ONNX Runtime runs it.

    Raises
    ------
    ValueError, ImportError
        ``engine="onnx"`` where ONNX cannot run (a GPU device, a missing package,
        a model ONNX cannot export); the message says which.
    """
    from . import is_bioimageio_package, load_any_model

    check_choice("engine", engine, ENGINES)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model {path} does not exist.")
    if path.suffix.lower() == ".onnx" or is_bioimageio_package(path) or engine == "torch":
        return load_any_model(path)
    if not _on_cpu(device):
        if engine == "onnx":
            raise ValueError(f"engine 'onnx' runs on the CPU; device {device!r} is a GPU. Use "
                             "device 'cpu' or engine 'torch'.")
        return load_any_model(path)
    missing = _onnx_missing()
    if missing:
        if engine == "onnx":
            raise ImportError(f"engine 'onnx' needs ONNX Runtime: {missing}.")
        _say_once(f"predicting with torch: {missing}.")
        return load_any_model(path)
    cache = Path(cache_dir) if cache_dir is not None else onnx_cache_dir()
    try:
        model, hit = _cached_onnx(path, cache)
    except Exception as exc:  # noqa: BLE001 - any failure falls back to torch (auto)
        if engine == "onnx":
            raise
        _say_once(f"predicting {path.name} with torch: its ONNX export failed "
                  f"({type(exc).__name__}: {str(exc)[:200]}).")
        return load_any_model(path)
    if getattr(getattr(model, "network", None), "runs_numpy", False):
        logger.info("%s: ONNX Runtime (%s)", path.name,
                    "cached export" if hit else "exported now, cached")
    return model
