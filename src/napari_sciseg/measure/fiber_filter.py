"""Is this object a fibre? Per-object evidence and a filter that says why it removed one.

A fibre mask from a threshold or a trained model holds more than fibres: pores and
aggregates of a similar grey value, fragments of fibres cut by the threshold, and
noise dust. Every connected component gets evidence that a materials scientist
would check by eye:

- ``elongation``: ``sqrt(l1 / l3)`` of the eigenvalues ``l1 >= l2 >= l3`` of its
  inertia (covariance) tensor, each voxel counted as a small box (so one voxel is
  round). About 1 for a pore or an aggregate, ``L / (sqrt(3) r)`` for a straight
  cylinder of length ``L`` and radius ``r``; two crossing fibres stay elongated
  (the flat direction is the smallest).
- ``inertia_length``: ``sqrt(12 l1)``, the length of a uniform rod with that
  spread; ``inertia_radius``: radius of the cylinder with the object's volume and
  that length; ``aspect`` = ``inertia_length / (2 inertia_radius)``.
- ``mean_probability`` / ``mean_std``: the fibre-class probability and the
  ensemble's standard deviation averaged inside the object (NaN when not given).
- ``border``: the object touches a face of the volume (it may be cut, so shorter).

The default :class:`FiberFilter` removes, with a reason per object:

1. ``small``: fewer voxels than ``dust_fraction`` x the expected fibre volume (the
   median volume of the elongated objects), i.e. dust and fibre fragments; a fixed
   voxel count (``min_voxels``) replaces this when given or when no object is
   elongated;
2. ``round``: ``elongation < min_elongation`` (pores, aggregates, blobs);
3. ``unsure``: mean probability under ``min_probability`` (only with a probability);
4. ``disputed``: mean ensemble std above ``max_std`` (only when set, with a std).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from .._validation import check_spacing

__all__ = ["FiberFilter", "object_evidence", "filter_objects", "EVIDENCE_COLUMNS"]

logger = logging.getLogger(__name__)

EVIDENCE_COLUMNS = (
    "label",
    "voxels",
    "volume",
    "elongation",
    "inertia_length",
    "inertia_radius",
    "aspect",
    "mean_probability",
    "mean_std",
    "border",
    "z",
    "y",
    "x",
)
_SLAB = 32  # z-slices per accumulation step (bounded temporaries on big volumes)


@dataclass(frozen=True)
class FiberFilter:
    """What makes an object a fibre (see the module notes).

    Parameters
    ----------
    min_elongation : float
        Objects whose ``sqrt(l1 / l3)`` is lower are ``round`` (default 3: a
        cylinder about 2.6 diameters long).
    dust_fraction : float
        Objects under this fraction of the expected fibre volume are ``small``.
    min_voxels : int, optional
        A fixed smallest size in voxels instead of the relative rule.
    min_probability : float
        Smallest mean fibre probability inside an object (when a probability is given).
    max_std : float, optional
        Largest mean ensemble std inside an object (off by default).
    floor_voxels : int
        Objects under this many voxels are always ``small`` and never set the
        expected fibre volume (their shape is not measurable).
    """

    min_elongation: float = 3.0
    dust_fraction: float = 0.2
    min_voxels: int | None = None
    min_probability: float = 0.5
    max_std: float | None = None
    floor_voxels: int = 20

    def __post_init__(self):
        if not self.min_elongation >= 1:
            raise ValueError(f"min_elongation must be >= 1; got {self.min_elongation}.")
        if not 0 <= self.dust_fraction < 1:
            raise ValueError(f"dust_fraction must be in [0, 1); got {self.dust_fraction}.")
        if self.min_voxels is not None and self.min_voxels < 0:
            raise ValueError(f"min_voxels must be >= 0; got {self.min_voxels}.")

    def to_dict(self) -> dict:
        """JSON-able parameters."""
        return asdict(self)


def _accumulate(labels, n, spacing, probability, std):
    """Per-label sums of 1, p, p p^T (physical coordinates), probability and std."""
    sums = np.zeros((n + 1, 12))
    ys, xs = (np.arange(s) * sp for s, sp in zip(labels.shape[1:], spacing[1:]))
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    for z0 in range(0, labels.shape[0], _SLAB):
        lab = labels[z0 : z0 + _SLAB]
        sel = lab.reshape(-1) > 0
        if not sel.any():
            continue
        idx = lab.reshape(-1)[sel].astype(np.intp)
        zc = np.repeat(np.arange(z0, z0 + lab.shape[0]) * spacing[0], grid_y.size)[sel]
        yc = np.tile(grid_y.reshape(-1), lab.shape[0])[sel]
        xc = np.tile(grid_x.reshape(-1), lab.shape[0])[sel]
        cols = (None, zc, yc, xc, zc * zc, yc * yc, xc * xc, zc * yc, zc * xc, yc * xc)
        for k, w in enumerate(cols):
            sums[:, k] += np.bincount(idx, weights=w, minlength=n + 1)
        for k, extra in ((10, probability), (11, std)):
            if extra is not None:
                w = np.asarray(extra[z0 : z0 + _SLAB], float).reshape(-1)[sel]
                sums[:, k] += np.bincount(idx, weights=w, minlength=n + 1)
    return sums[1:]


def _touching_border(labels, n) -> np.ndarray:
    border = np.zeros(n + 1, bool)
    for axis in range(3):
        for end in (0, -1):
            border[np.unique(np.take(labels, end, axis=axis))] = True
    return border[1:]


def object_evidence(labels: np.ndarray, *, spacing=None, probability=None, std=None) -> dict:
    """Evidence that each labelled object is a fibre (see the module notes).

    Parameters
    ----------
    labels : (Z, Y, X) int ndarray
        Objects 1..n (0 = background).
    spacing : float or 3 floats, optional
    probability, std : (Z, Y, X) ndarray, optional
        Fibre-class probability and ensemble std, same shape as ``labels``.

    Returns
    -------
    dict of str -> (n,) ndarray
        One column per name in :data:`EVIDENCE_COLUMNS`.

    Examples
    --------
    >>> labels = np.zeros((12, 12, 40), np.uint16)
    >>> labels[5:8, 5:8, 5:35] = 1                 # a rod
    >>> labels[1:4, 1:4, 1:4] = 2                  # a cube of 27 voxels
    >>> ev = object_evidence(labels)
    >>> ev["elongation"].round(1).tolist(), ev["border"].tolist()
    ([10.0, 1.0], [False, False])
    """
    sp = check_spacing(spacing, 3)
    labels = np.asarray(labels)
    for name, extra in (("probability", probability), ("std", std)):
        if extra is not None and np.shape(extra) != labels.shape:
            raise ValueError(
                f"{name} must have the labels' shape {labels.shape}; got {np.shape(extra)}."
            )
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return {c: np.zeros(0, bool if c == "border" else float) for c in EVIDENCE_COLUMNS}
    s = _accumulate(labels, n, sp, probability, std)
    count = np.maximum(s[:, 0], 1)
    mean = s[:, 1:4] / count[:, None]
    second = s[:, 4:10] / count[:, None]
    cov = np.empty((n, 3, 3))
    pairs = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
    for k, (i, j) in enumerate(pairs):
        cov[:, i, j] = cov[:, j, i] = second[:, k] - mean[:, i] * mean[:, j]
    cov += np.diag(np.square(sp)) / 12  # each voxel is a box, not a point
    eig = np.clip(np.linalg.eigvalsh(cov), 1e-12, None)  # ascending
    volume = s[:, 0] * float(np.prod(sp))
    length = np.sqrt(12 * eig[:, 2])
    radius = np.sqrt(volume / (np.pi * length))
    empty = s[:, 0] == 0
    table = {
        "label": np.arange(1, n + 1),
        "voxels": s[:, 0].astype(np.int64),
        "volume": volume,
        "elongation": np.sqrt(eig[:, 2] / eig[:, 0]),
        "inertia_length": length,
        "inertia_radius": radius,
        "aspect": length / (2 * radius),
        "mean_probability": s[:, 10] / count if probability is not None else np.full(n, np.nan),
        "mean_std": s[:, 11] / count if std is not None else np.full(n, np.nan),
        "border": _touching_border(labels, n),
        "z": mean[:, 0],
        "y": mean[:, 1],
        "x": mean[:, 2],
    }
    if empty.any():
        raise ValueError(f"labels must run 1..n without gaps; {int(empty.sum())} are missing.")
    return table


def expected_fiber_volume(evidence: dict, rule: FiberFilter) -> float | None:
    """Median volume of the elongated objects (None when there is none)."""
    elongated = (evidence["elongation"] >= rule.min_elongation) & (
        evidence["voxels"] >= max(rule.floor_voxels, 1)
    )
    if not elongated.any():
        return None
    return float(np.median(evidence["volume"][elongated]))


def filter_objects(evidence: dict, rule: FiberFilter = FiberFilter(), *, voxel_volume=1.0):
    """Decide which objects are fibres; a reason for every other one.

    Parameters
    ----------
    evidence : dict
        From :func:`object_evidence`.
    rule : FiberFilter
    voxel_volume : float
        Volume of one voxel (product of the spacing), to report sizes in voxels.

    Returns
    -------
    keep : (n,) bool ndarray
    reasons : list of str
        ``""`` for kept objects, else a sentence that starts with the rule's name
        (``small``, ``round``, ``unsure``, ``disputed``).
    expected_volume : float or None
        The expected fibre volume the ``small`` rule used (None: ``min_voxels``).

    Examples
    --------
    >>> labels = np.zeros((12, 12, 40), np.uint16)
    >>> labels[5:8, 5:8, 5:35] = 1; labels[1:4, 1:4, 1:4] = 2
    >>> keep, reasons, _ = filter_objects(object_evidence(labels), FiberFilter(min_voxels=10))
    >>> keep.tolist(), reasons[1].split(":")[0]
    ([True, False], 'round')
    """
    n = len(evidence["voxels"])
    expected = None if rule.min_voxels is not None else expected_fiber_volume(evidence, rule)
    if expected is not None:
        floor = max(rule.dust_fraction * expected / voxel_volume, rule.floor_voxels)
        small_why = (
            f"under {rule.dust_fraction:g} x the expected fibre volume "
            f"({expected / voxel_volume:.0f} voxels)"
        )
    else:
        floor = float(rule.min_voxels if rule.min_voxels is not None else 50)
        small_why = f"under {floor:.0f} voxels"
    reasons = []
    for i in range(n):
        vox, elong = evidence["voxels"][i], evidence["elongation"][i]
        prob, sd = evidence["mean_probability"][i], evidence["mean_std"][i]
        if vox < floor:
            reasons.append(f"small: {vox} voxels, {small_why} (dust or a fibre fragment)")
        elif elong < rule.min_elongation:
            reasons.append(
                f"round: elongation {elong:.2f} < {rule.min_elongation:g} "
                "(a pore, aggregate or blob)"
            )
        elif np.isfinite(prob) and prob < rule.min_probability:
            reasons.append(f"unsure: mean fibre probability {prob:.2f} < {rule.min_probability:g}")
        elif rule.max_std is not None and np.isfinite(sd) and sd > rule.max_std:
            reasons.append(f"disputed: mean ensemble std {sd:.2f} > {rule.max_std:g}")
        else:
            reasons.append("")
    keep = np.array([not r for r in reasons], bool)
    logger.info("filter kept %d of %d objects (expected fibre volume %s)", keep.sum(), n, expected)
    return keep, reasons, expected
