"""The TEM/HAADF particle generator: truth consistent with the image, all the hard cases present."""

import time

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_sciseg.data import tem_particles
from napari_sciseg.data.particles import CONTRAST_LEVELS


@pytest.mark.parametrize("mode", ["bf", "haadf"])
def test_truth_is_consistent_and_has_every_hard_case(mode):
    t0, c0 = time.perf_counter(), time.process_time()
    image, truth = tem_particles(mode, seed=0, return_truth=True)
    # the smaller of wall and CPU time: other jobs on the machine inflate the first,
    # threaded numpy the second; neither is this generator being slow
    assert min(time.perf_counter() - t0, time.process_time() - c0) < 2.0
    assert image.shape == (512, 512) and image.dtype == np.uint16
    n = len(truth.diameters_nm)
    assert truth.labels.max() == n and truth.isolated.shape == (n,)
    np.testing.assert_array_equal(truth.mask, truth.labels > 0)
    assert ((truth.diameters_nm >= 2.0) & (truth.diameters_nm <= 8.0)).all()
    # isolated ones: inside the image, one pixel clear of every other particle
    for i in np.flatnonzero(truth.isolated):
        own = truth.labels == i + 1
        ring = ndi.binary_dilation(own, iterations=2) & ~own
        assert not (truth.mask & ring).any()
        assert not (own[0].any() or own[-1].any() or own[:, 0].any() or own[:, -1].any())
    # edge-cut, touching and overlapping particles exist
    border = np.unique(np.concatenate([truth.labels[0], truth.labels[-1],
                                       truth.labels[:, 0], truth.labels[:, -1]]))  # fmt: skip
    assert len(border) > 2
    assert 0.3 < truth.isolated.mean() < 0.9
    lab, k = ndi.label(truth.mask)
    assert k < n - 3  # some instances merge into aggregates
    # area-equivalent diameters of isolated truth instances match the listed diameters
    areas = np.bincount(truth.labels.ravel())[1:]
    d_pix = 2 * np.sqrt(areas / np.pi) * truth.pixel_size
    iso = truth.isolated
    np.testing.assert_allclose(d_pix[iso], truth.diameters_nm[iso], atol=2 * truth.pixel_size)


def test_contrast_levels_are_ordered_and_float_contrast_works():
    diffs = []
    for level in ("high", "mid", "low"):
        image, truth = tem_particles("haadf", contrast=level, seed=1, return_truth=True)
        noise = np.std(image[~ndi.binary_dilation(truth.mask, iterations=3)])
        diffs.append((image[truth.mask].mean() - image[~truth.mask].mean()) / noise)
    assert diffs[0] > diffs[1] > diffs[2] > 0.5
    _, truth = tem_particles("bf", contrast=0.4, seed=1, return_truth=True)
    assert truth.contrast == 0.4 and CONTRAST_LEVELS["bf"]["high"] > 0.4


def test_size_range_and_pixel_size_scale_the_particles():
    _, small = tem_particles("bf", size_range=(2, 5), seed=2, return_truth=True)
    _, large = tem_particles("bf", size_range=(5, 15), seed=2, return_truth=True)
    assert small.diameters_nm.max() <= 5 and large.diameters_nm.min() >= 5
    assert len(small.diameters_nm) > len(large.diameters_nm)
    _, fine = tem_particles("bf", pixel_size=0.1, seed=2, return_truth=True)
    assert fine.mask.mean() == pytest.approx(small.mask.mean(), abs=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "sem"}, "'bf', 'haadf'"),
        ({"contrast": "extreme"}, "'high', 'mid', 'low'"),
        ({"contrast": 0.0}, "contrast must be in"),
        ({"pixel_size": 0}, "pixel_size must be > 0"),
        ({"size_range": (5, 2)}, "size_range"),
        ({"shape": (8, 8)}, "at least"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tem_particles(**kwargs)
