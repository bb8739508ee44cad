"""Regression training: inpainting, denoising and dense or masked targets.

:class:`RegressionTrainer` is the sibling of :class:`~.trainer.SegmentationTrainer`
for the regression tasks of :class:`~.recipe.Task`: the same members, stacks,
optimizer, schedule, validation and best-weights bookkeeping (it inherits
:meth:`step`, :meth:`finish` and friends and is driven by the same
:func:`~.training.run_steps`), with a regression loss on the known pixels
(:func:`~.losses.member_regression_losses`) and training pairs from
:mod:`.restore_patches`. Its ensemble returns the mean value and the member
standard deviation (:class:`~.models.RegressionEnsemble`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from .. import __version__
from .._generators import drain
from .._validation import check_finite
from .config import ModelConfig, TrainedModel, TrainProgress
from .device import resolve_device
from .losses import member_regression_losses
from .models import RegressionEnsemble
from .recipe import Dim, Task, TrainRecipe
from .restore_patches import BlindSpotPairs, DensePairs, GapPairs
from .trainer import (
    SegmentationTrainer,
    _check_receptive_field,
    _init_members,
    _new_members,
    robust_range,
)

__all__ = ["RegressionTrainer", "RegressionData", "prepare_regression", "zero_output_layer",
           "iter_train_regression", "train_regression", "forward_transform",
           "inverse_transform"]

logger = logging.getLogger(__name__)

_N_VAL_CROPS = 8


def forward_transform(values: np.ndarray, transform: str) -> np.ndarray:
    """The recipe's intensity transform ("none" or "log1p"), as float32."""
    values = np.asarray(values, np.float32)
    return np.log1p(values) if transform == "log1p" else values


def inverse_transform(values: np.ndarray, transform: str) -> np.ndarray:
    """Undo :func:`forward_transform`."""
    return np.expm1(values) if transform == "log1p" else values


@dataclass(frozen=True)
class RegressionData:
    """Channels-first, transformed arrays of one regression run (before normalisation).

    ``targets`` is None when the image is its own target (inpainting,
    self-supervised denoising); ``known`` is True where the target is known.
    """

    image: np.ndarray
    targets: np.ndarray | None
    known: np.ndarray


def _channels_first(name: str, array, channel_axis, n_spatial: int) -> np.ndarray:
    array = np.asarray(array)
    array = array[None] if channel_axis is None else np.moveaxis(array, channel_axis, 0)
    if array.ndim - 1 != n_spatial:
        axes = "(Y, X)" if n_spatial == 2 else "(Z, Y, X)"
        raise ValueError(f"{name} must be {n_spatial}D {axes} (plus channel_axis if any) for "
                         f"this dim; got spatial shape {array.shape[1:]}.")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers; got dtype {array.dtype}.")
    return array.astype(np.float32, copy=False)


def _check_known(known, shape, task: Task) -> np.ndarray:
    if known is None:
        return np.ones(shape, bool)
    known = np.asarray(known)
    if known.shape != shape:
        what = "gap mask" if task == Task.INPAINT else "known mask"
        raise ValueError(f"the {what} has shape {known.shape}; expected the image's spatial "
                         f"shape {shape}. Draw the mask on the same image.")
    known = known.astype(bool)
    if not known.any():
        raise ValueError("the mask leaves no pixel with known values (a gap mask covering "
                         "everything): nothing to learn from. Mark only the missing pixels.")
    if task == Task.INPAINT and known.all():
        raise ValueError("the gap mask is empty: there is no gap to fill and no gap shape to "
                         "learn from. Paint the missing pixels (or load the detector's gap "
                         "mask).")
    return known


