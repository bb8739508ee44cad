"""Training of AFM crystal-class networks (every fusion variant that is a network).

Scans are prepared the same way for all variants
(:func:`napari_sciseg.classify.afm.training.prepare_training`: channels by
name, resampled to one pixel size, levelled, median removed, divided by
per-channel scales fitted on the training scans and saved with the model);
networks train on random square tiles with flips and 90-degree rotations
(crystal classes do not depend on orientation) and a tile carries its scan's
label. Training is set-up -> steps -> finish: :func:`start_training`,
:func:`train_step`, :func:`finish_training`; :func:`iter_train_afm` runs them
as a generator (and hands the texture classifiers, which need no torch, to
:func:`~napari_sciseg.classify.afm.training.train_texture`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from ..._generators import drain
from ...classify.afm.dataset import CLASSES, AfmDataset
from ...classify.afm.model import TEXTURE_KINDS, AfmModel
from ...classify.afm.training import TrainingSet, prepare_training, train_texture

__all__ = [
    "AfmProgress",
    "TrainState",
    "iter_train_afm",
    "train_afm",
    "start_training",
    "train_step",
    "finish_training",
    "drop_channels",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AfmProgress:
    """One training step: ``step`` of ``total_steps``, its ``loss``, seconds since the start."""

    step: int
    total_steps: int
    loss: float
    elapsed_s: float
    message: str = ""


@dataclass
class TrainState:
    """A network in training: the set-up, the network, its optimiser and random streams."""

    setup: TrainingSet
    net: object
    opt: object
    sched: object
    rng: np.random.Generator
    sample_p: np.ndarray
    steps: int
    batch: int


def start_training(
    setup: TrainingSet, *, steps: int, batch: int, lr: float, seed: int, width: int
) -> TrainState:
    """Build the network, optimiser (Adam, one-cycle schedule) and class-balanced sampler."""
    import torch

    from .nets import create_afm_net

    cfg = setup.config
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = create_afm_net(
        cfg.fusion,
        in_channels=max(len(cfg.channels), 1),
        n_meta=setup.meta.shape[1],
        use_metadata=cfg.use_metadata,
        width=width,
    )
    setup = replace(setup, config=cfg.replace(net=net.config))
    counts = np.bincount(setup.labels, minlength=len(CLASSES)).astype(float)
    sample_p = 1.0 / counts[setup.labels]
    sample_p /= sample_p.sum()  # class-balanced sampling of scans
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    net.train()
    return TrainState(setup, net, opt, sched, rng, sample_p, steps, batch)


def train_step(state: TrainState) -> float:
    """One optimiser step on a batch of random tiles; returns the loss."""
    import torch

    setup, cfg = state.setup, state.setup.config
    idx = state.rng.choice(len(setup.labels), size=state.batch, p=state.sample_p)
    if setup.scans is not None:
        x = np.stack([_random_tile(setup.scans[i], cfg.tile, state.rng) for i in idx])
        dropout = cfg.recipe.get("channel_dropout", 0.0)
        if dropout:
            x = drop_channels(x, dropout, state.rng, keep=cfg.channels.index("height"))
        x = torch.from_numpy(x)
    else:
        x = torch.zeros(state.batch, 1, 1, 1)
    meta = torch.from_numpy(setup.meta[idx]) if cfg.use_metadata else None
    logits = state.net(x, meta)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(setup.labels[idx]).long())
    state.opt.zero_grad()
    loss.backward()
    state.opt.step()
    state.sched.step()
    return float(loss.item())


def finish_training(state: TrainState) -> AfmModel:
    """Evaluation mode; for image fusions with metadata, fit the metadata term apart."""
    net, setup = state.net, state.setup
    config = setup.config
    net.eval()
    if net.use_metadata:  # image fusions + metadata: the term is fitted on its own
        term = _fit_metadata_term(net, setup.meta, setup.labels, setup.groups)
        # JSON has no infinity: None = the term is off
        ridge = term.ridge if np.isfinite(term.ridge) else None
        config = config.replace(recipe={**config.recipe, "metadata_ridge": ridge})
    return AfmModel(config, net=net)


def iter_train_afm(
    dataset: AfmDataset,
    *,
    fusion: str = "early",
    use_metadata: bool = True,
    tile: int | None = None,
    steps: int = 300,
    batch: int = 16,
    lr: float = 1e-2,
    seed: int = 0,
    target_spacing: float | None = None,
    width: int = 16,
    cancel: threading.Event | None = None,
    prepared: list[np.ndarray] | None = None,
    vlad_options: dict | None = None,
    normalize: str | None = None,
    channel_dropout: float | None = None,
) -> Generator[AfmProgress, None, AfmModel]:
    """Train one variant; yields :class:`AfmProgress`, returns an :class:`AfmModel`.

    Parameters
    ----------
    dataset : AfmDataset
        Labelled scans (``classify.afm.dataset.read_dataset``).
    fusion : str
        One of ``single, early, late, hybrid, metadata, maddi`` (networks) or
        ``vlad, texture`` (texture classifiers, trained by
        :func:`~napari_sciseg.classify.afm.training.train_texture`).
    use_metadata : bool
        Use the metadata columns too (always for ``metadata`` and ``maddi``). For
        ``single``, ``early``, ``late`` and ``hybrid`` the network is trained on
        the images alone and the metadata term, class logits of a logistic
        regression on the metadata that are added to the image logits, is
        fitted afterwards (:func:`~napari_sciseg.classify.afm.meta_model.fit_metadata_logits`;
        its ridge strength, chosen by grouped cross-validation, is stored in
        ``config.recipe["metadata_ridge"]``, None where the term is off).
    tile, steps, batch, lr, seed, width
        Tile size (pixels at the target pixel size; None: 128 or the smallest
        scan's side, :func:`~napari_sciseg.classify.afm.training.auto_tile`),
        optimiser steps, tiles per step, peak Adam learning rate (one-cycle
        schedule: warm-up then cosine decay), seed, backbone width. Tuned on a
        grouped validation split of synthetic training samples: with 2e-3 the
        networks were still under-trained after 300 steps.
    target_spacing : float, optional
        Pixel size (nm) scans are resampled to; the data set's median by default.
    cancel : threading.Event, optional
        Set it to stop early; the model trained so far is returned.
    prepared : list of ndarrays, optional
        Scans already prepared with this target and ``normalize`` (saves reloading).
    vlad_options : dict, optional
        Passed to :func:`napari_sciseg.classify.afm.vlad.fit_vlad` (``k``,
        ``n_estimators``, ``pixels_per_scan``) for the texture classifiers.
    normalize : {"median", "scan"}, optional
        Channel normalisation (:func:`~napari_sciseg.classify.afm.scans.prepare_scan`).
        With ``"median"`` the channels are then divided by scales fitted on these
        training scans (:func:`~napari_sciseg.classify.afm.scans.channel_scales`),
        saved as ``config.channel_scales``. By default ``"median"`` for the
        networks (early fusion gained ~0.05 macro F1 over ``"scan"``) and ``"scan"``
        for the texture classifiers (VLAD 0.79 vs 0.62), as measured on a development
        data set of the first synthetic generator (``benchmarks/results/afm_validation.md``).
    channel_dropout : float, optional
        Modality dropout of the image channels (ModDrop, Neverova et al. 2015):
        the fraction of training tiles in which a random non-empty subset of the
        channels other than the height is set to 0 (the median-centred value of
        the film), so the network cannot rely on the derived channels alone.
        Prediction always uses every channel. No effect with a single channel,
        ``metadata`` or the texture classifiers; stored in ``config.recipe``. By
        default :func:`~napari_sciseg.classify.afm.training.default_channel_dropout`.

    Yields
    ------
    AfmProgress
        One per training step: ``step`` of ``total_steps``, ``loss``, seconds elapsed.

    Returns
    -------
    AfmModel
        The trained model (returned by the generator).
    """
    t0 = time.perf_counter()
    if fusion in TEXTURE_KINDS:
        yield AfmProgress(0, 1, float("nan"), 0.0, f"fitting the {fusion} classifier")
        model = train_texture(
            dataset,
            fusion=fusion,
            use_metadata=use_metadata,
            tile=tile,
            seed=seed,
            target_spacing=target_spacing,
            prepared=prepared,
            normalize=normalize,
            vlad_options=vlad_options,
        )
        yield AfmProgress(1, 1, float("nan"), time.perf_counter() - t0, "done")
        return model
    setup = prepare_training(
        dataset,
        fusion=fusion,
        use_metadata=use_metadata,
        tile=tile,
        target_spacing=target_spacing,
        prepared=prepared,
        normalize=normalize,
        channel_dropout=channel_dropout,
        recipe={"steps": steps, "batch": batch, "lr": lr, "seed": seed, "width": width},
    )
    state = start_training(setup, steps=steps, batch=batch, lr=lr, seed=seed, width=width)
    for step in range(1, steps + 1):
        if cancel is not None and cancel.is_set():
            logger.info("training cancelled at step %d", step)
            break
        loss = train_step(state)
        yield AfmProgress(step, steps, loss, time.perf_counter() - t0)
    return finish_training(state)


def _fit_metadata_term(net, meta, labels, groups):
    """Fit the metadata logits on the training scans and write them into the network."""
    import torch

    from ...classify.afm.meta_model import fit_metadata_logits

    term = fit_metadata_logits(meta, labels, groups, n_classes=len(CLASSES))
    linear = net.meta_head[-1]
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(term.weight))
        linear.bias.copy_(torch.from_numpy(term.bias))
    return term


def _random_tile(scan: np.ndarray, tile: int, rng) -> np.ndarray:
    y = int(rng.integers(0, scan.shape[1] - tile + 1))
    x = int(rng.integers(0, scan.shape[2] - tile + 1))
    t = scan[:, y : y + tile, x : x + tile]
    t = np.rot90(t, int(rng.integers(0, 4)), axes=(1, 2))
    if rng.random() < 0.5:
        t = t[:, :, ::-1]
    return np.ascontiguousarray(t, dtype=np.float32)


def drop_channels(x: np.ndarray, p: float, rng, *, keep: int = 0) -> np.ndarray:
    """Modality dropout: zero a random non-empty subset of channels in a fraction of tiles.

    Parameters
    ----------
    x : (B, C, T, T) ndarray
        A batch of tiles; not modified.
    p : float
        Probability that a tile loses channels.
    rng : numpy.random.Generator
    keep : int
        The channel that is never dropped (the height).

    Returns
    -------
    (B, C, T, T) ndarray
        A copy in which each dropped tile has 1 to C - 1 of its other channels
        (the count, then the channels, drawn uniformly) set to 0.

    Examples
    --------
    >>> x = np.ones((200, 4, 2, 2), np.float32)
    >>> out = drop_channels(x, 0.5, np.random.default_rng(0))
    >>> bool(out[:, 0].all()), bool(0.4 < (out[:, 1:] == 0).any(axis=(1, 2, 3)).mean() < 0.6)
    (True, True)
    """
    x = np.array(x, copy=True)
    others = np.array([c for c in range(x.shape[1]) if c != keep])
    if p <= 0 or others.size == 0:
        return x
    for b in np.flatnonzero(rng.random(len(x)) < p):
        n = int(rng.integers(1, others.size + 1))
        x[b, rng.choice(others, size=n, replace=False)] = 0
    return x


def train_afm(dataset: AfmDataset, **kwargs) -> AfmModel:
    """Drain :func:`iter_train_afm` and return the model.

    Parameters
    ----------
    dataset : AfmDataset
        Labelled scans.
    **kwargs
        The options of :func:`iter_train_afm` (``fusion``, ``steps``, ``seed``, ...).

    Returns
    -------
    AfmModel
    """
    return drain(iter_train_afm(dataset, **kwargs))
