"""Tiled prediction: tiled == untiled, lazy inputs, zarr output, the confident rule, bad input."""

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_sciseg.dl import Ensemble, create_model  # noqa: E402
from napari_sciseg.dl.prediction import (  # noqa: E402
    Prediction,
    confident_segmentation,
    iter_predict,
    predict,
)


def _trained(ndim=2, cin=1, k=2, members=3, dim=None, identical=False, arch="smsnet"):
    """A TrainedModel-like wrapper around a real ensemble (untrained weights)."""
    kw = {"depth": 4, "dilations": (1, 2, 3)}
    if arch == "msdnet":
        kw = {"depth": 3, "max_dilation": 2}
    nets = [
        create_model(arch, ndim=ndim, in_channels=cin, out_channels=k,
                     seed=0 if identical else s, **kw)
        for s in range(members)
    ]
    cfg = SimpleNamespace(
        in_channels=cin,
        n_classes=k,
        model_ndim=ndim,
        dim=dim or str(ndim),
        slice_axis=0,
        normalize=lambda x: (np.asarray(x, np.float32) - 10.0) / 50.0,
    )
    return SimpleNamespace(network=Ensemble(nets).eval(), config=cfg)


@pytest.fixture(scope="module")
def model2d():
    return _trained(2)


@pytest.fixture(scope="module")
def model3d():
    return _trained(3, members=2, arch="msdnet")


@pytest.mark.parametrize("tile", [20, 24, 31])
def test_tiled_equals_untiled_2d(model2d, tile):
    image = np.random.default_rng(1).integers(0, 255, (37, 53)).astype(np.uint8)
    whole = predict(model2d, image, tile=1000, device="cpu")
    tiled = predict(model2d, image, tile=tile, device="cpu", batch_size=3)
    np.testing.assert_allclose(tiled.mean, whole.mean, atol=1e-5)
    np.testing.assert_allclose(tiled.std, whole.std, atol=1e-5)
    assert (tiled.segmentation == whole.segmentation).mean() > 0.999
    assert tiled.mean.shape == (2, 37, 53) and tiled.segmentation.dtype == np.uint8
    np.testing.assert_allclose(tiled.mean.sum(0), 1.0, atol=1e-5)


@pytest.mark.parametrize("tile", [(9, 11, 13), 15])
def test_tiled_equals_untiled_3d(model3d, tile):
    image = np.random.default_rng(2).normal(10, 50, (15, 22, 19)).astype(np.float32)
    whole = predict(model3d, image, tile=100, device="cpu")
    tiled = predict(model3d, image, tile=tile, device="cpu")
    np.testing.assert_allclose(tiled.mean, whole.mean, atol=1e-5)
    np.testing.assert_allclose(tiled.uncertainty, whole.uncertainty, atol=1e-5)


def test_unet_tiles_are_close_and_say_so(caplog):
    nets = [create_model("tunet", ndim=2, in_channels=1, out_channels=2, depth=3,
                         base_channels=4, seed=s) for s in range(2)]
    trained = SimpleNamespace(network=Ensemble(nets).eval(), config=SimpleNamespace(
        in_channels=1, n_classes=2, model_ndim=2, dim="2", slice_axis=0))
    image = np.random.default_rng(7).random((97, 83)).astype(np.float32)
    whole = predict(trained, image, tile=1000, device="cpu")
    with caplog.at_level("WARNING", logger="napari_sciseg.dl.prediction"):
        tiled = predict(trained, image, tile=80, device="cpu")
    assert "only approximately" in caplog.text
    np.testing.assert_allclose(tiled.mean, whole.mean, atol=0.02)


def test_progress_counts_tiles(model2d):
    image = np.zeros((40, 40), np.float32)
    gen = iter_predict(model2d, image, tile=30, batch_size=2, device="cpu")
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert isinstance(result, Prediction)
    assert [r.done for r in records] == [2, 4, 6, 8, 9] and records[-1].total == 9


