"""The training recipe: every setting of a training run, frozen and serialisable.

A :class:`TrainRecipe` says *how* to train (architecture, steps, loss, seed, ...),
independent of the data it is applied to and of the machine (device, threads).
:func:`~napari_sciseg.dl.training.iter_train` builds one from its keyword
arguments; the ``.sciseg`` file stores it (with the values resolved at run time:
learning rate, class weights) in ``config.recipe``, and training checkpoints store
it to refuse a resume with other settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .._validation import check_choice
from .losses import parse_loss, parse_regression_loss

__all__ = ["Task", "Dim", "Transform", "TrainRecipe", "RUN_FACTS", "DEFAULTS_3D",
           "defaults_for"]


class Task(StrEnum):
    """What the network learns.

    ``segment``: per-pixel classes from sparse labels. The others are regression
    (per-pixel values, L1/L2/Huber losses): ``regression`` from dense or masked
    targets, ``inpaint`` fills masked pixels (trained on copies of the mask moved
    onto known pixels), ``denoise`` from paired clean targets or self-supervised
    (blind-spot masking, Noise2Self).
    """

    SEGMENT = "segment"
    REGRESSION = "regression"
    INPAINT = "inpaint"
    DENOISE = "denoise"

    @property
    def is_regression(self) -> bool:
        """True for the tasks that predict values rather than classes."""
        return self is not Task.SEGMENT


class Transform(StrEnum):
    """Intensity transform applied before normalisation (regression tasks)."""

    NONE = "none"
    LOG1P = "log1p"  # counts spanning decades (scattering patterns); inverted on output


class Dim(StrEnum):
    """How the data is seen: 2D images, a 2D model on slices of a volume, or a 3D model."""

    D2 = "2"
    D2_5 = "2.5"
    D3 = "3"

    @property
    def model_ndim(self) -> int:
        """Spatial dimensions of the network (2 or 3)."""
        return 3 if self is Dim.D3 else 2


#: keys a saved recipe carries that are facts of the run, not settings (ignored on read).
RUN_FACTS = ("split_seed", "device", "self_supervised")

#: defaults of a 3D model (``dim="3"``) where the user leaves them open (``sciseg train
#: --dim 3``): 3 SMSNet members of depth 10 on 32^3 crops. The 2D defaults (5 members,
#: depth 20, crop 64) in 3D cost ~35 CPU s per member and step and ~12 GB on 2 cores
#: (measured on a 96^3 fibre volume, 1 thread: 1 member of depth 20 on 64^3 crops 34.6 CPU
#: s; 5 members on 32^3 crops 14.6 s; these 1.4 s and 0.9 GB peak). Work per voxel grows
#: with the node count, and a crop of 32^3 keeps a member's state (its 42 channels) in
#: cache. The receptive field (48 voxels) is larger than the crop: crops are padded like
#: any patch, and prediction uses the full halo.
DEFAULTS_3D = {"members": 3, "crop": 32, "depth": 10}


def defaults_for(dim: str, arch: str = "smsnet") -> dict:
    """``{"members", "crop", "model_kwargs"}`` defaults for ``dim`` (see :data:`DEFAULTS_3D`).

    Examples
    --------
    >>> defaults_for("3")
    {'members': 3, 'crop': 32, 'model_kwargs': {'depth': 10}}
    >>> defaults_for("2")
    {'members': 5, 'crop': 64, 'model_kwargs': {}}
    """
    if str(dim) != Dim.D3.value:
        return {"members": 5, "crop": 64, "model_kwargs": {}}
    kwargs = {"depth": DEFAULTS_3D["depth"]} if str(arch).lower() == "smsnet" else {}
    return {"members": DEFAULTS_3D["members"], "crop": DEFAULTS_3D["crop"],
            "model_kwargs": kwargs}


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _enum(cls, name: str, value):
    check_choice(name, str(value), [m.value for m in cls])
    return cls(str(value))


@dataclass(frozen=True)
class TrainRecipe:
    """Settings of one training run (see :func:`~napari_sciseg.dl.iter_train`).

    Parameters
    ----------
    task : {"segment", "regression", "inpaint", "denoise"}
        What the members learn (see :class:`Task`).
    arch : Arch or str
        Member architecture, a name of :func:`~napari_sciseg.dl.list_models`.
    members, steps, crop, batch : int
        Ensemble size, optimizer steps, patch size, patches per member and step.
    dim : {"2", "2.5", "3"}
    slice_axis : int
        Slice axis of a volume for ``dim="2.5"``.
    loss : str, optional
        Segmentation: a :class:`~.losses.LossTerm` ("ce", "dice", "focal", "tversky")
        or a sum of them like "ce+dice" (default "ce"). Regression tasks: "l1", "l2"
        or "huber" (default "l1"; L2 blurs more).
    seed : int
        Seeds graphs, weights, the validation split and the patches.
    model_kwargs : dict
        Architecture hyperparameters (:func:`~napari_sciseg.dl.create_model`).
    lr : float, optional
        Peak learning rate; None = the architecture's default.
    weight_decay, grad_clip, val_fraction : float
    val_split : {"pixels", "strokes"}
        How ``val_fraction`` of the labels is held out: scattered pixels, or whole
        strokes apart from the training ones (:func:`~napari_sciseg.annotation.split_by`).
    class_weights : "balanced", None or tuple of float
    val_every, early_stopping : int, optional
    shared_dilations, batch_norm : bool
    transform : {"none", "log1p"}
        Regression tasks: intensity transform before normalisation, inverted on the
        output ("log1p" for counts that span decades).
    blind_spot : float
        ``task="denoise"`` without clean targets: share of each patch's pixels hidden
        from the input and scored (Noise2Self).

    Examples
    --------
    >>> r = TrainRecipe(arch="TUNet", steps=10, loss="CE+Dice")
    >>> str(r.arch), r.loss, r.dim.model_ndim
    ('tunet', 'ce+dice', 2)
    >>> TrainRecipe.from_dict(r.to_dict()) == r
    True
    """

    task: Task = Task.SEGMENT
    arch: str = "smsnet"  # an Arch after validation
    members: int = 5
    steps: int = 200
    dim: Dim = Dim.D2
    slice_axis: int = 0
    loss: str | None = None
    seed: int = 0
    model_kwargs: dict = field(default_factory=dict)
    crop: int = 64
    batch: int = 2
    lr: float | None = None
    weight_decay: float = 1e-4
    class_weights: str | tuple | None = "balanced"
    val_fraction: float = 0.2
    val_split: str = "pixels"
    val_every: int | None = None
    early_stopping: int | None = 5
    grad_clip: float = 1.0
    shared_dilations: bool = True
    batch_norm: bool = True
    transform: str = "none"
    blind_spot: float = 0.03

    def __post_init__(self):
        from .models import Arch, list_models

        put = object.__setattr__
        put(self, "task", _enum(Task, "task", self.task))
        put(self, "dim", _enum(Dim, "dim", self.dim))
        arch = str(self.arch).lower()  # an Arch is a str too
        if arch not in list_models():
            valid = ", ".join(repr(n) for n in list_models())
            raise ValueError(f"Unknown architecture {self.arch!r}; expected one of {valid}.")
        put(self, "arch", Arch(arch))
        put(self, "transform", str(_enum(Transform, "transform", self.transform)))
        if self.task.is_regression:
            put(self, "loss", "+".join(parse_regression_loss(self.loss or "l1")))
        else:
            put(self, "loss", "+".join(parse_loss(self.loss or "ce")))
            if self.transform != "none":
                raise ValueError(f"transform={self.transform!r} is for the regression tasks "
                                 "(regression, inpaint, denoise); segmentation takes "
                                 "transform='none'.")
        if not 0.0 < float(self.blind_spot) <= 0.5:
            raise ValueError(f"blind_spot must be in (0, 0.5] (share of pixels hidden); got "
                             f"{self.blind_spot!r}.")
        from ..annotation import SPLITS

        check_choice("val_split", str(self.val_split), SPLITS)
        put(self, "val_split", str(self.val_split))
        for name in ("members", "steps", "crop", "batch"):
            put(self, name, _positive_int(name, getattr(self, name)))
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}.")
        put(self, "model_kwargs", dict(self.model_kwargs or {}))
        if self.class_weights not in ("balanced", None):
            put(self, "class_weights", tuple(float(w) for w in self.class_weights))

    @property
    def model_ndim(self) -> int:
        """2 or 3: the members' spatial dimensions."""
        return self.dim.model_ndim

    def default_lr(self, *, fine_tune: bool = False) -> float:
        """``lr``, or the architecture's default (a fifth of it when fine-tuning)."""
        if self.lr is not None:
            return float(self.lr)
        lr = 1e-3 if self.arch in ("tunet", "tunet3plus") else 5e-2
        return lr * _FINE_TUNE_LR if fine_tune else lr

    def to_dict(self) -> dict:
        """A JSON-able dict (enums as their strings, tuples as lists)."""
        d = dataclasses.asdict(self)
        d["task"], d["dim"], d["arch"] = str(self.task), str(self.dim), str(self.arch)
        if isinstance(self.class_weights, tuple):
            d["class_weights"] = list(self.class_weights)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainRecipe:
        """Inverse of :meth:`to_dict`; also reads the ``recipe`` of a saved model.

        Keys missing from older files take their defaults; run facts
        (``split_seed``, ``device``) are skipped; any other unknown key is an error.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names - set(RUN_FACTS)
        if unknown:
            raise ValueError(f"unknown training recipe fields {sorted(unknown)}; expected "
                             f"some of {sorted(names)}.")
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_model_config(cls, config) -> TrainRecipe:
        """The recipe a :class:`~napari_sciseg.dl.ModelConfig` was trained with.

        Files written before the recipe carried ``arch``, ``dim`` and ``slice_axis``
        get them from the model configuration.
        """
        base = {"arch": config.arch, "dim": config.dim, "slice_axis": config.slice_axis}
        return cls.from_dict({**base, **dict(config.recipe)})

    def replace(self, **changes) -> TrainRecipe:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)


#: default learning rate when continuing from a trained model, relative to from scratch
_FINE_TUNE_LR = 0.2
