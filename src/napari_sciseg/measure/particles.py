"""Per-particle sizes in physical units, isolated-particle selection and the PSD.

Only **isolated** particles enter the particle size distribution (PSD): the
ones cut by the image border, touching or aggregated with others (low solidity
or convexity, elongated), or far from the population's size are kept in the
table with the reason they were rejected (``SCIENCE.md`` section 2).

Shape measures are computed for all particles at once (``bincount``) except the
convex hull, which is one small qhull call per particle:

- area-equivalent diameter ``2 * sqrt(area / pi)``;
- perimeter by the Cauchy-Crofton formula on 4 line directions (exact on
  average for any orientation, anisotropic spacing included);
- solidity against the pixels inside the hull of the pixel centres (Pick's
  theorem, so a digitally convex particle has solidity 1) and convexity against
  the hull perimeter grown by half a pixel;
- Feret min/max over 90 directions of the hull, pixel extent included;
- aspect ratio from the second moments (equivalent-ellipse axes).
"""

from __future__ import annotations

import csv
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .._validation import check_not_rgb, check_same_shape, check_spacing
from .psd import PSDSummary, psd_summary

__all__ = ["particles", "ParticleResult", "PSDSummary", "psd_summary", "REASONS"]

logger = logging.getLogger(__name__)

#: every rejection reason, in the order they are tested ("" means isolated).
REASONS = ("border", "touching", "aggregate", "elongated", "too_small", "too_large")
_MIN_AREA_PX = 12  # below ~4 px diameter a size is mostly digitisation


@dataclass(frozen=True)
class ParticleResult:
    """Output of :func:`particles`.

    Attributes
    ----------
    labels : (Y, X) int32 ndarray
        Every particle instance, 1..N (row ``i`` of the table is label ``i + 1``).
    table : dict of str -> (N,) ndarray
        Per-particle columns; lengths carry the unit (``diameter_nm`` or
        ``diameter_px``). ``isolated`` (bool) and ``reason`` (str, ``""`` when
        isolated) give the selection.
    psd : PSDSummary
        Size distribution of the isolated particles.
    spacing : (float, float)
        Pixel size used (nm, or 1 for pixels).
    unit : str
        ``"nm"`` or ``"px"``.
    """

    labels: np.ndarray
    table: dict
    psd: PSDSummary
    spacing: tuple[float, float]
    unit: str

    @property
    def count(self) -> int:
        """Number of particle instances (isolated or not)."""
        return len(self.table["label"])

    @property
    def isolated(self) -> np.ndarray:
        """(N,) bool: particle enters the PSD."""
        return self.table["isolated"]

    @property
    def diameters(self) -> np.ndarray:
        """Area-equivalent diameters of the isolated particles, in ``unit``."""
        return self.table[f"diameter_{self.unit}"][self.isolated]

    def isolated_labels(self) -> np.ndarray:
        """Labels image with only the isolated particles (others set to 0)."""
        keep = np.concatenate([[False], self.isolated])
        return np.where(keep[self.labels], self.labels, 0).astype(np.int32)

    def rejected_labels(self) -> np.ndarray:
        """Labels image with only the rejected particles."""
        keep = np.concatenate([[False], ~self.isolated])
        return np.where(keep[self.labels], self.labels, 0).astype(np.int32)

    def to_csv(self, path: str | Path, *, isolated_only: bool = False) -> Path:
        """Write one row per particle (all, or the isolated ones) to ``path``."""
        path = Path(path)
        cols = list(self.table)
        rows = np.flatnonzero(self.isolated) if isolated_only else range(self.count)
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(cols)
            for i in rows:
                writer.writerow([_fmt(self.table[c][i]) for c in cols])
        return path


def _fmt(value):
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return value


