"""Training set-up shared by every AFM classifier, and the texture classifiers' training.

:func:`prepare_training` is the set-up step of every variant: it checks the
options, encodes the metadata, loads and prepares the scans (channels by name,
resampled to one pixel size, levelled, normalised, divided by per-channel scales
fitted on these training scans) and builds the model's
:class:`~napari_sciseg.classify.afm.model.AfmConfig`. The networks then train
in :mod:`napari_sciseg.dl.afm.train`; the texture classifiers (VLAD or texture
statistics + gradient boosting, torch-free) in :func:`train_texture`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..._validation import check_choice
from .dataset import AfmDataset, MetadataEncoder
from .model import FUSIONS, TEXTURE_KINDS, AfmConfig, AfmModel
from .scans import (
    CHANNEL_ROLES,
    NORMALIZATIONS,
    apply_channel_scales,
    channel_scales,
    prepare_dataset,
)

__all__ = [
    "TrainingSet",
    "prepare_training",
    "train_texture",
    "channels_for",
    "default_normalization",
    "default_channel_dropout",
    "auto_tile",
    "DEFAULT_TILE",
]

#: the largest tile the data-driven choice takes (pixels at the target pixel size)
DEFAULT_TILE = 128

logger = logging.getLogger(__name__)


def channels_for(fusion: str) -> tuple[str, ...]:
    """The channel roles a variant reads.

    Examples
    --------
    >>> channels_for("single"), channels_for("metadata"), len(channels_for("early"))
    (('height',), (), 4)
    """
    return ("height",) if fusion == "single" else () if fusion == "metadata" else CHANNEL_ROLES


def default_normalization(fusion: str) -> str:
    """The channel normalisation a variant trains with by default.

    Examples
    --------
    >>> default_normalization("early"), default_normalization("vlad")
    ('median', 'scan')
    """
    return "scan" if fusion in TEXTURE_KINDS else "median"


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


@dataclass(frozen=True)
class TrainingSet:
    """What a trainer needs: the config so far, prepared scans, labels, metadata.

    Attributes
    ----------
    config : AfmConfig
        Without network or metrics yet.
    scans : list of (C, Y, X) float32 ndarrays, or None
        Prepared and divided by ``config.channel_scales`` (None for ``metadata``).
    labels : (N,) int ndarray
    meta : (N, M) float32 ndarray
        Encoded metadata (M = 0 when unused).
    groups : tuple of str
        Sample of each scan.
    """

    config: AfmConfig
    scans: list | None
    labels: np.ndarray
    meta: np.ndarray
    groups: tuple


def auto_tile(scans, *, largest: int = DEFAULT_TILE) -> int:
    """The tile edge for prepared scans: ``largest``, or the smallest scan's side if less.

    Rounded down to a multiple of 16 so the strided backbone sees whole cells.

    Parameters
    ----------
    scans : sequence of (C, Y, X) ndarrays
        Prepared scans (at the target pixel size).
    largest : int

    Raises
    ------
    ValueError
        When a scan is under 32 px on a side at the target pixel size.

    Examples
    --------
    >>> auto_tile([np.zeros((1, 300, 300)), np.zeros((1, 100, 90))])
    80
    """
    side = min(min(np.shape(s)[1:]) for s in scans)
    if side < 32:
        raise ValueError(
            f"The smallest scan is {side} px on a side at the target pixel size, under the "
            "32 px a tile needs; pass a finer target_spacing or leave such scans out."
        )
    return int(min(largest, side) // 16 * 16)


def _check_options(dataset, fusion, normalize, channel_dropout) -> None:
    if fusion not in FUSIONS:
        raise ValueError(f"Unknown fusion {fusion!r}; expected one of {list(FUSIONS)}.")
    if dataset.labels is None:
        raise ValueError("The data set has no labels; training needs 'class' or counts.")
    check_choice("normalize", normalize, NORMALIZATIONS)
    if not 0.0 <= channel_dropout < 1.0:
        raise ValueError(f"channel_dropout must be in [0, 1); got {channel_dropout}.")


def _check_tile(scans, tile, target_spacing, dataset) -> None:
    too_small = [i for i, s in enumerate(scans) if min(s.shape[1:]) < tile]
    if too_small:
        raise ValueError(
            f"{len(too_small)} scan(s) are smaller than the tile ({tile} px at "
            f"{target_spacing} nm/px), e.g. {dataset.files[too_small[0]].name}; "
            "pass a smaller tile (or tile=None to choose it from the scans)."
        )


def prepare_training(
    dataset: AfmDataset,
    *,
    fusion: str,
    use_metadata: bool = True,
    tile: int | None = None,
    target_spacing: float | None = None,
    prepared: list[np.ndarray] | None = None,
    normalize: str | None = None,
    channel_dropout: float | None = None,
    recipe: dict | None = None,
) -> TrainingSet:
    """The set-up step of every variant (see the module docstring).

    Parameters are those of :func:`napari_sciseg.dl.afm.train.iter_train_afm`;
    ``recipe`` (the training options to save) is stored in the config, with
    ``channel_dropout`` added when it is on. ``tile=None`` takes
    :func:`auto_tile` of the prepared scans.

    Raises
    ------
    ValueError
        Unknown fusion or normalisation, no labels, metadata asked for but no
        usable column, scans smaller than the tile (for the networks).
    """
    normalize = default_normalization(fusion) if normalize is None else normalize
    if channel_dropout is None:
        channel_dropout = default_channel_dropout(fusion)
    _check_options(dataset, fusion, normalize, channel_dropout)
    labels = np.asarray(dataset.labels)
    encoder = MetadataEncoder.fit(dataset.metadata)
    meta_used = use_metadata or fusion in ("metadata", "maddi")
    meta = encoder.transform(dataset.metadata) if meta_used else np.zeros((len(labels), 0))
    if meta_used and meta.shape[1] == 0:
        raise ValueError(
            f"fusion {fusion!r} with metadata needs metadata columns; the CSV has "
            f"none usable (columns: {list(dataset.metadata_columns)}). "
            "Pass use_metadata=False."
        )
    channels = channels_for(fusion)
    if prepared is None and channels:
        prepared, target_spacing = prepare_dataset(
            dataset, channels, target_spacing, normalize=normalize
        )
    scales: tuple[float, ...] = ()
    if prepared is not None and normalize == "median":
        scales = tuple(float(v) for v in channel_scales(prepared))
        prepared = [apply_channel_scales(s, scales) for s in prepared]
    if tile is None:
        tile = auto_tile(prepared) if prepared is not None else DEFAULT_TILE
    if prepared is not None and fusion not in TEXTURE_KINDS:
        _check_tile(prepared, tile, target_spacing, dataset)
    recipe = dict(recipe or {})
    if channel_dropout:
        recipe["channel_dropout"] = channel_dropout
    config = AfmConfig(
        fusion,
        bool(meta_used),
        channels,
        tile,
        target_spacing,
        encoder.to_dict() if meta_used else MetadataEncoder().to_dict(),
        dataset.cutoffs.to_dict(),
        recipe=recipe,
        normalization=normalize,
        channel_scales=scales,
    )
    return TrainingSet(config, prepared, labels, meta.astype(np.float32), tuple(dataset.groups))


def train_texture(
    dataset: AfmDataset,
    *,
    fusion: str = "vlad",
    use_metadata: bool = False,
    tile: int | None = None,
    seed: int = 0,
    target_spacing: float | None = None,
    prepared: list[np.ndarray] | None = None,
    normalize: str | None = None,
    vlad_options: dict | None = None,
) -> AfmModel:
    """Train a texture classifier: per-pixel filter bank -> descriptor -> gradient boosting.

    Parameters
    ----------
    dataset : AfmDataset
        Labelled scans.
    fusion : {"vlad", "texture"}
        The descriptor (:mod:`napari_sciseg.classify.afm.vlad`).
    use_metadata : bool
        Append the encoded metadata to the descriptor.
    tile : int, optional
        Tile edge (pixels at ``target_spacing``) of the class map at prediction
        (:func:`auto_tile` by default).
    seed : int
    target_spacing : float, optional
        Pixel size (nm) the scans are resampled to; their median by default.
    prepared : list of ndarrays, optional
        Scans already prepared with this target and ``normalize``.
    normalize : {"median", "scan"}, optional
        ``"scan"`` by default (:func:`default_normalization`).
    vlad_options : dict, optional
        Passed to :func:`~napari_sciseg.classify.afm.vlad.fit_vlad` (``k``,
        ``n_estimators``, ``pixels_per_scan``).

    Returns
    -------
    AfmModel
        With ``vlad`` set.
    """
    from .vlad import fit_vlad

    if fusion not in TEXTURE_KINDS:
        raise ValueError(f"train_texture trains {list(TEXTURE_KINDS)}; got fusion {fusion!r}.")
    setup = prepare_training(
        dataset,
        fusion=fusion,
        use_metadata=use_metadata,
        tile=tile,
        target_spacing=target_spacing,
        prepared=prepared,
        normalize=normalize,
        recipe={"seed": seed, **(vlad_options or {})},
    )
    vlad = fit_vlad(
        setup.scans,
        setup.labels,
        extra=setup.meta if use_metadata else None,
        seed=seed,
        descriptor=fusion,
        **(vlad_options or {}),
    )
    return AfmModel(setup.config, vlad=vlad)
