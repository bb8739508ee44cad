"""Synthetic tapping-mode AFM scans of crystallising polymer films, with ground truth.

A scan holds spherulites (round crystals of radial lamellae grown from a
nucleus) and lamellar crystals (needles) in a chosen number ratio, and a few
amorphous polymer aggregates, rendered in four physically linked channels:

- ``height`` (nm): topography + a tilted sample plane, per-line offsets of the
  scanner, a few scars and noise;
- ``amplitude`` (V): the tip-tracking error, proportional to the slope of the
  topography along the fast scan axis (x);
- ``phase`` (deg): material contrast; crystalline material shifts the phase,
  spherulites more than lamellae, whatever their relief; aggregates are
  amorphous and slightly softer than the film;
- ``z-sensor`` (nm): the measured actuator motion: the topography, slightly
  low-passed, without line offsets.

The topography is not a clean picture of the crystals, and the channels are not
copies of each other:

- A crystal's relief ranges from an edge-on one's (about 30 nm) down to 15 % of
  that (flat-on lamellae lie in the film; log-uniform per crystal), while its
  phase contrast does not depend on it. That is why phase imaging is the usual
  way to see lamellae in semicrystalline polymer films (Magonov, Elings &
  Whangbo 1997).
- The film has 1 nm rms roughness (150 nm correlation length) and 4 nm rms
  thickness undulations over 1.5 µm, which plane or polynomial levelling does not remove.
- Aggregates (domes 160-500 nm wide, 25-70 nm tall; a mean of 1 per scan on a
  filtered film, 4 on an unfiltered one) look like crystal nuclei in the
  height and are not crystals.

Metadata correlate with the class the way film filtering does in the study:
filtered films grow more spherulites, unfiltered ones (whose undissolved
aggregates nucleate needles) more lamellae. The strength is set so that
metadata alone classify no better than in the study, whose metadata-only model
reached ROC AUC 0.875 and macro F1 0.49, mostly telling the two Vast Majority
classes apart (here a logistic regression on the metadata, grouped 4-fold
cross-validation over 96-120 scans of three data seeds: AUC 0.60-0.67, macro F1
0.26-0.37). They shift the odds; they do not give the label.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.calibration import CalibratedImage

__all__ = ["afm_scan", "afm_dataset", "AfmTruth", "CHANNELS", "CHANNEL_UNITS"]

logger = logging.getLogger(__name__)

CHANNELS = ("height", "amplitude", "phase", "z-sensor")
CHANNEL_UNITS = ("nm", "V", "deg", "nm")
#: fraction intervals used to draw a fraction for a class (the class cut-offs
#: of ``classify.afm.dataset`` with a margin, so labels are unambiguous).
_DRAW = {
    "Vast Majority Lamellar": (0.0, 0.16),
    "Majority Lamellar": (0.24, 0.36),
    "Equal": (0.44, 0.56),
    "Majority Spherulite": (0.64, 0.76),
    "Vast Majority Spherulite": (0.84, 1.0),
}
SCAN_SIZE_NM = 10_000.0
#: lowest crystal relief relative to an edge-on crystal (flat-on lamellae)
_RELIEF_MIN = 0.15
#: mean number of amorphous aggregates per scan on filtered / unfiltered films
_AGGREGATES_FILTERED = 1.0
_AGGREGATES_UNFILTERED = 4.0
#: relative class frequencies on a filtered film (an unfiltered one: mirrored)
_FILTERED_WEIGHTS = {
    "Equal": 1.0,
    "Majority Spherulite": 3.0,
    "Majority Lamellar": 0.5,
    "Vast Majority Spherulite": 6.0,
    "Vast Majority Lamellar": 0.25,
}
_MIRROR = {
    "Equal": "Equal",
    "Majority Spherulite": "Majority Lamellar",
    "Majority Lamellar": "Majority Spherulite",
    "Vast Majority Spherulite": "Vast Majority Lamellar",
    "Vast Majority Lamellar": "Vast Majority Spherulite",
}


@dataclass(frozen=True)
class AfmTruth:
    """Ground truth of a synthetic scan.

    Attributes
    ----------
    crystals : (Y, X) int32 ndarray
        0 = amorphous film, 1 = spherulite, 2 = lamellar crystal, 3 = amorphous
        aggregate (not a crystal; not counted).
    spherulite_centers, lamellar_centers : (N, 2) float ndarrays
        Crystal centres in pixels (row, col), for point annotation.
    fraction : float
        Spherulite fraction S / (S + L) of the counts.
    cls : str
        The class of the counts with the default cut-offs.
    """

    crystals: np.ndarray
    spherulite_centers: np.ndarray
    lamellar_centers: np.ndarray
    fraction: float
    cls: str
    metadata: dict = field(default_factory=dict)


def _draw_counts(cls, rng) -> tuple[int, int, str]:
    from ..classify.afm.dataset import CLASSES, class_from_fraction

    total = int(rng.integers(20, 30))
    if isinstance(cls, str):
        if cls not in _DRAW:
            raise ValueError(
                f"Unknown class {cls!r}; expected one of {list(CLASSES)!r} or a "
                "spherulite fraction in [0, 1]."
            )
        low, high = _DRAW[cls]
        for _ in range(100):
            s = int(round(rng.uniform(low, high) * total))
            if low <= s / total <= high or (low == 0 and s == 0) or (high == 1 and s == total):
                break
    else:
        f = float(cls)
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"cls as a fraction must be in [0, 1]; got {f}.")
        s = int(round(f * total))
    return s, total - s, class_from_fraction(s / total)


def _place(rng, n, shape, radius, taken):
    """Centres at least ``radius`` from earlier ones (rejection sampling)."""
    out = []
    for _ in range(n):
        for _attempt in range(200):
            p = rng.uniform(
                (radius * 0.5, radius * 0.5), (shape[0] - radius * 0.5, shape[1] - radius * 0.5)
            )
            if all(np.hypot(*(p - q)) > radius + r for q, r in taken):
                break
        taken.append((p, radius * 0.5))
        out.append(p)
    return np.array(out).reshape(-1, 2)


def _relief(rng) -> float:
    """A crystal's height relief relative to an edge-on one, log-uniform in [0.15, 1]."""
    return float(np.exp(rng.uniform(np.log(_RELIEF_MIN), 0.0)))


