"""N-D tile grids: cores partition the image, windows hold the halo, one window shape."""

import numpy as np
import pytest
from scipy import ndimage

from napari_sciseg.tiling import min_tile_size, stitch_weights, tile_grid


@pytest.mark.parametrize(
    "shape, tile, halo",
    [((37, 53), 15, 3), ((10, 7), 6, 1), ((9, 31, 17), (5, 12, 9), (1, 3, 2)), ((64,), 64, 10)],
)
def test_cores_partition_and_windows_hold_halo(shape, tile, halo):
    grid = tile_grid(shape, tile=tile, halo=halo)
    halos = (halo,) * len(shape) if np.isscalar(halo) else halo
    assert (stitch_weights(grid) == 1).all()
    for t in grid:
        window_shape = tuple(s.stop - s.start for s in t.window)
        assert window_shape == grid.window_shape
        for w, c, cw, h, n in zip(t.window, t.core, t.core_in_window, halos, shape):
            assert cw.start == c.start - w.start and cw.stop == c.stop - w.start
            assert w.start == 0 or c.start - w.start >= h
            assert w.stop == n or w.stop - c.stop >= h


def test_local_filter_tiled_equals_untiled():
    """A filter of radius r with halo r: identical result, odd sizes, 3D."""
    image = np.random.default_rng(0).normal(size=(23, 30, 19))
    whole = ndimage.uniform_filter(image, size=5, mode="reflect")
    out = np.zeros_like(image)
    for t in tile_grid(image.shape, tile=(9, 11, 10), halo=2):
        out[t.core] = ndimage.uniform_filter(image[t.window], size=5, mode="reflect")[
            t.core_in_window
        ]
    np.testing.assert_allclose(out, whole, atol=1e-12)


def test_small_axes_get_one_window():
    grid = tile_grid((1, 40, 5), tile=(1, 20, 20), halo=(0, 4, 4))
    assert grid.grid_shape == (1, 4, 1)
    assert grid.window_shape == (1, 20, 5) and grid.core_shape == (1, 12, 5)


def test_errors():
    assert min_tile_size(7) == 15
    with pytest.raises(ValueError, match=r"tile 14 is too small.*minimum tile is 15"):
        tile_grid((100, 100), tile=14, halo=7)
    with pytest.raises(ValueError, match="tile needs one value per axis"):
        tile_grid((100, 100), tile=(20, 20, 20), halo=2)
    with pytest.raises(ValueError, match="halo must be non-negative integers"):
        tile_grid((100, 100), tile=20, halo=-1)
