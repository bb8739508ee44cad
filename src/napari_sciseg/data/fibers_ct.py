"""A second, independent fibre-concrete CT generator: what lab CT of fibre concrete looks like.

Written apart from :func:`napari_sciseg.data.fiber_volume` (and from the fibre
filter it is used to test), after what X-ray CT of fibre-reinforced cementitious
composites shows:

- **polymer fibres** (PE/PVA/PP, ``kind="polymer"``): low attenuation, between air
  and paste (darker than the matrix, brighter than air voids), thin (a few voxels),
  flexible, so they *curve* (a smooth random bend) and some bend sharply (kinks);
  they come in *bundles* ("balling": fibres touching side by side) and cross;
  many are longer than the field of view and leave through its faces;
- **steel fibres** (``kind="steel"``): far brighter than everything else, straight
  with *hooked ends* (Dramix-like: a 45 degree bend then a parallel end piece), with
  the reconstruction's dark undershoot around them and streaks along them;
- **matrix**: cement paste with sand grains (a fine, slightly brighter texture),
  coarse aggregates (big irregular grains with their own texture), and **air voids**:
  round and elongated (ellipsoids up to 1:2.5), a few microns to a few hundred,
  with the same grey as the pores of real scans and sometimes crossed by a fibre;
- **the scan**: voxels twice as long in z as in y, x (anisotropic, e.g. a helical scan
  binned in z), partial volume (rendered on a fine grid, averaged into the voxels),
  a blur, cupping (a brighter rim), a slow drift along z, and Gaussian noise.

Ground truth is the geometry: each fibre's centre line (only the part inside the
volume counts) and radius; ``lengths`` are the extent of that centre line along
its own principal axis, in the units of ``spacing``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["FiberCTTruth", "fiber_concrete_ct"]

logger = logging.getLogger(__name__)

#: grey values (paste = 0.45) before blur and noise.
AIR, POLYMER, PASTE, SAND, AGGREGATE, STEEL = 0.05, 0.24, 0.45, 0.50, 0.53, 1.6
_KINDS = ("polymer", "steel")


@dataclass(frozen=True, eq=False)
class FiberCTTruth:
    """Ground truth of :func:`fiber_concrete_ct` (fibre ``i`` has label ``i + 1``).

    Attributes
    ----------
    labels : (Z, Y, X) int32 ndarray
        Fibre instances at the output resolution (a voxel takes the fibre that
        covers most of it), 0 elsewhere. Touching fibres keep separate labels.
    lengths : (n,) ndarray
        Extent of the in-volume centre line along its principal axis (``spacing`` units).
    arc_lengths : (n,) ndarray
        Length of the in-volume centre line (without the rounded end caps that
        ``lengths`` include).
    radii : (n,) ndarray
    directions : (n, 3) ndarray
        Principal axis of each centre line (z, y, x), first non-zero component positive.
    cut : (n,) bool ndarray
        Fibres that leave the volume.
    bundled : (n,) bool ndarray
        Fibres placed touching another one.
    spacing : tuple of 3 floats
    kind : str
    """

    labels: np.ndarray
    lengths: np.ndarray
    arc_lengths: np.ndarray
    radii: np.ndarray
    directions: np.ndarray
    cut: np.ndarray
    bundled: np.ndarray
    spacing: tuple
    kind: str

    @property
    def n_fibers(self) -> int:
        """Number of fibres."""
        return int(self.lengths.size)

    @property
    def mask(self) -> np.ndarray:
        """Voxels that are mostly fibre."""
        return self.labels > 0


def _unit(v):
    return v / np.linalg.norm(v)


def _curved_line(rng, start, direction, length, curl, kinks):
    """Centre line of a flexible fibre: direction turned a little at every step."""
    step = 0.5
    n = max(int(length / step), 2)
    pts = [np.asarray(start, float)]
    d = _unit(np.asarray(direction, float))
    kink_at = set(rng.integers(n // 5, max(n - n // 5, n // 5 + 1), kinks).tolist())
    for i in range(n):
        turn = rng.normal(0, curl, 3)
        if i in kink_at:
            turn = rng.normal(0, 0.5, 3)
        d = _unit(d + turn - (turn @ d) * d)
        pts.append(pts[-1] + step * d)
    return np.array(pts)


def _hooked_line(rng, start, direction, length):
    """Centre line of a hooked-end steel fibre: straight, each end bent 45 deg then parallel."""
    d = _unit(np.asarray(direction, float))
    side = _unit(np.cross(d, rng.normal(size=3)))
    hook = 0.05 * length
    mid = max(length - 4 * hook, hook)
    a = np.asarray(start, float)
    knots = [a]
    knots.append(knots[-1] + hook * d)  # parallel end piece
    knots.append(knots[-1] + hook * _unit(d + side))  # 45 degree bend
    knots.append(knots[-1] + mid * d)
    knots.append(knots[-1] + hook * _unit(d + side))
    knots.append(knots[-1] + hook * d)
    out = [knots[0]]
    for p, q in zip(knots[:-1], knots[1:]):
        k = max(int(np.linalg.norm(q - p) / 0.5), 1)
        out.extend(p + (q - p) * t for t in np.linspace(0, 1, k + 1)[1:])
    return np.array(out)


def _tube(line, radius, shape):
    """Voxels within ``radius + 1`` of a dense centre line: (indices, distances)."""
    from scipy.spatial import cKDTree

    reach = int(np.ceil(radius + 1.5))
    offs = np.stack(np.meshgrid(*(np.arange(-reach, reach + 1),) * 3, indexing="ij"), -1).reshape(
        -1, 3
    )
    offs = offs[(offs**2).sum(1) <= (radius + 1.5) ** 2]
    base = np.unique(np.rint(line[::2]).astype(np.int64), axis=0)
    cand = np.unique((base[:, None, :] + offs[None]).reshape(-1, 3), axis=0)
    inside = np.all((cand >= 0) & (cand < np.asarray(shape)), axis=1)
    cand = cand[inside]
    dist, _ = cKDTree(line).query(cand)
    near = dist <= radius + 0.5
    return cand[near], dist[near]


def _blob(rng, center, radii, rotation, shape, bumpy):
    """Voxels of a (bumpy) ellipsoid: (box, coverage in [0, 1])."""
    reach = float(max(radii)) * (1.3 if bumpy else 1.0) + 1
    lo = np.maximum(np.floor(center - reach).astype(int), 0)
    hi = np.minimum(np.ceil(center + reach).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return None, None
    grid = np.stack(
        np.meshgrid(*(np.arange(a, b) - c for a, b, c in zip(lo, hi, center)), indexing="ij"), -1
    )
    local = grid @ rotation
    r = np.sqrt(((local / np.asarray(radii)) ** 2).sum(-1))
    edge = 1.0
    if bumpy:
        u = local / np.maximum(np.linalg.norm(local, axis=-1, keepdims=True), 1e-6)
        k = rng.normal(size=(4, 3))
        edge = 1 + 0.12 * np.sin(u @ k.T * 3 + rng.uniform(0, 6, 4)).sum(-1) / 2
    cover = np.clip((edge - r) * float(min(radii)) + 0.5, 0, 1)
    return tuple(slice(a, b) for a, b in zip(lo, hi)), cover


def _random_rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q


def _fiber_direction(rng, preferred):
    """Mostly near the preferred axis (casting flow), a quarter nearly random."""
    if rng.random() < 0.25:
        return _unit(rng.normal(size=3))
    return _unit(preferred + rng.normal(0, 0.35, 3) * [0.5, 1.0, 1.0])


def _centre_line(rng, kind, shape, preferred, length, anchor=None):
    d = _fiber_direction(rng, preferred) if anchor is None else anchor[1]
    if anchor is None:
        center = rng.uniform(0.1, 0.9, 3) * np.asarray(shape)
    else:
        center = anchor[0]
    start = center - d * length / 2
    if kind == "steel":
        return _hooked_line(rng, start, d, length)
    kinks = int(rng.random() < 0.2)
    return _curved_line(rng, start, d, length, curl=rng.uniform(0.005, 0.03), kinks=kinks)


def _truth_geometry(line, shape, fine_spacing, radius=0.0):
    """(length, arc length, axis, cut) of the in-volume part; rounded ends add ``radius``."""
    inside = np.all((line >= 0) & (line <= np.asarray(shape) - 1), axis=1)
    p = line[inside] * fine_spacing
    if len(p) < 4:
        return None
    c = p.mean(0)
    axis = np.linalg.eigh(np.cov(p - c, rowvar=False))[1][:, -1]
    axis = -axis if axis[np.argmax(np.abs(axis) > 1e-12)] < 0 else axis
    t = (p - c) @ axis
    arc = float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())
    caps = radius * float(np.mean(fine_spacing)) * (int(inside[0]) + int(inside[-1]))
    return float(t.max() - t.min()) + caps, arc, axis, not inside.all()


def _place_fibres(rng, kind, fine, n_fibers, bundle_fraction):
    """Render the fibres on the fine grid: (cover, fine labels, records)."""
    side = min(fine)
    cover = np.zeros(fine, np.float32)
    labels = np.zeros(fine, np.int32)
    preferred = _unit(np.array([0.15, rng.uniform(-0.4, 0.4), 1.0]))
    records, placed = [], []
    for _ in range(8 * n_fibers):
        if len(records) >= n_fibers:
            break
        radius = rng.uniform(2.0, 3.0) if kind == "steel" else rng.uniform(1.6, 2.6)
        length = rng.uniform(0.35, 1.1) * side
        anchor, bundled = None, False
        if placed and rng.random() < bundle_fraction:  # touch an earlier fibre
            line0, r0 = placed[rng.integers(len(placed))]
            mid = line0[len(line0) // 2]
            d0 = _unit(line0[-1] - line0[0])
            side_dir = _unit(np.cross(d0, rng.normal(size=3)))
            if rng.random() < 0.5:  # side by side
                anchor = (mid + side_dir * (r0 + radius) * 0.95, d0)
            else:  # crossing
                anchor = (mid + side_dir * (r0 + radius) * 0.5, _unit(d0 + 1.2 * side_dir))
            bundled = True
        line = _centre_line(rng, kind, fine, preferred, length, anchor)
        vox, dist = _tube(line, radius, fine)
        if len(vox) == 0:
            continue
        key = tuple(vox.T)
        core = dist <= radius
        if not bundled and (labels[key][core] > 0).any():
            continue  # only bundles touch; random fibres keep clear
        geom = _truth_geometry(line, fine, 1.0)
        if geom is None or geom[0] < 4 * radius:
            continue
        fid = len(records) + 1
        free = labels[key] == 0
        labels[tuple(vox[core & free].T)] = fid
        np.maximum.at(cover, key, np.clip(radius + 0.5 - dist, 0, 1).astype(np.float32))
        placed.append((line, radius))
        records.append((line, radius, bundled))
    return cover, labels, records


def _matrix(rng, fine):
    """Paste + sand grains + aggregates grey values, and the air-void cover, on the fine grid."""
    from scipy import ndimage

    side = min(fine)
    grains = ndimage.gaussian_filter(rng.standard_normal(fine, dtype=np.float32), 1.2)
    sand = (grains > np.percentile(grains, 75)).astype(np.float32)
    grey = PASTE + (SAND - PASTE) * ndimage.gaussian_filter(sand, 0.7)
    n_agg = max(1, int(0.2 * np.prod(fine) / (4 / 3 * np.pi * (0.16 * side) ** 3)))
    for _ in range(n_agg):
        r = rng.uniform(0.1, 0.22) * side
        radii = r * rng.uniform(0.7, 1.0, 3)
        box, cov = _blob(rng, rng.uniform(0, 1, 3) * np.asarray(fine), radii,
                         _random_rotation(rng), fine, bumpy=True)  # fmt: skip
        if box is not None:
            tone = AGGREGATE + rng.normal(0, 0.03)
            grey[box] += cov * (tone + 0.03 * grains[box] - grey[box])
    air = np.zeros(fine, np.float32)
    n_void = int(0.03 * np.prod(fine) / (4 / 3 * np.pi * 4.0**3))
    for _ in range(n_void):
        r = float(np.exp(rng.uniform(np.log(1.5), np.log(9.0))))
        stretch = 1.0 if rng.random() < 0.6 else rng.uniform(1.3, 2.5)
        box, cov = _blob(rng, rng.uniform(0, 1, 3) * np.asarray(fine),
                         (r * stretch, r, r), _random_rotation(rng), fine, bumpy=False)  # fmt: skip
        if box is not None:
            np.maximum(air[box], cov, out=air[box])
    return grey, air


def _scan(rng, fine_grey, z_factor, kind, steel_cover):
    """Fine grey values -> the measured volume: z binning, blur, artefacts, noise."""
    from scipy import ndimage

    z = fine_grey.shape[0] // z_factor
    vol = fine_grey[: z * z_factor].reshape(z, z_factor, *fine_grey.shape[1:]).mean(1)
    vol = ndimage.gaussian_filter(vol, (0.5, 0.7, 0.7))
    if kind == "steel":  # undershoot around bright metal and streaks along it
        s = steel_cover[: z * z_factor].reshape(z, z_factor, *fine_grey.shape[1:]).mean(1)
        halo = ndimage.gaussian_filter(s, (1.0, 2.5, 2.5)) - s
        vol -= 0.5 * halo
        vol += 0.08 * ndimage.uniform_filter1d(s, 31, axis=2)
    yy, xx = np.meshgrid(*(np.linspace(-1, 1, n) for n in vol.shape[1:]), indexing="ij")
    vol += 0.04 * (yy**2 + xx**2)[None]  # cupping: a brighter rim
    vol += np.linspace(-0.02, 0.02, z)[:, None, None]  # drift along z
    vol += rng.normal(0, 0.045, vol.shape)
    return vol.astype(np.float32)


def fiber_concrete_ct(
    *,
    shape: tuple[int, int, int] = (64, 128, 128),
    kind: str = "polymer",
    n_fibers: int | None = None,
    bundle_fraction: float = 0.25,
    voxel_size: float = 10.0,
    seed: int = 0,
):
    """A synthetic lab-CT volume of fibre-reinforced concrete, with the fibre geometry.

    Parameters
    ----------
    shape : 3 ints
        Output shape (Z, Y, X); voxels are twice as long in z (see ``spacing``).
    kind : {"polymer", "steel"}
        Dark flexible polymer fibres, or bright hooked-end steel fibres.
    n_fibers : int, optional
        Fibres to place (default: about 1 % of the volume).
    bundle_fraction : float
        Fraction of fibres placed touching (side by side or crossing) an earlier one.
    voxel_size : float
        In-plane voxel size (µm); ``spacing = (2, 1, 1) * voxel_size``.
    seed : int

    Returns
    -------
    volume : (Z, Y, X) float32 ndarray
    truth : FiberCTTruth

    Examples
    --------
    >>> volume, truth = fiber_concrete_ct(shape=(24, 48, 48), n_fibers=4, seed=1)
    >>> volume.shape, truth.spacing, truth.n_fibers > 0
    ((24, 48, 48), (20.0, 10.0, 10.0), True)
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}.")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"shape must be 3 sides of at least 16 voxels; got {shape}.")
    rng = np.random.default_rng(seed)
    fine = (2 * shape[0], shape[1], shape[2])
    if n_fibers is None:
        n_fibers = max(2, int(0.01 * np.prod(fine) / (np.pi * 2.1**2 * 0.7 * min(fine))))
    grey, air = _matrix(rng, fine)
    cover, fine_labels, records = _place_fibres(rng, kind, fine, n_fibers, bundle_fraction)
    grey += air * (AIR - grey)
    tone = STEEL if kind == "steel" else POLYMER
    grey += cover * (tone - grey)
    volume = _scan(rng, grey, 2, kind, cover)
    # truth at the output resolution: the fibre that covers most of each voxel
    pair = fine_labels.reshape(shape[0], 2, *shape[1:])
    labels = np.where(pair[:, 0] > 0, pair[:, 0], pair[:, 1])
    both = (pair[:, 0] > 0) & (pair[:, 1] > 0) & (pair[:, 0] != pair[:, 1])
    labels[both] = pair[:, 0][both]
    fine_spacing = np.array([voxel_size] * 3)
    geo = [_truth_geometry(line, fine, fine_spacing, r) for line, r, _ in records]
    spacing = (2.0 * voxel_size, float(voxel_size), float(voxel_size))
    lengths = np.array([g[0] for g in geo])
    truth = FiberCTTruth(
        labels=labels.astype(np.int32),
        lengths=lengths,
        arc_lengths=np.array([g[1] for g in geo]),
        radii=np.array([r for _, r, _ in records]) * voxel_size,
        directions=np.array([g[2] for g in geo]).reshape(-1, 3),
        cut=np.array([g[3] for g in geo], bool),
        bundled=np.array([b for _, _, b in records], bool),
        spacing=spacing,
        kind=kind,
    )
    logger.info("%d %s fibres (%d bundled, %d cut)", truth.n_fibers, kind,
                truth.bundled.sum(), truth.cut.sum())  # fmt: skip
    return volume, truth
