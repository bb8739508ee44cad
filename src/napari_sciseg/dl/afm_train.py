"""Training of AFM crystal-class models (every fusion variant).

Also the one import for using them: prediction (:mod:`.afm_predict`) and
saving (:mod:`.afm_io`) are re-exported here.

Scans are prepared the same way for all variants (channels by name, resampled
to one nm/pixel, levelled, median removed, divided by per-channel scales fitted
on the training scans and saved with the model); networks train on random square tiles
with flips and 90-degree rotations (crystal classes do not depend on
orientation) and a tile carries its scan's label. A scan's prediction is the
normalised geometric mean of its tiles' class probabilities; the tiles also give a coarse class map,
which is an extrapolation of per-scan labels, not a per-region ground truth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .._generators import drain
from .._validation import check_choice
from ..classify.afm_dataset import CLASSES, AfmDataset, MetadataEncoder
from ..classify.afm_scans import (
    CHANNEL_ROLES,
    NORMALIZATIONS,
    apply_channel_scales,
    channel_scales,
    load_scan,
    prepare_scan,
)
from .afm_io import AfmConfig, AfmModel, load_afm_model, save_afm_model
from .afm_predict import ScanPrediction, predict_scan, tile_maps

__all__ = [
    "AfmConfig",
    "AfmModel",
    "AfmProgress",
    "ScanPrediction",
    "iter_train_afm",
    "train_afm",
    "predict_scan",
    "save_afm_model",
    "load_afm_model",
    "load_prepared",
    "default_normalization",
    "tile_maps",
    "drop_channels",
    "default_channel_dropout",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AfmProgress:
    step: int
    total_steps: int
    loss: float
    elapsed_s: float
    message: str = ""


def _channels_for(fusion: str) -> tuple[str, ...]:
    return ("height",) if fusion == "single" else () if fusion == "metadata" else CHANNEL_ROLES


def load_prepared(dataset: AfmDataset, channels, target_nm_per_px, *, normalize: str = "median"):
    """Load and prepare every scan of a data set; returns (scans, target nm/px).

    ``normalize`` as in :func:`~napari_sciseg.classify.afm_scans.prepare_scan`
    (a model's ``config.normalization``); the model's channel scales are applied
    later, by training and :func:`predict_scan`.
    """
    raw = [
        load_scan(f, channels=channels or CHANNEL_ROLES, nm_per_px=nm)
        for f, nm in zip(dataset.files, dataset.nm_per_px)
    ]
    if target_nm_per_px is None:
        known = [nm for _, nm in raw if nm]
        target_nm_per_px = float(np.median(known)) if known else None
    shapes = {d.shape[1:] for d, _ in raw}
    if len(shapes) > 1:
        logger.info(
            "scans of %d different sizes; all are tiled at %s nm/px", len(shapes), target_nm_per_px
        )
    names = channels or CHANNEL_ROLES
    scans = [
        prepare_scan(
            d,
            nm_per_px=nm,
            target_nm_per_px=target_nm_per_px,
            channel_names=names,
            normalize=normalize,
        )
        for d, nm in raw
    ]
    return scans, target_nm_per_px


def default_normalization(fusion: str) -> str:
    """The channel normalisation a variant trains with by default.

    Examples
    --------
    >>> default_normalization("early"), default_normalization("vlad")
    ('median', 'scan')
    """
    return "scan" if fusion == "vlad" else "median"


def default_channel_dropout(fusion: str) -> float:
    """The fraction of training tiles that lose non-height channels, by default.

    0 (off) for every variant. On the first synthetic generator, whose extra
    channels were views of the height, 0.5 had helped early fusion a little
    (0.909 / 0.899 -> 0.944 / 0.908 macro F1 on the development set). On the
    current one, where the phase shows what the height hides, it costs early
    fusion 0.901 / 0.820 -> 0.815 / 0.794 and early fusion + metadata
    0.879 / 0.799 -> 0.815 / 0.796 (development set, grouped 4-fold
    cross-validation, 2 seeds; ``benchmarks/results/afm_validation.md``).

    Examples
    --------
    >>> default_channel_dropout("early"), default_channel_dropout("late")
    (0.0, 0.0)
    """
    return 0.0


def iter_train_afm(
    dataset: AfmDataset,
    *,
    fusion: str = "early",
    use_metadata: bool = True,
    tile: int = 128,
    steps: int = 300,
    batch: int = 16,
    lr: float = 1e-2,
    seed: int = 0,
    target_nm_per_px: float | None = None,
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
        Labelled scans (``classify.afm_dataset.read_dataset``).
    fusion : str
        One of ``single, early, late, hybrid, metadata, maddi, vlad``.
    use_metadata : bool
        Use the metadata columns too (always for ``metadata`` and ``maddi``). For
        ``single``, ``early``, ``late`` and ``hybrid`` the network is trained on
        the images alone and the metadata term, class logits of a logistic
        regression on the metadata that are added to the image logits, is
        fitted afterwards (:func:`~napari_sciseg.classify.afm_meta_model.fit_metadata_logits`;
        its ridge strength, chosen by grouped cross-validation, is stored in
        ``config.recipe["metadata_ridge"]``, None where the term is off).
    tile, steps, batch, lr, seed, width
        Tile size (pixels at the target nm/px), optimiser steps, tiles per step,
        peak Adam learning rate (one-cycle schedule: warm-up then cosine decay),
        seed, backbone width. Tuned on a grouped validation split of synthetic
        training samples: with 2e-3 the networks were still under-trained after
        300 steps.
    target_nm_per_px : float, optional
        Pixel size scans are resampled to; the data set's median by default.
    cancel : threading.Event, optional
        Set it to stop early; the model trained so far is returned.
    prepared : list of ndarrays, optional
        Scans already prepared with this target and ``normalize`` (saves reloading).
    vlad_options : dict, optional
        Passed to :func:`napari_sciseg.classify.afm_vlad.fit_vlad` (``k``,
        ``n_estimators``, ``pixels_per_scan``) for ``fusion="vlad"``.
    normalize : {"median", "scan"}, optional
        Channel normalisation (:func:`~napari_sciseg.classify.afm_scans.prepare_scan`).
        With ``"median"`` the channels are then divided by scales fitted on these
        training scans (:func:`~napari_sciseg.classify.afm_scans.channel_scales`),
        saved as ``config.channel_scales``. By default ``"median"`` for the
        networks (early fusion gained ~0.05 macro F1 over ``"scan"``) and ``"scan"``
        for ``vlad`` (0.79 vs 0.62), as measured on a development data set of the
        first synthetic generator (``benchmarks/results/afm_validation.md``).
    channel_dropout : float, optional
        Modality dropout of the image channels (ModDrop, Neverova et al. 2015):
        the fraction of training tiles in which a random non-empty subset of the
        channels other than the height is set to 0 (the median-centred value of
        the film), so the network cannot rely on the derived channels alone.
        Prediction always uses every channel. No effect with a single channel,
        ``metadata`` or ``vlad``; stored in ``config.recipe``. The metadata term
        has its own modality dropout (:mod:`napari_sciseg.dl.afm`). By default
        :func:`default_channel_dropout` (chosen on a development data set).
    """
    import torch

    from .afm import FUSIONS, create_afm_net

    if fusion not in FUSIONS:
        raise ValueError(f"Unknown fusion {fusion!r}; expected one of {list(FUSIONS)}.")
    if dataset.labels is None:
        raise ValueError("The data set has no labels; training needs 'class' or counts.")
    t0 = time.perf_counter()
    labels = np.asarray(dataset.labels)
    encoder = MetadataEncoder.fit(dataset.metadata)
    meta_used = use_metadata or fusion in ("metadata", "maddi")
    meta = (
        encoder.transform(dataset.metadata) if meta_used else np.zeros((len(labels), 0), np.float32)
    )
    if meta_used and meta.shape[1] == 0:
        raise ValueError(
            f"fusion {fusion!r} with metadata needs metadata columns; the CSV has "
            f"none usable (columns: {list(dataset.metadata_columns)}). Use --no-metadata."
        )
    channels = _channels_for(fusion)
    normalize = default_normalization(fusion) if normalize is None else normalize
    check_choice("normalize", normalize, NORMALIZATIONS)
    if channel_dropout is None:
        channel_dropout = default_channel_dropout(fusion)
    if not 0.0 <= channel_dropout < 1.0:
        raise ValueError(f"channel_dropout must be in [0, 1); got {channel_dropout}.")
    if prepared is None and channels:
        prepared, target_nm_per_px = load_prepared(
            dataset, channels, target_nm_per_px, normalize=normalize
        )
    scales: tuple[float, ...] = ()
    if prepared is not None and normalize == "median":
        scales = tuple(float(v) for v in channel_scales(prepared))
        prepared = [apply_channel_scales(s, scales) for s in prepared]
    recipe = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, "width": width}
    if channel_dropout:
        recipe["channel_dropout"] = channel_dropout
    config = AfmConfig(
        fusion,
        bool(meta_used),
        channels,
        tile,
        target_nm_per_px,
        encoder.to_dict() if meta_used else MetadataEncoder().to_dict(),
        dataset.cutoffs.to_dict(),
        recipe=recipe,
        normalization=normalize,
        channel_scales=scales,
    )
    if fusion == "vlad":
        from ..classify.afm_vlad import fit_vlad

        yield AfmProgress(0, 1, float("nan"), time.perf_counter() - t0, "fitting VLAD dictionary")
        vlad = fit_vlad(
            prepared,
            labels,
            extra=meta if use_metadata else None,
            seed=seed,
            **(vlad_options or {}),
        )
        yield AfmProgress(1, 1, float("nan"), time.perf_counter() - t0, "done")
        return AfmModel(config, vlad=vlad)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = create_afm_net(
        fusion,
        in_channels=max(len(channels), 1),
        n_meta=meta.shape[1],
        use_metadata=use_metadata,
        width=width,
    )
    config = AfmConfig(**{**config.__dict__, "net": net.config})
    if prepared is not None:
        too_small = [i for i, s in enumerate(prepared) if min(s.shape[1:]) < tile]
        if too_small:
            raise ValueError(
                f"{len(too_small)} scan(s) are smaller than the tile ({tile} px at "
                f"{target_nm_per_px} nm/px), e.g. {dataset.files[too_small[0]].name}; "
                "use a smaller --tile."
            )
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(float)
    sample_p = 1.0 / counts[labels]
    sample_p /= sample_p.sum()  # class-balanced sampling of scans
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    loss_fn = torch.nn.CrossEntropyLoss()
    meta_t = torch.from_numpy(meta)
    net.train()
    for step in range(1, steps + 1):
        if cancel is not None and cancel.is_set():
            logger.info("training cancelled at step %d", step)
            break
        idx = rng.choice(len(labels), size=batch, p=sample_p)
        if prepared is not None:
            x = np.stack([_random_tile(prepared[i], tile, rng) for i in idx])
            if channel_dropout:
                x = drop_channels(x, channel_dropout, rng, keep=channels.index("height"))
            x = torch.from_numpy(x)
        else:
            x = torch.zeros(batch, 1, 1, 1)
        logits = net(x, meta_t[idx] if meta_used else None)
        loss = loss_fn(logits, torch.from_numpy(labels[idx]).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        yield AfmProgress(step, steps, loss.item(), time.perf_counter() - t0)
    net.eval()
    if net.use_metadata:  # image fusions + metadata: the term is fitted on its own
        term = _fit_metadata_term(net, meta, labels, dataset.groups)
        # JSON has no infinity: None = the term is off
        ridge = term.ridge if np.isfinite(term.ridge) else None
        recipe = {**config.recipe, "metadata_ridge": ridge}
        config = AfmConfig(**{**config.__dict__, "recipe": recipe})
    return AfmModel(config, net=net)


def _fit_metadata_term(net, meta, labels, groups):
    """Fit the metadata logits on the training scans and write them into the network."""
    import torch

    from ..classify.afm_meta_model import fit_metadata_logits

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
    """Drain :func:`iter_train_afm` and return the model."""
    return drain(iter_train_afm(dataset, **kwargs))