def _render(shape, sph, lam, rng, px_nm):
    height = np.zeros(shape)
    kind = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    for cy, cx in sph:
        radius = rng.uniform(450, 650) / px_nm
        arms = int(rng.integers(18, 30))
        phi = rng.uniform(0, 2 * np.pi)
        relief = _relief(rng)
        y0, y1 = int(max(cy - radius - 2, 0)), int(min(cy + radius + 3, shape[0]))
        x0, x1 = int(max(cx - radius - 2, 0)), int(min(cx + radius + 3, shape[1]))
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        r, theta = np.hypot(dy, dx), np.arctan2(dy, dx)
        inside = r < radius
        lamellae = 0.65 + 0.35 * np.cos(arms * theta + phi + 0.02 * r)
        h = (
            inside
            * relief
            * (28.0 * lamellae * (1 - 0.5 * (r / radius) ** 2) + 12.0 * np.exp(-((r / 3.0) ** 2)))
        )
        sub = height[y0:y1, x0:x1]
        won = h > sub
        sub[won] = h[won]
        kind[y0:y1, x0:x1][won & inside] = 1
    for cy, cx in lam:
        length = rng.uniform(1300, 1900) / px_nm
        width = rng.uniform(110, 160) / px_nm
        angle = rng.uniform(0, np.pi)
        relief = _relief(rng)
        ext = length / 2 + 3
        y0, y1 = int(max(cy - ext, 0)), int(min(cy + ext + 1, shape[0]))
        x0, x1 = int(max(cx - ext, 0)), int(min(cx + ext + 1, shape[1]))
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        across = np.clip(1 - (2 * v / max(width, 1.5)) ** 2, 0, None)
        along = np.clip((length / 2 - np.abs(u)) / 3.0, 0, 1)
        profile = np.sqrt(across) * along
        h = 34.0 * relief * profile
        sub = height[y0:y1, x0:x1]
        won = h > sub
        sub[won] = h[won]
        kind[y0:y1, x0:x1][won & (profile > 4.0 / 34.0)] = 2
    return height, kind


