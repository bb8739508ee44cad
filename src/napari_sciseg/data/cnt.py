"""Seeded bright-field TEM images of airborne carbon nanomaterials, one class per image.

After the classes of Luo, Holm & Wang (Nanoscale Adv. 2021): four carbon
nanotube/nanofibre (CNT) structure classes and non-CNT particles.

- ``fiber``: one long, gently curved tube (outer diameter 10-25 nm, hollow
  core, dark walls with fringes) crossing the field.
- ``cluster``: a loose tangle of 8-20 short, strongly curved tubes.
- ``matrix``: tubes embedded in, and sticking out of, a dense amorphous blob.
- ``mixed``: large structures: two matrix blobs, a tangle and loose fibres.
- ``soot``: a fractal-like aggregate of 20-40 nm spherules.
- ``graphene``: thin, overlapping polygonal sheets with straight edges.
- ``metal``: dense, dark, faceted metal particles.

Intensities follow Beer-Lambert: a bright background times
``exp(-mu * thickness)``, a carbon-film texture and shot noise; a tube's
projected thickness is that of a hollow cylinder, so its walls are darker
than its core. Sizes are in nm and become pixels through ``spacing``.
:data:`STUDY_FRACTIONS` is the study's imbalance (fibres ~8 % of images).

Examples
--------
>>> image = cnt_tem("fiber", shape=(64, 64), seed=1)
>>> image.shape, image.dtype, bool(0 <= image.min() and image.max() <= 1)
((64, 64), dtype('float32'), True)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "CNT_CLASSES",
    "NON_CNT_CLASSES",
    "ALL_CLASSES",
    "STUDY_FRACTIONS",
    "cnt_tem",
    "class_counts",
    "CntImages",
    "cnt_images",
    "write_cnt_dataset",
    "particle_objects",
]

CNT_CLASSES = ("cluster", "fiber", "matrix", "mixed")
NON_CNT_CLASSES = ("soot", "graphene", "metal")
ALL_CLASSES = CNT_CLASSES + NON_CNT_CLASSES
#: share of each class among the images; fibres are the rare class, as in the study.
STUDY_FRACTIONS = {"cluster": 0.40, "fiber": 0.08, "matrix": 0.30, "mixed": 0.22,
                   "soot": 0.3, "graphene": 0.2, "metal": 0.2}


def _path(rng, shape, start, length_px, wiggle, angle=None) -> np.ndarray:
    """A smooth random curve of ``length_px`` unit steps from ``start`` (Y, X)."""
    turn = ndi.gaussian_filter1d(rng.normal(0, wiggle, int(length_px)), 4) * 4
    angle = (rng.uniform(0, 2 * np.pi) if angle is None else angle) + np.cumsum(turn)
    steps = np.stack([np.sin(angle), np.cos(angle)], 1)
    return np.asarray(start, float) + np.cumsum(steps, 0)


def _distance_to(points: np.ndarray, shape) -> np.ndarray:
    """Distance (px) of every pixel to the nearest of ``points`` inside the image."""
    pts = np.round(points).astype(int)
    inside = (pts >= 0).all(1) & (pts[:, 0] < shape[0]) & (pts[:, 1] < shape[1])
    mask = np.ones(shape, bool)
    if not inside.any():
        return np.full(shape, 1e6)
    mask[pts[inside, 0], pts[inside, 1]] = False
    return ndi.distance_transform_edt(mask)


def _tube(points, shape, outer_px, inner_px, fringe_px) -> np.ndarray:
    """Projected thickness (px) of a hollow tube along ``points``, walls with fringes."""
    d = _distance_to(points, shape)
    outer = 2 * np.sqrt(np.clip(outer_px**2 - d**2, 0, None))
    inner = 2 * np.sqrt(np.clip(inner_px**2 - d**2, 0, None))
    wall = (d > inner_px) & (d < outer_px)
    fringes = np.where(wall, 1 + 0.35 * np.cos(2 * np.pi * d / fringe_px), 1.0)
    return (outer - inner) * fringes


def _tubes(rng, shape, starts, lengths, px, wiggle, *, both_ways=False) -> np.ndarray:
    t = np.zeros(shape)
    for start, length in zip(starts, lengths):
        outer = rng.uniform(5, 12.5) / px
        points = _path(rng, shape, start, length, wiggle)
        if both_ways:  # grow back from the start too: a fibre crossing the field
            a = np.arctan2(*(points[0] - points[1]))
            points = np.concatenate([_path(rng, shape, start, length, wiggle, a)[::-1], points])
        t += _tube(points, shape, max(outer, 1.2), 0.45 * outer, max(2.0, 3.4 / px))
    return t


def _blob(rng, shape, center, radius) -> np.ndarray:
    """Thickness (px) of a dense amorphous lump with a rough outline."""
    yy, xx = np.indices(shape)
    noise = ndi.gaussian_filter(rng.normal(size=shape), radius / 4)
    noise /= noise.std() + 1e-9
    r = np.hypot(yy - center[0], xx - center[1]) / radius + 0.25 * noise
    return np.clip(1 - r**2, 0, None) * radius * (1.2 + 0.2 * noise)


def _spheres(rng, shape, n, r_range) -> np.ndarray:
    """Thickness (px) of an aggregate of touching spherules grown from the centre."""
    centers = [np.array(shape, float) / 2 + rng.normal(0, 4, 2)]
    radii = [rng.uniform(*r_range)]
    for _ in range(n - 1):
        k = rng.integers(len(centers))
        r = rng.uniform(*r_range)
        a = rng.uniform(0, 2 * np.pi)
        centers.append(centers[k] + 0.85 * (radii[k] + r) * np.array([np.sin(a), np.cos(a)]))
        radii.append(r)
    yy, xx = np.indices(shape)
    t = np.zeros(shape)
    for c, r in zip(centers, radii):
        d2 = (yy - c[0]) ** 2 + (xx - c[1]) ** 2
        t = np.maximum(t, 2 * np.sqrt(np.clip(r**2 - d2, 0, None)))
    return t


def _polygon_mask(shape, center, radius, n_vertices, rng) -> np.ndarray:
    """A convex polygon (straight edges) as a boolean mask."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    yy, xx = np.indices(shape).astype(float)
    vy = center[0] + radius * np.sin(angles) * rng.uniform(0.7, 1.0, n_vertices)
    vx = center[1] + radius * np.cos(angles) * rng.uniform(0.7, 1.0, n_vertices)
    inside = np.ones(shape, bool)
    for i in range(n_vertices):  # left of every edge of a counter-clockwise polygon
        j = (i + 1) % n_vertices
        cross = (vx[j] - vx[i]) * (yy - vy[i]) - (vy[j] - vy[i]) * (xx - vx[i])
        inside &= cross >= 0
    return inside


