"""predict_region: a slice or box with its halo equals the same region of a full prediction."""

from pathlib import Path

import numpy as np
import pytest

from napari_sciseg.dl import load_model, predict, predict_region

MODELS = Path(__file__).parents[1] / "data" / "models"


@pytest.fixture(scope="module")
def data():
    with np.load(MODELS / "inputs.npz") as z:
        return z["image2d"], z["image3d"]


def assert_same(part, whole, index):
    np.testing.assert_allclose(part.mean, whole.mean[(slice(None), *index)], atol=1e-5)
    np.testing.assert_allclose(part.std, whole.std[(slice(None), *index)], atol=1e-5)
    np.testing.assert_allclose(part.uncertainty, whole.uncertainty[index], atol=1e-5)
    assert np.mean(part.segmentation == whole.segmentation[index]) > 0.999


@pytest.mark.parametrize("index", [
    (slice(10, 30), slice(5, 45)),  # an interior box
    (0, slice(None)),               # the first row: the halo is clipped at the border
    (slice(40, 48), 47),            # a column piece at the corner
])
def test_2d_box_equals_full_prediction(data, index):
    model = load_model(MODELS / "smsnet2d.sciseg")
    whole = predict(model, data[0], device="cpu")
    part = predict_region(model, data[0], index, device="cpu")
    assert part.mean.shape == whole.mean[(slice(None), *index)].shape
    assert_same(part, whole, index)


@pytest.mark.parametrize("index", [
    (12, slice(None), slice(None)),            # a z slice: a slab of +- the halo is read
    (slice(None), 3, slice(None)),             # a y slice
    (slice(2, 9), slice(10, 20), slice(0, 24)),  # a box touching one border
])
def test_3d_model_slices_and_boxes(data, index):
    model = load_model(MODELS / "smsnet3d.sciseg")
    whole = predict(model, data[1], device="cpu")
    assert_same(predict_region(model, data[1], index, device="cpu"), whole, index)


def test_2d_model_on_a_volume_follows_its_slice_axis(data):
    model = load_model(MODELS / "smsnet25d.sciseg")  # trained along axis 1
    assert model.config.slice_axis == 1
    whole = predict(model, data[1], device="cpu")
    for index in [(slice(None), 7, slice(None)), (5, slice(None), slice(None)),
                  (slice(3, 9), slice(0, 4), slice(None))]:
        assert_same(predict_region(model, data[1], index, device="cpu"), whole, index)
    # another axis on request: the model sees the planes along axis 0
    along_z = predict(model, data[1], slice_axis=0, device="cpu")
    index = (4, slice(None), slice(None))
    assert_same(predict_region(model, data[1], index, slice_axis=0, device="cpu"),
                along_z, index)


def test_channels_last_and_lazy_input(data):
    da = pytest.importorskip("dask.array")
    model = load_model(MODELS / "smsnet2d.sciseg")
    image = da.from_array(data[0][..., None], chunks=(16, 16, 1))
    whole = predict(model, data[0], device="cpu")
    index = (slice(8, 20), slice(30, 48))
    assert_same(predict_region(model, image, index, channel_axis=2, device="cpu"), whole, index)


def test_only_the_window_is_read(data):
    """A slice of a volume reads the slab of +- the receptive field, not the volume."""
    model = load_model(MODELS / "smsnet3d.sciseg")
    reads = []

    class Spy:
        shape, dtype, ndim = data[1].shape, data[1].dtype, 3

        def __getitem__(self, key):
            reads.append(key)
            return data[1][key]

    predict_region(model, Spy(), (12, slice(None), slice(None)), device="cpu")
    halo = model.receptive_field
    assert reads[0][0] == slice(12 - halo, 13 + halo)


@pytest.mark.parametrize("region, err, match", [
    ((slice(None),), ValueError, r"one entry per spatial axis of the image \(48, 48\)"),
    ((48, slice(None)), ValueError, "axis 0: index 48 is outside 0..47"),
    ((slice(10, 10), slice(None)), ValueError, "axis 0: .* must be a non-empty slice"),
    ((slice(0, 10, 2), slice(None)), ValueError, "step 1"),
    ((1.5, slice(None)), TypeError, "expected an int or a slice; got 1.5"),
])
def test_bad_regions(data, region, err, match):
    model = load_model(MODELS / "smsnet2d.sciseg")
    with pytest.raises(err, match=match):
        predict_region(model, data[0], region, device="cpu")
