"""``.sciseg`` model files: a zip (or folder) of ``config.json`` + safetensors weights.

Loading parses JSON and safetensors only; nothing is unpickled or executed.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ..io.outputs import write_model_container
from .config import FORMAT_VERSION, ModelConfig, TrainedModel
from .models import Ensemble, RegressionEnsemble, model_from_config

__all__ = ["save_model", "load_model", "MODEL_SUFFIX"]

MODEL_SUFFIX = ".sciseg"
_FORMAT = "napari-sciseg segmentation model"
_CONFIG, _WEIGHTS = "config.json", "weights.safetensors"
#: the fast pixel forest's files share the container (``classify/forest_io.py``)
_FOREST_FORMAT = "napari-sciseg pixel forest"


def save_model(trained: TrainedModel, path) -> Path:
    """Write a trained ensemble to ``path``.

    Parameters
    ----------
    trained : TrainedModel
    path : str or Path
        A ``.sciseg`` file (zip); an existing folder or a path ending in ``/``
        gets the two files inside.

    Returns
    -------
    Path
        Where the model was written.
    """
    if getattr(getattr(trained, "config", None), "arch", None) == "forest":
        from ..classify.forest_io import save_forest

        return save_forest(trained, path)
    path = Path(path)
    header = {"format": _FORMAT, "format_version": FORMAT_VERSION,
              "config": trained.config.to_dict()}
    header["config"]["member_configs"] = [m.config for m in trained.network.members]
    tensors = {f"member{i}.{k}": v.detach().to("cpu").contiguous().clone()
               for i, m in enumerate(trained.network.members)
               for k, v in m.state_dict().items()}
    text = json.dumps(header, indent=1)
    blob = save_tensors(tensors, metadata={"format": _FORMAT})
    write_model_container(path, text, blob)  # atomic: never a half-written model file
    return path


def _pickle_refusal(path: Path) -> ValueError:
    return ValueError(
        f"{path}: holds pickled Python objects (a torch.save or pickle file). Pickled weights "
        "are refused because unpickling a file can run any code it contains; napari-sciseg "
        "models are config.json + safetensors. Re-save the model with save_model or "
        "'sciseg train' in a session you trust."
    )


def _looks_pickled(head: bytes) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) and a protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _read(path: Path) -> tuple[bytes, bytes]:
    if path.is_dir():
        missing = [n for n in (_CONFIG, _WEIGHTS) if not (path / n).is_file()]
        if missing:
            raise ValueError(f"{path}: not a napari-sciseg model folder (missing {missing}).")
        return (path / _CONFIG).read_bytes(), (path / _WEIGHTS).read_bytes()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if any(n.endswith("/data.pkl") for n in names):  # torch.save's zip format
                raise _pickle_refusal(path)
            if not {_CONFIG, _WEIGHTS} <= names:
                raise ValueError(
                    f"{path}: a zip file but not a napari-sciseg model (expected {_CONFIG} "
                    f"and {_WEIGHTS}; found {sorted(names)[:5]})."
                )
            return zf.read(_CONFIG), zf.read(_WEIGHTS)
    except zipfile.BadZipFile:
        with open(path, "rb") as fh:
            if _looks_pickled(fh.read(2)):
                raise _pickle_refusal(path) from None
        raise ValueError(
            f"{path}: not a napari-sciseg model file, or a corrupt/truncated one (not a "
            f"readable zip archive). Re-save the model with save_model or 'sciseg train'."
        ) from None
    except (zipfile.LargeZipFile, OSError, EOFError, RuntimeError) as exc:
        raise ValueError(f"{path}: corrupt or truncated model file ({exc}).") from None


def _parse_json(path: Path, raw_config: bytes):
    try:
        return json.loads(raw_config.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: corrupt model file ({_CONFIG} is not valid JSON: {exc})."
        ) from None


def _parse_config(path: Path, header) -> ModelConfig:
    """The checked header of a model file as a :class:`ModelConfig`."""
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a napari-sciseg segmentation model ({_CONFIG} does not "
                         f"declare format {_FORMAT!r}).")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: written by a newer napari-sciseg (model format {version}; this version "
            f"reads up to {FORMAT_VERSION}). Upgrade napari-sciseg to load it."
        )
    try:
        return ModelConfig.from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid model configuration ({exc}).") from None


def _read_tensors(path: Path, raw_weights: bytes) -> dict:
    """Parse the safetensors blob; a pickle gets the pickle refusal, anything else "corrupt".

    The pickle check runs only when parsing fails: a safetensors file starts with its
    header length (8 bytes, little endian), which can begin with the bytes of a pickle's
    PROTO opcode (e.g. a 896-byte header is ``80 03 00 ...``).
    """
    try:
        return load_tensors(raw_weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        if _looks_pickled(raw_weights[:2]):
            raise _pickle_refusal(path) from None
        raise ValueError(f"{path}: corrupt or truncated weights ({exc}).") from None


def _load_weights(path: Path, members, raw_weights: bytes) -> None:
    """Load the safetensors blob into the members (strict; pickles refused)."""
    tensors = _read_tensors(path, raw_weights)
    for i, member in enumerate(members):
        prefix = f"member{i}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            member.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not match the saved architecture "
                             f"(member {i}: {str(exc).splitlines()[0]}).") from None
        member.eval()
    expected = sum(len(m.state_dict()) for m in members)
    if expected != len(tensors):
        raise ValueError(f"{path}: {len(tensors) - expected} unexpected tensors in the weights.")


def load_model(path) -> TrainedModel:
    """Read a model written by :func:`save_model` (never unpickles anything).

    Parameters
    ----------
    path : str or Path
        A ``.sciseg`` file or folder written by :func:`save_model`.

    Returns
    -------
    TrainedModel
        The ensemble (in eval mode, on the CPU) and its :class:`ModelConfig`.

    Raises
    ------
    ValueError
        For a file that is not ours, corrupt or truncated, or written by a newer
        format version; the message names the file and the problem.

    Examples
    --------
    >>> import tempfile
    >>> from napari_sciseg.data.scribbles import scribbles_2d
    >>> from napari_sciseg.dl import train
    >>> image, scribbles = scribbles_2d(shape=(48, 48))
    >>> model = train(image, scribbles, members=1, steps=1, crop=32, device="cpu",
    ...               model_kwargs={"depth": 2})
    >>> path = save_model(model, tempfile.mkdtemp() + "/m.sciseg")
    >>> load_model(path).config.n_classes
    2
    """
    path = Path(path)
    raw_config, raw_weights = _read(path)
    header = _parse_json(path, raw_config)
    if isinstance(header, dict) and header.get("format") == _FOREST_FORMAT:
        from ..classify.forest_io import load_forest  # the instant pixel forest (no torch)

        return load_forest(path)
    config = _parse_config(path, header)
    try:
        members = [model_from_config(c) for c in config.member_configs]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid model configuration ({exc}).") from None
    _load_weights(path, members, raw_weights)
    kind = Ensemble if config.task == "segment" else RegressionEnsemble
    with torch.no_grad():
        network = kind(members).eval()
    return TrainedModel(network=network, config=config)
