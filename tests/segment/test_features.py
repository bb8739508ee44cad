"""Filter bank: analytic values, physical σ, tiled == untiled, cache, bad input."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_sciseg.segment.features import (
    FeatureCache,
    feature_halo,
    feature_names,
    filter_bank,
    n_features,
)


def _index(names, name):
    return names.index(name)


def test_shapes_and_names_agree_in_2d_and_3d(rng):
    for shape in ((40, 50), (12, 20, 24)):
        image = rng.random(shape).astype(np.float32)
        feats = filter_bank(image, sigmas=(1.0, 2.0))
        names = feature_names(len(shape), sigmas=(1.0, 2.0))
        assert feats.shape == (n_features(len(shape), 2), *shape) == (len(names), *shape)
        assert feats.dtype == np.float32
        np.testing.assert_array_equal(feats[0], image)


def test_constant_image_has_no_structure():
    feats = filter_bank(np.full((32, 32), 3.0), sigmas=(1.0, 4.0))
    names = feature_names(2, sigmas=(1.0, 4.0))
    np.testing.assert_allclose(feats[_index(names, "gaussian σ=4")], 3.0, rtol=1e-6)
    for name in names:
        if not name.startswith(("intensity", "gaussian")):
            np.testing.assert_allclose(feats[_index(names, name)], 0.0, atol=1e-5, err_msg=name)


def test_ramp_gradient_and_bright_blob_hessian():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    names = feature_names(2, sigmas=(2.0,))
    ramp = filter_bank(0.5 * xx, sigmas=(2.0,))
    # gradient of 0.5 per pixel away from the reflected borders
    np.testing.assert_allclose(ramp[_index(names, "gradient σ=2")][16:48, 16:48], 0.5, rtol=1e-4)
    blob = np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (2 * 3.0**2)).astype(np.float32)
    f = filter_bank(blob, sigmas=(2.0,))
    # a bright blob: both Hessian eigenvalues negative at its centre, LoG negative
    assert f[_index(names, "hessian λ1 σ=2"), 32, 32] < 0
    assert f[_index(names, "LoG σ=2"), 32, 32] < 0


def test_sigma_is_physical_and_scales_with_spacing(rng):
    image = ndi.gaussian_filter(rng.random((64, 64)), 1.0).astype(np.float32)
    # σ 1 and 2 nm at 0.5 nm/px are σ 2 and 4 px; derivatives are per nm (x 1/0.5 per order)
    phys = filter_bank(image, sigmas=(1.0, 2.0), spacing=0.5)
    px = filter_bank(image, sigmas=(2.0, 4.0))
    names = feature_names(2, sigmas=(2.0, 4.0))
    for i, name in enumerate(names):
        order = 0 if name.startswith(("intensity", "gaussian", "DoG")) else (
            1 if name.startswith("gradient") else 2)
        np.testing.assert_allclose(phys[i], px[i] * 2.0**order, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    # anisotropic volume: σ 2 nm is 1 px along z (2 nm/px) and 2 px in y, x (1 nm/px)
    volume = rng.random((16, 32, 32)).astype(np.float32)
    feats = filter_bank(volume, sigmas=(2.0,), spacing=(2.0, 1.0, 1.0))
    np.testing.assert_allclose(feats[1], ndi.gaussian_filter(volume, (1.0, 2.0, 2.0)),
                               rtol=1e-5, atol=1e-6)
    # the default scales follow the finest axis: 0.5, 1, 2, 4, 8 px = 0.25 .. 4 nm at 0.5 nm/px
    assert feature_names(2, spacing=0.5)[1] == "gaussian σ=0.25"


@pytest.mark.parametrize("shape,tile", [((150, 130), 40), ((20, 70, 60), (8, 32, 32))])
def test_tiled_equals_untiled(rng, shape, tile):
    image = rng.random(shape).astype(np.float32)
    whole = filter_bank(image, sigmas=(1.0, 3.0))
    tiled = filter_bank(image, sigmas=(1.0, 3.0), tile=tile)
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-5)
    assert max(feature_halo(len(shape), sigmas=(1.0, 3.0))) >= 2 * 12


def test_tiled_reads_lazy_arrays(rng):
    da = pytest.importorskip("dask.array")
    image = rng.random((120, 90)).astype(np.float32)
    lazy = da.from_array(image, chunks=40)
    np.testing.assert_allclose(filter_bank(lazy, sigmas=(1.0,), tile=50),
                               filter_bank(image, sigmas=(1.0,)), rtol=1e-5, atol=1e-5)


def test_cache_computes_once_per_key_and_drops_the_oldest():
    image = np.zeros((16, 16), np.float32)
    calls = []

    def compute():
        calls.append(1)
        return filter_bank(image, sigmas=(1.0,))

    cache = FeatureCache(max_bytes=2 * 9 * 16 * 16 * 4)  # room for two entries
    a = cache.get(("img", 0), compute)
    assert cache.get(("img", 0), compute) is a
    cache.get(("img", 1), compute)
    cache.get(("img", 2), compute)
    assert len(calls) == 3 and cache.misses == 3 and len(cache) == 2
    assert ("img", 0) not in cache and ("img", 2) in cache


def test_bad_input_is_explained():
    image = np.ones((20, 20), np.float32)
    image[3, 4] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite pixels"):
        filter_bank(image)
    with pytest.raises(ValueError, match="2D .* or 3D"):
        filter_bank(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="sigmas must be positive"):
        filter_bank(np.zeros((8, 8)), sigmas=(0.0,))
    with pytest.raises(ValueError, match="spacing must have one value per axis"):
        filter_bank(np.zeros((8, 8)), spacing=(1.0, 1.0, 1.0))