def _thickness(kind: str, rng, shape, px) -> tuple[np.ndarray, float]:
    """Projected thickness (px) and attenuation (per px) of one image's content."""
    h, w = shape
    size = float(min(shape))
    centre = np.array(shape, float) / 2
    if kind == "fiber":
        start = centre + rng.uniform(-0.2, 0.2, 2) * size
        return _tubes(rng, shape, [start], [0.8 * size], px, 0.015, both_ways=True), 0.12
    if kind == "cluster":
        n = int(rng.integers(8, 21))
        starts = centre + rng.normal(0, size / 8, (n, 2))
        return _tubes(rng, shape, starts, rng.uniform(0.25, 0.6, n) * size, px, 0.08), 0.12
    if kind in ("matrix", "mixed"):
        lumps = 1 if kind == "matrix" else 2
        t = np.zeros(shape)
        for _ in range(lumps):
            c = centre + rng.uniform(-0.2, 0.2, 2) * size * lumps
            t += _blob(rng, shape, c, rng.uniform(0.22, 0.3) * size)
        n = int(rng.integers(3, 8))
        starts = centre + rng.normal(0, size / 6, (n, 2))
        t += _tubes(rng, shape, starts, rng.uniform(0.3, 0.5, n) * size, px, 0.03)
        if kind == "mixed":
            starts = rng.uniform(0, 1, (12, 2)) * [h, w]
            t += _tubes(rng, shape, starts, rng.uniform(0.3, 0.7, 12) * size, px, 0.06)
        return t, 0.1
    if kind == "soot":
        n = int(rng.integers(15, 40))
        return _spheres(rng, shape, n, (10 / px, 20 / px)), 0.1
    if kind == "graphene":
        t = np.zeros(shape)
        for _ in range(int(rng.integers(1, 4))):
            c = centre + rng.uniform(-0.25, 0.25, 2) * size
            mask = _polygon_mask(shape, c, rng.uniform(0.25, 0.45) * size, rng.integers(4, 7),
                                 rng)
            edge = mask ^ ndi.binary_erosion(mask, iterations=1)
            t += 1.5 * mask + 3.0 * edge
        return t, 0.1
    if kind == "metal":
        t = np.zeros(shape)
        for _ in range(int(rng.integers(3, 12))):
            c = rng.uniform(0.15, 0.85, 2) * [h, w]
            r = rng.uniform(8, 25) / px
            t += 2 * r * _polygon_mask(shape, c, r, int(rng.integers(6, 9)), rng)
        return t, 0.5
    raise ValueError(f"kind must be one of {', '.join(ALL_CLASSES)}; got {kind!r}.")


