"""The four-shapes generator (DLSIA's latent-space example)."""

import numpy as np
import pytest

from napari_sciseg.data.shapes import SHAPES, four_shapes, shapes_mosaic


def test_seeded_balanced_and_binary():
    a, ka = four_shapes(40, size=32, seed=3)
    b, kb = four_shapes(40, size=32, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ka, kb)
    assert not np.array_equal(a, four_shapes(40, size=32, seed=4)[0])
    assert np.bincount(ka).tolist() == [10] * 4 and len(SHAPES) == 4
    assert set(np.unique(a)) == {0.0, 1.0}


def test_shapes_differ_as_drawn():
    tiles, kinds = four_shapes(200, size=64, seed=0)
    centre = tiles[:, 30:34, 30:34].mean(axis=(1, 2))
    # an annulus has a hole in the middle; discs, triangles and rectangles cover it
    assert centre[kinds == 3].max() == 0.0
    assert centre[kinds != 3].min() == 1.0
    area = tiles.sum(axis=(1, 2))
    assert 0.1 * 64**2 < area.mean() < 0.5 * 64**2
    # size varies inside each class
    assert all(area[kinds == k].std() > 50 for k in range(4))


def test_mosaic_and_errors():
    image, grid = shapes_mosaic(2, 3, size=16, seed=1)
    assert image.shape == (32, 48) and grid.shape == (2, 3)
    with pytest.raises(ValueError, match="size >= 8"):
        four_shapes(4, size=4)
