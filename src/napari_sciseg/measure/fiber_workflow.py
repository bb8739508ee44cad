"""The fibre workflow: a volume or a mask in, fibres, rejects and orientation out.

:func:`measure_fibers` is the one place where the fibre job is orchestrated; the
``sciseg fibers`` command and the napari "Fibers" widget only translate their
inputs (paths, layers) into its arguments and present its :class:`FiberAnalysis`.
:func:`iter_measure_fibers` is the same job as a generator of progress records
(for a worker thread with a Cancel button).

Steps: a grey volume is thresholded (polarity detected from which side holds
elongated objects, :func:`fiber_threshold`), a class map reduced to its fibre
class; 3D connected components (cc3d); evidence per object and the default
:class:`~napari_sciseg.measure.fiber_filter.FiberFilter` (dust relative to the
expected fibre volume, round pores and aggregates, low confidence), each removed
object with its reason; touching or crossing fibres split; every fibre measured
(:func:`~napari_sciseg.measure.fibers.measure_labels`); the autocorrelation of
the fibre mask on a sphere.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_choice, check_spacing
from ..segment.thresholding import Polarity
from .fiber_filter import EVIDENCE_COLUMNS, FiberFilter, filter_objects, object_evidence
from .fibers import FiberResult, FiberStats, label_fibers, measure_labels

__all__ = [
    "FiberAnalysis",
    "FiberProgress",
    "Polarity",
    "ThresholdChoice",
    "describe_summary",
    "fiber_class_index",
    "fiber_threshold",
    "iter_measure_fibers",
    "measure_fibers",
]

logger = logging.getLogger(__name__)

#: evidence columns added to the fibre table (the rest of the evidence repeats it).
_EVIDENCE_IN_TABLE = ("elongation", "aspect", "mean_probability", "mean_std", "border")


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold for a grey volume: fibre where ``value < threshold`` (dark) or ``>``.

    ``scores`` holds, per polarity tried, the total length of fibre-like objects it gave.
    """

    threshold: float
    polarity: str
    scores: dict = field(default_factory=dict)

    def apply(self, volume: np.ndarray) -> np.ndarray:
        """The fibre mask of ``volume``."""
        v = np.asarray(volume)
        return v < self.threshold if self.polarity == Polarity.DARK else v > self.threshold


@dataclass(frozen=True)
class FiberProgress:
    """Stage ``done`` of ``total`` of :func:`iter_measure_fibers`, doing ``what``."""

    done: int
    total: int
    what: str


@dataclass(frozen=True, eq=False)
class FiberAnalysis(FiberResult):
    """What :func:`measure_fibers` returns.

    Attributes
    ----------
    labels : (Z, Y, X) uint16 or uint32 ndarray
        Fibres 1..n (row ``i`` of ``table`` is label ``i + 1``).
    table : dict of str -> (n,) ndarray
        Geometry (:data:`napari_sciseg.measure.fibers.COLUMNS`) plus the evidence
        ``elongation``, ``aspect``, ``mean_probability``, ``mean_std``, ``border``.
    stats : FiberStats
    orientation : ShellAutocorrelation or None
        The mask's autocorrelation on a sphere (None without fibres or when not asked).
    removed_labels : (Z, Y, X) ndarray
        Removed objects 1..m (row ``j`` of ``removed`` is label ``j + 1``).
    removed : dict of str -> (m,) ndarray
        Their evidence and ``reason`` (a sentence starting with the rule's name).
    summary : dict
        JSON-able numbers of the run (count, volume fraction, median length or
        None, removed objects per reason, threshold, filter parameters, note).
    threshold : ThresholdChoice or None
        How a grey volume was thresholded (None for a mask or labels).
    """

    orientation: object
    removed_labels: np.ndarray
    removed: dict
    summary: dict
    threshold: ThresholdChoice | None = None



