"""Training checkpoints: save a run mid-way, resume it where it stopped.

A checkpoint is a zip of ``checkpoint.json`` (the recipe, counters, random-number
generator states, optimizer settings, a fingerprint of the training data) and
``state.safetensors`` (the stacked training weights, the members' best weights, the
optimizer moments, the torch RNG state). Loading parses JSON and safetensors only,
nothing is unpickled. Files are written to a temporary name in the destination
folder and renamed into place, so a crash never leaves a half-written checkpoint.

Resuming rebuilds the run from the same recipe and data (the set-up is seeded) and
then loads the state, so the remaining steps are those the uninterrupted run would
have taken: the same weights on the same device with the same number of CPU threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from .. import __version__
from ..io.outputs import atomic_path
from .recipe import TrainRecipe

__all__ = ["Checkpoint", "Checkpointer", "data_fingerprint", "load_checkpoint",
           "save_checkpoint", "restore_checkpoint", "CHECKPOINT_SUFFIX"]

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIX = ".ckpt"
_FORMAT = "napari-sciseg training checkpoint"
_FORMAT_VERSION = 1
_HEADER, _STATE = "checkpoint.json", "state.safetensors"


def data_fingerprint(image, labels, channel_axis: int | None = None) -> str:
    """A SHA-256 of the training image and labels (shape, dtype and values).

    >>> a = np.zeros((4, 4)); data_fingerprint(a, a) == data_fingerprint(a.copy(), a)
    True
    """
    digest = hashlib.sha256()
    for array in (np.asarray(image), np.asarray(labels)):
        digest.update(f"{array.shape}|{array.dtype.str}|{channel_axis};".encode())
        for part in (array[None] if array.ndim == 0 else array):  # slab by slab, no big copy
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: ``header`` (JSON) and ``tensors`` (name -> tensor)."""

    header: dict
    tensors: dict
    path: Path | None = None

    @property
    def recipe(self) -> TrainRecipe:
        """The recipe of the checkpointed run."""
        return TrainRecipe.from_dict(self.header["recipe"])

    @property
    def step(self) -> int:
        """Optimizer steps done when the checkpoint was written."""
        return int(self.header["step_done"])

    @property
    def stack_parts(self) -> int:
        """How many thread stacks the members were split into (resume uses the same)."""
        return int(self.header["stack_parts"])


# --- writing -------------------------------------------------------------------------------
def _optimizer_state(opt) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {f"opt.{i}.{name}": value for i, state in sd["state"].items()
               for name, value in state.items()}
    groups = [{**g, "betas": list(g["betas"])} if "betas" in g else g for g in sd["param_groups"]]
    return groups, tensors


def _trainer_state(trainer) -> tuple[dict, dict]:
    """``(header, tensors)`` describing everything a resume needs."""
    groups, tensors = _optimizer_state(trainer.opt)
    tensors.update({f"stack.{k}": v for k, v in trainer.stack.state_dict().items()})
    # the running statistics of the training batch norm are non-persistent buffers
    tensors.update({f"buffer.{k}": v for k, v in trainer.stack.named_buffers()})
    for i, net in enumerate(trainer.nets):
        tensors.update({f"member{i}.{k}": v for k, v in net.state_dict().items()})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and trainer.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(trainer.device)
    sched = {k: v for k, v in trainer.sched.state_dict().items() if k != "lr_lambdas"}
    header = {
        "format": _FORMAT, "format_version": _FORMAT_VERSION, "version": __version__,
        "torch": torch.__version__, "recipe": trainer.recipe.to_dict(),
        "data": trainer.fingerprint, "n_classes": trainer.config.n_classes,
        "in_channels": trainer.config.in_channels, "stack_parts": trainer.stack_parts,
        "step_done": trainer.step_done, "elapsed_s": trainer.elapsed(),
        "best": [None if not np.isfinite(b) else float(b) for b in trainer.best],
        "validated": [bool(v) for v in trainer.validated], "stale": trainer.stale,
        "metrics": trainer.metrics, "sampler_rng": trainer.sampler.rng.bit_generator.state,
        "optimizer": groups, "scheduler": sched, "scaler": trainer.scaler.state_dict(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return header, tensors


def save_checkpoint(trainer, path) -> Path:
    """Write the state of a :class:`~.trainer.SegmentationTrainer` to ``path`` atomically.

    Parameters
    ----------
    trainer : SegmentationTrainer
        Between two steps (or after it finished).
    path : str or Path
        The checkpoint file (a zip; ``.ckpt`` by convention).

    Returns
    -------
    Path
    """
    path = Path(path)
    header, tensors = _trainer_state(trainer)
    blob = save_tensors({k: v.detach().to("cpu").contiguous().clone()
                         for k, v in tensors.items()}, metadata={"format": _FORMAT})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_HEADER, json.dumps(header, indent=1))
            zf.writestr(_STATE, blob)
    logger.info("checkpoint at step %d -> %s", trainer.step_done, path)
    return path


# --- reading -------------------------------------------------------------------------------
def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickles anything).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a checkpoint of this package, corrupt, or written by a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if {"config.json", "weights.safetensors"} <= names:
                raise ValueError(f"{path}: a .sciseg model file, not a training checkpoint; "
                                 "resume from the checkpoint an interrupted run wrote beside "
                                 f"its model (MODEL.sciseg{CHECKPOINT_SUFFIX}).")
            if not {_HEADER, _STATE} <= names:
                raise ValueError(f"{path}: not a napari-sciseg training checkpoint (expected "
                                 f"{_HEADER} and {_STATE}; found {sorted(names)[:5]}).")
            raw_header, raw_state = zf.read(_HEADER), zf.read(_STATE)
        header = json.loads(raw_header.decode("utf-8"))
        tensors = load_tensors(raw_state)
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError,
            SafetensorError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a readable training checkpoint (corrupt or truncated: "
                         f"{exc}).") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a napari-sciseg training checkpoint ({_HEADER} does "
                         f"not declare format {_FORMAT!r}); a .sciseg model file cannot be "
                         "resumed, only a checkpoint written during training.")
    version = header.get("format_version")
    if not isinstance(version, int) or version > _FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {version} is newer than this napari-sciseg "
                         f"reads ({_FORMAT_VERSION}); resume with the version that wrote it "
                         f"({header.get('version')}).")
    return Checkpoint(header=header, tensors=tensors, path=path)


