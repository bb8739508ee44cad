"""The "edge" method: boundary on the projected edge, faint particles found (issue 14)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_sciseg.measure import measure_particles
from napari_sciseg.segment import anscombe, edge_threshold, segment_particles


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
