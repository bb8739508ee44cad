"""A second synthetic AFM generator, designed apart from :mod:`.afm`, to validate the recipe.

Nothing here was tuned on a classifier's result. It differs from :mod:`.afm`
in every respect the classifier could have learnt:

- **Crystals.** Spherulites fill space: they grow from nuclei at different rates
  and meet along straight or curved boundaries (a weighted Voronoi tessellation),
  with *ring bands* (periodic twisting of the lamellae, period 250-450 nm) instead
  of radial arms. Lamellar regions are *stacks* of parallel lamellae (stripes of
  period 150-300 nm), one orientation per grain. Grain sizes are log-normal, the
  mean (0.6-1.5 µm in radius) set per film. Amorphous gaps cover 10-30 % of a scan.
- **Counting rule.** The class comes from the *area* fraction of spherulitic
  crystal among crystalline area, f = A_S / (A_S + A_L) (same cut-offs), and the
  CSV gives the ``class`` column, not counts.
- **Scans.** 5-20 µm wide at 256 px (19.5-78 nm/px), so the same crystal spans
  four times more pixels in one scan than in another; the pixel size is only in
  the TIFF's calibration (no ``nm_per_px`` column).
- **Contrast.** Lamellae are stiffer than spherulites in the phase (+8 vs +5
  degrees, the reverse of :mod:`.afm`), with a per-grain spread; relief is a few nm.
- **Artefacts.** Tip convolution (a parabolic tip of 20-60 nm radius: grey
  dilation of the height), thermal drift (a shear of a few pixels over the scan),
  line offsets, a few noisy lines, 1/f-like noise.
- **Metadata.** Other columns (``substrate``, ``anneal_c``, ``operator``); the
  anneal temperature shifts the class odds a little, per film.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from ..io.calibration import CalibratedImage
from .afm import _DRAW, CHANNEL_UNITS, CHANNELS
from .afm_degrade import _artefacts, _tip, degrade_scan

__all__ = ["afm_film_scan", "afm_film_dataset", "degrade_scan"]

logger = logging.getLogger(__name__)


def _cells(shape, px_nm, mean_radius_nm, rng):
    """Weighted Voronoi grains: label per pixel, distance to the nucleus (nm), count."""
    area = shape[0] * shape[1] * px_nm**2
    n = max(3, int(round(area / (np.pi * mean_radius_nm**2))))
    centres = rng.uniform(0, 1, (n, 2)) * np.array(shape) * px_nm
    rates = rng.lognormal(0.0, 0.3, n)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32) * px_nm
    best = np.full(shape, np.inf, np.float32)
    label = np.zeros(shape, np.int32)
    dist = np.zeros(shape, np.float32)
    for i, (cy, cx) in enumerate(centres):
        d = np.hypot(yy - cy, xx - cx)
        w = d / rates[i]
        won = w < best
        best[won], label[won], dist[won] = w[won], i, d[won]
    return label, dist, n


def _assign(label, n, fraction, amorphous, rng):
    """Each grain -> 0 amorphous, 1 spherulite, 2 lamellar, hitting the area fractions."""
    areas = np.bincount(label.ravel(), minlength=n).astype(float)
    kind = np.full(n, 2)
    order = rng.permutation(n)
    total = areas.sum()
    acc = 0.0
    for i in order:  # amorphous gaps first
        if acc + areas[i] > amorphous * total:
            continue
        kind[i], acc = 0, acc + areas[i]
    crystalline = areas[kind != 0].sum()
    acc = 0.0
    for i in rng.permutation(np.flatnonzero(kind != 0)):
        if acc + areas[i] <= fraction * crystalline + 0.5 * areas[i]:
            kind[i], acc = 1, acc + areas[i]
    return kind


def _class_fraction(cls, rng) -> float:
    if isinstance(cls, str):
        low, high = _DRAW[cls]
        return float(rng.uniform(low, high))
    return float(cls)


def _render(kind, label, dist, px_nm, rng):
    """Height (nm) and phase (deg) of the grains."""
    n = int(label.max()) + 1
    band = rng.uniform(250, 450)
    period = rng.uniform(150, 300)
    theta = rng.uniform(0, np.pi, n)
    relief = rng.uniform(2.0, 8.0, n)
    yy, xx = np.mgrid[: label.shape[0], : label.shape[1]] * px_nm
    k = kind[label]
    rings = 0.5 + 0.5 * np.cos(2 * np.pi * dist / band)
    along = xx * np.cos(theta[label]) + yy * np.sin(theta[label])
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * along / period)
    height = np.select([k == 1, k == 2], [rings, stripes], 0.0) * relief[label]
    phase_level = np.select([kind == 1, kind == 2], [5.0, 8.0], 0.0) + rng.normal(0, 1.0, n)
    phase = np.where(k == 0, 0.0, phase_level[label])
    return height, phase


def afm_film_scan(
    *,
    cls: str | float = "Equal",
    shape: tuple[int, int] = (256, 256),
    size_um: float | None = None,
    mean_radius_nm: float | None = None,
    seed: int = 0,
    metadata: dict | None = None,
) -> tuple[CalibratedImage, float]:
    """A four-channel scan of a film of space-filling banded spherulites and lamellar stacks.

    Parameters
    ----------
    cls : str or float
        One of the five classes, or an area fraction A_S / (A_S + A_L) in [0, 1].
    shape : (int, int)
        Pixels.
    size_um : float, optional
        Scan width in µm (5-20 drawn by default).
    mean_radius_nm : float, optional
        Mean grain radius (0.6-1.5 µm drawn by default).
    seed : int
    metadata : dict, optional
        Stored in ``scan.metadata``.

    Returns
    -------
    scan : CalibratedImage
        ``data`` (4, Y, X) float32 in the channels and units of :mod:`.afm`.
    fraction : float
        The rendered area fraction A_S / (A_S + A_L).

    Examples
    --------
    >>> scan, f = afm_film_scan(cls="Vast Majority Lamellar", shape=(64, 64), seed=1)
    >>> scan.data.shape, f < 0.2
    ((4, 64, 64), True)
    """
    rng = np.random.default_rng(seed)
    size_um = float(rng.uniform(5, 20)) if size_um is None else float(size_um)
    px_nm = size_um * 1000 / shape[1]
    radius = float(rng.uniform(600, 1500)) if mean_radius_nm is None else mean_radius_nm
    label, dist, n = _cells(shape, px_nm, radius, rng)
    kind = _assign(label, n, _class_fraction(cls, rng), rng.uniform(0.1, 0.3), rng)
    k = kind[label]
    fraction = float((k == 1).sum() / max((k != 0).sum(), 1))
    height, phase = _render(kind, label, dist, px_nm, rng)
    topo = _tip(
        height + ndi.gaussian_filter(rng.normal(0, 1, shape), 3) * 0.8, px_nm, rng.uniform(20, 60)
    )
    yy, xx = np.mgrid[: shape[0], : shape[1]] / shape[1]
    height = _artefacts(topo + rng.uniform(-30, 30) * yy + rng.uniform(-30, 30) * xx, px_nm, rng)
    slope = np.gradient(ndi.gaussian_filter(topo, 1.0), axis=1) / px_nm
    amplitude = 0.05 + 0.3 * slope + rng.normal(0, 0.004, shape)
    phase = ndi.gaussian_filter(phase, 1.2) + 1.5 * slope + rng.normal(0, 1.5, shape) + 20.0
    zsensor = ndi.gaussian_filter(topo, 1.5) + rng.normal(0, 0.3, shape)
    scan = CalibratedImage(
        data=np.stack([height, amplitude, phase, zsensor]).astype(np.float32),
        spacing=(px_nm, px_nm),
        unit="nm",
        axes="CYX",
        calibrated=True,
        source="synthetic films",
        channel_names=CHANNELS,
        channel_units=CHANNEL_UNITS,
        metadata=dict(metadata or {}),
    )
    return scan, fraction


def afm_film_dataset(
    folder: str | Path,
    *,
    n_scans: int = 48,
    n_samples: int = 8,
    seed: int = 0,
    shape: tuple[int, int] = (256, 256),
) -> Path:
    """Write ``film_XXX.tif`` scans and ``dataset.csv`` (file, sample, class, metadata).

    Each film (sample) has its own grain size, substrate and anneal temperature;
    a warmer anneal favours spherulites a little. Classes are drawn per scan
    around the film's preference, so every class appears in a few films.

    Returns
    -------
    Path
        The CSV.
    """
    from ..classify.afm.dataset import CLASSES, class_from_fraction
    from ..io.tiff import write_tiff

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 7919)
    films = [
        {
            "sample": f"F{i:02d}",
            "radius": float(rng.uniform(600, 1500)),
            "substrate": str(rng.choice(["glass", "silicon"])),
            "anneal_c": float(np.round(rng.uniform(120, 160), 0)),
            "operator": str(rng.choice(["ab", "cd", "ef", "gh"])),
        }
        for i in range(n_samples)
    ]
    rows = []
    for i in range(n_scans):
        film = films[i % n_samples]
        tilt = (film["anneal_c"] - 140) / 20  # -1..1: warmer -> more spherulitic
        p = np.exp(tilt * np.array([0.0, 0.5, -0.5, 1.0, -1.0]))
        cls = str(rng.choice(CLASSES, p=p / p.sum()))
        scan, fraction = afm_film_scan(
            cls=cls, shape=shape, mean_radius_nm=film["radius"], seed=seed * 100_019 + i
        )
        name = f"film_{i:03d}.tif"
        write_tiff(
            folder / name,
            scan.data,
            spacing=scan.spacing,
            axes="CYX",
            channel_names=scan.channel_names,
        )
        rows.append(
            {
                "file": name,
                "sample": film["sample"],
                "class": class_from_fraction(fraction),
                **{k: film[k] for k in ("substrate", "anneal_c", "operator")},
            }
        )
    path = folder / "dataset.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    logger.info("wrote %d film scans from %d samples to %s", n_scans, n_samples, folder)
    return path
