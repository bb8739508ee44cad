"""The "edge" method: boundary on the projected edge, faint particles found (issue 14)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_sciseg.measure import measure_particles
from napari_sciseg.segment import anscombe, edge_threshold, estimate_size, segment_particles


def _true_diameter(mask):
    return 2 * np.sqrt(mask.sum() / np.pi)


@pytest.mark.parametrize(("seed", "r"), [(1, 8.3), (3, 12.3), (5, 16.3)])
def test_haadf_thickness_profile_gives_the_diameter_within_half_a_pixel(seed, r):
    """A sphere in HAADF: signal ~ projected thickness sqrt(r^2 - x^2), zero at the rim,
    blurred by the probe, Poisson noise. Thresholds cut the rim; the edge method must not.
    (Measured over radii 6.3-16.3 px: +0.03 to +0.30 px; r = 11.3 with seed 0 gives +0.50.)"""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:120, :120]
    r2 = (yy - 60.2) ** 2 + (xx - 59.7) ** 2
    footprint = r2 <= r * r
    thickness = np.sqrt(np.clip(r * r - r2, 0, None))
    image = rng.poisson(ndi.gaussian_filter(30 + 12 * thickness, 1.0)).astype(np.float32)
    mask = edge_threshold(image, polarity="bright")
    d = measure_particles(mask, spacing=1.0).table["diameter_nm"]
    assert d.size == 1
    assert abs(d[0] - _true_diameter(footprint)) <= 0.5
    hybrid = measure_particles(segment_particles(image, method="hybrid"), spacing=1.0)
    assert hybrid.table["diameter_nm"][0] < d[0]  # the threshold cuts the rim


@pytest.mark.parametrize("seed", [3, 4])
def test_touching_pair_is_not_isolated_and_split_gives_both_diameters(seed):
    # (on a 100 x 140 field, where the pair fills a fifth of the image, the detector also
    # finds noise blobs: a known limit of its noise estimate on small fields)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:160, :200]
    disks = [((yy - 80) ** 2 + (xx - c) ** 2) <= 15**2 for c in (85, 115)]
    thickness = sum(np.sqrt(np.clip(225 - ((yy - 80) ** 2 + (xx - c) ** 2), 0, None))
                    for c in (85, 115))  # fmt: skip
    image = rng.poisson(ndi.gaussian_filter(20 + 10 * thickness, 1.0)).astype(np.float32)
    mask = edge_threshold(image, polarity="bright")
    whole = measure_particles(mask, spacing=1.0)
    assert whole.count == 1 and not whole.isolated.any()
    assert whole.table["reason"][0] == "touching"
    split = measure_particles(mask, spacing=1.0, split_touching=True)
    assert split.count == 2 and split.psd.count == 2 and split.psd.n_split == 2
    np.testing.assert_allclose(np.sort(split.table["diameter_nm"]),
                               [_true_diameter(d) for d in disks], atol=1.0)  # fmt: skip


def test_faint_disk_at_three_sigma_of_poisson_noise_is_found():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:128, :128]
    disk = (yy - 64) ** 2 + (xx - 64) ** 2 <= 10**2
    background = 400.0  # counts: noise sigma 20
    image = rng.poisson(np.where(disk, background - 3 * 20, background)).astype(np.float32)
    mask = edge_threshold(image, polarity="dark")
    labels, _ = ndi.label(mask)
    found = labels == labels[64, 64]
    assert found[64, 64] and (found & disk).sum() / (found | disk).sum() > 0.7
    near = ndi.binary_dilation(disk, iterations=5)
    assert (mask & ~near).sum() == 0  # nothing found in the noise around it


def test_pure_noise_gives_an_empty_mask():
    image = np.random.default_rng(5).poisson(100.0, (128, 128)).astype(np.float32)
    assert not edge_threshold(image).any()


def test_anscombe_makes_poisson_noise_unit_variance():
    rng = np.random.default_rng(6)
    for lam in (5.0, 50.0, 500.0):
        assert anscombe(rng.poisson(lam, 50000)).std() == pytest.approx(1.0, abs=0.06)


def _speckled_bright_field(seed, diameter=40.0, dose=60.0):
    """Dark disks on a bright support whose phase contrast is a ~3 px speckle as strong per
    pixel as the particles (amorphous carbon under defocus), at a low dose."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256]
    centres = [(60, 60), (60, 190), (190, 70), (185, 185)]
    disks = sum(((yy - cy) ** 2 + (xx - cx) ** 2) <= (diameter / 2) ** 2 for cy, cx in centres)
    speckle = ndi.gaussian_filter(rng.normal(size=(256, 256)), 1.2)
    speckle *= 0.12 / speckle.std()
    intensity = dose * (1 + speckle) * np.where(disks > 0, 0.85, 1.0)
    return rng.poisson(np.clip(intensity, 0, None)).astype(np.float32), disks > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_size_estimate_sees_through_the_support_speckle(seed):
    """The first Otsu pass at sigma 1 broke the speckle into specks (a size of ~9 px for
    40 px particles, which then flattened the particles away)."""
    image, _ = _speckled_bright_field(seed)
    size = estimate_size(anscombe(image), "dark")
    assert 32 <= size <= 50


@pytest.mark.parametrize("seed", [2, 3])
def test_speckled_bright_field_particles_are_all_found(seed):
    """All four found, each one piece around its disk. These step-edged disks, read from
    the smoothed signal, come out ~4 px too wide in radius (JSC 0.63; 0.41-0.45 before the
    support's gradient was subtracted from the contour score); the physics set's particles,
    whose thickness fades to the rim, do not (bright-field edge bias -0.5 to -0.3 px)."""
    image, truth = _speckled_bright_field(seed)
    mask = edge_threshold(image)
    labels, n = ndi.label(mask)
    assert n == 4
    assert (mask & truth).sum() / (mask | truth).sum() > 0.55
    assert set(np.unique(labels[truth])) - {0} == {1, 2, 3, 4}


def test_block_grid_smoothing_matches_the_gaussian():
    from napari_sciseg.segment.edges import _smooth

    a = np.random.default_rng(7).normal(size=(300, 260)).astype(np.float32)
    a += np.linspace(0, 5, 260, dtype=np.float32)
    for sigma in (4.0, 9.0, 24.0):
        ref = ndi.gaussian_filter(a, sigma)
        inner = (slice(int(2 * sigma), -int(2 * sigma)),) * 2
        err = np.abs(_smooth(a, sigma) - ref)[inner]
        assert err.max() < 0.1 * ref[inner].std() + 0.02
