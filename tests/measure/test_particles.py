"""Particle measurements: analytic shapes, isolation reasons, PSD, calibration, bad input."""

import numpy as np
import pytest

from napari_sciseg.measure import ParticleResult, particles, psd_summary

YY, XX = np.mgrid[:240, :320]


def disk(cy, cx, r):
    return (YY - cy) ** 2 + (XX - cx) ** 2 <= r * r


@pytest.mark.parametrize("spacing", [0.2, 0.5, 1.7])
def test_disks_have_their_diameter_to_a_pixel(spacing):
    radii = [3, 6, 11.5, 20, 31]
    centers = [(40, 40), (40, 120), (60, 220), (150, 80), (160, 220)]
    mask = np.zeros(YY.shape, bool)
    for (cy, cx), r in zip(centers, radii):
        mask |= disk(cy, cx, r)
    res = particles(mask, spacing=spacing)
    t = res.table
    assert isinstance(res, ParticleResult) and res.count == 5 and res.unit == "nm"
    true = 2 * np.array(radii) * spacing
    d = t["diameter_nm"]
    np.testing.assert_allclose(np.sort(d), np.sort(true), atol=spacing)
    np.testing.assert_allclose(np.sort(t["feret_min_nm"]), np.sort(true), atol=1.5 * spacing)
    np.testing.assert_allclose(np.sort(t["feret_max_nm"]), np.sort(true), atol=2 * spacing)
    assert t["area_nm2"].sum() == pytest.approx(mask.sum() * spacing**2)
    assert (t["solidity"] == 1.0).all() and (t["aspect_ratio"] < 1.1).all()
    big = d > 20 * spacing
    assert (t["circularity"][big] > 0.93).all()
    assert t["isolated"].sum() == 4  # the 3 px one is too small to size
    assert t["reason"][np.argmin(d)] == "too_small"


def test_anisotropic_spacing_turns_an_ellipse_into_a_circle():
    sy, sx = 0.5, 0.25
    mask = ((YY - 120) * sy) ** 2 + ((XX - 160) * sx) ** 2 <= 12**2  # circle of 24 nm
    t = particles(mask, spacing=(sy, sx)).table
    assert t["diameter_nm"][0] == pytest.approx(24, abs=sy)
    assert t["feret_min_nm"][0] == pytest.approx(24, abs=2 * sy)
    assert t["feret_max_nm"][0] == pytest.approx(24, abs=2 * sy)
    assert t["aspect_ratio"][0] == pytest.approx(1, abs=0.03)
    assert t["circularity"][0] > 0.95


def test_rectangle_feret_and_rotation():
    mask = np.zeros((100, 100), bool)
    mask[20:30, 20:50] = True  # 10 x 30 pixels
    t = particles(mask, spacing=1.0).table
    assert t["feret_min_nm"][0] == pytest.approx(10, abs=0.01)
    assert t["feret_max_nm"][0] == pytest.approx(np.hypot(10, 30), abs=0.05)
    assert t["aspect_ratio"][0] == pytest.approx(3, rel=0.02)
    rotated = particles(mask.T.copy(), spacing=1.0).table
    for key in ("diameter_nm", "feret_min_nm", "feret_max_nm", "solidity"):
        assert rotated[key][0] == pytest.approx(t[key][0])


def test_border_touching_and_aggregates_are_rejected_with_reasons():
    mask = disk(120, 8, 15)  # cut by the left edge
    mask |= disk(60, 100, 14) | disk(60, 128, 14)  # two touching
    mask |= disk(170, 100, 14) | disk(170, 120, 14)  # overlapping
    mask |= disk(120, 250, 14) | disk(40, 250, 13) | disk(200, 250, 12)  # isolated
    res = particles(mask, spacing=0.3)
    cut = np.argmin(res.table["centroid_x_nm"])
    assert res.table["reason"][cut] == "border"
    # the pairs are told apart by their shape (a neck in the distance transform)
    assert sorted(res.table["reason"]) == ["", "", "", "border", "touching", "touching"]
    assert res.psd.count == 3
    assert res.psd.mean == pytest.approx(2 * 13 * 0.3, rel=0.1)
    kept = particles(mask, spacing=0.3, exclude_border=False)
    assert "border" not in kept.table["reason"]
    iso, rej = res.isolated_labels(), res.rejected_labels()
    assert not (iso.astype(bool) & rej.astype(bool)).any()
    assert (iso.astype(bool) | rej.astype(bool)).sum() == mask.sum()


