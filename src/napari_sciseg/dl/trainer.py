"""One training run in three parts: set-up, step, finish (used by ``iter_train``).

:class:`SegmentationTrainer` holds the state of a run of a :class:`~.recipe.TrainRecipe`
on one image: the members, the stacked training module, the optimizer and its
schedule, the patch samplers and the validation crops. :meth:`~SegmentationTrainer.step`
runs one optimizer step (and a validation when due) and returns a progress record;
:meth:`~SegmentationTrainer.finish` writes the best weights back and returns the
:class:`~.config.TrainedModel`. :func:`~.training.run_steps` drives any trainer with
this interface (cancel, early stopping, closing), and :mod:`.checkpoint` saves and
restores its state (:meth:`~SegmentationTrainer.state` / :meth:`~SegmentationTrainer.restore`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time

import numpy as np
import torch

from .. import __version__
from .._validation import check_finite
from ..annotation import check_labels, class_counts, split_by
from .config import ModelConfig, TrainedModel, TrainProgress
from .device import resolve_device
from .losses import balanced_weights, member_losses
from .models import Ensemble, create_model
from .models.graph import balanced_node_dilations
from .patches import PatchSampler
from .recipe import Dim, TrainRecipe
from .stacks import ThreadedStacks, clip_member_grads_, member_losses_backward, stack_members

__all__ = ["SegmentationTrainer", "robust_range", "macro_f1", "prepare_image"]

logger = logging.getLogger(__name__)

_N_VAL_CROPS = 8


def robust_range(image_chw: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple:
    """Per-channel (low, high) percentiles of a channels-first image.

    >>> robust_range(np.arange(101, dtype=float)[None])
    ((1.0, 99.0),)
    """
    out = []
    step = max(1, image_chw[0].size // 1_000_000)
    for channel in image_chw:
        values = np.asarray(channel).ravel()[::step]
        lo, hi = (float(v) for v in np.percentile(values, [low, high]))
        out.append((lo, hi if hi > lo else lo + 1.0))
    return tuple(out)


def macro_f1(pred: np.ndarray, labels: np.ndarray) -> float:
    """Mean F1 over the classes present in ``labels`` (0 = ignored), pred in 1..K.

    >>> macro_f1(np.array([1, 2, 2, 1]), np.array([1, 2, 0, 2]))
    0.6666666666666666
    """
    mask = labels > 0
    pred, labels = pred[mask], labels[mask]
    scores = []
    for k in np.unique(labels):
        tp = np.sum((pred == k) & (labels == k))
        denom = np.sum(pred == k) + np.sum(labels == k)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores)) if scores else float("nan")


def prepare_image(image, labels, dim: Dim, slice_axis: int, channel_axis: int | None):
    """Channels-first float32 image and labels; for "2.5" the slice axis goes first."""
    image = np.asarray(image)
    labels = np.asarray(labels)
    image = image[None] if channel_axis is None else np.moveaxis(image, channel_axis, 0)
    n_spatial = 2 if dim == Dim.D2 else 3
    if image.ndim - 1 != n_spatial:
        axes = "(Y, X)" if n_spatial == 2 else "(Z, Y, X)"
        raise ValueError(
            f"dim={str(dim)!r} needs a {n_spatial}D image {axes} (plus channel_axis if any); "
            f"got spatial shape {image.shape[1:]}. Use dim='2' for 2D images and '2.5' or '3' "
            "for volumes; pass channel_axis for multi-channel images."
        )
    if labels.shape != image.shape[1:]:
        raise ValueError(
            f"labels shape {labels.shape} does not match the image's spatial shape "
            f"{image.shape[1:]}; paint the labels on the same image (channels excluded)."
        )
    check_finite("image", image)
    if dim == Dim.D2_5:
        if not -3 <= slice_axis < 3:
            raise ValueError(f"slice_axis must be 0, 1 or 2 for a volume; got {slice_axis}.")
        image = np.moveaxis(image, 1 + slice_axis % 3, 1)
        labels = np.moveaxis(labels, slice_axis % 3, 0)
    return image.astype(np.float32, copy=False), labels


def _adamw(params, **kwargs) -> torch.optim.AdamW:
    """AdamW, with the fused kernel where this torch has one for the device (fewer launches)."""
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # older torch or an unsupported device
        return torch.optim.AdamW(params, **kwargs)


def _lr_factor(step: int, total: int) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to 5%."""
    warm = max(1, total // 20)
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


def _new_members(recipe: TrainRecipe, in_channels: int, n_classes: int) -> list:
    """The untrained members, each from its own seed spawned from the recipe's seed."""
    spawned = np.random.SeedSequence(recipe.seed).spawn(recipe.members)
    seeds = [int(s.generate_state(1)[0]) for s in spawned]
    kwargs = dict(recipe.model_kwargs)
    if (recipe.arch == "smsnet" and recipe.shared_dilations
            and not {"graph", "node_dilations"} & set(kwargs)):
        kwargs["node_dilations"] = balanced_node_dilations(
            kwargs.get("depth", 20), kwargs.get("dilations", (1, 2, 4, 8)), seed=recipe.seed)
    return [create_model(recipe.arch, ndim=recipe.model_ndim, in_channels=in_channels,
                         out_channels=n_classes, seed=s, **kwargs) for s in seeds]


def _init_members(init: TrainedModel, recipe: TrainRecipe, in_channels: int) -> list:
    cfg = init.config
    if (cfg.in_channels, cfg.model_ndim) != (in_channels, recipe.model_ndim):
        raise ValueError(
            f"init model takes {cfg.in_channels} channel(s) in {cfg.model_ndim}D; got "
            f"{in_channels} channel(s) and dim={str(recipe.dim)!r}."
        )
    return [copy.deepcopy(m).cpu() for m in init.network.members]


def _check_receptive_field(nets, shape: tuple, model_ndim: int) -> None:
    rf = max(n.receptive_field for n in nets)
    if min(shape) < rf:
        raise ValueError(
            f"the image ({'x'.join(map(str, shape))} px per {model_ndim}D patch) is smaller "
            f"than the network's receptive field (radius {rf} px); use a shallower network "
            "(e.g. model_kwargs={'depth': 5}) or a larger image."
        )


def _class_weights(spec, train_labels: np.ndarray, k: int) -> torch.Tensor:
    if spec == "balanced":
        return balanced_weights(class_counts(train_labels, k))
    if spec is None:
        return torch.ones(k)
    weights = torch.as_tensor(spec, dtype=torch.float32)
    if weights.shape != (k,):
        raise ValueError(f"class_weights needs {k} values (one per class); got {weights}.")
    return weights


class SegmentationTrainer:
    """Set-up, steps and finish of one sparse-label training run.

    Parameters
    ----------
    image, labels : ndarray
        As for :func:`~napari_sciseg.dl.iter_train`.
    recipe : TrainRecipe
    device : str
        "auto", "cpu", "cuda", "mps", ...
    channel_axis : int, optional
    class_names, class_colors : sequence, optional
    init : TrainedModel, optional
        Continue training this model (its architecture, members and normalisation).
    stack_parts : int, optional
        On CPU, train the members in this many thread stacks (default: one per torch
        thread, at most one per member); a resumed run uses its checkpoint's.

    Attributes
    ----------
    step_done : int
        Optimizer steps run so far.
    result : TrainedModel
        The model being trained (members at their best validation so far).
    """

    def __init__(self, image, labels, recipe: TrainRecipe, *, device: str = "auto",
                 channel_axis: int | None = None, class_names=None, class_colors=None,
                 init: TrainedModel | None = None, stack_parts: int | None = None):
        self.recipe = recipe
        self._raw = (image, labels, channel_axis)
        self._fingerprint: str | None = None
        img, lab = prepare_image(image, labels, recipe.dim, recipe.slice_axis, channel_axis)
        n_declared = init.config.n_classes if init is not None else (
            len(class_names) if class_names else None)
        k = check_labels(lab, n_classes=n_declared)
        self.device, self.device_msg = resolve_device(device)
        logger.info("training %s x%d (%s, dim %s) %s", recipe.arch, recipe.members,
                    recipe.loss, recipe.dim, self.device_msg)
        if init is not None:
            self.nets = _init_members(init, recipe, img.shape[0])
            normalization = init.config.normalization
        else:
            self.nets = _new_members(recipe, img.shape[0], k)
            normalization = robust_range(img)
        img = self._normalise(img, normalization, lab.ndim)
        model_ndim = recipe.model_ndim
        _check_receptive_field(self.nets, lab.shape[1:] if recipe.dim == Dim.D2_5 else lab.shape,
                               model_ndim)
        self._samplers(img, lab, k)
        self.lr = recipe.default_lr(fine_tune=init is not None)
        torch.manual_seed(recipe.seed)
        self._optimiser(batch_norm=recipe.batch_norm and init is None, parts=stack_parts)
        self.config = self._config(img.shape[0], k, class_names, class_colors, normalization)
        self.ensemble = Ensemble(self.nets).eval()
        self.result = TrainedModel(network=self.ensemble, config=self.config)
        self.val_every = int(recipe.val_every or max(10, recipe.steps // 10))
        self.best = np.full(len(self.nets), np.inf)
        self.validated = np.zeros(len(self.nets), dtype=bool)
        self.stale = 0
        self.metrics: dict = {}
        self.step_done = 0
        self.elapsed_before = 0.0  # seconds spent before a resume
        self.t0 = time.perf_counter()

    # --- set-up --------------------------------------------------------------------------
    @staticmethod
    def _normalise(img, normalization, ndim) -> np.ndarray:
        shape = (-1,) + (1,) * ndim
        low = np.array([lh[0] for lh in normalization], np.float32).reshape(shape)
        high = np.array([lh[1] for lh in normalization], np.float32).reshape(shape)
        return (img - low) / (high - low)

    def _samplers(self, img, lab, k) -> None:
        r = self.recipe
        train_lab, val_lab = split_by(lab, r.val_split, val_fraction=r.val_fraction,
                                      seed=r.seed)
        self.sampler = PatchSampler(img, train_lab, crop=r.crop, model_ndim=r.model_ndim,
                                    rng=np.random.default_rng(r.seed))
        self.has_val = bool(val_lab.any())
        if self.has_val:
            val_sampler = PatchSampler(img, val_lab, crop=r.crop, model_ndim=r.model_ndim,
                                       rng=np.random.default_rng(r.seed + 1))
            self.vx, self.vy = val_sampler.fixed_crops(_N_VAL_CROPS)
            # crops of the training scribbles, scored at the end beside the held-out ones
            self.tx, self.ty = PatchSampler(
                img, train_lab, crop=r.crop, model_ndim=r.model_ndim,
                rng=np.random.default_rng(r.seed + 2)).fixed_crops(_N_VAL_CROPS)
        self.weights = _class_weights(r.class_weights, train_lab, k).to(self.device)

    def _optimiser(self, *, batch_norm: bool, parts: int | None) -> None:
        dev, nets = self.device, self.nets
        self.use_amp = dev.type == "cuda"
        n_parts = min(torch.get_num_threads(), len(nets)) if dev.type == "cpu" else 1
        n_parts = n_parts if parts is None else max(1, min(int(parts), len(nets)))
        self.stack_parts = n_parts
        if n_parts > 1:
            self.stack = ThreadedStacks(nets, n_parts, batch_norm=batch_norm)
        else:
            self.stack = stack_members(nets, batch_norm=batch_norm).to(dev)
        r = self.recipe
        self.opt = _adamw(list(self.stack.parameters()), lr=self.lr,
                          weight_decay=r.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: _lr_factor(s, r.steps))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

    def _config(self, in_channels, k, class_names, class_colors, normalization) -> ModelConfig:
        r = self.recipe
        saved = r.replace(lr=self.lr, class_weights=tuple(float(w) for w in self.weights.cpu()))
        recipe = {**saved.to_dict(), "split_seed": r.seed, "device": str(self.device)}
        return ModelConfig(
            arch=str(r.arch), member_configs=[n.config for n in self.nets],
            model_ndim=r.model_ndim, dim=str(r.dim), slice_axis=int(r.slice_axis),
            in_channels=int(in_channels), n_classes=k,
            class_names=tuple(class_names or (f"class {i}" for i in range(1, k + 1))),
            class_colors=tuple(class_colors or (None,) * k), normalization=normalization,
            recipe=recipe, version=__version__)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the training data (computed on first use; checkpoints compare it)."""
        if self._fingerprint is None:
            from .checkpoint import data_fingerprint

            self._fingerprint = data_fingerprint(*self._raw)
        return self._fingerprint

    # --- steps ---------------------------------------------------------------------------
    def threads(self) -> contextlib.AbstractContextManager:
        """Context of the step loop: one intra-op thread per part of a threaded stack."""
        if isinstance(self.stack, ThreadedStacks):
            return self.stack.single_threaded_ops()
        return contextlib.nullcontext()

    @property
    def stopping(self) -> bool:
        """True when early stopping says no member improved for long enough."""
        patience = self.recipe.early_stopping
        return patience is not None and self.stale >= patience

    #: name of the validation score in ``config.metrics`` (the ensemble's macro F1)
    score_name = "val_f1"

    def _loss(self, out, target):
        return member_losses(out, target, loss=self.recipe.loss, class_weights=self.weights)

    def step(self) -> TrainProgress:
        """One optimizer step of every member (and a validation when due)."""
        r, dev = self.recipe, self.device
        self.stack.train()
        xb, yb = zip(*(self.sampler.sample(r.batch) for _ in self.nets))
        x = torch.from_numpy(np.stack(xb, axis=1)).to(dev, non_blocking=True)
        y = torch.from_numpy(np.stack(yb, axis=1)).to(dev, non_blocking=True)
        self.opt.zero_grad(set_to_none=True)
        losses = member_losses_backward(
            self.stack, x, y, self._loss,
            scale=self.scaler.scale if self.use_amp else None, autocast=self.use_amp)
        self.scaler.unscale_(self.opt)
        clip_member_grads_(self.stack, r.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.step_done += 1
        step = self.step_done
        vloss = vscore = None
        if self.has_val and (step % self.val_every == 0 or step == r.steps):
            vloss, vscore = self.validate()
            self.metrics.update({"val_loss": vloss, self.score_name: vscore, "step": step})
        elapsed = self.elapsed()
        msg = f"step {step}/{r.steps}"
        if self.stopping:
            msg += f": early stop (no validation improvement in {r.early_stopping} checks)"
        return TrainProgress(step=step, total_steps=r.steps, loss=float(losses.mean()),
                             val_loss=vloss, val_score=vscore, elapsed_s=elapsed,
                             eta_s=elapsed / step * (r.steps - step), device=self.device_msg,
                             message=msg, model=self.result)

    def elapsed(self) -> float:
        """Seconds of training, including those before a resume."""
        return self.elapsed_before + time.perf_counter() - self.t0

    def validate(self) -> tuple[float, float]:
        """Validation loss per member; members that improved keep these weights."""
        n = len(self.nets)
        self.stack.eval()
        with torch.no_grad():
            x = torch.from_numpy(self.vx).to(self.device)
            xm = x.unsqueeze(1).expand((-1, n) + tuple(x.shape[1:]))
            logits = self.stack(xm).float()
            y = torch.from_numpy(self.vy).to(self.device)
            ym = y.unsqueeze(1).expand((-1, n) + tuple(y.shape[1:]))
            vloss = self._loss(logits, ym).cpu().numpy()
            pred = torch.softmax(logits, 2).mean(1).argmax(1) + 1
        self.stack.train()
        self._keep_improved(vloss)
        return float(vloss.mean()), macro_f1(pred.cpu().numpy(), self.vy)

    def _keep_improved(self, vloss: np.ndarray) -> None:
        """Members whose validation loss improved keep their current weights."""
        improved = np.flatnonzero(vloss < self.best - 1e-6)
        self.best[improved] = vloss[improved]
        self.validated[improved] = True
        self.stack.copy_to(self.nets, improved)
        self.stale = 0 if improved.size else self.stale + 1

    # --- finish --------------------------------------------------------------------------
    def finish(self, stopped: str) -> TrainedModel:
        """Write the weights back into the members and return the trained model.

        Members never validated (no validation set, or stopped early) keep their latest
        weights; the others their best. ``stopped`` ("completed", "cancelled", "closed")
        is recorded in ``config.metrics``. Safe to call more than once.
        """
        self.stack.copy_to(self.nets, np.flatnonzero(~self.validated))
        for n in self.nets:
            n.eval()
        self.metrics["steps_done"] = self.step_done
        self.metrics["stopped"] = stopped
        result = self.result
        result.config = self.config.with_metrics(**self.metrics)
        if self.has_val:
            # the returned ensemble (each member at its best validation) on the validation
            # pixels, and on its training scribbles for comparison
            result.config = result.config.with_metrics(
                **self._final_metrics(),
                val_loss=float(self.best[self.validated].mean()) if self.validated.any()
                else None)
        logger.info("trained %d steps in %.1f s: %s", self.step_done, self.elapsed(),
                    result.config.metrics)
        return result

    def _final_metrics(self) -> dict:
        return {"val_f1": self._ensemble_val_f1(),
                "train_f1": self._ensemble_val_f1(self.tx, self.ty)}

    def _ensemble_val_f1(self, x=None, y=None) -> float:
        x, y = (self.vx, self.vy) if x is None else (x, y)
        with torch.no_grad():
            mean, _ = self.ensemble(torch.from_numpy(x))
        return macro_f1(mean.argmax(1).numpy() + 1, y)