def cnt_tem(kind: str, *, shape: tuple[int, int] = (128, 128), spacing: float = 2.0,
            seed: int = 0, dose: float = 200.0) -> np.ndarray:
    """One bright-field TEM image of a carbon-nanomaterial class.

    Parameters
    ----------
    kind : str
        One of :data:`ALL_CLASSES`.
    shape : (Y, X) tuple of int
    spacing : float
        Pixel size in nm (tube diameters are 10-25 nm, spherules 20-40 nm).
    seed : int
    dose : float
        Electrons per pixel of the background (shot noise).

    Returns
    -------
    (Y, X) float32 ndarray
        Intensities in [0, 1]; the background is bright, material dark.

    Examples
    --------
    >>> a = cnt_tem("soot", shape=(64, 64), seed=3)
    >>> bool((a == cnt_tem("soot", shape=(64, 64), seed=3)).all())
    True
    """
    if kind not in ALL_CLASSES:
        raise ValueError(f"kind must be one of {', '.join(ALL_CLASSES)}; got {kind!r}.")
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    thickness, mu = _thickness(kind, rng, shape, float(spacing))
    yy, xx = np.indices(shape) / max(shape)
    background = 0.8 + 0.08 * (rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * xx)
    film = ndi.gaussian_filter(rng.normal(size=shape), 1.5) * 0.6
    image = background * np.exp(-mu * thickness) * (1 + 0.03 * film)
    image = rng.poisson(np.clip(image, 0, None) * dose) / dose
    return np.clip(image, 0, 1).astype(np.float32)


def class_counts(n: int, classes=CNT_CLASSES, fractions: dict | None = None) -> dict:
    """Images per class for ``n`` images in the study's proportions (each class >= 2).

    Examples
    --------
    >>> class_counts(100)
    {'cluster': 40, 'fiber': 8, 'matrix': 30, 'mixed': 22}
    """
    fractions = STUDY_FRACTIONS if fractions is None else fractions
    share = np.array([float(fractions[c]) for c in classes])
    counts = np.maximum(np.round(n * share / share.sum()).astype(int), 2)
    return dict(zip(classes, counts.tolist()))


@dataclass(frozen=True)
class CntImages:
    """Images with their class index, class names, pixel sizes (nm) and sample groups."""

    images: list
    labels: np.ndarray
    class_names: tuple
    spacings: np.ndarray
    groups: np.ndarray


def cnt_images(n: int = 100, *, classes=CNT_CLASSES, fractions: dict | None = None,
               shape=(128, 128), spacing: float = 2.0, mixed_sizes: bool = False,
               seed: int = 0) -> CntImages:
    """A labelled, imbalanced set of synthetic TEM images.

    Parameters
    ----------
    n : int
        About this many images, split by :func:`class_counts`.
    classes : sequence of str
        Classes to draw (default the four CNT classes).
    fractions : dict, optional
        Class -> share; default :data:`STUDY_FRACTIONS`.
    shape, spacing
        Image shape and pixel size (nm).
    mixed_sizes : bool
        Vary the image shape (0.75-1.25x) and the pixel size (0.8-1.25x) per image.
    seed : int

    Returns
    -------
    CntImages
        ``groups`` put every 3 consecutive images of a class in one "sample".

    Examples
    --------
    >>> s = cnt_images(20, shape=(48, 48))
    >>> len(s.images), s.class_names[int(s.labels[0])]
    (20, 'cluster')
    """
    rng = np.random.default_rng(seed)
    images, labels, spacings, groups = [], [], [], []
    for k, (name, count) in enumerate(class_counts(n, classes, fractions).items()):
        for i in range(count):
            shp, px = tuple(shape), float(spacing)
            if mixed_sizes:
                f = rng.uniform(0.75, 1.25)
                shp = tuple(int(round(s * f)) for s in shape)
                px = float(spacing * rng.uniform(0.8, 1.25))
            images.append(cnt_tem(name, shape=shp, spacing=px, seed=int(rng.integers(2**31))))
            labels.append(k)
            spacings.append(px)
            groups.append(f"{name}-{i // 3}")
    return CntImages(images, np.array(labels), tuple(classes), np.array(spacings),
                     np.array(groups))


