"""Sparse-label training of segmentation ensembles (a generator with progress).

:func:`iter_train` keeps the keyword interface of the widget and the CLI; it builds a
:class:`~.recipe.TrainRecipe` and runs it with :func:`iter_train_recipe`, which drives a
:class:`~.trainer.SegmentationTrainer` (set-up, steps, finish) through :func:`run_steps`.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

import numpy as np

from .._generators import drain
from .config import TrainedModel, TrainProgress
from .recipe import TrainRecipe
from .trainer import SegmentationTrainer, macro_f1, robust_range

__all__ = ["iter_train", "iter_train_recipe", "run_steps", "train", "TrainRecipe",
           "robust_range", "macro_f1"]

logger = logging.getLogger(__name__)


def iter_train(image: np.ndarray, labels: np.ndarray, *, arch: str = "smsnet",
               members: int = 5, steps: int = 200, dim: str = "2", slice_axis: int = 0,
               loss: str = "ce", seed: int = 0, device: str = "auto",
               channel_axis: int | None = None, class_names=None, class_colors=None,
               model_kwargs: dict | None = None, crop: int = 64, batch: int = 2,
               lr: float | None = None, weight_decay: float = 1e-4, class_weights="balanced",
               val_fraction: float = 0.2, val_split: str = "pixels",
               val_every: int | None = None, early_stopping: int | None = 5,
               grad_clip: float = 1.0, cancel=None,
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
    arch : {"smsnet", "tunet", "msdnet", "tunet3plus"}
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
        Share of the labeled pixels held out for validation.
    val_split : {"pixels", "strokes"}
        "pixels": scattered pixels (:func:`~napari_sciseg.annotation.split_labels`),
        easy by construction; "strokes": whole strokes, apart from the training ones
        (:func:`~napari_sciseg.annotation.split_strokes`), which tells how the model
        does away from what it was shown. The returned metrics hold ``val_f1`` (held
        out) and ``train_f1`` (the training scribbles) of the final ensemble.
    val_every, early_stopping : int, optional
        Validate every ``val_every`` steps (default steps / 10); stop when no member's
        validation loss improved for ``early_stopping`` validations (None: never).
        Each member keeps its weights from its best validation.
    lr, weight_decay, grad_clip : float
        AdamW, warm-up + cosine schedule, per-member gradient-norm clipping. The
        default lr is 0.05 for the graph networks (SMSNet, MSDNet) and 0.001 for
        the U-Nets (TUNet, TUNet3+), and a fifth of that when continuing from ``init``.
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
    recipe = TrainRecipe(
        arch=init.config.arch if init is not None else arch, members=members, steps=steps,
        dim=dim, slice_axis=slice_axis, loss=loss, seed=seed, model_kwargs=model_kwargs,
        crop=crop, batch=batch, lr=lr, weight_decay=weight_decay, class_weights=class_weights,
        val_fraction=val_fraction, val_split=val_split, val_every=val_every,
        early_stopping=early_stopping, grad_clip=grad_clip, shared_dilations=shared_dilations,
        batch_norm=batch_norm)
    return (yield from iter_train_recipe(
        image, labels, recipe, device=device, channel_axis=channel_axis,
        class_names=class_names, class_colors=class_colors, init=init, cancel=cancel))


def iter_train_recipe(image: np.ndarray, labels: np.ndarray, recipe: TrainRecipe, *,
                      device: str = "auto", channel_axis: int | None = None,
                      class_names=None, class_colors=None, init: TrainedModel | None = None,
                      cancel=None, on_step=None, checkpoint=None, resume=None,
                      ) -> Generator[TrainProgress, None, TrainedModel]:
    """Run a :class:`TrainRecipe` on one image; yield progress, return the model.

    Parameters
    ----------
    image, labels, device, channel_axis, class_names, class_colors, init, cancel
        As for :func:`iter_train`.
    recipe : TrainRecipe
        The settings of the run.
    on_step : callable, optional
        Called with the trainer after every step, before the progress is yielded.
    checkpoint : Checkpointer, optional
        Writes periodic checkpoints (:class:`~.checkpoint.Checkpointer`), and one
        more when ``cancel`` stops the run, so it can be resumed.
    resume : Checkpoint or path, optional
        Continue the run saved in this checkpoint: same recipe and data required
        (a ValueError names the difference). Bit-identical to the uninterrupted run
        on the same device and number of CPU threads.

    Yields
    ------
    TrainProgress
        After every step (loss, validation score when checked).

    Returns
    -------
    TrainedModel
        The ensemble and its configuration (returned by the generator).

    Examples
    --------
    >>> from napari_sciseg.data.scribbles import scribbles_2d
    >>> image, scribbles = scribbles_2d(shape=(48, 48))
    >>> recipe = TrainRecipe(members=1, steps=2, crop=32, model_kwargs={"depth": 2})
    >>> drain(iter_train_recipe(image, scribbles, recipe, device="cpu")).config.recipe["steps"]
    2
    """
    from .checkpoint import Checkpoint, load_checkpoint, restore_checkpoint

    if recipe.task.is_regression:
        raise ValueError(f"task={str(recipe.task)!r} is a regression task; train it with "
                         "napari_sciseg.dl.iter_train_regression (or train_inpainting / "
                         "train_denoising). iter_train_recipe trains segmentation.")
    if resume is not None and not isinstance(resume, Checkpoint):
        resume = load_checkpoint(resume)
    trainer = SegmentationTrainer(
        image, labels, recipe, device=device, channel_axis=channel_axis,
        class_names=class_names, class_colors=class_colors, init=init,
        stack_parts=resume.stack_parts if resume is not None else None)
    if resume is not None:
        restore_checkpoint(trainer, resume)
    hooks = [h for h in (checkpoint, on_step) if h is not None]
    result = yield from run_steps(trainer, cancel=cancel,
                                  on_step=(lambda t: [h(t) for h in hooks]) if hooks else None)
    if (checkpoint is not None and result.config.metrics.get("stopped") == "cancelled"
            and trainer.step_done > 0):
        checkpoint.save(trainer)
    return result


def run_steps(trainer, *, cancel=None, on_step=None) -> Generator[TrainProgress, None, object]:
    """Drive a trainer to the end of its steps; yield its progress, return its result.

    ``trainer`` has ``recipe.steps``, ``step_done``, ``step()`` (one step, returns a
    progress record), ``stopping`` (early stop), ``threads()`` (context of the loop) and
    ``finish(stopped)``. The loop stops when ``cancel`` (a ``threading.Event``) is set
    (checked before every step), when the trainer says stop, or when the generator is
    closed; in every case ``finish`` writes back what was trained (``stopped`` is
    "completed", "cancelled" or "closed").
    """
    stopped = "closed"
    try:
        with trainer.threads():
            while trainer.step_done < trainer.recipe.steps:
                if cancel is not None and cancel.is_set():
                    logger.info("training cancelled at step %d of %d", trainer.step_done,
                                trainer.recipe.steps)
                    stopped = "cancelled"
                    break
                progress = trainer.step()
                if on_step is not None:
                    on_step(trainer)
                yield progress
                if trainer.stopping:
                    break
        if stopped != "cancelled":
            stopped = "completed"
    finally:
        result = trainer.finish(stopped)
    return result


def train(image: np.ndarray, labels: np.ndarray, **kwargs) -> TrainedModel:
    """Run :func:`iter_train` to the end and return the :class:`TrainedModel`.

    Takes the same arguments as :func:`iter_train`.

    Parameters
    ----------
    image, labels : ndarray
        The image and its sparse labels (0 = unlabeled, 1..K), as for :func:`iter_train`.
    **kwargs
        The options of :func:`iter_train`.

    Returns
    -------
    TrainedModel

    Examples
    --------
    >>> from napari_sciseg.data.scribbles import scribbles_2d
    >>> image, scribbles = scribbles_2d(shape=(48, 48))
    >>> model = train(image, scribbles, members=1, steps=2, crop=32, device="cpu",
    ...               model_kwargs={"depth": 2})
    >>> model.config.n_classes, model.config.metrics["steps_done"]
    (2, 2)
    """
    return drain(iter_train(image, labels, **kwargs))
