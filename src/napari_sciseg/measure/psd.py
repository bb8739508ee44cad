"""Particle size distribution (PSD) summary: moments, percentiles and a log-normal fit."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["PSDSummary", "psd_summary"]


@dataclass(frozen=True)
class PSDSummary:
    """Summary of a set of particle diameters.

    Attributes
    ----------
    count : int
        Number of particles (0 gives NaN everywhere else).
    mean, sd, median, d10, d50, d90 : float
        In ``unit``; ``sd`` uses ``ddof=1`` (NaN for one particle).
    lognorm_sigma, lognorm_median : float
        Log-normal fit (``scipy.stats.lognorm`` with ``loc=0``): shape ``s``
        and ``scale`` (the median of the fitted distribution).
    unit : str
        ``"nm"`` or ``"px"`` (uncalibrated).
    calibration : str
        Where the pixel size came from (``"user"``, ``"file (ImageJ)"``, ``"none"``).
    n_split : int
        How many of the ``count`` particles are parts of touching groups split
        by the watershed (``split_touching``).
    """

    count: int
    mean: float
    sd: float
    median: float
    d10: float
    d50: float
    d90: float
    lognorm_sigma: float
    lognorm_median: float
    unit: str = "nm"
    calibration: str = "user"
    n_split: int = 0

    @property
    def calibrated(self) -> bool:
        """True when sizes are physical lengths."""
        return self.unit != "px"

    def to_dict(self) -> dict:
        """Plain dict, e.g. for a summary CSV row."""
        return asdict(self)

    def lognorm_pdf(self, d: np.ndarray) -> np.ndarray:
        """Fitted log-normal probability density at diameters ``d``."""
        d = np.asarray(d, float)
        s, m = self.lognorm_sigma, self.lognorm_median
        if not (np.isfinite(s) and s > 0 and np.isfinite(m) and m > 0):
            return np.full(d.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.exp(-(np.log(d / m) ** 2) / (2 * s * s)) / (d * s * math.sqrt(2 * math.pi))
        return np.where(d > 0, out, 0.0)

    def __str__(self) -> str:
        if self.count == 0:
            return f"no isolated particles (unit {self.unit})"
        u = self.unit
        return (
            f"n={self.count}, mean {self.mean:.2f} ± {self.sd:.2f} {u}, median {self.median:.2f} "
            f"{u}, D10/D50/D90 {self.d10:.2f}/{self.d50:.2f}/{self.d90:.2f} {u}, log-normal "
            f"median {self.lognorm_median:.2f} {u} sigma {self.lognorm_sigma:.3f} "
            f"(calibration: {self.calibration})"
            + (f"; {self.n_split} from split touching groups" if self.n_split else "")
        )


def psd_summary(
    diameters, *, unit: str = "nm", calibration: str = "user", n_split: int = 0
) -> PSDSummary:
    """Summarise diameters: count, mean ± sd, median, D10/D50/D90, log-normal fit.

    D10/D50/D90 are number-weighted percentiles (linear interpolation).

    Parameters
    ----------
    diameters : (N,) array-like
        Positive diameters (non-finite and non-positive values are ignored).
    unit, calibration : str
        Carried into the summary.
    n_split : int
        How many of the diameters come from split touching groups (carried).

    Returns
    -------
    PSDSummary
        Count, mean, sd, median, D10/D50/D90 and the log-normal fit (NaN when empty).

    Examples
    --------
    >>> s = psd_summary([2.0, 4.0, 8.0])
    >>> s.count, round(s.lognorm_median, 3), s.d50
    (3, 4.0, 4.0)
    >>> psd_summary([]).count
    0
    """
    d = np.asarray(diameters, float).ravel()
    d = d[np.isfinite(d) & (d > 0)]
    nan = float("nan")
    if d.size == 0:
        return PSDSummary(0, nan, nan, nan, nan, nan, nan, nan, nan, unit, calibration, 0)
    d10, d50, d90 = (float(v) for v in np.percentile(d, [10, 50, 90]))
    sd = float(d.std(ddof=1)) if d.size > 1 else nan
    if d.size > 1 and np.ptp(d) > 0:
        from scipy.stats import lognorm

        s, _, scale = lognorm.fit(d, floc=0)
    else:
        s, scale = nan, float(d[0]) if d.size == 1 else nan
    return PSDSummary(
        count=int(d.size),
        mean=float(d.mean()),
        sd=sd,
        median=float(np.median(d)),
        d10=d10,
        d50=d50,
        d90=d90,
        lognorm_sigma=float(s),
        lognorm_median=float(scale),
        unit=unit,
        calibration=calibration,
        n_split=int(n_split),
    )