def _aggregates(shape, n, rng, px_nm, height, kind):
    """Amorphous polymer aggregates: tall domes, label 3, no crystalline phase shift."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        radius = max(rng.uniform(80, 250) / px_nm, 1.0)
        dome = rng.uniform(25, 70) * np.sqrt(
            np.clip(1 - ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2, 0, None)
        )
        won = dome > height
        height[won] = dome[won]
        kind[won & (dome > 0)] = 3
    return height, kind


def _film(shape, rng, px_nm, rms_nm, correlation_nm):
    """Gaussian-correlated random surface with the given rms (nm) and correlation length."""
    from scipy import ndimage as ndi

    z = ndi.gaussian_filter(rng.normal(0, 1, shape), correlation_nm / px_nm, mode="wrap")
    return z * (rms_nm / max(float(z.std()), 1e-12))


def _metadata(rng, fraction, n_crystals, sample="S00", filtered=None, ageing=None) -> dict:
    if filtered is None:
        filtered = bool(rng.random() < 0.15 + 0.7 * fraction)
    if ageing is None:
        ageing = float(np.round(rng.uniform(1, 30), 1))
    return {
        "sample": sample,
        "filtered": "yes" if filtered else "no",
        "ageing_days": ageing,
        # operators use a few settings: discrete values, no per-scan identifiers
        "scan_rate_hz": float(rng.choice([0.5, 1.0, 1.5])),
        "setpoint_v": float(rng.choice([0.2, 0.25, 0.3])),
        "drive_amplitude_mv": float(rng.choice([100.0, 120.0, 140.0])),
        "tip": str(rng.choice(["A", "B", "C"])),
    }


def afm_scan(
    *,
    cls: str | float = "Majority Spherulite",
    shape: tuple[int, int] = (512, 512),
    seed: int = 0,
    return_truth: bool = False,
    metadata: dict | None = None,
):
    """A synthetic four-channel AFM scan of a crystallising film.

    Parameters
    ----------
    cls : str or float
        One of the five classes, or a spherulite fraction S / (S + L) in [0, 1].
    shape : (int, int)
        Pixels; the scan is always 10 µm wide, so spacing = 10000 / shape[1] nm.
    seed : int
        Seed; the same seed gives the same scan.
    return_truth : bool
        Also return an :class:`AfmTruth`.
    metadata : dict, optional
        Fields to put in ``scan.metadata`` instead of random ones (e.g.
        ``{"sample": "S01", "filtered": "yes"}``).

    Returns
    -------
    scan : CalibratedImage
        ``data`` (4, Y, X) float32, ``axes="CYX"``, channels ``CHANNELS`` in
        ``CHANNEL_UNITS``; ``metadata`` holds the acquisition fields.
    truth : AfmTruth
        Only with ``return_truth=True``.

    Examples
    --------
    >>> scan, truth = afm_scan(cls="Equal", shape=(128, 128), return_truth=True)
    >>> scan.data.shape, scan.channel_names[0], truth.cls
    ((4, 128, 128), 'height', 'Equal')
    """
    rng = np.random.default_rng(seed)
    shape = (int(shape[0]), int(shape[1]))
    if min(shape) < 32:
        raise ValueError(f"shape must be at least (32, 32); got {shape}.")
    px_nm = SCAN_SIZE_NM / shape[1]
    n_s, n_l, label = _draw_counts(cls, rng)
    taken: list = []
    sph = _place(rng, n_s, shape, 560 / px_nm, taken)
    lam = _place(rng, n_l, shape, 700 / px_nm, taken)
    topo, kind = _render(shape, sph, lam, rng, px_nm)
    fraction = n_s / max(n_s + n_l, 1)
    meta = _metadata(rng, fraction, n_s + n_l)
    meta.update(metadata or {})
    filtered = str(meta.get("filtered", "no")).lower() in ("yes", "true", "1")
    n_agg = int(rng.poisson(_AGGREGATES_FILTERED if filtered else _AGGREGATES_UNFILTERED))
    topo, kind = _aggregates(shape, n_agg, rng, px_nm, topo, kind)
    from scipy import ndimage as ndi

    yy, xx = np.mgrid[: shape[0], : shape[1]] / max(shape)
    # film: nm-scale roughness plus thickness undulations over micrometres, which a
    # plane or low-order polynomial does not remove
    topo = topo + _film(shape, rng, px_nm, 1.0, 150.0) + _film(shape, rng, px_nm, 4.0, 1500.0)
    plane = rng.uniform(-40, 40) * yy + rng.uniform(-40, 40) * xx + rng.uniform(-20, 20)
    rows = np.cumsum(rng.normal(0, 0.3, shape[0]))[:, None]
    height = topo + plane + rows + rng.normal(0, 0.6, shape)
    for _ in range(int(rng.integers(0, 3))):  # scars: short line segments
        r, c = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1] // 2))
        height[r, c : c + int(rng.integers(10, shape[1] // 3))] += rng.choice([-1, 1]) * 25
    slope = np.gradient(ndi.gaussian_filter(topo, 0.7), axis=1) / px_nm
    amplitude = 0.02 + 0.6 * slope + rng.normal(0, 0.003, shape)
    # phase: stiffness contrast of crystalline material, whatever its relief
    phase = 5.0 + np.select([kind == 1, kind == 2, kind == 3], [12.0, 7.0, -2.0], 0.0)
    phase = ndi.gaussian_filter(phase, 1.0) + 2.0 * slope + rng.normal(0, 0.6, shape)
    zsensor = 0.97 * ndi.gaussian_filter(topo + plane, 0.8) + rng.normal(0, 0.4, shape)
    scan = CalibratedImage(
        data=np.stack([height, amplitude, phase, zsensor]).astype(np.float32),
        spacing=(px_nm, px_nm),
        unit="nm",
        axes="CYX",
        calibrated=True,
        source="synthetic",
        channel_names=CHANNELS,
        channel_units=CHANNEL_UNITS,
        metadata=meta,
    )
    if not return_truth:
        return scan
    truth = AfmTruth(kind, sph, lam, fraction, label, meta)
    return scan, truth


def _write_scan(folder, i, sample, n_samples, shape, seed, rng, degrade=False) -> dict:
    """Draw the class of scan ``i`` of ``sample``, write its TIFF, return its CSV row."""
    from ..classify.afm.dataset import CLASSES
    from ..io.tiff import write_tiff

    weights = (
        _FILTERED_WEIGHTS
        if sample["filtered"] == "yes"
        else {_MIRROR[c]: w for c, w in _FILTERED_WEIGHTS.items()}
    )
    p = np.array([weights[c] for c in CLASSES])
    cls = (
        CLASSES[(i // n_samples + (i % n_samples)) % 5]
        if rng.random() < 0.2
        else str(rng.choice(CLASSES, p=p / p.sum()))
    )
    scan, truth = afm_scan(
        cls=cls,
        shape=shape,
        seed=seed * 100_003 + i,
        return_truth=True,
        metadata={
            "sample": sample["sample"],
            "filtered": sample["filtered"],
            "ageing_days": sample["ageing_days"],
        },
    )
    if degrade:
        from .afm_degrade import degrade_scan

        scan = degrade_scan(scan, seed=seed * 100_003 + i)
    name = f"scan_{i:03d}.tif"
    write_tiff(
        folder / name, scan.data, spacing=scan.spacing, axes="CYX", channel_names=scan.channel_names
    )
    meta = {k: v for k, v in scan.metadata.items() if k != "sample"}
    return {
        "file": name,
        "sample": sample["sample"],
        "spherulite_count": len(truth.spherulite_centers),
        "lamellar_count": len(truth.lamellar_centers),
        "nm_per_px": round(scan.spacing[1], 4),
        **meta,
    }


def afm_dataset(
    folder: str | Path,
    *,
    n_scans: int = 40,
    n_samples: int = 8,
    seed: int = 0,
    shape: tuple[int, int] = (256, 256),
    degrade: bool = False,
) -> Path:
    """Write a seeded synthetic data set: ``scan_XXX.tif`` files and ``dataset.csv``.

    Each sample (film) is filtered or not and has an ageing time. A film's
    scans share its crystallisation conditions: a filtered film favours the
    spherulite classes, most of all Vast Majority Spherulite, an unfiltered one
    the lamellar classes (class weights below), so metadata carry part of the
    class information, about as much as in the study (see the module
    docstring); the ageing time and the scan settings carry none. A fifth of
    the scans take their class from a cycle instead, so every class appears in
    every group of a few samples and the images stay necessary.

    Parameters
    ----------
    folder : str or Path
        Created if needed.
    n_scans, n_samples : int
        Scans in total and samples (films) they come from.
    seed : int
        Seed of everything.
    shape : (int, int)
        Pixels per scan.
    degrade : bool
        Pass every scan through :func:`napari_sciseg.data.afm_degrade.degrade_scan`
        (another instrument: blunt tip, drift, line artefacts, noisier phase).

    Returns
    -------
    Path
        The CSV (columns ``file, sample, spherulite_count, lamellar_count,
        nm_per_px`` and metadata columns).
    """
    if n_samples < 2 or n_scans < n_samples:
        raise ValueError(
            f"Need n_samples >= 2 and n_scans >= n_samples; got {n_scans}, {n_samples}."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = [
        {
            "sample": f"S{i:02d}",
            "filtered": "yes" if i % 2 == 0 else "no",
            "ageing_days": float(np.round(rng.uniform(2, 30), 1)),
        }
        for i in range(n_samples)
    ]
    rows = [
        _write_scan(folder, i, samples[i % n_samples], n_samples, shape, seed, rng, degrade)
        for i in range(n_scans)
    ]
    path = folder / "dataset.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    logger.info("wrote %d scans from %d samples to %s", n_scans, n_samples, folder)
    return path