def _check_compatible(trainer, ckpt: Checkpoint) -> None:
    """Raise a ValueError naming the first difference between the run and the checkpoint."""
    h, where = ckpt.header, ckpt.path or "checkpoint"
    if h.get("version") != __version__:
        raise ValueError(f"{where}: written by napari-sciseg {h.get('version')}, this is "
                         f"{__version__}; resume with that version or start a new training.")
    saved, now = TrainRecipe.from_dict(h["recipe"]).to_dict(), trainer.recipe.to_dict()
    diffs = [f"{k}: checkpoint {saved[k]!r}, now {now[k]!r}" for k in saved if saved[k] != now[k]]
    if diffs:
        raise ValueError(f"{where}: the training settings differ from the checkpoint's ("
                         + "; ".join(diffs) + "). Resume with the checkpoint's settings.")
    if h.get("data") != trainer.fingerprint:
        raise ValueError(f"{where}: the image or labels differ from those the checkpoint was "
                         "trained on (data fingerprint mismatch); resume with the same files.")
    if h.get("stack_parts") != trainer.stack_parts:
        raise ValueError(f"{where}: written with the members in {h.get('stack_parts')} "
                         f"thread stack(s), this run has {trainer.stack_parts}.")


def _load_into(module, tensors: dict, prefix: str, where) -> None:
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{where}: the checkpoint's weights do not fit this model "
                         f"({str(exc).splitlines()[0]}).") from None


def _load_buffers(stack, tensors: dict, where) -> None:
    """All buffers of the stack, the non-persistent batch-norm statistics included."""
    buffers = dict(stack.named_buffers())
    saved = {k[len("buffer."):]: v for k, v in tensors.items() if k.startswith("buffer.")}
    if set(saved) != set(buffers):
        raise ValueError(f"{where}: the checkpoint's buffers do not fit this model "
                         f"({len(saved)} saved, {len(buffers)} expected).")
    with torch.no_grad():
        for k, v in saved.items():
            buffers[k].copy_(v)


def _restore_optimizer(opt, groups: list, tensors: dict, device) -> None:
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value.to(device)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in groups]
    opt.load_state_dict({"state": state, "param_groups": groups})


def restore_checkpoint(trainer, ckpt: Checkpoint) -> None:
    """Load a checkpoint into a freshly set-up trainer of the same recipe and data.

    Raises
    ------
    ValueError
        Another recipe, other data, another napari-sciseg version or another
        architecture; the message names the difference.
    """
    _check_compatible(trainer, ckpt)
    h, t, where = ckpt.header, ckpt.tensors, ckpt.path or "checkpoint"
    dev = trainer.device
    _load_into(trainer.stack, t, "stack.", where)
    _load_buffers(trainer.stack, t, where)
    for i, net in enumerate(trainer.nets):
        _load_into(net, t, f"member{i}.", where)
    _restore_optimizer(trainer.opt, h["optimizer"], t, dev)
    trainer.sched.load_state_dict({**h["scheduler"], "lr_lambdas": [None]})
    if h["scaler"]:
        trainer.scaler.load_state_dict(h["scaler"])
    torch.set_rng_state(t["rng.torch"])
    if "rng.cuda" in t and dev.type == "cuda":
        torch.cuda.set_rng_state(t["rng.cuda"], dev)
    trainer.sampler.rng.bit_generator.state = h["sampler_rng"]
    trainer.best = np.array([np.inf if b is None else b for b in h["best"]], dtype=float)
    trainer.validated = np.array(h["validated"], dtype=bool)
    trainer.stale = int(h["stale"])
    trainer.metrics = dict(h["metrics"])
    trainer.step_done = int(h["step_done"])
    trainer.elapsed_before = float(h["elapsed_s"])
    trainer.t0 = time.perf_counter()
    logger.info("resumed from %s at step %d", where, trainer.step_done)


class Checkpointer:
    """Saves a checkpoint every ``every_steps`` steps and/or ``every_s`` seconds.

    Pass it as ``on_step`` to :func:`~.training.iter_train_recipe` (it is called
    after every step); :meth:`save` writes one now.

    Parameters
    ----------
    path : str or Path
        The checkpoint file, overwritten (atomically) each time.
    every_steps : int, optional
    every_s : float, optional
        Seconds of training between checkpoints.
    """

    def __init__(self, path, *, every_steps: int | None = None, every_s: float | None = None):
        self.path = Path(path)
        self.every_steps, self.every_s = every_steps, every_s
        self.last_time = time.monotonic()
        self.last_step: int | None = None
        self.saved = 0

    def __call__(self, trainer) -> None:
        due_steps = self.every_steps and trainer.step_done % self.every_steps == 0
        due_time = self.every_s is not None and time.monotonic() - self.last_time >= self.every_s
        if (due_steps or due_time) and trainer.step_done < trainer.recipe.steps:
            self.save(trainer)

    def save(self, trainer) -> Path:
        """Write the checkpoint now."""
        save_checkpoint(trainer, self.path)
        self.last_time = time.monotonic()
        self.last_step = trainer.step_done
        self.saved += 1
        return self.path
