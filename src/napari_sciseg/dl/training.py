"""Sparse-label training of segmentation ensembles (a generator with progress)."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Generator

import numpy as np
import torch

from .. import __version__
from .._generators import drain
from .._validation import check_choice, check_finite
from ..annotation import check_labels, class_counts, split_labels
from .config import ModelConfig, TrainedModel, TrainProgress
from .device import resolve_device
from .losses import balanced_weights, member_losses, parse_loss
from .models import Ensemble, create_model
from .models.graph import balanced_node_dilations
from .patches import PatchSampler
from .stacks import ThreadedStacks, clip_member_grads_, member_losses_backward, stack_members

__all__ = ["iter_train", "train", "robust_range", "macro_f1"]

logger = logging.getLogger(__name__)

_DIMS = ("2", "2.5", "3")
_N_VAL_CROPS = 8
#: default learning rate when continuing from ``init``, relative to training from scratch
_FINE_TUNE_LR = 0.2


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


def _prepare(image, labels, dim, slice_axis, channel_axis):
    """Channels-first float32 image and labels; for "2.5" the slice axis goes first."""
    image = np.asarray(image)
    labels = np.asarray(labels)
    if channel_axis is not None:
        image = np.moveaxis(image, channel_axis, 0)
    else:
        image = image[None]
    n_spatial = 2 if dim == "2" else 3
    if image.ndim - 1 != n_spatial:
        axes = "(Y, X)" if n_spatial == 2 else "(Z, Y, X)"
        raise ValueError(
            f"dim={dim!r} needs a {n_spatial}D image {axes} (plus channel_axis if any); got "
            f"spatial shape {image.shape[1:]}. Use dim='2' for 2D images and '2.5' or '3' "
            "for volumes; pass channel_axis for multi-channel images."
        )
    if labels.shape != image.shape[1:]:
        raise ValueError(
            f"labels shape {labels.shape} does not match the image's spatial shape "
            f"{image.shape[1:]}; paint the labels on the same image (channels excluded)."
        )
    check_finite("image", image)
    if dim == "2.5":
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


def iter_train(image: np.ndarray, labels: np.ndarray, *, arch: str = "smsnet",
               members: int = 5, steps: int = 200, dim: str = "2", slice_axis: int = 0,
               loss: str = "ce", seed: int = 0, device: str = "auto",
               channel_axis: int | None = None, class_names=None, class_colors=None,
               model_kwargs: dict | None = None, crop: int = 64, batch: int = 2,
               lr: float | None = None, weight_decay: float = 1e-4, class_weights="balanced",
               val_fraction: float = 0.2, val_every: int | None = None,
               early_stopping: int | None = 5, grad_clip: float = 1.0, cancel=None,
               init: TrainedModel | None = None, shared_dilations: bool = True,
               batch_norm: bool = True,
               ) -> Generator[TrainProgress, None, TrainedModel]:
    """Train an ensemble on sparse labels; yield progress, return the model.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Plus a channel axis at ``channel_axis`` for multi-channel images.
    labels : int ndarray, the image's spatial shape
        0 = unlabeled, 1..K = classes.
    arch : {"smsnet", "tunet", "msdnet"}
        Member architecture; ``model_kwargs`` go to :func:`create_model`.
    members, steps, crop, batch : int
        Ensemble size, optimizer steps, patch size, patches per member and step.
        All members train together in every step, each on its own patches.
    dim : {"2", "2.5", "3"}
        2D image; 2D model on slices of a volume along ``slice_axis``; 3D model.
    loss : str
        "ce", "dice", "focal", "tversky" or sums like "ce+dice"; only labeled pixels count.
    class_weights : "balanced", None or sequence of K floats
        Cross-entropy/focal weights; "balanced" = n / (K n_k) from the training labels.
    seed : int
        Seeds graphs, weights, the split and the patches: same seed + device, same weights.
    device : {"auto", "cpu", "cuda", "mps"}
    val_fraction : float
        Share of the labeled pixels held out (pixel-level split) for validation.
    val_every, early_stopping : int, optional
        Validate every ``val_every`` steps (default steps / 10); stop when no member's
        validation loss improved for ``early_stopping`` validations (None: never).
        Each member keeps its weights from its best validation.
    lr, weight_decay, grad_clip : float
        AdamW, warm-up + cosine schedule, per-member gradient-norm clipping. The
        default lr is 0.05 for the graph networks (SMSNet, MSDNet) and 0.001 for
        the TUNet, and a fifth of that when continuing from ``init``.
    cancel : threading.Event, optional
        Checked every step; when set, training stops and the model is returned.
    init : TrainedModel, optional
        Continue training this model (same classes and channels).
    shared_dilations : bool
        SMSNet only: draw one dilation per hidden node from ``dilations`` (seeded)
        and share it between the members, whose edges stay random. The members then
        train as one gather-free grouped convolution per node (several times
        faster on CPU). False draws a dilation per edge and member (DLSIA). The
        shared dilations are balanced: every choice in ``dilations`` is used about
        equally often (see :func:`~.models.graph.balanced_node_dilations`).
    batch_norm : bool
        SMSNet/MSDNet: normalise every hidden node with batch statistics while
        training (as DLSIA does), and fold the running statistics into the
        members' weights when they are written back, so the saved networks have no
        normalisation layer and tiled prediction stays exact. Ignored when
        continuing from ``init`` (its weights are already folded).

    Yields
    ------
    TrainProgress
        After every step; ``.model`` is the model being trained.

    Returns
    -------
    TrainedModel
        Via ``StopIteration.value``; :func:`train` drains the generator for you.
        Closing the generator also stops training; ``progress.model`` then holds
        the members trained so far.

    Examples
    --------
    >>> from napari_sciseg.data.scribbles import scribbles_2d
    >>> image, scribbles = scribbles_2d(shape=(64, 64))
    >>> model = train(image, scribbles, members=2, steps=3, crop=32,
    ...               model_kwargs={"depth": 3}, device="cpu")
    >>> model.config.n_classes, len(model.network.members)
    (2, 2)
    """
    check_choice("dim", str(dim), _DIMS)
    dim = str(dim)
    parse_loss(loss)
    for name, value in (("members", members), ("steps", steps), ("crop", crop),
                        ("batch", batch)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    img, lab = _prepare(image, labels, dim, slice_axis, channel_axis)
    n_declared = len(class_names) if class_names else None
    if init is not None:
        n_declared = init.config.n_classes
    k = check_labels(lab, n_classes=n_declared)
    model_ndim = 3 if dim == "3" else 2
    dev, dev_msg = resolve_device(device)
    logger.info("training %s x%d (%s, dim %s) %s", arch, members, loss, dim, dev_msg)

    if init is not None:
        cfg0 = init.config
        if (cfg0.in_channels, cfg0.model_ndim) != (img.shape[0], model_ndim):
            raise ValueError(
                f"init model takes {cfg0.in_channels} channel(s) in {cfg0.model_ndim}D; got "
                f"{img.shape[0]} channel(s) and dim={dim!r}."
            )
        nets = [copy.deepcopy(m).cpu() for m in init.network.members]
        arch, normalization = cfg0.arch, cfg0.normalization
    else:
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(members)]
        kwargs = dict(model_kwargs or {})
        if (str(arch).lower() == "smsnet" and shared_dilations
                and not {"graph", "node_dilations"} & set(kwargs)):
            kwargs["node_dilations"] = balanced_node_dilations(
                kwargs.get("depth", 20), kwargs.get("dilations", (1, 2, 4, 8)), seed=seed)
        nets = [create_model(arch, ndim=model_ndim, in_channels=img.shape[0], out_channels=k,
                             seed=s, **kwargs) for s in seeds]
        normalization = robust_range(img)
    low = np.array([lh[0] for lh in normalization], np.float32).reshape((-1,) + (1,) * lab.ndim)
    high = np.array([lh[1] for lh in normalization], np.float32).reshape(low.shape)
    img = (img - low) / (high - low)

    rf = max(n.receptive_field for n in nets)
    model_shape = lab.shape[1:] if dim == "2.5" else lab.shape
    if min(model_shape) < rf:
        raise ValueError(
            f"the image ({'x'.join(map(str, model_shape))} px per {model_ndim}D patch) is smaller "
            f"than the network's receptive field (radius {rf} px); use a shallower network "
            "(e.g. model_kwargs={'depth': 5}) or a larger image."
        )

    train_lab, val_lab = split_labels(lab, val_fraction=val_fraction, seed=seed)
    rng = np.random.default_rng(seed)
    sampler = PatchSampler(img, train_lab, crop=crop, model_ndim=model_ndim, rng=rng)
    has_val = bool(val_lab.any())
    if has_val:
        val_sampler = PatchSampler(img, val_lab, crop=crop, model_ndim=model_ndim,
                                   rng=np.random.default_rng(seed + 1))
        vx, vy = val_sampler.fixed_crops(_N_VAL_CROPS)
    if class_weights == "balanced":
        weights = balanced_weights(class_counts(train_lab, k))
    elif class_weights is None:
        weights = torch.ones(k)
    else:
        weights = torch.as_tensor(class_weights, dtype=torch.float32)
        if weights.shape != (k,):
            raise ValueError(f"class_weights needs {k} values (one per class); got {weights}.")
    weights = weights.to(dev)

    if lr is None:
        lr = 1e-3 if arch == "tunet" else 5e-2
        if init is not None:
            lr *= _FINE_TUNE_LR  # fine-tuning: keep what was learned
    torch.manual_seed(seed)
    use_amp = dev.type == "cuda"
    n_parts = min(torch.get_num_threads(), len(nets)) if dev.type == "cpu" else 1
    if n_parts > 1:
        stack = ThreadedStacks(nets, n_parts, batch_norm=batch_norm and init is None)
    else:
        stack = stack_members(nets, batch_norm=batch_norm and init is None).to(dev)
    opt = _adamw(list(stack.parameters()), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    val_every = int(val_every or max(10, steps // 10))
    best = np.full(len(nets), np.inf)
    stale = 0
    metrics: dict = {}
    ensemble = Ensemble(nets).eval()
    recipe = {"loss": loss, "steps": steps, "lr": lr, "weight_decay": weight_decay,
              "seed": seed, "crop": crop, "batch": batch, "val_fraction": val_fraction,
              "split_seed": seed, "class_weights": [float(w) for w in weights.cpu()],
              "grad_clip": grad_clip, "early_stopping": early_stopping, "members": members,
              "model_kwargs": model_kwargs or {}, "device": str(dev)}
    config = ModelConfig(
        arch=arch, member_configs=[n.config for n in nets], model_ndim=model_ndim, dim=dim,
        slice_axis=int(slice_axis), in_channels=int(img.shape[0]), n_classes=k,
        class_names=tuple(class_names or (f"class {i}" for i in range(1, k + 1))),
        class_colors=tuple(class_colors or (None,) * k), normalization=normalization,
        recipe=recipe, version=__version__)
    result = TrainedModel(network=ensemble, config=config)
    validated = np.zeros(len(nets), dtype=bool)

    def validate() -> tuple[float, float]:
        nonlocal stale
        stack.eval()
        with torch.no_grad():
            x = torch.from_numpy(vx).to(dev)
            xm = x.unsqueeze(1).expand((-1, len(nets)) + tuple(x.shape[1:]))
            logits = stack(xm).float()
            y = torch.from_numpy(vy).to(dev)
            ym = y.unsqueeze(1).expand((-1, len(nets)) + tuple(y.shape[1:]))
            vloss = member_losses(logits, ym, loss=loss, class_weights=weights).cpu().numpy()
            pred = torch.softmax(logits, 2).mean(1).argmax(1) + 1
        stack.train()
        improved = np.flatnonzero(vloss < best - 1e-6)
        best[improved] = vloss[improved]
        validated[improved] = True
        stack.copy_to(nets, improved)
        stale = 0 if improved.size else stale + 1
        return float(vloss.mean()), macro_f1(pred.cpu().numpy(), vy)

    t0 = time.perf_counter()
    step = 0
    finished = False
    threads = contextlib.ExitStack()
    if isinstance(stack, ThreadedStacks):
        threads.enter_context(stack.single_threaded_ops())
    try:
        stack.train()
        for step in range(1, steps + 1):
            if cancel is not None and cancel.is_set():
                logger.info("training cancelled at step %d of %d", step - 1, steps)
                step -= 1
                break
            xb, yb = zip(*(sampler.sample(batch) for _ in nets))
            x = torch.from_numpy(np.stack(xb, axis=1)).to(dev, non_blocking=True)
            y = torch.from_numpy(np.stack(yb, axis=1)).to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            losses = member_losses_backward(
                stack, x, y, lambda out, target: member_losses(out, target, loss=loss,
                                                               class_weights=weights),
                scale=scaler.scale if use_amp else None, autocast=use_amp)
            scaler.unscale_(opt)
            clip_member_grads_(stack, grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            vloss = vscore = None
            if has_val and (step % val_every == 0 or step == steps):
                vloss, vscore = validate()
                metrics.update(val_loss=vloss, val_f1=vscore, step=step)
            elapsed = time.perf_counter() - t0
            msg = f"step {step}/{steps}"
            stop = early_stopping is not None and stale >= early_stopping
            if stop:
                msg += f": early stop (no validation improvement in {early_stopping} checks)"
            yield TrainProgress(step=step, total_steps=steps,
                                loss=float(losses.detach().mean()), val_loss=vloss,
                                val_score=vscore, elapsed_s=elapsed,
                                eta_s=elapsed / step * (steps - step), device=dev_msg,
                                message=msg, model=result)
            if stop:
                break
        finished = True
    finally:
        threads.close()
        # members never validated (no validation set, or stopped early) keep the latest weights
        stack.copy_to(nets, np.flatnonzero(~validated))
        for n in nets:
            n.eval()
        metrics["steps_done"] = step
        metrics["stopped"] = "completed" if finished else "closed"
        result.config = config.with_metrics(**metrics)
    if has_val:
        # the returned ensemble (each member at its best validation) on the validation pixels
        result.config = result.config.with_metrics(
            val_f1=_ensemble_val_f1(ensemble, vx, vy),
            val_loss=float(best[validated].mean()) if validated.any() else None)
    logger.info("trained %d steps in %.1f s: %s", step, time.perf_counter() - t0,
                result.config.metrics)
    return result


def _ensemble_val_f1(ensemble, vx, vy) -> float:
    with torch.no_grad():
        mean, _ = ensemble(torch.from_numpy(vx))
    return macro_f1(mean.argmax(1).numpy() + 1, vy)


def train(image: np.ndarray, labels: np.ndarray, **kwargs) -> TrainedModel:
    """Run :func:`iter_train` to the end and return the :class:`TrainedModel`.

    Takes the same arguments as :func:`iter_train`.
    """
    return drain(iter_train(image, labels, **kwargs))