def prepare_regression(image, targets, known, recipe: TrainRecipe,
                       channel_axis: int | None = None) -> RegressionData:
    """Check and transform the arrays of a regression run (see :func:`iter_train_regression`).

    Raises
    ------
    ValueError
        Shapes that differ, a mask covering every pixel (or, for inpainting, none), NaN
        or infinite values where the truth is known, negative counts under "log1p".
    """
    if recipe.dim == Dim.D2_5:
        raise ValueError("dim='2.5' is not available for the regression tasks; use dim='2' "
                         "for images or dim='3' for volumes.")
    n_spatial = recipe.model_ndim
    img = _channels_first("image", image, channel_axis, n_spatial)
    known = _check_known(known, img.shape[1:], recipe.task)
    tgt = None
    if targets is not None:
        if recipe.task == Task.INPAINT:
            raise ValueError("inpainting learns from the image itself; pass no targets.")
        tgt = _channels_first("targets", targets, channel_axis, n_spatial)
        if tgt.shape[1:] != img.shape[1:]:
            raise ValueError(f"targets have spatial shape {tgt.shape[1:]}; expected the "
                             f"image's {img.shape[1:]} (one target value per pixel).")
        check_finite("targets (where known)", tgt[:, known])
    elif recipe.task == Task.REGRESSION:
        raise ValueError("task='regression' needs targets (one value per pixel); for "
                         "training without targets use task='denoise' or 'inpaint'.")
    check_finite("image (where known)", img[:, known])
    if recipe.transform == "log1p":
        for name, arr in (("image", img), ("targets", tgt)):
            if arr is not None and arr[:, known].min(initial=0.0) <= -1:
                raise ValueError(f"transform='log1p' needs {name} values above -1 (counts); "
                                 f"got a minimum of {arr[:, known].min()}. Use transform="
                                 "'none'.")
    img = np.where(known, forward_transform(img, recipe.transform), 0).astype(np.float32)
    if tgt is not None:
        tgt = np.where(known, forward_transform(tgt, recipe.transform), 0).astype(np.float32)
    return RegressionData(image=img, targets=tgt, known=known)


def zero_output_layer(net) -> bool:
    """Zero the weights of a member's output layer (returns False when none is known).

    Inpainting and denoising members predict a correction of their input; starting
    from "no correction" (a zero output layer, which still receives gradients) makes
    the untrained network as good as the biharmonic fill or the noisy input instead of
    adding random noise to it.
    """
    head = getattr(net, "head", None)  # the U-Nets' final 1x1 convolution
    params = []
    if isinstance(head, torch.nn.Module):
        params = list(head.parameters())
    else:
        inner = getattr(net, "net", None)  # graph networks: the edges into the output node
        store = getattr(inner, "params", None)
        if store is not None and hasattr(inner, "depth"):
            out = inner.depth + 1
            params = [p for k, p in store.items()
                      if k.startswith(f"n{out}_") or k == f"b{out}"]
    with torch.no_grad():
        for p in params:
            p.zero_()
    return bool(params)


def _normalise(arr: np.ndarray, norm) -> np.ndarray:
    shape = (-1,) + (1,) * (arr.ndim - 1)
    low = np.array([lh[0] for lh in norm], np.float32).reshape(shape)
    high = np.array([lh[1] for lh in norm], np.float32).reshape(shape)
    return ((arr - low) / (high - low)).astype(np.float32)


def known_range(arr: np.ndarray, known: np.ndarray) -> tuple:
    """Per-channel robust (1, 99 percentile) range over the known pixels."""
    return robust_range(np.stack([c[known] for c in arr]))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


