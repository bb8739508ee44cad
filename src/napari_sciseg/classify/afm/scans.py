"""AFM scans for classification: channel selection, resampling, levelling and tiles.

Every classifier sees a scan the same way: the four channels picked by name
(height, amplitude, phase, z-sensor), resampled to the model's pixel size (so a
crystal has the same size in pixels whatever the scan resolution), levelled and
normalised per channel, then cut into square tiles.

Two normalisations (``normalize=``):

- ``"median"`` (models trained since format 3): each levelled channel minus its
  median, in its physical unit; the model then divides by one robust scale per
  channel fitted on its training scans (:func:`channel_scales`). AFM offsets
  (phase zero, amplitude setpoint, height datum) are arbitrary, so removing the
  median (the amorphous film, which covers most of a scan) is safe, while the
  contrast keeps its meaning across scans: a crystal 30 nm high or 12 degrees
  out of phase looks the same in every scan, whatever else the scan holds.
- ``"scan"`` (older models): the 1st-99th percentiles of each channel of each
  scan mapped to 0-1. It also erases that contrast: a scan of lamellae only and
  one of spherulites only both reach 1, although phase (material contrast)
  differs between them by degrees.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .level import level_scan

__all__ = [
    "CHANNEL_ROLES",
    "channel_role",
    "select_channels",
    "prepare_scan",
    "channel_scales",
    "apply_channel_scales",
    "NORMALIZATIONS",
    "tile_corners",
    "extract_tiles",
    "load_scan",
    "prepare_dataset",
]

logger = logging.getLogger(__name__)

CHANNEL_ROLES = ("height", "amplitude", "phase", "z-sensor")
NORMALIZATIONS = ("median", "scan")
_ALIASES = {
    "z-sensor": (
        "z-sensor",
        "zsensor",
        "height sensor",
        "z sensor",
        "measuredheight",
        "height (measured)",
        "z-axis sensor",  # Nanosurf
    ),
    "height": ("height", "z height", "topography", "heighttrace", "height trace", "z-axis"),
    "amplitude": ("amplitude", "amplitude error", "error", "amplitudetrace", "lock-in amplitude"),
    "phase": ("phase", "phase error", "phasetrace", "lock-in phase"),
}


def channel_role(name: str) -> str | None:
    """The role (one of :data:`CHANNEL_ROLES`) of a vendor channel name, or None.

    Retrace channels have no role (the trace is used).

    Examples
    --------
    >>> channel_role("Height Sensor"), channel_role("Amplitude Error"), channel_role("Friction")
    ('z-sensor', 'amplitude', None)
    >>> channel_role("Z-Axis"), channel_role("Z-Axis Sensor"), channel_role("Z-Axis (retrace)")
    ('height', 'z-sensor', None)
    """
    n = name.strip().lower()
    if "retrace" in n:
        return None
    for role in ("z-sensor", "height", "amplitude", "phase"):
        if n in _ALIASES[role]:
            return role
    return None


def select_channels(
    data: np.ndarray, channel_names=(), *, channels=CHANNEL_ROLES, source: str = "scan"
) -> np.ndarray:
    """Pick ``channels`` (roles) from a (C, Y, X) scan by name.

    Without names, a 4-channel scan is taken to be in the order height,
    amplitude, phase, z-sensor (the study's A-D).

    Raises
    ------
    ValueError
        When a requested channel is missing; the message lists those present.
    """
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise ValueError(f"{source}: expected (C, Y, X) channels; got shape {data.shape}.")
    names = list(channel_names)
    if not names:
        if data.shape[0] == len(CHANNEL_ROLES):
            names = list(CHANNEL_ROLES)
        elif data.shape[0] == 1:
            names = ["height"]
        else:
            names = [f"channel {i}" for i in range(data.shape[0])]
    roles = [channel_role(n) for n in names]
    out = []
    missing = []
    for want in channels:
        if want in roles:
            out.append(data[roles.index(want)])
        else:
            missing.append(want)
    if missing:
        raise ValueError(
            f"{source}: missing channel(s) {missing}; present: {names}. The model needs "
            f"{list(channels)} (otherwise train with fewer channels, e.g. fusion 'single')."
        )
    return np.stack(out).astype(np.float32)


def prepare_scan(
    data: np.ndarray,
    *,
    spacing: float | None = None,
    target_spacing: float | None = None,
    channel_names=CHANNEL_ROLES,
    normalize: str = "median",
) -> np.ndarray:
    """Resample to ``target_spacing``, level and normalise each channel (float32).

    Parameters
    ----------
    data : (C, Y, X) ndarray
        Channels in ``channel_names`` order.
    spacing, target_spacing : float, optional
        The scan's pixel size (nm, square pixels) and the one to resample to (skipped if either is
        missing or they differ by under 2 %).
    channel_names : tuple of str
        Roles of the channels (height-like channels get plane removal).
    normalize : {"median", "scan"}
        ``"median"``: subtract each channel's median (physical units kept);
        ``"scan"``: map each channel's 1st-99th percentiles to 0-1.

    Returns
    -------
    (C, Y', X') float32 ndarray

    Examples
    --------
    >>> yy, xx = np.mgrid[:32, :32]
    >>> scan = np.stack([0.2 * xx + 3.0, 10.0 + (xx > 20) * 5.0])
    >>> out = prepare_scan(scan, channel_names=("height", "phase"))
    >>> float(np.abs(out[0]).max()) < 1e-4, sorted(np.unique(out[1]).tolist())
    (True, [0.0, 5.0])
    """
    from ..._validation import check_choice

    check_choice("normalize", normalize, NORMALIZATIONS)
    data = np.asarray(data, dtype=np.float32)
    if target_spacing and spacing and abs(spacing / target_spacing - 1) > 0.02:
        from skimage.transform import resize

        factor = spacing / target_spacing
        block = round(1 / factor)
        c, ny, nx = data.shape
        if block > 1 and abs(block * factor - 1) < 0.02 and ny % block == 0 and nx % block == 0:
            # integer down-sampling: block means (exact area averaging, fast)
            data = data.reshape(c, ny // block, block, nx // block, block).mean(axis=(2, 4))
            return _level(data, channel_names, normalize)
        shape = tuple(max(8, int(round(s * factor))) for s in data.shape[1:])
        data = np.stack(
            [resize(c, shape, order=1, anti_aliasing=factor < 1, preserve_range=True) for c in data]
        ).astype(np.float32)
    return _level(data, channel_names, normalize)


def _level(data, channel_names, normalize):
    out = level_scan(
        data, channel_names=tuple(channel_names), normalize=normalize == "scan", scars=False
    )
    if normalize == "median":
        out -= np.median(out, axis=(1, 2), keepdims=True)
    return out


def apply_channel_scales(scan: np.ndarray, scales) -> np.ndarray:
    """A prepared (C, Y, X) scan divided by per-channel ``scales`` (none: unchanged).

    >>> apply_channel_scales(np.ones((2, 1, 1), np.float32), [2.0, 4.0]).ravel().tolist()
    [0.5, 0.25]
    """
    if not len(scales):
        return scan
    return (scan / np.asarray(scales, np.float32)[:, None, None]).astype(np.float32)


def channel_scales(scans, *, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """One robust scale per channel: the median over scans of the percentile range.

    Parameters
    ----------
    scans : sequence of (C, Y, X) ndarrays
        Scans prepared with ``normalize="median"`` (the training scans).
    low, high : float
        Percentiles whose distance measures a channel's contrast in one scan.

    Returns
    -------
    (C,) float32 ndarray
        Positive scales (1 for a channel without contrast); divide the channels
        by them so that every channel has a typical range of about 1.

    Examples
    --------
    >>> a = np.stack([np.linspace(0, 50, 101), np.linspace(0, 0.1, 101)])[:, None]
    >>> [round(float(v), 3) for v in channel_scales([a, 2 * a])]
    [73.5, 0.147]
    """
    scans = list(scans)
    if not scans:
        raise ValueError("channel_scales needs at least one scan; got none.")
    ranges = np.array(
        [np.subtract(*np.percentile(s, [high, low], axis=(1, 2))) for s in scans], dtype=np.float64
    )
    scales = np.median(ranges, axis=0)
    return np.where(scales > 0, scales, 1.0).astype(np.float32)


def tile_corners(shape, tile: int, *, stride: int | None = None) -> list[tuple[int, int]]:
    """Top-left corners of tiles covering ``shape`` (the last ones flush with the edge).

    Examples
    --------
    >>> tile_corners((256, 200), 128)
    [(0, 0), (0, 72), (128, 0), (128, 72)]
    """
    stride = stride or tile
    if shape[0] < tile or shape[1] < tile:
        raise ValueError(
            f"The scan ({shape[0]}x{shape[1]} px after resampling) is smaller than one tile "
            f"({tile}x{tile}); use a smaller tile or scans with more pixels."
        )

    def starts(n):
        s = list(range(0, n - tile + 1, stride))
        if s[-1] != n - tile:
            s.append(n - tile)
        return s

    return [(y, x) for y in starts(shape[0]) for x in starts(shape[1])]


def extract_tiles(data: np.ndarray, tile: int, *, stride: int | None = None):
    """(N, C, tile, tile) tiles and their corners."""
    corners = tile_corners(data.shape[-2:], tile, stride=stride)
    tiles = np.stack([data[:, y : y + tile, x : x + tile] for y, x in corners])
    return tiles, corners


def load_scan(path: str | Path, *, channels=CHANNEL_ROLES, spacing: float | None = None):
    """Read a scan file and pick its channels.

    Parameters
    ----------
    path : str or Path
        A vendor AFM file or a multi-channel TIFF (see :func:`napari_sciseg.io.read_image`).
    channels : tuple of str
        Roles to pick (:data:`CHANNEL_ROLES`).
    spacing : float, optional
        The pixel size in nm (the file's calibration if None or NaN).

    Returns
    -------
    data : (len(channels), Y, X) float32 ndarray
    spacing : float or None
        ``spacing`` if given, else the file's calibration (None when uncalibrated).
    """
    from ...io import read_image

    path = Path(path)
    img = read_image(path)
    data = np.asarray(img.data)
    if img.axes not in ("CYX", "YX"):
        if data.ndim == 3 and img.axes.endswith("YX"):
            data = data.reshape(-1, *data.shape[-2:])
        else:
            raise ValueError(f"{path.name}: expected a (C, Y, X) scan; got axes {img.axes!r}.")
    picked = select_channels(data, img.channel_names, channels=channels, source=path.name)
    if spacing is None or not np.isfinite(spacing):
        spacing = float(img.spacing[-1]) if img.calibrated else None
    return picked, spacing


def prepare_dataset(dataset, channels, target_spacing=None, *, normalize: str = "median"):
    """Load and prepare every scan of a data set.

    Parameters
    ----------
    dataset : AfmDataset
    channels : tuple of str
        Roles to pick (all four when empty).
    target_spacing : float, optional
        Pixel size (nm) to resample to; the median of the scans' pixel sizes by default.
    normalize : {"median", "scan"}
        As in :func:`prepare_scan` (a model's ``config.normalization``); a model's
        channel scales are applied later, by training and prediction.

    Returns
    -------
    scans : list of (C, Y, X) float32 ndarrays
    target_spacing : float or None
    """
    raw = [
        load_scan(f, channels=channels or CHANNEL_ROLES, spacing=s)
        for f, s in zip(dataset.files, dataset.spacing)
    ]
    if target_spacing is None:
        known = [s for _, s in raw if s]
        target_spacing = float(np.median(known)) if known else None
    shapes = {d.shape[1:] for d, _ in raw}
    if len(shapes) > 1:
        logger.info("scans of %d sizes; all are tiled at %s nm/px", len(shapes), target_spacing)
    names = channels or CHANNEL_ROLES
    scans = [
        prepare_scan(
            d, spacing=s, target_spacing=target_spacing, channel_names=names, normalize=normalize
        )
        for d, s in raw
    ]
    return scans, target_spacing