def write_cnt_dataset(folder, n: int = 100, *, layout: str = "folders", **kwargs) -> Path:
    """Write :func:`cnt_images` as calibrated TIFFs: a folder per class, or a CSV.

    Parameters
    ----------
    folder : str or Path
        Created if missing.
    n : int
        About this many images.
    layout : {"folders", "csv"}
        ``"folders"``: ``folder/<class>/<class>_0000.tif``; ``"csv"``: images in
        ``folder/images`` and ``folder/labels.csv`` with ``file,class,group``.
    **kwargs
        Passed to :func:`cnt_images`.

    Returns
    -------
    Path
        The data set to pass on: the folder, or the CSV.
    """
    from ..io.tiff import write_tiff

    if layout not in ("folders", "csv"):
        raise ValueError(f"layout must be 'folders' or 'csv'; got {layout!r}.")
    folder = Path(folder)
    data = cnt_images(n, **kwargs)
    rows = []
    for i, (image, label, px, group) in enumerate(
            zip(data.images, data.labels, data.spacings, data.groups)):
        name = data.class_names[int(label)]
        sub = folder / (name if layout == "folders" else "images")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{name}_{i:04d}.tif"
        write_tiff(path, (image * 65535).astype(np.uint16), spacing=(px, px))
        rows.append((path.relative_to(folder).as_posix(), name, group))
    if layout == "folders":
        return folder
    table = folder / "labels.csv"
    with open(table, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "class", "group"])
        writer.writerows(rows)
    return table


def particle_objects(shape=(256, 256), *, n: int = 30, seed: int = 0, spacing: float = 2.0):
    """A TEM field of particles to sort: single spheres, aggregates and contaminants.

    Single: one 20-40 nm sphere; aggregate: 4-8 touching spheres; contaminant: a
    straight, low-contrast flake (a thin rectangle). Objects do not touch.

    Parameters
    ----------
    shape : (Y, X) tuple of int
    n : int
        Objects to place (fewer if the field is full).
    seed : int
    spacing : float
        Pixel size in nm.

    Returns
    -------
    image : (Y, X) float32 ndarray
    labels : (Y, X) int32 ndarray
        One label per object.
    classes : dict
        Label -> ``"single"``, ``"aggregate"`` or ``"contaminant"``.

    Examples
    --------
    >>> image, labels, classes = particle_objects((128, 128), n=6, seed=1)
    >>> sorted(set(classes.values())) <= ["aggregate", "contaminant", "single"]
    True
    """
    rng = np.random.default_rng(seed)
    thickness = np.zeros(shape)
    mu_map = np.zeros(shape)
    labels = np.zeros(shape, np.int32)
    classes: dict = {}
    kinds = ("single", "aggregate", "contaminant")
    for _ in range(n * 5):
        if len(classes) >= n:
            break
        kind = kinds[int(rng.integers(3))]
        box = 48
        y, x = rng.integers(0, shape[0] - box), rng.integers(0, shape[1] - box)
        local = np.zeros((box, box))
        if kind == "contaminant":
            mask = _polygon_mask((box, box), (box / 2, box / 2), rng.uniform(10, 20), 4, rng)
            local[mask] = 3.0
            mu = 0.08
        else:
            k = 1 if kind == "single" else int(rng.integers(4, 9))
            local = _spheres(rng, (box, box), k, (10 / spacing, 20 / spacing))
            mu = 0.12
        obj = local > 0
        grown = ndi.binary_dilation(obj, iterations=3)
        if not obj.any() or (labels[y:y + box, x:x + box][grown] > 0).any():
            continue
        label = len(classes) + 1
        labels[y:y + box, x:x + box][obj] = label
        thickness[y:y + box, x:x + box] += local
        mu_map[y:y + box, x:x + box][obj] = mu
        classes[label] = kind
    film = ndi.gaussian_filter(rng.normal(size=shape), 1.5) * 0.6
    image = 0.8 * np.exp(-mu_map * thickness) * (1 + 0.03 * film)
    image = rng.poisson(np.clip(image, 0, None) * 200.0) / 200.0
    return np.clip(image, 0, 1).astype(np.float32), labels, classes