class RegressionTrainer(SegmentationTrainer):
    """Set-up, steps and finish of one regression run (inpaint, denoise, regression).

    Parameters
    ----------
    image : ndarray
        As for :func:`iter_train_regression`.
    targets : ndarray or None
        Target values, the image's shape; None for inpainting and self-supervised
        denoising (the image is its own target).
    recipe : TrainRecipe
        A regression task.
    known : bool ndarray, optional
        True where the truth is known; for inpainting, the complement of the gaps.
    device, channel_axis, init, stack_parts
        As for :class:`~.trainer.SegmentationTrainer`.
    """

    score_name = "val_r"

    def __init__(self, image, targets, recipe: TrainRecipe, *, known=None,
                 device: str = "auto", channel_axis: int | None = None,
                 init: TrainedModel | None = None, stack_parts: int | None = None):
        if not recipe.task.is_regression:
            raise ValueError(f"RegressionTrainer runs regression tasks; got task="
                             f"{str(recipe.task)!r} (use SegmentationTrainer).")
        self.recipe = recipe
        self._raw = (image, targets, channel_axis)
        self._fingerprint = None
        data = prepare_regression(image, targets, known, recipe, channel_axis)
        self.self_supervised = recipe.task == Task.DENOISE and data.targets is None
        self.device, self.device_msg = resolve_device(device)
        logger.info("training %s x%d for %s (%s) %s", recipe.arch, recipe.members,
                    recipe.task, recipe.loss, self.device_msg)
        in_norm, out_norm, n_in, n_out = self._ranges(data, init)
        if init is not None:
            self.nets = _init_members(init, recipe, n_in)
        else:
            self.nets = _new_members(recipe, n_in, n_out)
            if recipe.task in (Task.INPAINT, Task.DENOISE):
                for net in self.nets:
                    if not zero_output_layer(net):
                        logger.warning("%s: no output layer to zero; training starts from "
                                       "a random correction", recipe.arch)
        _check_receptive_field(self.nets, data.known.shape, recipe.model_ndim)
        img = _normalise(data.image, in_norm[:data.image.shape[0]])
        tgt = img if data.targets is None else _normalise(data.targets, out_norm)
        self._regression_samplers(img, tgt, data.known)
        self.lr = recipe.default_lr(fine_tune=init is not None)
        torch.manual_seed(recipe.seed)
        self._optimiser(batch_norm=recipe.batch_norm and init is None, parts=stack_parts)
        self.config = self._regression_config(n_in, n_out, in_norm, out_norm)
        self.ensemble = RegressionEnsemble(self.nets).eval()
        self.result = TrainedModel(network=self.ensemble, config=self.config)
        self.val_every = int(recipe.val_every or max(10, recipe.steps // 10))
        self.best = np.full(len(self.nets), np.inf)
        self.validated = np.zeros(len(self.nets), dtype=bool)
        self.stale = 0
        self.metrics: dict = {}
        self.step_done = 0
        self.elapsed_before = 0.0
        self.t0 = time.perf_counter()

    # --- set-up --------------------------------------------------------------------------
    def _ranges(self, data: RegressionData, init):
        """Input and output normalisation and the members' channel counts."""
        c = data.image.shape[0]
        inpaint = self.recipe.task == Task.INPAINT
        if init is not None:
            cfg = init.config
            if cfg.task != str(self.recipe.task):
                raise ValueError(f"init model was trained for task={cfg.task!r}; this run is "
                                 f"task={str(self.recipe.task)!r}.")
            return (cfg.normalization, cfg.target_normalization, cfg.in_channels,
                    cfg.n_classes)
        in_norm = known_range(data.image, data.known)
        if data.targets is None:
            out_norm = in_norm
        else:
            out_norm = known_range(data.targets, data.known)
        n_out = c if data.targets is None else data.targets.shape[0]
        if inpaint:  # the mask is a second input channel, already in [0, 1]
            return in_norm + ((0.0, 1.0),) * 1, out_norm, c + 1, n_out
        return in_norm, out_norm, c, n_out

    def _regression_samplers(self, img, tgt, known) -> None:
        r = self.recipe
        rngs = [np.random.default_rng(r.seed + i) for i in range(2)]
        residual = r.task == Task.DENOISE
        self.has_val = True
        if r.task == Task.INPAINT:
            make = lambda rng: GapPairs(img, ~known, crop=r.crop, rng=rng)  # noqa: E731
        elif r.task == Task.DENOISE and tgt is img:
            make = lambda rng: BlindSpotPairs(img, crop=r.crop, rng=rng,  # noqa: E731
                                              fraction=r.blind_spot)
        else:
            val = np.random.default_rng(r.seed + 3).random(known.shape) < r.val_fraction
            self.has_val = bool((known & val).any()) and r.val_fraction > 0
            train_known = known & ~val if self.has_val else known
            self.sampler = DensePairs(img, tgt, train_known, crop=r.crop, rng=rngs[0],
                                      residual=residual)
            if self.has_val:
                self.vx, self.vy = DensePairs(img, tgt, known & val, crop=r.crop, rng=rngs[1],
                                              residual=residual).fixed_crops(_N_VAL_CROPS)
            return
        self.sampler = make(rngs[0])
        self.vx, self.vy = make(rngs[1]).fixed_crops(_N_VAL_CROPS)

    def _regression_config(self, n_in, n_out, in_norm, out_norm) -> ModelConfig:
        r = self.recipe
        recipe = {**r.replace(lr=self.lr).to_dict(), "split_seed": r.seed,
                  "device": str(self.device), "self_supervised": self.self_supervised}
        return ModelConfig(
            arch=str(r.arch), member_configs=[n.config for n in self.nets],
            model_ndim=r.model_ndim, dim=str(r.dim), slice_axis=int(r.slice_axis),
            in_channels=int(n_in), n_classes=int(n_out),
            class_names=tuple(f"channel {i}" for i in range(1, n_out + 1)),
            class_colors=(None,) * n_out, normalization=tuple(in_norm),
            target_normalization=tuple(out_norm), recipe=recipe, version=__version__)

    # --- steps ---------------------------------------------------------------------------
    def _loss(self, out, packed):
        c = out.shape[2]
        target, weight, base = packed[:, :, :c], packed[:, :, c:c + 1], packed[:, :, c + 1:]
        return member_regression_losses(out + base, target, weight, loss=self.recipe.loss)

    def _predict_crops(self, x: np.ndarray, packed: np.ndarray):
        """Members' predictions ``(N, M, C, *S)`` on fixed crops, and their losses."""
        n = len(self.nets)
        xt = torch.from_numpy(x).to(self.device)
        yt = torch.from_numpy(packed).to(self.device)
        xm = xt.unsqueeze(1).expand((-1, n) + tuple(xt.shape[1:]))
        ym = yt.unsqueeze(1).expand((-1, n) + tuple(yt.shape[1:]))
        out = self.stack(xm).float()
        c = out.shape[2]
        return out + ym[:, :, c + 1:], self._loss(out, ym).cpu().numpy()

    def validate(self) -> tuple[float, float]:
        """Validation loss per member (members that improved keep these weights) and the
        Pearson r of the members' mean on the scored pixels."""
        self.stack.eval()
        with torch.no_grad():
            pred, vloss = self._predict_crops(self.vx, self.vy)
        self.stack.train()
        self._keep_improved(vloss)
        return float(vloss.mean()), self._score(pred.mean(1).cpu().numpy(), self.vy)

    @staticmethod
    def _score(mean: np.ndarray, packed: np.ndarray) -> float:
        c = mean.shape[1]
        scored = np.broadcast_to(packed[:, c:c + 1] > 0, mean.shape)
        return _pearson(mean[scored], packed[:, :c][scored])

    # --- finish --------------------------------------------------------------------------
    def _final_metrics(self) -> dict:
        x = torch.from_numpy(self.vx)
        with torch.no_grad():
            mean, _ = self.ensemble(x)
        c = mean.shape[1]
        mean = mean.numpy() + self.vy[:, c + 1:]
        return {"val_r": self._score(mean, self.vy)}


def iter_train_regression(image: np.ndarray, targets: np.ndarray | None = None, *,
                          known: np.ndarray | None = None, task: str = "regression",
                          device: str = "auto", channel_axis: int | None = None,
                          init: TrainedModel | None = None, cancel=None, on_step=None,
                          **settings) -> Generator[TrainProgress, None, TrainedModel]:
    """Train a regression ensemble; yield progress, return the model.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        The input (plus a channel axis at ``channel_axis``).
    targets : ndarray, optional
        Target values of the same shape, for ``task="regression"`` and paired
        denoising (clean images); None when the image is its own target.
    known : bool ndarray, optional
        True where the truth is known (only those pixels are scored; unknown target
        values may be anything, NaN included). For ``task="inpaint"`` the complement
        of the gap mask. Default: every pixel.
    task : {"regression", "inpaint", "denoise"}
    device, channel_axis, init, cancel, on_step
        As for :func:`~napari_sciseg.dl.iter_train_recipe`.
    **settings
        Fields of :class:`~napari_sciseg.dl.TrainRecipe` (arch, members, steps, crop,
        batch, loss "l1"/"l2"/"huber", seed, model_kwargs, lr, transform, blind_spot,
        val_fraction, val_every, early_stopping, ...).

    Yields
    ------
    TrainProgress
        ``val_score`` is the Pearson r of the ensemble mean on the validation pixels.

    Returns
    -------
    TrainedModel
        Its ``network`` returns the mean value and the member standard deviation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((48, 48)).astype(np.float32)
    >>> model = train_regression(image, 2 * image, members=2, steps=3, crop=32,
    ...                          model_kwargs={"depth": 3}, device="cpu")
    >>> model.config.task, model.config.n_classes
    ('regression', 1)
    """
    from .training import run_steps

    if init is not None:
        settings.setdefault("arch", init.config.arch)
    recipe = TrainRecipe(task=task, **settings)
    trainer = RegressionTrainer(image, targets, recipe, known=known, device=device,
                                channel_axis=channel_axis, init=init)
    return (yield from run_steps(trainer, cancel=cancel, on_step=on_step))


def train_regression(image: np.ndarray, targets: np.ndarray | None = None,
                     **kwargs) -> TrainedModel:
    """Run :func:`iter_train_regression` to the end and return the model.

    Parameters
    ----------
    image : ndarray
        The input image.
    targets : ndarray, optional
        The values to learn, as for :func:`iter_train_regression`.
    **kwargs
        The options of :func:`iter_train_regression`.

    Returns
    -------
    TrainedModel
    """
    return drain(iter_train_regression(image, targets, **kwargs))
