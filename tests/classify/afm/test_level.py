"""Levelling: planes and polynomials removed exactly, row offsets and scars removed."""

import numpy as np
import pytest

from napari_sciseg.classify.afm.level import (
    align_rows,
    level_scan,
    normalize_robust,
    remove_polynomial,
    remove_scars,
)


def test_plane_removed_exactly(rng):
    yy, xx = np.mgrid[:40, :50].astype(float)
    bumps = np.zeros((40, 50))
    bumps[10:15, 20:25] = 5.0
    tilted = 0.3 * yy - 0.7 * xx + 12.0
    out = remove_polynomial(tilted, order=1)
    assert np.abs(out).max() < 1e-9
    # fit on the film only: the bump stays exactly, the plane goes
    out = remove_polynomial(tilted + bumps, order=1, mask=bumps == 0)
    np.testing.assert_allclose(out, bumps, atol=1e-9)


def test_quadratic_bow_removed_with_order_2():
    yy, xx = np.mgrid[:30, :30].astype(float)
    bow = 0.01 * (xx - 15) ** 2 + 0.02 * yy * xx
    assert np.abs(remove_polynomial(bow, order=2)).max() < 1e-8
    assert np.abs(remove_polynomial(bow, order=1)).max() > 0.5


def test_row_offsets_removed(rng):
    surface = np.zeros((32, 64))
    surface[:, 40:44] = 10.0  # a feature crossing every line
    offsets = rng.normal(0, 5, (32, 1))
    np.testing.assert_allclose(align_rows(surface + offsets), align_rows(surface), atol=1e-9)
    assert np.abs(align_rows(surface + offsets)[:, :40]).max() < 1e-9


def test_scars_replaced_by_neighbours(rng):
    img = rng.normal(0, 0.1, (20, 60))
    scarred = img.copy()
    scarred[7, 10:40] += 8.0
    out = remove_scars(scarred)
    assert np.abs(out[7, 10:40] - 0.5 * (img[6, 10:40] + img[8, 10:40])).max() < 1e-9
    np.testing.assert_array_equal(out[:7], img[:7])


def test_level_scan_per_channel_and_normalize():
    yy, xx = np.mgrid[:16, :16].astype(float)
    scan = np.stack([2 * yy + xx, 5.0 + 0 * xx])
    out = level_scan(scan, channel_names=("height", "phase"))
    assert out.shape == (2, 16, 16) and out.dtype == np.float32
    assert np.abs(out[0]).max() < 1e-4 and np.abs(out[1]).max() == 0
    norm = normalize_robust(np.arange(100.0).reshape(10, 10), low=0, high=100)
    assert norm.min() == 0 and norm.max() == 1


def test_bad_inputs():
    with pytest.raises(ValueError, match="must be 2D"):
        align_rows(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="order must be between 0 and 5"):
        remove_polynomial(np.zeros((4, 4)), order=7)
    with pytest.raises(ValueError, match="NaN"):
        remove_polynomial(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="mask shape"):
        remove_polynomial(np.zeros((4, 4)), mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="Unknown method"):
        align_rows(np.zeros((4, 4)), method="mode")


def test_median_normalisation_keeps_material_contrast_comparable_across_scans():
    from napari_sciseg.classify.afm.scans import channel_scales, prepare_scan
    from napari_sciseg.data.afm import afm_scan

    names = ("height", "amplitude", "phase", "z-sensor")
    sph = afm_scan(cls=1.0, shape=(128, 128), seed=3)  # spherulites only
    lam = afm_scan(cls=0.0, shape=(128, 128), seed=3)  # lamellae only

    def top_phase(scan, normalize):
        x = prepare_scan(scan.data, channel_names=names, normalize=normalize)
        return float(np.percentile(x[2], 99.5))

    # spherulites shift the phase 12 deg above the film, lamellae 7 deg: kept in deg
    assert 9.0 < top_phase(sph, "median") < 15.0
    assert 4.0 < top_phase(lam, "median") < 9.0
    # per-scan percentile scaling maps both to about 1: the contrast is lost
    assert abs(top_phase(sph, "scan") - top_phase(lam, "scan")) < 0.15
    prepared = [prepare_scan(s.data, channel_names=names) for s in (sph, lam)]
    scales = channel_scales(prepared)
    assert scales.shape == (4,) and (scales > 0).all()
    np.testing.assert_allclose(np.median(prepared[0], axis=(1, 2)), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="Unknown normalize 'minmax'; expected one of 'median'"):
        prepare_scan(sph.data, channel_names=names, normalize="minmax")
    with pytest.raises(ValueError, match="at least one scan"):
        channel_scales([])
