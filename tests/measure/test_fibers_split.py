"""Splitting touching and crossing fibers; single (also bowed) fibers stay whole."""

import numpy as np
import pytest

from napari_sciseg.data.fibers import fiber_volume
from napari_sciseg.measure import fibers
from napari_sciseg.measure.fiber_split import split_fibers

SHAPE = (30, 60, 60)


def cyl(center, direction, length, radius, shape=SHAPE):
    g = np.indices(shape).reshape(3, -1).T.astype(float)
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    rel = g - np.asarray(center, float)
    t = rel @ d
    perp = np.linalg.norm(rel - t[:, None] * d, axis=1)
    return ((np.abs(t) <= length / 2) & (perp <= radius)).reshape(shape)


CASES = {
    "crossing": [((15, 30, 30), (0, 0, 1), 50), ((15, 30, 30), (0, 1, 0.3), 50)],
    "side by side": [((15, 27.6, 30), (0, 0.05, 1), 50), ((15, 32.4, 30), (0, -0.05, 1), 50)],
    "v shape": [((15, 30, 30), (0, 0, 1), 50), ((15, 30, 30), (0.5, 0.2, 1), 50)],
    "t junction": [((15, 30, 30), (0, 0, 1), 50), ((15, 30, 10), (0, 1, 0), 30)],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_touching_fibers_merge_and_split(case):
    mask = np.zeros(SHAPE, bool)
    for center, direction, length in CASES[case]:
        mask |= cyl(center, direction, length, 2.5)
    assert fibers(mask, min_size=5).count == 1  # one component
    res = fibers(mask, min_size=5, split=True)
    assert res.count == 2
    np.testing.assert_allclose(
        np.sort(res.table["length"]), sorted(c[2] for c in CASES[case]), atol=1.5
    )


def test_single_and_bowed_fibers_are_not_split():
    _, _, truth = fiber_volume(shape=(96, 96, 96), seed=0, return_truth=True)
    assert truth.bowed.any()
    assert fibers(truth.mask, split=True).count == truth.n_fibers
    labels = np.zeros(SHAPE, np.uint16)
    labels[cyl((15, 30, 30), (0, 0.2, 1), 40, 2.0)] = 1
    np.testing.assert_array_equal(split_fibers(labels), labels)