def _as_labels(mask_or_labels, split: bool) -> np.ndarray:
    arr = np.asarray(mask_or_labels)
    check_not_rgb("mask_or_labels", arr)
    if arr.ndim != 2:
        raise ValueError(
            f"mask_or_labels must be a 2D (Y, X) array; got {arr.ndim}D of shape {arr.shape}. "
            "For a stack, measure each slice in a loop."
        )
    if arr.dtype == bool or (split and arr.max(initial=0) <= 1):
        mask = arr.astype(bool)
        if split:
            from ..segment.postprocess import split_touching

            return split_touching(mask)
        return ndi.label(mask, structure=np.ones((3, 3)))[0].astype(np.int32)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"mask_or_labels must be a bool mask or integer labels; got dtype {arr.dtype}."
        )
    if arr.min(initial=0) < 0:
        raise ValueError("labels must be >= 0 (0 = background).")
    labels = arr.astype(np.int32)
    counts = np.bincount(labels.ravel())
    if (counts[1:] == 0).any():  # make them consecutive
        lut = np.zeros(len(counts), np.int32)
        present = np.flatnonzero(counts[1:]) + 1
        lut[present] = np.arange(1, len(present) + 1)
        labels = lut[labels]
    return labels


def _transitions(labels: np.ndarray, n: int, spacing):
    """Crofton perimeter per label and which labels touch another label."""
    sy, sx = spacing
    lp = np.pad(labels, 1)
    # direction vectors (dy, dx) in pixels, their physical angle and line spacing
    dirs = [(0, 1), (1, 0), (1, 1), (1, -1)]
    angles, pairs = [], []
    for dy, dx in dirs:
        h, w = lp.shape
        a = lp[: h - dy, max(-dx, 0) : w - max(dx, 0)]
        b = lp[dy:, max(dx, 0) : w - max(-dx, 0)]
        diff = a != b
        pairs.append((a[diff], b[diff]))
        angles.append(math.atan2(dy * sy, dx * sx) % math.pi)
    order = np.argsort(angles)
    ang = np.asarray(angles)[order]
    gaps = np.diff(np.concatenate([ang, [ang[0] + math.pi]]))
    weights = np.empty(4)
    weights[order] = 0.5 * (gaps + np.roll(gaps, 1))  # angular measure of each direction
    perimeter = np.zeros(n + 1)
    touching = np.zeros(n + 1, bool)
    for k, ((dy, dx), (a, b)) in enumerate(zip(dirs, pairs)):
        line_spacing = sy * sx / math.hypot(dy * sy, dx * sx)
        counts = np.bincount(a, minlength=n + 1) + np.bincount(b, minlength=n + 1)
        perimeter += 0.5 * weights[k] * line_spacing * counts
        both = (a > 0) & (b > 0)
        touching[a[both]] = True
        touching[b[both]] = True
    return perimeter[1:], touching[1:]


