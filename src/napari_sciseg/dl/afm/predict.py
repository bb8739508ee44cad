"""Classifying AFM scans with a trained crystal-class model, and the tile class map.

A scan's prediction is the normalised geometric mean of its tiles' class
probabilities; the tiles also give a coarse class map, which is an
extrapolation of per-scan labels, not a per-region ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._generators import check_cancelled
from ...classify.afm.dataset import CLASSES
from ...classify.afm.model import AfmModel
from ...classify.afm.scans import apply_channel_scales, extract_tiles, prepare_scan

__all__ = ["ScanPrediction", "predict_scan", "tile_labels", "tile_maps", "tile_table"]


@dataclass(frozen=True)
class ScanPrediction:
    """Prediction for one scan.

    ``probabilities`` (K,) is the scan's class probabilities; ``tile_probabilities``
    (N, K) those of its tiles, whose top-left ``corners`` and ``tile`` size are
    in the pixels of the scan as given (before resampling).
    """

    probabilities: np.ndarray
    tile_probabilities: np.ndarray
    corners: tuple
    tile: float

    @property
    def label(self) -> str:
        return CLASSES[int(np.argmax(self.probabilities))]


def predict_scan(
    model: AfmModel,
    data: np.ndarray | None,
    *,
    spacing: float | None = None,
    metadata: dict | None = None,
    prepared: bool = False,
    map_tile: int | None = None,
    symmetries: int = 1,
    class_map: bool = True,
    cancel=None,
) -> ScanPrediction:
    """Classify one scan (channels already selected in ``model.config.channels`` order).

    Parameters
    ----------
    model : AfmModel
    data : (C, Y, X) ndarray or None
        The scan's channels (None for a metadata-only model).
    spacing : float, optional
        The scan's pixel size in nm, to resample to the model's (``config.target_spacing``).
    metadata : dict, optional
        The scan's metadata columns (required when the model uses metadata).
    prepared : bool
        ``data`` is already prepared (resampled, levelled, normalised with
        ``model.config.normalization``, e.g. by
        :func:`~napari_sciseg.classify.afm.scans.prepare_dataset`); the model's
        channel scales are applied here either way.
    map_tile : int, optional
        Tile size (pixels at the model's pixel size) of the class map; half the
        model's tile by default. The scan's probabilities always come from
        tiles of the model's size (overlapping by half), combined by
        the mean of their log-probabilities.
    symmetries : {1, 2, 4, 8}
        Also classify each scan tile turned by 90 degrees (2), by 0-270 degrees
        (4), and mirrored (8), and combine all (crystal classes do not depend on
        orientation; training saw every turn and mirror). Costs that many
        network passes; the class map stays single-pass.
    class_map : bool
        Also classify the map tiles (False: ``tile_probabilities`` is empty,
        which is faster when only the scan's class is wanted).
    cancel : threading.Event or callable, optional
        Checked between the stages and between batches of tiles; when set, the
        call raises :class:`napari_sciseg._generators.Cancelled`.

    Returns
    -------
    ScanPrediction
        The scan's class probabilities, and its tiles' (for :func:`tile_maps`).

    Examples
    --------
    >>> import tempfile
    >>> from napari_sciseg.classify.afm.dataset import read_dataset
    >>> from napari_sciseg.classify.afm.scans import prepare_dataset
    >>> from napari_sciseg.data.afm import afm_dataset
    >>> from napari_sciseg.dl.afm import train_afm
    >>> scans = read_dataset(afm_dataset(tempfile.mkdtemp(), n_scans=8, n_samples=4,
    ...                                  shape=(64, 64)))
    >>> model = train_afm(scans, fusion="texture", use_metadata=False)
    >>> cfg = model.config
    >>> ready, _ = prepare_dataset(scans, cfg.channels, cfg.target_spacing,
    ...                            normalize=cfg.normalization)
    >>> p = predict_scan(model, ready[0], prepared=True)
    >>> p.label in CLASSES, round(float(p.probabilities.sum()), 3)
    (True, 1.0)
    """
    cfg = model.config
    meta = np.zeros((1, 0), np.float32)
    if model.needs_metadata:
        if metadata is None:
            raise ValueError(
                f"This model ({cfg.fusion}, with metadata) needs the scan's metadata "
                f"columns {list(model.encoder.columns)}."
            )
        meta = model.encoder.transform([metadata])
    if cfg.fusion == "metadata" or data is None:
        import torch

        with torch.no_grad():
            p = torch.softmax(model.net(torch.zeros(1, 1, 1, 1), torch.from_numpy(meta)), 1)
        p = p.numpy()[0]
        shape = () if data is None else np.shape(data)[1:]
        return ScanPrediction(p, p[None], ((0, 0),), float(max(shape) if shape else 1))
    original = np.shape(data)[1:]
    x = (
        data
        if prepared
        else prepare_scan(
            data,
            spacing=spacing,
            target_spacing=cfg.target_spacing,
            channel_names=cfg.channels,
            normalize=cfg.normalization,
        )
    )
    check_cancelled(cancel, "classifying the tiles")
    x = apply_channel_scales(x, cfg.channel_scales)
    factor = original[-1] / x.shape[-1]
    tile = min(cfg.tile, *x.shape[1:])
    map_tile = map_tile or max(16, cfg.tile // 2)
    map_tile = min(map_tile, *x.shape[1:])
    _, corners = extract_tiles(x[:1], map_tile)
    corners = corners if class_map else []
    if model.vlad is not None:
        scan_p, tile_p = _texture_proba(model.vlad, x, corners, map_tile, meta, cancel)
    else:
        tiles, _ = extract_tiles(x, tile, stride=max(tile // 2, 1))
        scan_p = _aggregate(_net_proba(model.net, _symmetric(tiles, symmetries), meta, cancel))
        tile_p = np.zeros((0, len(scan_p)))
        if class_map:
            tile_p = _net_proba(model.net, extract_tiles(x, map_tile)[0], meta, cancel)
    corners_orig = tuple((y * factor, xx * factor) for y, xx in corners)
    return ScanPrediction(
        scan_p.astype(np.float32), tile_p.astype(np.float32), corners_orig, map_tile * factor
    )


def _aggregate(tile_p: np.ndarray) -> np.ndarray:
    """A scan's class probabilities from its tiles': the normalised geometric mean.

    The mean of log-probabilities treats tiles as independent pieces of
    evidence about one scan (a naive-Bayes combination, tempered by the number
    of tiles): a class that tiles confidently rule out is penalised more than
    with the plain mean of probabilities.

    Examples
    --------
    >>> _aggregate(np.array([[0.9, 0.1], [0.4, 0.6]])).round(3).tolist()
    [0.71, 0.29]
    """
    logp = np.log(np.clip(tile_p, 1e-7, 1.0)).mean(0)
    p = np.exp(logp - logp.max())
    return p / p.sum()


def _symmetric(tiles: np.ndarray, n: int) -> np.ndarray:
    """(N, C, T, T) tiles -> (n * N, C, T, T): turned by 90 degrees, then also mirrored.

    Examples
    --------
    >>> out = _symmetric(np.arange(9.0).reshape(1, 1, 3, 3), 8)
    >>> out.shape, len({t.tobytes() for t in out})  # the 8 symmetries of a square
    ((8, 1, 3, 3), 8)
    """
    if n not in (1, 2, 4, 8):
        raise ValueError(f"symmetries must be 1, 2, 4 or 8; got {n}.")
    turns = [np.rot90(tiles, k, axes=(2, 3)) for k in range(min(n, 4))]
    if n == 8:
        turns += [t[..., ::-1] for t in turns]
    return np.ascontiguousarray(np.concatenate(turns))


def _net_proba(net, tiles: np.ndarray, meta: np.ndarray, cancel=None,
               batch: int = 64) -> np.ndarray:
    """Class probabilities of ``tiles``, ``batch`` tiles per pass, ``cancel`` checked between."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, max(len(tiles), 1), batch):
            check_cancelled(cancel, "the next tiles")
            part = np.ascontiguousarray(tiles[start:start + batch])
            m = torch.from_numpy(np.repeat(meta, len(part), 0)) if meta.shape[1] else None
            out.append(torch.softmax(net(torch.from_numpy(part), m), 1).numpy())
    return np.concatenate(out)


def tile_maps(prediction: ScanPrediction, shape) -> tuple[np.ndarray, np.ndarray]:
    """Paint tile predictions onto the scan's pixel grid.

    Parameters
    ----------
    prediction : ScanPrediction
        The scan's prediction.
    shape : tuple of int
        (Y, X) of the scan.

    Returns
    -------
    classes : (Y, X) uint8 ndarray
        1 + the index in :data:`CLASSES` of the most probable class (0 nowhere).
    probabilities : (K, Y, X) float32 ndarray
        Per-class probability; overlapping tiles are averaged.

    Examples
    --------
    >>> p = ScanPrediction(np.eye(5)[0], np.eye(5)[[0, 3]], ((0, 0), (0, 2)), 2.0)
    >>> tile_maps(p, (2, 4))[0].tolist()
    [[1, 1, 4, 4], [1, 1, 4, 4]]
    """
    shape = tuple(int(s) for s in shape)
    k = prediction.tile_probabilities.shape[1]
    acc = np.zeros((k, *shape), np.float64)
    weight = np.zeros(shape, np.float64)
    size = int(round(prediction.tile))
    for (y, x), p in zip(prediction.corners, prediction.tile_probabilities):
        y0, x0 = int(round(y)), int(round(x))
        acc[:, y0 : y0 + size, x0 : x0 + size] += p[:, None, None]
        weight[y0 : y0 + size, x0 : x0 + size] += 1
    covered = weight > 0
    acc[:, covered] /= weight[covered]
    classes = np.where(covered, acc.argmax(0) + 1, 0).astype(np.uint8)
    return classes, acc.astype(np.float32)


def tile_labels(prediction: ScanPrediction, shape) -> np.ndarray:
    """One label per tile on the scan's pixel grid (a later tile covers an earlier one).

    Parameters
    ----------
    prediction : ScanPrediction
        The scan's prediction, with its tile ``corners`` and ``tile`` size.
    shape : tuple of int
        (Y, X) of the scan.

    Returns
    -------
    (Y, X) int32 ndarray
        ``i`` where tile ``i - 1`` of ``prediction.corners`` lies, 0 outside every tile;
        the row ``i`` of :func:`tile_table` describes it.

    Examples
    --------
    >>> p = ScanPrediction(np.eye(5)[0], np.eye(5)[[0, 3]], ((0, 0), (0, 2)), 2.0)
    >>> tile_labels(p, (2, 5)).tolist()
    [[1, 1, 2, 2, 0], [1, 1, 2, 2, 0]]
    """
    tiles = np.zeros(tuple(int(s) for s in shape), np.int32)
    size = int(round(prediction.tile))
    for i, (y, x) in enumerate(prediction.corners, start=1):
        y0, x0 = int(round(y)), int(round(x))
        tiles[y0 : y0 + size, x0 : x0 + size] = i
    return tiles


def tile_table(prediction: ScanPrediction) -> dict[str, np.ndarray | list]:
    """The tiles as table columns: index, most probable class, and ``p_<class>`` columns.

    Row 0 stands for label 0 of :func:`tile_labels` (no tile: class "none", NaN
    probabilities), row ``i`` for tile ``i``.

    Parameters
    ----------
    prediction : ScanPrediction
        The scan's prediction.

    Returns
    -------
    dict
        ``index`` (N + 1,), ``class`` (N + 1 names) and one ``p_<class>`` (N + 1,)
        column per class of :data:`CLASSES`.

    Examples
    --------
    >>> p = ScanPrediction(np.eye(5)[0], np.eye(5)[[0, 3]], ((0, 0), (0, 2)), 2.0)
    >>> table = tile_table(p)
    >>> table["class"][1:] == [CLASSES[0], CLASSES[3]]
    True
    """
    tile_class = prediction.tile_probabilities.argmax(1)
    table = {
        "index": np.arange(len(tile_class) + 1),
        "class": ["none"] + [CLASSES[c] for c in tile_class],
    }
    for k, c in enumerate(CLASSES):
        table[f"p_{c}"] = np.r_[np.nan, prediction.tile_probabilities[:, k]]
    return table


def _texture_proba(vlad, x, corners, map_tile, meta, cancel=None):
    """(scan, tiles) class probabilities of a texture classifier (descriptor + trees)."""
    from ...classify.afm.vlad import pixel_features

    feats = pixel_features(x)
    check_cancelled(cancel, "the scan's descriptor")
    whole = vlad.encode(None, features=feats, n_pixels=6000, seed=0)[None]
    if not corners:
        whole = np.concatenate([whole, meta], axis=1) if meta.shape[1] else whole
        return vlad.predict_proba(whole)[0], np.zeros((0, vlad.n_classes))
    vecs = []
    for y, xx in corners:
        check_cancelled(cancel, "the next tiles")
        tile = feats[y : y + map_tile, xx : xx + map_tile]
        vecs.append(vlad.encode(None, features=tile, n_pixels=4000, seed=0))
    vecs = np.stack(vecs)
    if meta.shape[1]:
        vecs = np.concatenate([vecs, np.repeat(meta, len(vecs), 0)], axis=1)
        whole = np.concatenate([whole, meta], axis=1)
    return vlad.predict_proba(whole)[0], vlad.predict_proba(vecs)
