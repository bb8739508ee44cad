"""Particle size distributions compared: the numbers of the particle benchmark.

Diameter errors are relative (``pred / true - 1``) so they read the same in
any unit; the Kolmogorov-Smirnov distance is the largest gap between the two
cumulative distributions (0 = the same, 1 = disjoint).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["PSDDistances", "psd_distances", "particle_scores", "sized_particles"]


@dataclass(frozen=True)
class PSDDistances:
    """Two particle size distributions compared (diameters in one unit).

    Attributes
    ----------
    n_pred, n_true : int
        Particles in each distribution.
    mean_pred, mean_true, median_pred, median_true : float
        Diameters.
    mean_error, median_error : float
        Relative errors ``pred / true - 1`` (0.05 = 5 % too large).
    ks : float
        Kolmogorov-Smirnov distance between the distributions (1 when one is empty).
    unit : str
    """

    n_pred: int
    n_true: int
    mean_pred: float
    mean_true: float
    median_pred: float
    median_true: float
    mean_error: float
    median_error: float
    ks: float
    unit: str = "pixel"

    def to_dict(self) -> dict:
        """A JSON-able dict."""
        return asdict(self)


def _diameters(name: str, values) -> np.ndarray:
    values = np.asarray(values, float).ravel()
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} diameters must be finite and >= 0.")
    return values


def psd_distances(pred_diameters, true_diameters, *, unit: str = "pixel") -> PSDDistances:
    """Compare predicted and true particle diameters.

    Parameters
    ----------
    pred_diameters, true_diameters : (n,) array_like
        Diameters in the same unit.
    unit : str
        That unit, carried into the result.

    Returns
    -------
    PSDDistances

    Examples
    --------
    >>> d = psd_distances([11, 11, 11], [10, 10, 10], unit="nm")
    >>> round(d.mean_error, 3), d.ks
    (0.1, 1.0)
    >>> psd_distances([10, 12], [10, 12]).ks
    0.0
    """
    from scipy.stats import ks_2samp

    p, t = _diameters("predicted", pred_diameters), _diameters("true", true_diameters)
    if t.size == 0:
        raise ValueError("the truth holds no particle to compare with; check the truth mask.")
    mean_t, med_t = float(t.mean()), float(np.median(t))
    if p.size == 0:
        nan = float("nan")
        return PSDDistances(0, int(t.size), nan, mean_t, nan, med_t, nan, nan, 1.0, unit)
    mean_p, med_p = float(p.mean()), float(np.median(p))
    return PSDDistances(
        n_pred=int(p.size), n_true=int(t.size), mean_pred=mean_p, mean_true=mean_t,
        median_pred=med_p, median_true=med_t,
        mean_error=mean_p / mean_t - 1 if mean_t else float("nan"),
        median_error=med_p / med_t - 1 if med_t else float("nan"),
        ks=float(ks_2samp(p, t).statistic), unit=unit,
    )


def sized_particles(pred_mask, true_mask, *, spacing=None, **particles_kwargs):
    """Diameters of the isolated particles of both masks (what :func:`particle_scores` compares).

    Parameters
    ----------
    pred_mask, true_mask : (Y, X) bool or int ndarray
        Particle masks or instance labels.
    spacing : float or (float, float), optional
        Pixel size; diameters in pixels without it.
    **particles_kwargs
        Passed to :func:`napari_sciseg.measure.particles` for both masks.

    Returns
    -------
    pred_diameters, true_diameters : (n,) ndarray
    """
    import warnings

    from ..measure import particles
    from .segmentation import check_same_grid

    pred_mask, true_mask = np.asarray(pred_mask), np.asarray(true_mask)
    check_same_grid(pred_mask.shape, true_mask.shape)
    if pred_mask.ndim != 2:
        raise ValueError(f"particle sizing needs 2D masks; got shape {pred_mask.shape}.")
    with warnings.catch_warnings():
        if spacing is None:  # uncalibrated is what the caller asked for: no warning
            warnings.simplefilter("ignore", UserWarning)
        pred = particles(pred_mask, spacing=spacing, **particles_kwargs)
        true = particles(true_mask, spacing=spacing, **particles_kwargs)
    return np.asarray(pred.diameters, float), np.asarray(true.diameters, float)


def particle_scores(pred_mask, true_mask, *, spacing=None, unit: str = "nm",
                    **particles_kwargs) -> PSDDistances:
    """Size the isolated particles of both masks and compare their distributions.

    Parameters
    ----------
    pred_mask, true_mask : (Y, X) bool or int ndarray
        Particle masks or instance labels (as :func:`napari_sciseg.measure.particles` takes).
    spacing : float or (float, float), optional
        Pixel size; diameters in pixels without it.
    unit : str
        Unit of ``spacing``.
    **particles_kwargs
        Passed to :func:`napari_sciseg.measure.particles` for both masks
        (``exclude_border``, ``min_solidity``, ...).

    Returns
    -------
    PSDDistances

    Examples
    --------
    >>> from napari_sciseg.data import tem_particles
    >>> _, truth = tem_particles("haadf", shape=(128, 128), return_truth=True)
    >>> same = particle_scores(truth.mask, truth.mask, spacing=0.5)
    >>> same.n_pred == same.n_true, same.mean_error, same.ks
    (True, 0.0, 0.0)
    """
    pred, true = sized_particles(pred_mask, true_mask, spacing=spacing, **particles_kwargs)
    return psd_distances(pred, true, unit=unit if spacing is not None else "pixel")