def _is_grey(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "f" and bool(((arr != 0) & (arr != 1)).any())


def _fibre_length_found(mask, rule, connectivity) -> float:
    """Length (voxels) of the objects of ``mask`` that pass the fibre filter.

    Each object counts with the log of how far its elongation exceeds the
    filter's minimum: a straight fibre (elongation 10-50) counts fully, a cluster
    of pores just elongated enough to pass (3-5) hardly.
    """
    labels, _ = label_fibers(mask, connectivity=connectivity, min_size=1)
    ev = object_evidence(labels)
    keep, _, _ = filter_objects(ev, rule)
    weight = np.log(ev["elongation"][keep] / rule.min_elongation)
    return float((ev["inertia_length"][keep] * weight).sum())


def fiber_threshold(
    volume: np.ndarray,
    *,
    polarity: str = "auto",
    rule: FiberFilter | None = None,
    connectivity: int = 26,
    k_sigma: float = 3.0,
) -> ThresholdChoice:
    """Threshold a grey volume: fibres lie beyond the matrix's noise.

    The matrix level is the median ``m`` and its spread ``s`` the scaled median
    absolute deviation; fibres are ``value < m - k_sigma s`` (dark) or
    ``> m + k_sigma s`` (bright). With ``polarity="auto"`` both sides are tried and
    the side whose objects that pass the fibre filter (elongated, not dust) add up
    to the greater length, each weighted by ``log(elongation / min_elongation)``,
    wins: pores and aggregates, round or in compact clusters, add little.

    Parameters
    ----------
    volume : (Z, Y, X) float ndarray
    polarity : {"auto", "dark", "bright"}
    rule : FiberFilter, optional
        What counts as a fibre for the automatic choice.
    connectivity : {6, 18, 26}
    k_sigma : float
        Distance of the threshold from the matrix level, in matrix spreads.

    Returns
    -------
    ThresholdChoice

    Examples
    --------
    >>> v = np.full((20, 20, 40), 0.5) + np.random.default_rng(0).normal(0, 0.02, (20, 20, 40))
    >>> v[9:12, 9:12, 5:35] = 0.1                       # one dark fibre
    >>> choice = fiber_threshold(v)
    >>> choice.polarity, bool(0.1 < choice.threshold < 0.5)
    ('dark', True)
    """
    v = np.asarray(volume, np.float32)
    check_choice("polarity", str(polarity), tuple(p.value for p in Polarity))
    rule = rule or FiberFilter()
    sample = v[:: max(1, v.shape[0] // 32)].reshape(-1)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        raise ValueError("the volume holds no finite value (all NaN?); nothing to threshold.")
    mid = float(np.median(sample))
    sigma = 1.4826 * float(np.median(np.abs(sample - mid)))
    cand = {Polarity.DARK: mid - k_sigma * sigma, Polarity.BRIGHT: mid + k_sigma * sigma}
    if polarity != Polarity.AUTO:
        return ThresholdChoice(cand[Polarity(polarity)], str(Polarity(polarity)))
    scores = {}
    for side, t in cand.items():
        mask = v < t if side == Polarity.DARK else v > t
        scores[str(side)] = _fibre_length_found(mask, rule, connectivity)
    side = Polarity.DARK if scores["dark"] >= scores["bright"] else Polarity.BRIGHT
    logger.info("fibre polarity %s (elongated voxels %s), threshold %.4g", side, scores, cand[side])
    return ThresholdChoice(cand[side], str(side), scores)


def _to_objects(arr, fiber_class, polarity, threshold, rule, connectivity):
    """Input -> (mask or instance labels, ThresholdChoice or None)."""
    if arr.ndim != 3:
        raise ValueError(
            f"fibres need a 3D volume (Z, Y, X); got shape {arr.shape}. Fibre lengths and "
            "directions are 3D quantities: use the whole stack, one channel."
        )
    if fiber_class is not None:
        if arr.dtype.kind not in "iub":
            raise ValueError(
                f"fiber_class={fiber_class} needs a class map of integers; got dtype {arr.dtype}."
            )
        present = np.unique(arr[:: max(1, arr.shape[0] // 16)])
        if int(fiber_class) not in present and not (arr == fiber_class).any():
            raise ValueError(
                f"fiber_class {fiber_class} does not occur in the segmentation; its values are "
                f"{present.tolist()[:10]}. Pick the class that holds the fibres."
            )
        return arr == fiber_class, None
    if _is_grey(arr):
        if not np.isfinite(arr).all():
            raise ValueError("the volume holds NaN or infinite values; fill or crop them first.")
        if threshold is not None:
            pol = Polarity.DARK if polarity == Polarity.AUTO else Polarity(polarity)
            if polarity == Polarity.AUTO:
                pol = Polarity(fiber_threshold(arr, rule=rule, connectivity=connectivity).polarity)
            choice = ThresholdChoice(float(threshold), str(pol))
        else:
            choice = fiber_threshold(arr, polarity=polarity, rule=rule, connectivity=connectivity)
        return choice.apply(arr), choice
    return arr, None


def _subset(labels, keep):
    """Relabel the objects where ``keep`` (per label 1..n) is True as 1..k; others 0."""
    lut = np.zeros(len(keep) + 1, np.uint32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1)
    out = lut[labels]
    return out.astype(np.uint16) if int(keep.sum()) < 2**16 else out


def _summary(stats, table, removed, expected, choice, rule, n_split, spacing) -> dict:
    lengths = table["length"]
    reasons = [r.split(":")[0] for r in removed["reason"]]
    by_reason = {k: reasons.count(k) for k in ("small", "round", "unsure", "disputed")}
    return {
        **stats.to_dict(),
        "median_length": float(np.median(lengths)) if lengths.size else None,
        "mean_length": float(lengths.mean()) if lengths.size else None,
        "median_radius": float(np.median(table["radius"])) if lengths.size else None,
        "removed": by_reason,
        "n_removed": len(reasons),
        "expected_fiber_volume": expected,
        "n_split": n_split,
        "threshold": None if choice is None else choice.threshold,
        "polarity": None if choice is None else choice.polarity,
        "filter": rule.to_dict(),
        "note": "no fibres" if not lengths.size else "",
        "spacing": list(spacing),
    }


def _filter_stage(labels, sp, probability, std, rule):
    """Evidence + filter: (fibres, removed labels, removed table, expected fibre volume)."""
    ev = object_evidence(labels, spacing=sp, probability=probability, std=std)
    keep, reasons, expected = filter_objects(ev, rule, voxel_volume=float(np.prod(sp)))
    removed = {k: v[~keep] for k, v in ev.items()}
    removed["label"] = np.arange(1, int((~keep).sum()) + 1)
    removed["reason"] = np.array([r for r in reasons if r], dtype=object)
    return _subset(labels, keep), _subset(labels, ~keep), removed, expected


def _measure_stage(fibres, sp, probability, std, arc, removed):
    """Geometry + evidence of the final fibres: (table, FiberStats)."""
    result = measure_labels(fibres, spacing=sp, arc=arc)
    table = dict(result.table)
    final_ev = object_evidence(fibres, spacing=sp, probability=probability, std=std)
    table.update({k: final_ev[k] for k in _EVIDENCE_IN_TABLE})
    n_small = sum(str(r).startswith("small") for r in removed["reason"])
    st = result.stats
    stats = FiberStats(st.count, st.volume_fraction, st.orientation_tensor,
                       st.principal_direction, n_small, sp)  # fmt: skip
    return table, stats


def iter_measure_fibers(
    volume_or_mask: np.ndarray,
    *,
    spacing=None,
    fiber_class: int | None = None,
    probability: np.ndarray | None = None,
    std: np.ndarray | None = None,
    polarity: str = "auto",
    threshold: float | None = None,
    rule: FiberFilter | None = None,
    connectivity: int = 26,
    split: bool = True,
    arc: str = "centerline",
    orientation: bool = True,
    shell_radius: float | None = None,
    n_directions: int = 2000,
    cancel: threading.Event | None = None,
):
    """:func:`measure_fibers` as a generator of :class:`FiberProgress`; returns the analysis.

    Returns None (through ``StopIteration.value``) when ``cancel`` is set.

    Examples
    --------
    >>> from napari_sciseg._generators import drain
    >>> mask = np.zeros((16, 16, 40), bool); mask[6:9, 6:9, 4:36] = True
    >>> drain(iter_measure_fibers(mask, orientation=False)).count
    1
    """
    from .orientation import autocorrelation_shell
    from .orientation import shell_radius as default_radius

    arr = np.asarray(volume_or_mask)
    sp = check_spacing(spacing, 3)
    check_choice("polarity", str(polarity), tuple(p.value for p in Polarity))
    check_choice("arc", arc, ("centerline", "skeleton"))
    rule = rule or FiberFilter()
    total = 6

    def stopped():
        return cancel is not None and cancel.is_set()

    yield FiberProgress(0, total, "thresholding" if _is_grey(arr) else "reading the mask")
    objects, choice = _to_objects(arr, fiber_class, polarity, threshold, rule, connectivity)
    if stopped():
        return None
    yield FiberProgress(1, total, "labelling")
    labels, _ = label_fibers(objects, connectivity=connectivity, min_size=1)
    if stopped():
        return None
    yield FiberProgress(2, total, "filtering objects")
    fibres, removed_labels, removed, expected = _filter_stage(labels, sp, probability, std, rule)
    del labels
    if stopped():
        return None
    yield FiberProgress(3, total, "splitting touching fibres")
    n_before = int(fibres.max()) if fibres.size else 0
    if split and n_before:
        from .fiber_split import split_fibers

        floor = 0.5 * rule.dust_fraction * (expected or 0) / float(np.prod(sp))
        fibres = split_fibers(fibres, spacing=sp, min_size=max(int(floor), 20))
    n_split = int(fibres.max()) - n_before if fibres.size else 0
    if stopped():
        return None
    yield FiberProgress(4, total, "measuring fibres")
    table, stats = _measure_stage(fibres, sp, probability, std, arc, removed)
    if stopped():
        return None
    yield FiberProgress(5, total, "orientation")
    shell = None
    if orientation and stats.count:
        r = shell_radius or default_radius(table["length"], table["radius"])
        try:
            shell = autocorrelation_shell(fibres > 0, r, spacing=sp, n_directions=n_directions)
        except ValueError as err:  # radius too large for a small volume
            logger.info("no autocorrelation shell: %s", err)
    summary = _summary(stats, table, removed, expected, choice, rule, n_split, sp)
    summary["autocorrelation_radius"] = None if shell is None else shell.radius
    summary["autocorrelation_peak"] = None if shell is None else [float(v) for v in shell.peak]
    yield FiberProgress(6, total, "done")
    logger.info(
        "%d fibres, %d objects removed %s", stats.count, summary["n_removed"], summary["removed"]
    )
    return FiberAnalysis(fibres, table, stats, shell, removed_labels, removed, summary, choice)


def measure_fibers(volume_or_mask: np.ndarray, **kwargs) -> FiberAnalysis:
    """Find, filter, split and measure the fibres of a 3D volume or segmentation.

    Parameters
    ----------
    volume_or_mask : (Z, Y, X) ndarray
        A grey volume (float, thresholded with :func:`fiber_threshold`), a boolean
        fibre mask, a class map (give ``fiber_class``), or instance labels.
    spacing : float or 3 floats, optional
        Voxel size (z, y, x); lengths come out in its unit.
    fiber_class : int, optional
        The class value of fibres in a class map.
    probability, std : (Z, Y, X) ndarray, optional
        Fibre-class mean probability and ensemble std (evidence per object).
    polarity : {"auto", "dark", "bright"}
        For a grey volume: are fibres darker or brighter than the matrix.
    threshold : float, optional
        For a grey volume: the threshold (default: :func:`fiber_threshold`).
    rule : FiberFilter, optional
        What makes an object a fibre (default :class:`FiberFilter`).
    connectivity : {6, 18, 26}
    split : bool
        Split touching or crossing fibres (:func:`~napari_sciseg.measure.fiber_split.split_fibers`).
    arc : {"centerline", "skeleton"}
    orientation : bool
        Compute the autocorrelation shell.
    shell_radius : float, optional
        Its sphere radius (default: a third of the shortest fibres).
    n_directions : int
        Directions sampled on the sphere.

    Returns
    -------
    FiberAnalysis

    Examples
    --------
    A dark rod and a dark round pore of the same volume in a grey matrix:

    >>> v = np.full((24, 24, 48), 0.5, np.float32)
    >>> v[10:13, 10:13, 4:44] = 0.1                         # 360 voxels
    >>> zz, yy, xx = np.ogrid[:24, :24, :48]
    >>> v[((zz - 12) ** 2 + (yy - 18) ** 2 + (xx - 24) ** 2) <= 20] = 0.1  # a pore
    >>> res = measure_fibers(v, orientation=False)
    >>> res.count, res.summary["polarity"], res.removed["reason"][0].split(":")[0]
    (1, 'dark', 'round')
    >>> measure_fibers(np.zeros((16, 16, 16), bool)).summary["note"]
    'no fibres'
    """
    gen = iter_measure_fibers(volume_or_mask, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def evidence_columns() -> tuple[str, ...]:
    """Columns of :attr:`FiberAnalysis.removed` (the evidence, then ``reason``)."""
    return (*EVIDENCE_COLUMNS, "reason")


#: a class whose name contains one of these is the fibre class.
_FIBRE_NAMES = ("fiber", "fibre")


def fiber_class_index(class_names) -> int | None:
    """The label value (1-based) of the class named fibre, or None when none is.

    A name containing "fiber" or "fibre" counts ("Fibre", "steel fibers"). Two
    such classes are ambiguous: None, so that the caller asks instead of guessing.

    Examples
    --------
    >>> fiber_class_index(["matrix", "Fibre"]), fiber_class_index(["matrix", "pore"])
    (2, None)
    """
    found = [
        i for i, name in enumerate(class_names or (), start=1)
        if any(word in str(name).lower() for word in _FIBRE_NAMES)
    ]  # fmt: skip
    return found[0] if len(found) == 1 else None


def describe_summary(summary: dict, unit: str) -> str:
    """One sentence of a run's :attr:`FiberAnalysis.summary`, for a console or a widget.

    Examples
    --------
    >>> describe_summary({"count": 0, "volume_fraction": 0.0, "median_length": None,
    ...                   "removed": {"small": 3, "round": 0}}, "µm")
    '0 fibers, volume fraction 0.0000, no median length (no fibres). Removed objects: small 3.'
    """
    med = summary["median_length"]
    removed = ", ".join(f"{k} {v}" for k, v in summary["removed"].items() if v) or "none"
    length = "no median length (no fibres)" if med is None else f"median length {med:.4g} {unit}"
    text = (
        f"{summary['count']} fibers, volume fraction {summary['volume_fraction']:.4f}, "
        f"{length}. Removed objects: {removed}."
    )
    if summary.get("polarity"):
        text += f" Threshold {summary['threshold']:.4g} ({summary['polarity']} fibres)."
    return text