def _hull_measures(labels: np.ndarray, n: int, spacing):
    """Per label: pixels in the convex hull, convex perimeter, Feret min/max.

    The hull is that of the pixel centres (the row extremes suffice); Pick's
    theorem turns its area and boundary lattice points into the number of pixels
    it holds, so a digitally convex particle has solidity exactly 1.
    """
    from scipy.spatial import ConvexHull, QhullError

    sy, sx = spacing
    theta = np.linspace(0, np.pi, 90, endpoint=False)
    u = np.stack([np.sin(theta) * sy, np.cos(theta) * sx])  # projections of (row, col) steps
    extent = np.abs(np.sin(theta)) * sy + np.abs(np.cos(theta)) * sx
    hull_pixels = np.ones(n)
    hull_perim = np.zeros(n)
    feret = np.zeros((n, 2))
    for i, sl in enumerate(ndi.find_objects(labels, max_label=n)):
        if sl is None:
            continue
        sub = labels[sl] == i + 1
        rows = np.flatnonzero(sub.any(axis=1))
        inner = sub[rows]
        first = inner.argmax(axis=1)
        last = sub.shape[1] - 1 - inner[:, ::-1].argmax(axis=1)
        pts = np.concatenate([np.stack([rows, first], 1), np.stack([rows, last], 1)])
        try:
            verts = pts[ConvexHull(pts.astype(float)).vertices]  # counter-clockwise
            edges = np.roll(verts, -1, axis=0) - verts
            area2 = abs(
                float(
                    np.sum(
                        verts[:, 1] * np.roll(verts[:, 0], -1)
                        - verts[:, 0] * np.roll(verts[:, 1], -1)
                    )
                )
            )
            boundary = int(np.gcd(np.abs(edges[:, 0]), np.abs(edges[:, 1])).sum())
            hull_pixels[i] = area2 / 2 + boundary / 2 + 1
            perim = float(np.hypot(edges[:, 0] * sy, edges[:, 1] * sx).sum())
        except (QhullError, ValueError):  # all pixels on one line
            verts = pts
            span = np.ptp(pts, axis=0)
            hull_pixels[i] = int(np.gcd(*span)) + 1
            perim = 2 * float(np.hypot(span[0] * sy, span[1] * sx))
        hull_perim[i] = perim + math.pi * 0.5 * (sy + sx)
        width = np.ptp(verts @ u, axis=0) + extent
        feret[i] = width.min(), width.max()
    return hull_pixels, hull_perim, feret


