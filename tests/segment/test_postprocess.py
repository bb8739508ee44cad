"""Mask clean-up helpers: hole filling, fragments, watershed split."""

import numpy as np
from scipy import ndimage as ndi

from napari_sciseg.segment import fill_holes, remove_small, split_touching


def test_fill_holes_matches_scipy(rng):
    mask = ndi.binary_opening(rng.random((80, 90)) > 0.45)
    np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))


def test_remove_small_keeps_large_objects():
    mask = np.zeros((20, 20), bool)
    mask[1, 1] = mask[5:10, 5:10] = True
    out = remove_small(mask, 10)
    assert not out[1, 1] and out[5:10, 5:10].all()


def test_split_touching_separates_two_disks_not_one():
    yy, xx = np.mgrid[:40, :80]
    one = (yy - 20) ** 2 + (xx - 20) ** 2 < 12**2
    two = one | ((yy - 20) ** 2 + (xx - 42) ** 2 < 12**2)
    assert split_touching(one).max() == 1
    labels = split_touching(two)
    assert labels.max() == 2
    areas = np.bincount(labels.ravel())[1:]
    assert abs(int(areas[0]) - int(areas[1])) < 0.1 * areas.mean()
    assert split_touching(np.zeros((8, 8), bool)).max() == 0
