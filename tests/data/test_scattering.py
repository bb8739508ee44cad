"""The synthetic scattering pattern and detector gap grid."""

import numpy as np
import pytest

from napari_sciseg.data.scattering import detector_gaps, scattering_pattern


def test_gap_grid_geometry():
    mask = detector_gaps((100, 100), module=(20, 30), gap=(5, 3), origin=(2, 4))
    rows = np.flatnonzero(mask.all(axis=1))
    cols = np.flatnonzero(mask.all(axis=0))
    # the module starting at row 2 spans rows 2..21; rows 0-1 are the previous gap
    assert rows[:7].tolist() == [0, 1, 22, 23, 24, 25, 26]
    assert cols[:6].tolist() == [1, 2, 3, 34, 35, 36]
    assert not detector_gaps((10, 10), module=(3, 3), gap=(0, 0)).any()


def test_pattern_is_seeded_with_truth_behind_the_gaps():
    a, gaps, truth = scattering_pattern((96, 96), seed=4, return_truth=True)
    b, _ = scattering_pattern((96, 96), seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, scattering_pattern((96, 96), seed=5)[0])
    assert (a[gaps] == 0).all() and (truth["counts"][gaps] > 0).any()
    np.testing.assert_array_equal(a[~gaps], truth["counts"][~gaps])
    # Poisson: counts scatter around the expected intensity with variance ~ mean
    resid = (truth["counts"] - truth["intensity"]) / np.sqrt(truth["intensity"])
    assert abs(resid.mean()) < 0.05 and 0.9 < resid.std() < 1.1
    # the diffuse background falls off with distance from the beam, over decades
    assert truth["intensity"].max() / np.median(truth["intensity"]) > 20


def test_exposure_scales_counts_and_bad_values_raise():
    low = scattering_pattern((64, 64), seed=0, exposure=1, return_truth=True)[2]["intensity"]
    high = scattering_pattern((64, 64), seed=0, exposure=10, return_truth=True)[2]["intensity"]
    np.testing.assert_allclose(high, 10 * low, rtol=1e-5)
    with pytest.raises(ValueError, match="exposure must be a positive number"):
        scattering_pattern((64, 64), exposure=0)
    with pytest.raises(ValueError, match="module sizes must be >= 1"):
        detector_gaps((8, 8), module=(0, 4))
