"""A seeded fiber-reinforced-concrete-like X-ray CT volume with known fibers.

The phantom mimics tomograms of polymer fibers in cement (the DLSIA fiber study,
``SCIENCE.md`` section 1): low-attenuation (dark) fibers, straight or slightly
bowed, with an anisotropic orientation distribution; darker round pores; bright
textured aggregates; a textured matrix; partial-volume edges and Gaussian noise.
Fibers never touch each other, the aggregates, the pores or the border (a gap of
at least two voxels), so the 26-connected components of the true mask are exactly
the fibers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["FiberTruth", "fiber_volume"]

logger = logging.getLogger(__name__)

#: grey values of the phases before noise (matrix is textured around 0.5).
MATRIX, AGGREGATE, PORE, FIBER = 0.50, 0.68, 0.08, 0.24
#: angular central Gaussian covariance (z, y, x) of the fiber axes: mostly along x,
#: spread more in y than in z (fibers lying in casting layers).
ORIENTATION_SIGMA = (0.3, 0.6, 1.0)
_GAP = 2.0  # free voxels kept around every fiber


@dataclass(frozen=True, eq=False)
class FiberTruth:
    """Ground truth of :func:`fiber_volume` (``n`` fibers, label ``i + 1`` is fiber ``i``).

    Attributes
    ----------
    mask : (Z, Y, X) bool ndarray
        Voxels whose centre lies inside a fiber.
    labels : (Z, Y, X) int32 ndarray
        Fiber instance labels, 0 outside fibers.
    lengths : (n,) float ndarray
        End-to-end extent of each solid fiber along its chord direction (the
        cylinder length for straight fibers; slightly more than the chord for
        bowed ones because their flat end caps are tilted).
    arc_lengths : (n,) float ndarray
        Length of each fiber's centre line.
    radii : (n,) float ndarray
        Fiber radii.
    directions : (n, 3) float ndarray
        Unit chord vectors (z, y, x), sign chosen so that the first non-zero
        component is positive (fibers are axial).
    centers : (n, 3) float ndarray
        Mid-points of the chords (z, y, x).
    bowed : (n,) bool ndarray
        Which fibers are bowed.
    spacing : tuple of 3 floats
        Voxel size (all lengths above are in these units).
    """

    mask: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    arc_lengths: np.ndarray
    radii: np.ndarray
    directions: np.ndarray
    centers: np.ndarray
    bowed: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def n_fibers(self) -> int:
        """Number of fibers."""
        return int(self.lengths.size)


def axial_sign(vectors: np.ndarray) -> np.ndarray:
    """Flip unit vectors so that their first non-zero component is positive.

    Examples
    --------
    >>> axial_sign(np.array([[-1.0, 0.0, 0.0], [0.0, -0.6, 0.8]])).tolist()
    [[1.0, -0.0, -0.0], [-0.0, 0.6, -0.8]]
    """
    v = np.atleast_2d(np.asarray(vectors, dtype=float))
    first = np.take_along_axis(v, np.argmax(np.abs(v) > 1e-12, axis=1)[:, None], axis=1)
    return v * np.where(first < 0, -1.0, 1.0)


def _upsample_linear(coarse: np.ndarray, shape, cell: int, z0: int = 0) -> np.ndarray:
    """Separable linear interpolation of ``coarse`` onto ``shape`` (one axis at a time).

    ``z0`` offsets the first axis, so a volume can be made slab by slab.
    """
    out = coarse
    for axis, n in enumerate(shape):
        pos = (np.arange(n, dtype=np.float32) + (z0 if axis == 0 else 0)) / cell
        i0 = np.minimum(pos.astype(np.intp), coarse.shape[axis] - 2)
        w = (pos - i0).astype(np.float32)
        bshape = [1] * 3
        bshape[axis] = n
        w = w.reshape(bshape)
        a = np.take(out, i0, axis=axis)
        b = np.take(out, i0 + 1, axis=axis)
        b -= a
        b *= w
        a += b
        out = a
    return out


def _coarse_noise(rng, shape, cell: int) -> np.ndarray:
    """Coarse grid of a smooth random field with correlation length ~``cell``."""
    return rng.standard_normal(tuple(s // cell + 2 for s in shape), dtype=np.float32)


def _blob_box(center, radius, shape):
    lo = np.maximum(np.floor(center - radius).astype(int), 0)
    hi = np.minimum(np.ceil(center + radius).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return None, None
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grids = [
        (np.arange(lo[k], hi[k], dtype=np.float32) - np.float32(center[k])).reshape(
            [-1 if j == k else 1 for j in range(3)]
        )
        for k in range(3)
    ]
    return box, grids


def _add_blobs(rng, shape, occupied, cover, n, rmin, rmax, bumpy):
    """Rasterise ``n`` (bumpy) balls: mark ``occupied`` and raise the soft ``cover`` map."""
    for _ in range(n):
        radius = rng.uniform(rmin, rmax)
        center = rng.uniform(0, 1, 3) * (np.asarray(shape) - 1)
        box, d = _blob_box(center, radius * (1.15 if bumpy else 1.0) + 1, np.asarray(shape))
        if box is None:
            continue
        dist = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
        if bumpy:  # radius modulated by two random quadratic forms of the direction
            u, w = rng.normal(size=(2, 3))
            u, w = (v / np.linalg.norm(v) for v in (u, w))
            u, w = [float(x) for x in u], [float(x) for x in w]  # keep float32 maps
            safe = np.maximum(dist, 1e-6)
            cos_u = (d[0] * u[0] + d[1] * u[1] + d[2] * u[2]) / safe
            cos_w = (d[0] * w[0] + d[1] * w[1] + d[2] * w[2]) / safe
            r_eff = radius * (0.85 + 0.3 * cos_u**2 - 0.15 * cos_w**2)
        else:
            r_eff = radius
        weight = np.clip(r_eff + 0.5 - dist, 0.0, 1.0).astype(np.float32)
        np.maximum(cover[box], weight, out=cover[box])
        occupied[box] |= dist <= r_eff + _GAP


def _fiber_polyline(rng, length, bow):
    """Centre line of one fiber through the origin along +x (local frame)."""
    n_seg = max(2, int(np.ceil(length / 8.0)))
    u = np.linspace(0.0, 1.0, n_seg + 1)
    a, b = np.array([0.0, 0.0, -length / 2]), np.array([0.0, 0.0, length / 2])
    if bow == 0:
        return a + u[:, None] * (b - a)
    side = rng.normal(size=2)
    side = side / np.linalg.norm(side)
    c = np.array([side[0], side[1], 0.0]) * 2 * bow * length  # quadratic Bezier control
    return (1 - u)[:, None] ** 2 * a + (2 * u * (1 - u))[:, None] * c + (u**2)[:, None] * b


def _cross(a, b):
    return np.array(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


def _rotation_to(direction):
    """Rotation matrix taking local +x (index 2) to ``direction`` (z, y, x)."""
    x = np.asarray(direction, dtype=float)
    helper = np.array([1.0, 0.0, 0.0]) if abs(x[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    y = _cross(x, helper)
    y /= np.sqrt(y @ y)
    z = _cross(x, y)
    return np.stack([z, y, x], axis=1)  # columns: images of local z, y, x


def _resample(points, step):
    """Points every ~``step`` along a polyline."""
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    at = np.linspace(0.0, cum[-1], max(2, int(np.ceil(cum[-1] / step)) + 1))
    return np.stack([np.interp(at, cum, points[:, k]) for k in range(3)], axis=1)


def _segment_distances(points, radius, shape):
    """Per segment: (box, distance map) of voxel centres to that piece of the tube.

    End caps are flat (perpendicular to the first and last segment); inner
    joints are round. Returns None when the tube leaves the volume.
    """
    reach = radius + _GAP + 1
    if np.any(points.min(0) - reach < 0) or np.any(points.max(0) + reach > np.asarray(shape) - 1):
        return None
    pieces = []
    last = len(points) - 2
    for i in range(len(points) - 1):
        a, b = points[i], points[i + 1]
        seg = b - a
        seg_len = float(np.linalg.norm(seg))
        unit = [float(x) for x in seg / seg_len]  # Python floats keep the maps float32
        lo = np.floor(np.minimum(a, b) - reach).astype(int)
        hi = np.ceil(np.maximum(a, b) + reach).astype(int) + 1
        box = tuple(slice(lo_, hi_) for lo_, hi_ in zip(lo, hi))
        d = [
            (np.arange(lo[k], hi[k], dtype=np.float32) - np.float32(a[k])).reshape(
                [-1 if j == k else 1 for j in range(3)]
            )
            for k in range(3)
        ]
        t = d[0] * unit[0] + d[1] * unit[1] + d[2] * unit[2]
        tc = np.clip(t, 0.0, seg_len)
        dist = np.sqrt(
            (d[0] - tc * unit[0]) ** 2 + (d[1] - tc * unit[1]) ** 2 + (d[2] - tc * unit[2]) ** 2
        )
        if i == 0:
            dist = np.where(t < 0, np.inf, dist)
        if i == last:
            dist = np.where(t > seg_len, np.inf, dist)
        pieces.append((box, dist))
    return pieces


class _Clock:
    """Debug-log the time of each phase."""

    def __init__(self):
        import time

        self._now = time.perf_counter
        self._t = self._now()

    def lap(self, what: str) -> None:
        t = self._now()
        logger.debug("fiber_volume: %s %.2f s", what, t - self._t)
        self._t = t


def _scribble_slices(labels):
    """Three z-slices near 1/4, 1/2 and 3/4 of the depth, each moved (by up to 1/8 of
    the depth) to the slice crossing the most fibers, as an annotator would pick."""
    nz = labels.shape[0]
    per_slice = np.array([np.unique(s[s > 0]).size for s in labels])
    chosen = []
    for f in (0.25, 0.5, 0.75):
        lo, hi = int(f * nz - nz / 8), int(f * nz + nz / 8) + 1
        window = np.arange(max(lo, 0), min(hi, nz))
        best = int(window[np.argmax(per_slice[window])])
        if best not in chosen:
            chosen.append(best)
    return sorted(chosen)


def _draw_scribbles(rng, truth_labels, occupied_fiber, shape, confusers, max_fibers_per_slice=6):
    """Strokes on three z-slices: fiber cores (2); random lines and short strokes through
    pores and aggregates, which look most like fibers, in the rest (1)."""
    from scipy import ndimage
    from skimage.draw import line

    scribbles = np.zeros(shape, np.uint8)
    ny, nx = shape[1:]
    for z in _scribble_slices(truth_labels):
        lab = truth_labels[z]
        ids = np.unique(lab[lab > 0])
        rng.shuffle(ids)
        for fid in ids[:max_fibers_per_slice]:
            core = ndimage.binary_erosion(lab == fid)
            scribbles[z][core if core.any() else lab == fid] = 2
        forbidden = ndimage.binary_dilation(occupied_fiber[z], iterations=2)
        strokes = [tuple(int(v) for v in rng.integers(0, (ny, nx, ny, nx))) for _ in range(8)]
        for cover, n_max in confusers:  # a stroke across a few pores / aggregates
            blobs, n = ndimage.label(cover[z] > 0.5)
            centers = ndimage.center_of_mass(blobs > 0, blobs, range(1, n + 1)) if n else []
            sizes = ndimage.sum_labels(blobs > 0, blobs, range(1, n + 1)) if n else []
            for k in rng.permutation(n)[:n_max]:
                (r, c), half = centers[k], int(np.sqrt(sizes[k] / np.pi)) + 3
                strokes.append((int(r), max(int(c) - half, 0), int(r), min(int(c) + half, nx - 1)))
        for r0, c0, r1, c1 in strokes:
            rr, cc = line(r0, c0, r1, c1)
            keep = ~forbidden[rr, cc]
            scribbles[z, rr[keep], cc[keep]] = 1
    return scribbles


def _place_fiber(rng, shape, occupied, labels, fiber_cover, fid):
    """Try to place fiber ``fid`` in free space; draw it and return its record, or None."""
    side = min(shape)
    length = rng.uniform(0.2, 0.5) * side
    radius = rng.uniform(1.5, 2.5)
    bow = rng.uniform(0.03, 0.08) if rng.random() < 1 / 3 else 0.0
    direction = rng.normal(size=3) * np.asarray(ORIENTATION_SIGMA)
    direction /= np.linalg.norm(direction)
    # centre drawn where the whole fiber (and its margin) fits in the volume
    half = np.abs(direction) * length / 2 + 2 * bow * length + radius + _GAP + 1.5
    room = np.asarray(shape) - 1 - 2 * half
    if np.any(room <= 0):
        return None
    center = half + rng.uniform(0, 1, 3) * room
    points = _fiber_polyline(rng, length, bow) @ _rotation_to(direction).T + center
    # cheap test first: the centre line must run through free space
    arc_pts = _resample(points, 1.0)
    if np.any(arc_pts.min(0) < 0) or np.any(arc_pts.max(0) > np.asarray(shape) - 1):
        return None
    if occupied[tuple(np.rint(arc_pts).astype(np.intp).T)].any():
        return None
    pieces = _segment_distances(points, radius, shape)
    if pieces is None or any(occupied[box][dist <= radius + _GAP].any() for box, dist in pieces):
        return None
    for box, dist in pieces:
        labels[box][dist <= radius] = fid
        np.maximum(fiber_cover[box], np.clip(radius + 0.5 - dist, 0, 1), out=fiber_cover[box])
    for box, dist in pieces:
        occupied[box] |= dist <= radius + _GAP
    return _fiber_record(points, radius, bow)


def _fiber_record(points, radius, bow):
    """(end-to-end length incl. the tilted end caps, arc length, radius, unit, middle, bowed)."""
    chord = points[-1] - points[0]
    chord_len = float(np.linalg.norm(chord))
    unit = chord / chord_len
    tilt = []
    for seg in (points[1] - points[0], points[-1] - points[-2]):
        cos = float(seg @ unit / np.linalg.norm(seg))
        tilt.append(radius * np.sqrt(max(0.0, 1 - cos**2)))
    arc = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
    middle = (points[0] + points[-1]) / 2
    return (chord_len + sum(tilt), arc, radius, unit, middle, bow > 0)


def _render_grey(rng, shape, agg_cover, pore_cover, fiber_cover):
    """Grey values of matrix, aggregates, pores and fibers, with texture and noise."""
    coarse_matrix, coarse_agg = _coarse_noise(rng, shape, 12), _coarse_noise(rng, shape, 3)
    volume = np.empty(shape, np.float32)
    for z0 in range(0, shape[0], 16):  # slab by slab: cache-friendly, little extra memory
        z1 = min(z0 + 16, shape[0])
        slab = (z1 - z0, *shape[1:])
        grey = MATRIX + 0.04 * _upsample_linear(coarse_matrix, slab, 12, z0)
        a, p, f = agg_cover[z0:z1], pore_cover[z0:z1], fiber_cover[z0:z1]
        grey += a * (AGGREGATE + 0.05 * _upsample_linear(coarse_agg, slab, 3, z0) - grey)
        grey += p * (PORE - grey)
        grey += f * (FIBER - grey)
        grey += rng.standard_normal(slab, dtype=np.float32) * np.float32(0.04)
        volume[z0:z1] = grey
    return volume


def _fiber_truth(labels, records) -> FiberTruth:
    """The :class:`FiberTruth` of the placed fibers."""
    if records:
        lengths, arcs, radii, dirs, centers, bowed = (np.array(c) for c in zip(*records))
    else:
        lengths = arcs = radii = np.zeros(0)
        dirs = centers = np.zeros((0, 3))
        bowed = np.zeros(0, bool)
    return FiberTruth(
        mask=labels > 0,
        labels=labels,
        lengths=lengths.astype(float),
        arc_lengths=arcs.astype(float),
        radii=radii.astype(float),
        directions=axial_sign(dirs.reshape(-1, 3)),
        centers=centers.reshape(-1, 3).astype(float),
        bowed=bowed.astype(bool),
    )


def fiber_volume(
    *,
    shape: tuple[int, int, int] = (96, 96, 96),
    n_fibers: int | None = None,
    seed: int = 0,
    return_truth: bool = False,
):
    """A synthetic tomogram of fiber-reinforced concrete with sparse scribbles.

    Parameters
    ----------
    shape : 3 ints
        Volume shape (Z, Y, X); each side at least 32.
    n_fibers : int, optional
        Number of fibers to place. Default: about 1.2 % fiber volume fraction
        (~25 fibers at 96³, ~70 at 160³). Fewer are placed when the volume is too
        crowded (a log message says so).
    seed : int
        Seed of the random generator; equal seeds give equal volumes.
    return_truth : bool
        Also return a :class:`FiberTruth`.

    Returns
    -------
    volume : (Z, Y, X) float32 ndarray
        Grey values around [0, 1]: matrix ~0.5, aggregates ~0.68, fibers ~0.24,
        pores ~0.08, plus noise (sigma 0.04).
    scribbles : (Z, Y, X) uint8 ndarray
        Sparse labels on three z-slices (near 1/4, 1/2, 3/4 of the depth):
        0 unlabeled, 1 matrix/background, 2 fiber.
    truth : FiberTruth
        Only with ``return_truth=True``.

    Notes
    -----
    Fiber lengths are uniform in [0.2, 0.5] × the shortest side, radii in
    [1.5, 2.5] voxels, a third of the fibers bowed (sagitta 3-8 % of the length).
    Axes follow an angular central Gaussian distribution with covariance
    ``diag(ORIENTATION_SIGMA)**2``: mostly along x.

    Examples
    --------
    >>> volume, scribbles, truth = fiber_volume(shape=(48, 48, 48), seed=1, return_truth=True)
    >>> volume.shape, volume.dtype.name, scribbles.dtype.name
    ((48, 48, 48), 'float32', 'uint8')
    >>> sorted(np.unique(scribbles).tolist())
    [0, 1, 2]
    >>> truth.n_fibers == int(truth.labels.max()) > 0
    True
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 32:
        raise ValueError(f"shape must be 3 sides of at least 32 voxels; got {shape}.")
    rng = np.random.default_rng(seed)
    side = min(shape)
    if n_fibers is None:
        mean_len, mean_r = 0.35 * side, 2.0
        n_fibers = max(3, int(round(0.012 * np.prod(shape) / (np.pi * mean_r**2 * mean_len))))
    if n_fibers < 0:
        raise ValueError(f"n_fibers must be >= 0; got {n_fibers}.")

    clock = _Clock()
    occupied = np.zeros(shape, bool)
    agg_cover = np.zeros(shape, np.float32)
    pore_cover = np.zeros(shape, np.float32)
    fiber_cover = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int32)
    n_agg = int(round(0.08 * np.prod(shape) / (4 / 3 * np.pi * (0.09 * side) ** 3)))
    _add_blobs(rng, shape, occupied, agg_cover, n_agg, 0.06 * side, 0.12 * side, bumpy=True)
    n_pore = int(round(0.006 * np.prod(shape) / (4 / 3 * np.pi * 2.75**3)))
    _add_blobs(rng, shape, occupied, pore_cover, n_pore, 1.5, 4.0, bumpy=False)

    clock.lap("aggregates and pores")
    records = []
    tries = 0
    while len(records) < n_fibers and tries < 15 * max(n_fibers, 1):
        tries += 1
        record = _place_fiber(rng, shape, occupied, labels, fiber_cover, len(records) + 1)
        if record is not None:
            records.append(record)
    if len(records) < n_fibers:
        logger.info("placed %d of %d fibers (volume too crowded)", len(records), n_fibers)

    clock.lap(f"{len(records)} fibers in {tries} tries")
    volume = _render_grey(rng, shape, agg_cover, pore_cover, fiber_cover)
    scribbles = _draw_scribbles(
        rng, labels, labels > 0, shape, confusers=((pore_cover, 8), (agg_cover, 2))
    )
    del agg_cover, pore_cover, fiber_cover
    clock.lap("grey values")
    clock.lap("scribbles")
    if not return_truth:
        return volume, scribbles
    truth = _fiber_truth(labels, records)
    return volume, scribbles, truth
