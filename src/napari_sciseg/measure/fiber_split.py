"""Split components that hold several touching or crossing straight fibers.

A single fiber has compact cross-sections: cut into slabs across its principal
axis, each slab's voxels fill a disk around the slab centroid. Two fibers
touching side by side, or crossing, leave slabs whose voxels sit far from their
centroid for their number. Such components are decomposed into straight lines
by RANSAC (the line with most voxels within one fiber radius, refined by least
squares on its inliers, removed, repeated), and every voxel goes to its nearest
line. Bowed fibers stay whole (their slab centroids follow the bow).
"""

from __future__ import annotations

import logging

import numpy as np

from .._validation import check_spacing

__all__ = ["split_fibers", "cross_section_compactness"]

logger = logging.getLogger(__name__)


def _axis(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = p.mean(0)
    if len(p) < 2:
        return c, np.array([0.0, 0.0, 1.0])
    return c, np.linalg.eigh(np.cov(p - c, rowvar=False))[1][:, -1]


def _slab_ratios(p: np.ndarray, voxel_volume: float, slab: float) -> np.ndarray:
    c, a = _axis(p)
    t = (p - c) @ a
    bins = np.floor((t - t.min()) / slab).astype(int)
    ratios = []
    for b in np.unique(bins):
        q = p[bins == b]
        if len(q) < 3:
            continue
        tq = (q - c) @ a
        perp = q - c - np.outer(tq, a)
        perp -= perp.mean(0)
        rmax = np.sqrt((perp**2).sum(1).max()) + 0.5 * voxel_volume ** (1 / 3)
        ratios.append(len(q) * voxel_volume / slab / (np.pi * rmax**2))
    return np.asarray(ratios)


def cross_section_compactness(p: np.ndarray, voxel_volume: float, slab: float) -> float:
    """Median over slabs of (voxel area) / (pi * max distance to the slab centroid squared).

    About 0.7-0.9 for a digitised cylinder (0.55 or more for the phantom's bowed
    fibers), about 0.45 or less for two fibers side by side, lower where they cross.

    Examples
    --------
    >>> z, y, x = np.nonzero(np.ones((5, 5, 40), bool) & (np.add.outer(
    ...     (np.arange(5) - 2.0) ** 2, (np.arange(5) - 2.0) ** 2)[..., None] <= 4))
    >>> round(cross_section_compactness(np.c_[z, y, x].astype(float), 1.0, 2.0), 1)
    0.7
    """
    ratios = _slab_ratios(p, voxel_volume, slab)
    return float(np.median(ratios)) if ratios.size else 1.0


def _looks_multiple(p, voxel_volume, slab, compactness) -> bool:
    """Median slab too loose, or a few inner slabs very loose (a fiber across another)."""
    ratios = _slab_ratios(p, voxel_volume, slab)
    if ratios.size == 0:
        return False
    return bool(np.median(ratios) < compactness or (ratios[1:-1] < 0.3).sum() >= 2)


def _two_fiber_radius(p, voxel_volume, slab):
    c, a = _axis(p)
    t = (p - c) @ a
    bins = np.floor((t - t.min()) / slab).astype(int)
    area = np.bincount(bins) * voxel_volume / slab
    return float(np.sqrt(np.median(area[area > 0]) / (2 * np.pi)))


def _lines(p, radius, min_voxels, rng, max_lines=6, trials=300):
    """Greedy RANSAC lines through ``p``; returns (centres, axes) of accepted lines."""
    remaining = np.arange(len(p))
    lines, first = [], 0
    while len(remaining) >= min_voxels and len(lines) < max_lines:
        q = p[remaining]
        best, best_count = None, 0
        pairs = rng.integers(0, len(q), (trials, 2))
        for i, j in pairs:
            d = q[j] - q[i]
            norm = np.linalg.norm(d)
            if norm < 3 * radius:
                continue
            d /= norm
            rel = q - q[i]
            dist2 = (rel**2).sum(1) - (rel @ d) ** 2
            count = int((dist2 <= radius**2).sum())
            if count > best_count:
                best, best_count = (q[i], d), count
        floor = max(min_voxels, 0.3 * first) if lines else min_voxels
        if best is None or best_count < floor:
            break
        c, d = best
        for _ in range(3):  # least squares on the inliers
            rel = q - c
            inl = (rel**2).sum(1) - (rel @ d) ** 2 <= radius**2
            if inl.sum() < 2:
                break
            c, d = _axis(q[inl])
        rel = q - c
        inl = (rel**2).sum(1) - (rel @ d) ** 2 <= radius**2
        if inl.sum() < floor:
            break
        if not lines:
            first = int(inl.sum())
        lines.append((c, d))
        remaining = remaining[~inl]
    return lines


def split_fibers(
    labels: np.ndarray,
    *,
    spacing=None,
    min_size: int = 50,
    compactness: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Split labelled components that look like several straight fibers.

    Parameters
    ----------
    labels : (Z, Y, X) int ndarray
        Components 1..n (e.g. from :func:`~napari_sciseg.measure.fibers.label_fibers`).
    spacing : float or 3 floats, optional
    min_size : int
        Smallest piece (voxels) a split may create.
    compactness : float
        Components whose :func:`cross_section_compactness` is below this, or with
        two or more inner slabs below 0.3, are split.
    seed : int
        Seed of the RANSAC sampling.

    Returns
    -------
    (Z, Y, X) ndarray
        Labels 1..m (m >= n), same dtype (widened when needed).

    Examples
    --------
    Two rods crossing at right angles become two fibers:

    >>> labels = np.zeros((7, 40, 40), np.uint16)
    >>> labels[2:5, 19:22, 4:36] = 1; labels[2:5, 4:36, 19:22] = 1
    >>> int(split_fibers(labels, min_size=20).max())
    2
    """
    from scipy import ndimage

    sp = np.asarray(check_spacing(spacing, 3))
    voxel_volume = float(np.prod(sp))
    slab = 2.5 * float(sp.max())
    rng = np.random.default_rng(seed)
    boxes = ndimage.find_objects(labels)
    pieces = {}
    radii = []
    for i, box in enumerate(boxes, start=1):
        if box is None:
            continue
        idx = np.argwhere(labels[box] == i)
        p = (idx + [s.start for s in box]) * sp
        if not _looks_multiple(p, voxel_volume, slab, compactness):
            c, a = _axis(p)
            t = (p - c) @ a
            radii.append(np.sqrt(len(p) * voxel_volume / np.pi / max(np.ptp(t), slab)))
            continue
        pieces[i] = (box, idx, p)
    if not pieces:
        return labels
    typical = float(np.median(radii)) if radii else None
    out = labels.astype(np.uint32) if labels.max() + 6 * len(pieces) >= 2**16 else labels.copy()
    next_label = int(labels.max()) + 1
    for i, (box, idx, p) in pieces.items():
        # fiber radius: that of the isolated fibers, else assume two fibers in this one
        own = _two_fiber_radius(p, voxel_volume, slab)
        radius = (typical or own) + 0.75 * float(sp.max())
        lines = _lines(p, radius, max(min_size, 1), rng)
        if len(lines) < 2:
            continue
        dist = np.stack([((p - c) ** 2).sum(1) - ((p - c) @ d) ** 2 for c, d in lines], 1)
        owner = np.argmin(dist, axis=1)
        sub = out[box]
        for k in range(1, len(lines)):
            sub[tuple(idx[owner == k].T)] = next_label
            next_label += 1
        logger.info("component %d split into %d fibers", i, len(lines))
    # consecutive numbering 1..m
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(out)[0]
