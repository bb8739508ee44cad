"""Fibers in a 3D segmentation: cc3d labelling, dusting, per-fiber geometry.

The workflow of the DLSIA fiber study (``SCIENCE.md`` section 1): label the 3D
connected components of a fiber mask (26-connectivity), remove the small ones
("dusting"), then measure every fiber. All lengths are physical (``spacing``).

Per fiber:

- ``length``: end-to-end extent along the principal axis of its voxels. Voxel
  centres sample the solid, so the extreme centres lie inside the true ends; each
  end is moved out by half the typical gap between successive projected centres
  (half a voxel for an axis-aligned fiber, almost nothing for an oblique one).
- ``arc_length``: length of the centre line: either the centroids of slabs
  across the principal axis (``arc="centerline"``, default: smooth, fast), or
  the skeleton (``arc="skeleton"``, :func:`skimage.morphology.skeletonize` in
  3D, measured as the minimum spanning tree of its voxels); both extended to the
  two end planes.
- ``radius``: of the equivalent cylinder, ``sqrt(volume / (pi * arc_length))``.
- ``tortuosity``: ``arc_length / length`` (1 for a straight fiber).
- direction ``(dz, dy, dx)``: unit principal axis, first non-zero component
  positive; ``polar`` angle from +z and ``azimuth`` = atan2(dy, dx), in degrees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_choice, check_spacing

__all__ = ["FiberResult", "FiberStats", "fibers", "label_fibers", "COLUMNS"]

logger = logging.getLogger(__name__)

#: columns of :attr:`FiberResult.table`, in order.
COLUMNS = (
    "label",
    "voxels",
    "volume",
    "length",
    "arc_length",
    "radius",
    "tortuosity",
    "dz",
    "dy",
    "dx",
    "polar",
    "azimuth",
    "z",
    "y",
    "x",
)
#: bytes of working memory needed per voxel (mask + labels + temporaries).
BYTES_PER_VOXEL = 10


@dataclass(frozen=True)
class FiberStats:
    """Statistics of the whole volume.

    Attributes
    ----------
    count : int
        Number of fibers kept.
    volume_fraction : float
        Fiber voxels (after dusting) / all voxels.
    orientation_tensor : (3, 3) ndarray
        Second-order orientation tensor ``mean(d d^T)`` over fibers (z, y, x);
        its trace is 1; ``eye(3) / 3`` for isotropic fibers.
    principal_direction : (3,) ndarray
        Eigenvector of the largest eigenvalue of the tensor (NaN without fibers).
    n_dusted : int
        Components removed for being smaller than ``min_size``.
    spacing : tuple of floats
    """

    count: int
    volume_fraction: float
    orientation_tensor: np.ndarray = field(repr=False)
    principal_direction: np.ndarray
    n_dusted: int
    spacing: tuple[float, ...]

    def to_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "count": self.count,
            "volume_fraction": self.volume_fraction,
            "orientation_tensor": np.round(self.orientation_tensor, 6).tolist(),
            "principal_direction": [float(v) for v in self.principal_direction],
            "n_dusted": self.n_dusted,
            "spacing": list(self.spacing),
        }


@dataclass(frozen=True, eq=False)
class FiberResult:
    """What :func:`fibers` returns.

    Attributes
    ----------
    labels : (Z, Y, X) uint16 or uint32 ndarray
        Fiber instances 1..n (row ``i`` of the table is label ``i + 1``), 0 elsewhere.
    table : dict of str -> (n,) ndarray
        One column per name in :data:`COLUMNS` (physical units of ``spacing``;
        ``volume`` in units cubed; angles in degrees).
    stats : FiberStats
    """

    labels: np.ndarray
    table: dict
    stats: FiberStats

    @property
    def count(self) -> int:
        """Number of fibers."""
        return self.stats.count

    @property
    def directions(self) -> np.ndarray:
        """(n, 3) unit directions (z, y, x)."""
        return np.stack([self.table["dz"], self.table["dy"], self.table["dx"]], axis=1)

    def row(self, label: int) -> dict:
        """The table row of fiber ``label`` as a dict (KeyError if it does not exist)."""
        if not 1 <= int(label) <= self.count:
            raise KeyError(f"no fiber with label {label}; labels run from 1 to {self.count}.")
        return {k: v[int(label) - 1].item() for k, v in self.table.items()}

    def to_dataframe(self):
        """The table as a :class:`pandas.DataFrame`."""
        import pandas as pd

        return pd.DataFrame(self.table)


def _as_fiber_input(mask_or_labels) -> tuple[np.ndarray, bool]:
    """Validate; return (array, is_instances)."""
    arr = np.asarray(mask_or_labels)
    if arr.ndim == 2:
        raise ValueError(
            f"fibers need a 3D volume (Z, Y, X); got a 2D array of shape {arr.shape}. "
            "Fiber lengths and directions are 3D quantities: segment the whole stack, or "
            "pass image[np.newaxis] to treat one slice as a volume one voxel thick."
        )
    if arr.ndim != 3:
        raise ValueError(
            f"fibers need a 3D volume (Z, Y, X); got a {arr.ndim}D array of shape {arr.shape}. "
            "Select one channel/time point first."
        )
    if arr.dtype == bool:
        return arr, False
    if arr.dtype.kind == "f":
        if ((arr != 0) & (arr != 1)).any():
            raise ValueError(
                "a floating-point input must be a 0/1 mask; got other values (a probability "
                "map?). Threshold it first, e.g. fibers(probability > 0.5)."
            )
        return arr > 0, False
    if arr.dtype.kind not in "iu":
        raise TypeError(f"expected a boolean mask or integer labels; got dtype {arr.dtype}.")
    if arr.dtype.kind == "i" and arr.min() < 0:
        raise ValueError("labels must be >= 0 (0 = background); got negative values.")
    top = int(arr.max()) if arr.size else 0
    if top <= 1 or not ((arr != 0) & (arr != top)).any():
        return arr > 0, False
    return arr, True


def _check_memory(shape: tuple[int, ...]) -> None:
    import os

    need = int(np.prod(shape)) * BYTES_PER_VOXEL
    try:
        have = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return
    if need > have:
        raise MemoryError(
            f"labelling a {shape} volume needs about {need / 2**30:.1f} GiB, only "
            f"{have / 2**30:.1f} GiB is free. Bin it (e.g. skimage.transform.downscale_local_mean"
            " by 2 and threshold at 0.5, with spacing doubled) or measure overlapping "
            "sub-volumes and drop fibers cut by their borders."
        )


def label_fibers(
    mask_or_labels: np.ndarray,
    *,
    connectivity: int = 26,
    min_size: int = 50,
) -> tuple[np.ndarray, int]:
    """Connected components with cc3d, dusted, numbered 1..n consecutively.

    Parameters
    ----------
    mask_or_labels : (Z, Y, X) ndarray
        Boolean (or 0/1) mask; or integer instances (more than one non-zero value),
        whose disconnected pieces become separate components.
    connectivity : {6, 18, 26}
    min_size : int
        Components with fewer voxels are removed ("dust").

    Returns
    -------
    labels : (Z, Y, X) uint16 or uint32 ndarray
    n_dusted : int
        Number of components removed.

    Examples
    --------
    >>> mask = np.zeros((5, 5, 9), bool)
    >>> mask[2, 2, 1:8] = True; mask[0, 0, 0] = True
    >>> labels, n_dusted = label_fibers(mask, min_size=2)
    >>> int(labels.max()), n_dusted
    (1, 1)
    """
    import cc3d

    arr, _ = _as_fiber_input(mask_or_labels)
    check_choice("connectivity", connectivity, (6, 18, 26))
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0 voxels; got {min_size}.")
    _check_memory(arr.shape)
    if not arr.any():
        return np.zeros(arr.shape, np.uint16), 0
    data = arr.view(np.uint8) if arr.dtype == bool else arr
    labels, n = cc3d.connected_components(data, connectivity=connectivity, return_N=True)
    counts = np.zeros(n + 1, np.int64)
    for z in range(0, labels.shape[0], 16):  # slabs: no full-size intp temporary
        counts += np.bincount(labels[z : z + 16].reshape(-1), minlength=n + 1)
    keep = counts >= max(int(min_size), 1)
    keep[0] = False
    n_keep = int(keep.sum())
    dtype = np.uint16 if n_keep < 2**16 else np.uint32
    lut = np.zeros(n + 1, dtype)
    lut[keep] = np.arange(1, n_keep + 1, dtype=dtype)
    if n_keep == n and labels.dtype == dtype:
        return labels, 0
    if labels.dtype != dtype and labels.dtype.itemsize < np.dtype(dtype).itemsize:
        return lut[labels], int(n - n_keep)
    for z in range(0, labels.shape[0], 16):  # relabel in place, slab by slab
        labels[z : z + 16] = lut[labels[z : z + 16]]
    return (labels if labels.dtype == dtype else labels.astype(dtype)), int(n - n_keep)


def _end_gap(t_sorted: np.ndarray, k: int) -> float:
    """Typical gap between successive distinct values among the first ``k + 1``."""
    head = t_sorted[: k + 1]
    span = float(head[-1] - head[0])
    tol = max(span, 1e-9) * 1e-6
    levels = np.unique(np.round((head - head[0]) / tol)).size if span > 0 else 1
    return span / max(levels - 1, 1)


def _centerline_length(p, t, t_lo, t_hi, slab):
    """Arc length through slab centroids of points ``p`` (N, 3) at axial positions ``t``."""
    n_bins = max(1, int(np.floor((t_hi - t_lo) / slab)))
    edges = np.linspace(t_lo, t_hi, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    used = counts > 0
    cent = np.stack([np.bincount(idx, p[:, k], n_bins) for k in range(3)], 1)[used]
    cent /= counts[used, None]
    tc = np.bincount(idx, t, n_bins)[used] / counts[used]
    inner = float(np.linalg.norm(np.diff(cent, axis=0), axis=1).sum())
    return inner + (tc[0] - t_lo) + (t_hi - tc[-1])


def _skeleton_length(crop, offset, spacing, axis, center, t_lo, t_hi):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
    from scipy.spatial import cKDTree
    from skimage.morphology import skeletonize

    sk = np.argwhere(skeletonize(np.pad(crop, 1)))
    if len(sk) < 2:
        return t_hi - t_lo
    q = (sk - 1 + offset) * spacing
    pairs = cKDTree(sk).query_pairs(np.sqrt(3) + 1e-6, output_type="ndarray")
    w = np.linalg.norm(q[pairs[:, 0]] - q[pairs[:, 1]], axis=1)
    graph = coo_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(len(sk), len(sk)))
    tree = minimum_spanning_tree(graph)
    # the longest path of the tree (two sweeps) ignores the skeleton's short spurs
    far = int(np.argmax(np.nan_to_num(dijkstra(tree, directed=False, indices=0), posinf=-1)))
    dist, pred = dijkstra(tree, directed=False, indices=far, return_predecessors=True)
    node, path = int(np.argmax(np.nan_to_num(dist, posinf=-1))), []
    while node >= 0:
        path.append(node)
        node = int(pred[node])
    # a digital path zig-zags (+~10 % length): smooth it over ~5 voxels first
    pts = q[path]
    if len(pts) > 5:
        kernel = np.ones(5) / 5
        inner = np.stack([np.convolve(pts[:, k], kernel, mode="valid") for k in range(3)], 1)
        pts = np.vstack([pts[:1], inner, pts[-1:]])
    ts = (pts - center) @ axis
    lo, hi = sorted((ts[0], ts[-1]))
    total = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
    return total + max(0.0, lo - t_lo) + max(0.0, t_hi - hi)


def _measure_one(crop, offset, spacing, arc):
    """Geometry of one fiber from its boolean crop; returns a tuple in COLUMNS order[1:]."""
    sp = np.asarray(spacing)
    idx = np.argwhere(crop)
    n = len(idx)
    p = (idx + offset) * sp
    center = p.mean(axis=0)
    if n >= 2:
        _, vecs = np.linalg.eigh(np.cov(p - center, rowvar=False))
        axis = vecs[:, -1]
    else:
        axis = np.array([0.0, 0.0, 1.0])
    first = axis[np.argmax(np.abs(axis) > 1e-12)]
    axis = -axis if first < 0 else axis
    t = np.sort((p - center) @ axis)
    voxel_proj = float(np.abs(axis) @ sp)  # projected voxel size along the axis
    extent = float(t[-1] - t[0])
    k = int(np.clip(2 * round(n * voxel_proj / max(extent, voxel_proj)), 1, max(n - 1, 1)))
    gap_lo = _end_gap(t, k) if n > 1 else voxel_proj
    gap_hi = _end_gap(-t[::-1], k) if n > 1 else voxel_proj
    t_lo, t_hi = t[0] - gap_lo / 2, t[-1] + gap_hi / 2
    length = t_hi - t_lo
    if arc == "skeleton":
        arc_len = _skeleton_length(crop, offset, sp, axis, center, t_lo, t_hi)
    else:
        tt = (p - center) @ axis
        arc_len = _centerline_length(p, tt, t_lo, t_hi, slab=2.5 * float(sp.max()))
    arc_len = max(arc_len, length)
    volume = n * float(np.prod(sp))
    radius = float(np.sqrt(volume / (np.pi * arc_len)))
    polar = float(np.degrees(np.arccos(np.clip(abs(axis[0]), 0, 1))))
    azimuth = float(np.degrees(np.arctan2(axis[1], axis[2])))
    return (n, volume, length, arc_len, radius, arc_len / length, *axis, polar, azimuth, *center)


def fibers(
    mask_or_labels: np.ndarray,
    *,
    spacing=None,
    connectivity: int = 26,
    min_size: int = 50,
    split: bool = False,
    arc: str = "centerline",
) -> FiberResult:
    """Label, dust and measure the fibers of a 3D segmentation.

    Parameters
    ----------
    mask_or_labels : (Z, Y, X) ndarray
        A boolean (or 0/1) fiber mask, labelled with cc3d; or integer instance
        labels with more than one non-zero value, kept apart (disconnected pieces
        of one label become separate fibers). A class map where fibers are one
        class must be binarised first (``segmentation == fiber_class``).
    spacing : float or 3 floats, optional
        Voxel size (z, y, x); lengths come out in its unit. Default 1 (voxels).
    connectivity : {6, 18, 26}
        Voxel neighbourhood of the connected components.
    min_size : int
        Components with fewer voxels are removed ("dusting").
    split : bool
        Split components that look like several touching or crossing fibers
        (see :func:`napari_sciseg.measure.fiber_split.split_fibers`).
    arc : {"centerline", "skeleton"}
        How ``arc_length`` is measured.

    Returns
    -------
    FiberResult
        Labels 1..n, a table with one row per fiber, volume statistics.

    Raises
    ------
    ValueError
        For 2D input, bad spacing or connectivity, or a probability map.

    Examples
    --------
    A straight 21-voxel rod along x, voxels 0.5 units wide:

    >>> mask = np.zeros((9, 9, 30), bool)
    >>> mask[3:6, 3:6, 4:25] = True
    >>> res = fibers(mask, spacing=0.5, min_size=10)
    >>> res.count, res.row(1)["length"], res.row(1)["dx"]
    (1, 10.5, 1.0)
    >>> fibers(np.zeros((8, 8, 8), bool)).count
    0
    """
    arr, _ = _as_fiber_input(mask_or_labels)
    sp = check_spacing(spacing, 3)
    check_choice("arc", arc, ("centerline", "skeleton"))
    labels, n_dusted = label_fibers(arr, connectivity=connectivity, min_size=min_size)
    if split:
        from .fiber_split import split_fibers

        labels = split_fibers(labels, spacing=sp, min_size=min_size)
    return measure_labels(labels, spacing=sp, arc=arc, n_dusted=n_dusted)


def measure_labels(labels: np.ndarray, *, spacing=None, arc="centerline", n_dusted=0):
    """Measure already labelled fibers 1..n (no relabelling, no dusting).

    Parameters
    ----------
    labels : (Z, Y, X) int ndarray
        Fibers labelled 1..n (0 = background).
    spacing : float or 3 floats, optional
        Voxel size (Z, Y, X); lengths and diameters are in its unit (voxels without).
    arc : {"centerline", "skeleton"}
        How the centre line giving ``arc_length`` is traced (see the module notes).
    n_dusted : int
        How many small objects were removed before labelling (carried into the result).

    Returns
    -------
    FiberResult
        The labels and one table row per fiber (length, diameter, direction, ...).

    Examples
    --------
    >>> labels = np.zeros((4, 4, 12), np.uint16); labels[1:3, 1:3, 1:11] = 1
    >>> measure_labels(labels).table["length"].round(2).tolist()
    [10.0]
    """
    from scipy import ndimage

    sp = check_spacing(spacing, 3)
    count = int(labels.max()) if labels.size else 0
    rows = []
    for i, box in enumerate(ndimage.find_objects(labels) if count else [], start=1):
        if box is None:
            raise ValueError(f"labels must run 1..n without gaps; label {i} is missing.")
        offset = np.array([s.start for s in box])
        rows.append(_measure_one(labels[box] == i, offset, sp, arc))
    values = np.array(rows, float).reshape(len(rows), len(COLUMNS) - 1)
    table = {"label": np.arange(1, len(rows) + 1)}
    table.update({name: values[:, j] for j, name in enumerate(COLUMNS[1:])})
    table["voxels"] = table["voxels"].astype(np.int64)
    dirs = values[:, 6:9]
    tensor = dirs.T @ dirs / len(dirs) if len(dirs) else np.zeros((3, 3))
    principal = np.linalg.eigh(tensor)[1][:, -1] if len(dirs) else np.full(3, np.nan)
    if len(dirs) and principal[np.argmax(np.abs(principal) > 1e-12)] < 0:
        principal = -principal
    fraction = float(table["voxels"].sum() / labels.size) if labels.size else 0.0
    stats = FiberStats(len(rows), fraction, tensor, principal, int(n_dusted), sp)
    logger.info("%d fibers, volume fraction %.4f, %d dusted", len(rows), fraction, n_dusted)
    return FiberResult(labels=labels, table=table, stats=stats)