def test_dask_and_zarr_inputs_and_zarr_output(model2d, tmp_path):
    da = pytest.importorskip("dask.array")
    zarr = pytest.importorskip("zarr")
    image = np.random.default_rng(3).normal(10, 50, (45, 38)).astype(np.float32)
    ref = predict(model2d, image, tile=21, device="cpu")
    lazy = predict(model2d, da.from_array(image, chunks=(16, 16)), tile=21, device="cpu")
    z = zarr.create_array(str(tmp_path / "in.zarr"), shape=image.shape, chunks=(10, 10), dtype="f4")
    z[:] = image
    from_zarr = predict(model2d, z, tile=21, device="cpu")
    stored = predict(model2d, z, tile=21, device="cpu", out=str(tmp_path / "out.zarr"))
    for other in (lazy, from_zarr):
        np.testing.assert_array_equal(other.mean, ref.mean)
        np.testing.assert_array_equal(other.segmentation, ref.segmentation)
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_array_equal(group["mean"][:], ref.mean)
    np.testing.assert_array_equal(group["std"][:], ref.std)
    np.testing.assert_array_equal(stored.segmentation[:], ref.segmentation)
    assert group["mean"].chunks == (1, 21 - 2 * 8, 21 - 2 * 8)


def test_slice_by_slice_from_zarr_reads_slabs(tmp_path):
    zarr = pytest.importorskip("zarr")
    trained = _trained(2, cin=3, members=2)
    volume = np.random.default_rng(6).normal(10, 50, (7, 3, 41, 30)).astype(np.float32)
    z = zarr.create_array(str(tmp_path / "v.zarr"), shape=volume.shape, chunks=(3, 3, 10, 10),
                          dtype="f4")
    z[:] = volume
    ref = predict(trained, volume, channel_axis=1, slice_axis=0, tile=24, device="cpu")
    lazy = predict(trained, z, channel_axis=1, slice_axis=0, tile=24, device="cpu")
    np.testing.assert_array_equal(lazy.mean, ref.mean)
    np.testing.assert_array_equal(lazy.segmentation, ref.segmentation)


def test_identical_members_have_zero_std():
    trained = _trained(2, members=3, identical=True)
    image = np.random.default_rng(4).normal(10, 50, (30, 30)).astype(np.float32)
    result = predict(trained, image, device="cpu")
    assert float(np.abs(result.std).max()) == 0.0
    assert float(result.uncertainty.max()) == 0.0
    np.testing.assert_array_equal(result.segmentation, result.mean.argmax(0) + 1)


def test_confident_rule_and_k():
    mean = np.array([[0.2, 0.45, 0.7], [0.8, 0.55, 0.3]], np.float32)
    std = np.array([[0.05, 0.1, 0.3], [0.05, 0.1, 0.3]], np.float32)
    np.testing.assert_array_equal(confident_segmentation(mean, std, 0.0), [2, 2, 1])
    np.testing.assert_array_equal(confident_segmentation(mean, std, 1.0), [2, 0, 0])
    np.testing.assert_array_equal(confident_segmentation(mean, std, 2.0), [2, 0, 0])


def test_multichannel_and_25d_slice_by_slice():
    trained = _trained(2, cin=2)
    volume = np.random.default_rng(5).normal(10, 50, (4, 2, 20, 23)).astype(np.float32)
    result = predict(trained, volume, channel_axis=1, slice_axis=0, tile=17, device="cpu")
    assert result.mean.shape == (2, 4, 20, 23)
    one = predict(trained, volume[2], channel_axis=0, device="cpu")
    np.testing.assert_allclose(result.mean[:, 2], one.mean, atol=1e-5)
    # a 2.5D model slices along its stored axis without being told
    trained25 = _trained(2, dim="2.5")
    trained25.config.slice_axis = 2
    vol = volume[:, 0]
    res = predict(trained25, vol, device="cpu")
    ref = predict(trained25, vol[:, :, 7], device="cpu")
    np.testing.assert_allclose(res.mean[:, :, :, 7], ref.mean, atol=1e-5)


def test_bad_inputs(model2d, model3d):
    image = np.zeros((30, 30), np.float32)
    with pytest.raises(ValueError, match=r"expects 1 input channel\(s\) but the image has 3"):
        predict(model2d, np.zeros((3, 30, 30)), channel_axis=0)
    with pytest.raises(ValueError, match="model is 2D but the image is 3D.*slice_axis="):
        predict(model2d, np.zeros((5, 30, 30)))
    with pytest.raises(ValueError, match="model is 3D but the image is 2D"):
        predict(model3d, image)
    with pytest.raises(ValueError, match=r"minimum tile is 17 \(2 \* halo \+ 1\)"):
        predict(model2d, image, tile=8)
    with pytest.raises(TypeError, match="Expected a TrainedModel"):
        predict(object(), image)
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        predict(model2d, image, device="tpu")
    with pytest.raises(ValueError, match="k must be a finite"):
        predict(model2d, image, k=float("nan"))