def test_split_touching_sizes_both_halves_and_counts_them():
    mask = disk(100, 100, 15) | disk(100, 131, 15)
    whole = particles(mask, spacing=1.0)
    assert whole.count == 1 and whole.table["reason"][0] == "touching" and whole.psd.count == 0
    res = particles(mask, spacing=1.0, split_touching=True)
    assert res.count == 2 and list(res.table["reason"]) == ["", ""]
    assert res.table["split"].all() and res.psd.count == 2 and res.psd.n_split == 2
    true_d = 2 * np.sqrt(disk(100, 100, 15).sum() / np.pi)
    np.testing.assert_allclose(res.table["diameter_nm"], true_d, atol=1.0)
    assert "2 from split touching groups" in str(res.psd)


def test_size_range_and_relative_size_rejection():
    mask = disk(50, 50, 10) | disk(50, 120, 11) | disk(50, 190, 10) | disk(160, 160, 40)
    res = particles(mask, spacing=1.0, exclude_border=False)
    assert sorted(res.table["reason"]) == ["", "", "", "too_large"]
    res = particles(mask, spacing=1.0, diameter_range=(21, 100), exclude_border=False)
    assert sorted(res.table["reason"]) == ["", "", "too_small", "too_small"]


def test_labels_input_is_made_consecutive():
    labels = np.zeros((60, 60), np.int32)
    labels[5:15, 5:15] = 7
    labels[30:42, 30:42] = 3
    res = particles(labels, spacing=1.0)
    assert res.count == 2 and set(np.unique(res.labels)) == {0, 1, 2}
    assert sorted(res.table["area_nm2"]) == [100, 144]
    assert res.psd.count == 2


def test_no_particles_gives_an_empty_psd(tmp_path):
    res = particles(np.zeros((50, 50), bool), spacing=0.2)
    assert res.count == 0 and res.psd.count == 0 and np.isnan(res.psd.mean)
    assert str(res.psd).startswith("no isolated particles")
    lines = res.to_csv(tmp_path / "empty.csv").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("label,diameter_nm")


def test_missing_calibration_warns_and_measures_pixels():
    with pytest.warns(UserWarning, match="sizes are in pixels"):
        res = particles(disk(100, 100, 10))
    assert res.unit == "px" and "diameter_px" in res.table and res.psd.calibration == "none"
    assert not res.psd.calibrated


def test_mean_intensity_ignores_nans():
    mask = disk(100, 100, 10)
    image = np.where(mask, 5.0, 1.0)
    image[100, 100] = np.nan
    t = particles(mask, image, spacing=1.0).table
    assert t["mean_intensity"][0] == pytest.approx(5.0)


@pytest.mark.parametrize(
    "arg, kwargs, error, match",
    [
        (np.zeros((50, 50), bool), {"spacing": 0}, ValueError, "positive"),
        (np.zeros((50, 50), bool), {"spacing": -0.2}, ValueError, "positive"),
        (np.zeros((50, 50), bool), {"spacing": (1, 1, 1)}, ValueError, "one value per axis"),
        (np.zeros((50, 50, 3), bool), {"spacing": 1}, ValueError, "RGB"),
        (np.zeros((4, 50, 50), bool), {"spacing": 1}, ValueError, "2D.*each slice"),
        (np.zeros((50, 50)), {"spacing": 1}, TypeError, "bool mask or integer labels"),
        (-np.ones((50, 50), int), {"spacing": 1}, ValueError, ">= 0"),
        (np.zeros((50, 50), bool), {"spacing": 1, "image": np.zeros((5, 5))}, ValueError,
         "does not match"),
        (np.ones((50, 50), bool), {"spacing": 1, "diameter_range": (5, 2)}, ValueError,
         "diameter_range"),
    ],
)  # fmt: skip
def test_bad_input_messages(arg, kwargs, error, match):
    with pytest.raises(error, match=match):
        particles(arg, **kwargs)


def test_psd_summary_recovers_a_lognormal():
    rng = np.random.default_rng(1)
    d = rng.lognormal(np.log(4.0), 0.25, 4000)
    s = psd_summary(d, calibration="file (ImageJ)")
    assert s.count == 4000 and s.d10 < s.d50 < s.d90
    assert s.lognorm_median == pytest.approx(4.0, rel=0.02)
    assert s.lognorm_sigma == pytest.approx(0.25, rel=0.05)
    assert s.median == s.d50 and "file (ImageJ)" in str(s)
    pdf = s.lognorm_pdf(np.linspace(0.01, 20, 4000))
    assert np.trapezoid(pdf, np.linspace(0.01, 20, 4000)) == pytest.approx(1, abs=0.01)
    one = psd_summary([3.0])
    assert one.count == 1 and np.isnan(one.sd) and one.mean == 3.0
    assert psd_summary([np.nan, -1, 0]).count == 0
