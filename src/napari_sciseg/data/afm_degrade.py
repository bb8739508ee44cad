"""Another instrument on the same AFM film: tip convolution, drift and line artefacts.

Used by :func:`napari_sciseg.data.afm.afm_dataset` (``degrade=True``) and the
film generator :mod:`napari_sciseg.data.afm_films`; it imports neither, so the
two generator modules do not import each other.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..io.calibration import CalibratedImage

__all__ = ["degrade_scan"]

def _tip(height, px_nm, radius_nm):
    """Grey dilation of the height with a parabolic tip (the tip's shape blurs relief)."""
    r = max(1, int(np.ceil(2 * radius_nm / px_nm)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1] * px_nm
    tip = -(yy**2 + xx**2) / (2 * radius_nm)
    return ndi.grey_dilation(height, structure=tip.astype(np.float32))


def _artefacts(height, px_nm, rng):
    """Drift shear, line offsets, noisy lines and 1/f-like noise, in that order."""
    shift = np.linspace(0, rng.uniform(-4, 4), height.shape[0])
    height = np.stack(
        [np.interp(np.arange(r.size) - s, np.arange(r.size), r) for r, s in zip(height, shift)]
    )
    height = height + np.cumsum(rng.normal(0, 0.4, height.shape[0]))[:, None]
    for r in rng.integers(0, height.shape[0], int(rng.integers(0, 4))):
        height[r] += rng.normal(0, 3.0, height.shape[1])
    pink = sum(
        ndi.gaussian_filter(rng.normal(0, 1, height.shape), s) * s**0.5 for s in (1.0, 3.0, 9.0)
    )
    return height + 0.3 * pink


def degrade_scan(scan: CalibratedImage, *, seed: int = 0) -> CalibratedImage:
    """Another instrument on the same film: tip convolution, drift, line artefacts, noisier phase.

    Applied to a scan of :func:`napari_sciseg.data.afm.afm_scan` it makes a third
    generator (:func:`napari_sciseg.data.afm.afm_dataset` with ``degrade=True``):
    a blunt tip (40-80 nm), a drift shear, line offsets and noisy lines in the
    height and z-sensor, three times the phase noise and a random phase gain
    (0.5-1.5, another cantilever and setpoint).

    Examples
    --------
    >>> from napari_sciseg.data.afm import afm_scan
    >>> degrade_scan(afm_scan(shape=(64, 64))).data.shape
    (4, 64, 64)
    """
    rng = np.random.default_rng(seed + 104_729)
    px_nm = float(scan.spacing[-1])
    height, amplitude, phase, zsensor = np.asarray(scan.data, dtype=np.float64)
    tip = rng.uniform(40, 80)
    height = _artefacts(_tip(height, px_nm, tip), px_nm, rng)
    zsensor = _tip(zsensor, px_nm, tip) + rng.normal(0, 0.5, zsensor.shape)
    phase = rng.uniform(0.5, 1.5) * phase + rng.normal(0, 1.8, phase.shape)
    amplitude = amplitude + rng.normal(0, 0.01, amplitude.shape)
    data = np.stack([height, amplitude, phase, zsensor]).astype(np.float32)
    return CalibratedImage(**{**scan.__dict__, "data": data, "source": "synthetic, degraded"})