def particles(
    mask_or_labels: np.ndarray,
    image: np.ndarray | None = None,
    *,
    spacing: float | tuple[float, float] | None = None,
    split_touching: bool = False,
    exclude_border: bool = True,
    min_solidity: float = 0.9,
    min_convexity: float = 0.85,
    max_aspect_ratio: float = 1.6,
    diameter_range: tuple[float, float] | None = None,
    size_factor: float = 3.0,
    calibration: str | None = None,
) -> ParticleResult:
    """Measure particles, select the isolated ones and summarise their sizes.

    Parameters
    ----------
    mask_or_labels : (Y, X) bool or int ndarray
        A semantic mask (labelled with 8-connectivity) or instance labels.
    image : (Y, X) ndarray, optional
        Intensities for the ``mean_intensity`` column.
    spacing : float or (float, float), optional
        nm per pixel (row, column). None measures in pixels and warns.
    split_touching : bool
        Split touching particles of a mask by a distance-transform watershed;
        the split particles are then rejected as ``"touching"``.
    exclude_border : bool
        Reject particles cut by the image border.
    min_solidity, min_convexity : float
        Below either, a particle is an overlap or aggregate (``"aggregate"``).
    max_aspect_ratio : float
        Above it (equivalent-ellipse axes ratio), ``"elongated"``.
    diameter_range : (float, float), optional
        Accepted diameters in the output unit; default: within ``size_factor``
        of the median of the otherwise isolated particles.
    size_factor : float
        See ``diameter_range``.
    calibration : str, optional
        Where ``spacing`` comes from, stated in the PSD (default ``"user"`` when
        spacing is given, ``"none"`` otherwise).

    Returns
    -------
    ParticleResult

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64]
    >>> mask = (yy - 20) ** 2 + (xx - 20) ** 2 <= 10 ** 2
    >>> res = particles(mask, spacing=0.5)
    >>> round(float(res.table["diameter_nm"][0]), 1), res.psd.count
    (10.0, 1)
    """
    labels = _as_labels(mask_or_labels, split_touching)
    if image is not None:
        image = np.asarray(image)
        check_same_shape("mask_or_labels", labels, "image", image)
    if spacing is None:
        warnings.warn(
            "no pixel size given: sizes are in pixels. Pass spacing= (nm per pixel) or read "
            "the image with its calibration.",
            UserWarning,
            stacklevel=2,
        )
        unit, calibration = "px", calibration or "none"
    else:
        unit, calibration = "nm", calibration or "user"
    sy, sx = check_spacing(spacing, 2)
    n = int(labels.max(initial=0))
    flat = labels.ravel()
    idx = np.flatnonzero(flat)
    lab = flat[idx]
    y = (idx // labels.shape[1]).astype(float)
    x = (idx % labels.shape[1]).astype(float)
    count = np.bincount(lab, minlength=n + 1)[1:].astype(float)
    safe = np.maximum(count, 1)

    def mean(v):
        return np.bincount(lab, weights=v, minlength=n + 1)[1:] / safe

    cy, cx = mean(y), mean(x)
    vyy = (mean(y * y) - cy**2 + 1 / 12) * sy * sy
    vxx = (mean(x * x) - cx**2 + 1 / 12) * sx * sx
    vxy = (mean(x * y) - cx * cy) * sx * sy
    root = np.sqrt(((vyy - vxx) / 2) ** 2 + vxy**2)
    lam1, lam2 = (vyy + vxx) / 2 + root, np.maximum((vyy + vxx) / 2 - root, 1e-12)
    area = count * sy * sx
    diameter = 2 * np.sqrt(area / np.pi)
    perimeter, touching = _transitions(labels, n, (sy, sx))
    hull_pixels, hull_perim, feret = _hull_measures(labels, n, (sy, sx))
    solidity = np.minimum(count / hull_pixels, 1.0)
    convexity = np.minimum(hull_perim / np.maximum(perimeter, 1e-12), 1.0)
    circularity = np.minimum(4 * np.pi * area / np.maximum(perimeter, 1e-12) ** 2, 1.0)
    aspect = np.sqrt(lam1 / lam2)
    edge = np.zeros(n + 1, bool)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    border = edge[1:]
    if image is not None:
        vals = image.ravel()[idx].astype(float)
        ok = np.isfinite(vals)
        total = np.bincount(lab[ok], weights=vals[ok], minlength=n + 1)[1:]
        intensity = total / np.maximum(np.bincount(lab[ok], minlength=n + 1)[1:], 1)
    else:
        intensity = np.full(n, np.nan)

    reason = np.full(n, "", dtype=object)
    tests = [
        ("border", border if exclude_border else np.zeros(n, bool)),
        ("touching", touching),
        ("aggregate", (solidity < min_solidity) | (convexity < min_convexity)),
        ("elongated", aspect > max_aspect_ratio),
    ]
    for name, failed in tests:
        reason[(reason == "") & failed] = name
    if diameter_range is None:
        ok = (reason == "") & (count >= _MIN_AREA_PX)
        med = float(np.median(diameter[ok])) if ok.any() else float("nan")
        lo, hi = med / size_factor, med * size_factor
    else:
        lo, hi = (float(v) for v in diameter_range)
        if not 0 <= lo < hi:
            raise ValueError(
                f"diameter_range must be (min, max) with 0 <= min < max; got {diameter_range}."
            )
    small = (count < _MIN_AREA_PX) | (diameter < lo)
    reason[(reason == "") & small] = "too_small"
    reason[(reason == "") & (diameter > hi)] = "too_large"
    isolated = reason == ""
    u = unit
    table = {
        "label": np.arange(1, n + 1),
        f"diameter_{u}": diameter,
        f"area_{u}2": area,
        f"feret_min_{u}": feret[:, 0],
        f"feret_max_{u}": feret[:, 1],
        "aspect_ratio": aspect,
        "circularity": circularity,
        "solidity": solidity,
        "convexity": convexity,
        "mean_intensity": intensity,
        f"centroid_y_{u}": cy * sy,
        f"centroid_x_{u}": cx * sx,
        "isolated": isolated,
        "reason": reason.astype(str),
    }
    psd = psd_summary(diameter[isolated], unit=unit, calibration=calibration)
    logger.info("%d particles, %d isolated; %s", n, int(isolated.sum()), psd)
    return ParticleResult(labels=labels, table=table, psd=psd, spacing=(sy, sx), unit=unit)
