import numpy as np
import pytest

from napari_sciseg._napari._reader import get_reader
from napari_sciseg._napari._writer import write_image, write_labels
from napari_sciseg.io.tiff import read_tiff, write_tiff


def test_reader_declines_paths_it_does_not_handle(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("x")
    assert get_reader(str(txt)) is None
    assert get_reader([str(txt)]) is None


def test_reader_sets_scale_units_and_names(tmp_path):
    path = tmp_path / "stack.tif"
    write_tiff(path, np.ones((3, 4, 5), np.uint16), spacing=(2.0, 0.2, 0.2))
    layers = get_reader(str(path))(str(path))
    assert len(layers) == 1
    data, kwargs, kind = layers[0]
    assert kind == "image" and kwargs["name"] == "stack"
    assert kwargs["scale"] == pytest.approx((2.0, 0.2, 0.2))
    assert kwargs["units"] == ("nm", "nm", "nm")
    assert kwargs["metadata"]["calibration_source"] == "OME PhysicalSize"


def test_reader_splits_channels_into_named_layers(tmp_path):
    path = tmp_path / "afm.tif"
    names = ("height", "phase")
    data = np.zeros((2, 4, 4), np.float32)
    write_tiff(path, data, spacing=(3.0, 3.0), axes="CYX", channel_names=names)
    layers = get_reader(str(path))(str(path))
    assert [kw["name"] for _, kw, _ in layers] == ["afm height", "afm phase"]
    assert all(d.shape == (4, 4) for d, _, _ in layers)


def test_uncalibrated_file_warns_and_gets_scale_one(tmp_path, monkeypatch):
    import tifffile

    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8))
    shown = []
    monkeypatch.setattr("napari_sciseg._napari._reader.show_warning", shown.append)
    (data, kwargs, _), = get_reader(str(path))(str(path))
    assert kwargs["scale"] == (1.0, 1.0)
    assert len(shown) == 1 and "no pixel size" in shown[0]


def test_corrupt_file_reports_and_never_raises(tmp_path, monkeypatch):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 definitely not a tiff")
    errors = []
    monkeypatch.setattr("napari_sciseg._napari._reader.show_error", errors.append)
    assert get_reader(str(bad))(str(bad)) == []
    assert len(errors) == 1 and "broken.tif" in errors[0]


@pytest.mark.parametrize("writer, dtype", [(write_image, np.float32), (write_labels, np.int32)])
def test_writer_round_trip_keeps_calibration(tmp_path, writer, dtype):
    data = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype)
    meta = {"scale": (5.0, 0.5, 0.25), "units": ("nanometer",) * 3, "axis_labels": ("z", "y", "x")}
    (out,) = writer(str(tmp_path / "out.tif"), data, meta)
    image = read_tiff(out)
    np.testing.assert_array_equal(image.data, data)
    assert image.spacing == pytest.approx((5.0, 0.5, 0.25)) and image.unit == "nm"
    # and back through the reader: same array, scale and unit
    (data2, kwargs, _), = get_reader(out)(out)
    np.testing.assert_array_equal(data2, data)
    assert kwargs["scale"] == pytest.approx(meta["scale"]) and kwargs["units"] == ("nm",) * 3


def test_writer_converts_micrometres_and_keeps_pixels(tmp_path):
    (out,) = write_image(str(tmp_path / "um.tif"), np.zeros((3, 3), np.uint8),
                         {"scale": (0.5, 0.5), "units": ("micrometer", "micrometer")})
    assert read_tiff(out).spacing == pytest.approx((500.0, 500.0))
    (out,) = write_image(str(tmp_path / "px.tif"), np.zeros((3, 3), np.uint8),
                         {"scale": (1.0, 1.0), "units": ("pixel", "pixel")})
    assert not read_tiff(out).calibrated
