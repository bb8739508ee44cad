import numpy as np
import pytest
import tifffile

from napari_sciseg.io import UnsupportedFormatError, read_image
from napari_sciseg.io.tiff import read_tiff, write_tiff


def test_ome_round_trip_keeps_array_spacing_and_unit(tmp_path):
    data = np.arange(3 * 7 * 9, dtype=np.int32).reshape(3, 7, 9)
    write_tiff(tmp_path / "a.tif", data, spacing=(2.5, 0.2, 0.3))
    image = read_tiff(tmp_path / "a.tif")
    np.testing.assert_array_equal(image.data, data)
    assert image.data.dtype == np.int32
    assert image.spacing == pytest.approx((2.5, 0.2, 0.3))
    assert image.unit == "nm" and image.calibrated and image.axes == "ZYX"
    assert image.source == "OME PhysicalSize"


def test_ome_micrometre_units_are_converted_to_nm(tmp_path):
    write_tiff(tmp_path / "um.tif", np.zeros((4, 5), np.uint16), spacing=(0.5, 0.25), unit="µm")
    assert read_tiff(tmp_path / "um.tif").spacing == pytest.approx((500.0, 250.0))


def test_imagej_hyperstack_calibration(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        np.zeros((3, 4, 5), np.uint16),
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.25),
        metadata={"spacing": 1.5, "unit": "micron", "axes": "ZYX"},
    )
    image = read_tiff(path)
    assert image.source == "ImageJ"
    assert image.spacing == pytest.approx((1500.0, 250.0, 500.0))
    assert image.unit == "nm"


def test_resolution_tags_in_centimetre(tmp_path):
    path = tmp_path / "res.tif"
    # 1e7 px per cm = 1 nm per pixel
    data = np.zeros((4, 5), np.uint8)
    tifffile.imwrite(path, data, resolution=(1e7, 5e6), resolutionunit="CENTIMETER")
    image = read_tiff(path)
    assert image.spacing == pytest.approx((2.0, 1.0))  # (Y, X)
    assert image.source == "TIFF resolution tags"


def test_uncalibrated_and_print_dpi_give_scale_one(tmp_path):
    tifffile.imwrite(tmp_path / "p.tif", np.zeros((4, 5), np.uint8))
    tifffile.imwrite(
        tmp_path / "dpi.tif", np.zeros((4, 5), np.uint8), resolution=(72, 72), resolutionunit="INCH"
    )
    for name in ("p.tif", "dpi.tif"):
        image = read_tiff(tmp_path / name)
        assert image.spacing == (1.0, 1.0)
        assert image.unit == "pixel" and not image.calibrated


def test_channel_names_round_trip(tmp_path):
    data = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
    names = ("height", "amplitude", "phase", "z-sensor")
    write_tiff(tmp_path / "c.tif", data, spacing=(2.0, 2.0), axes="CYX", channel_names=names)
    image = read_tiff(tmp_path / "c.tif")
    assert image.axes == "CYX" and image.channel_names == names
    assert image.spacing == pytest.approx((2.0, 2.0))
    np.testing.assert_array_equal(image.data, data)


def test_write_refuses_to_overwrite_when_asked(tmp_path):
    write_tiff(tmp_path / "a.tif", np.zeros((2, 2), np.uint8))
    with pytest.raises(FileExistsError, match="exists"):
        write_tiff(tmp_path / "a.tif", np.ones((2, 2), np.uint8), overwrite=False)
    assert read_tiff(tmp_path / "a.tif").data.sum() == 0


def test_write_rejects_wrong_spacing_length(tmp_path):
    with pytest.raises(ValueError, match="spacing has 3 values for 2 spatial axes"):
        write_tiff(tmp_path / "a.tif", np.zeros((2, 2), np.uint8), spacing=(1, 1, 1))


def test_read_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage-not-a-tiff")
    with pytest.raises(ValueError, match="broken.tif"):
        read_image(bad)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    expected = r"notes.txt: unsupported file format \.txt; supported: .*\.tif"
    with pytest.raises(UnsupportedFormatError, match=expected):
        read_image(txt)
    with pytest.raises(FileNotFoundError, match="No such file"):
        read_image(tmp_path / "missing.tif")


# ---- writing tile by tile from a lazy array (zarr): same file content, bounded memory


def _zarr_array(tmp_path, data, chunks):
    zarr = pytest.importorskip("zarr")
    arr = zarr.create_array(store=str(tmp_path / "src.zarr"), shape=data.shape, chunks=chunks,
                            dtype=data.dtype)
    arr[:] = data
    return arr


@pytest.mark.parametrize("shape, axes", [((2, 300, 517), "CYX"), ((3, 40, 33), "ZYX")])
def test_tiled_write_equals_untiled(tmp_path, shape, axes):
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    lazy = _zarr_array(tmp_path, data, (1, 100, 100))
    spacing = (2.0, 3.0, 3.0)[-sum(a in "ZYX" for a in axes):]
    write_tiff(tmp_path / "whole.tif", data, axes=axes, spacing=spacing)
    write_tiff(tmp_path / "tiled.tif", lazy, axes=axes, spacing=spacing)
    whole, tiled = read_tiff(tmp_path / "whole.tif"), read_tiff(tmp_path / "tiled.tif")
    np.testing.assert_array_equal(tiled.data, data)
    assert (tiled.axes, tiled.spacing, tiled.unit) == (whole.axes, whole.spacing, whole.unit)
    with tifffile.TiffFile(tmp_path / "tiled.tif") as tif:
        assert tif.pages[0].is_tiled and tif.pages[0].tilewidth == 256


def test_tiled_write_converts_bool_and_checks_int64(tmp_path):
    mask = np.zeros((3, 40, 50), bool)
    mask[1, 3, 4] = True
    write_tiff(tmp_path / "m.tif", _zarr_array(tmp_path, mask, (1, 16, 16)))
    back = read_tiff(tmp_path / "m.tif").data
    assert back.dtype == np.uint8 and np.array_equal(back, mask)
    big = np.full((20, 20), 2**40, np.int64)
    with pytest.raises(ValueError, match="int32 range"):
        write_tiff(tmp_path / "big.tif", _zarr_array(tmp_path / "..", big, (8, 8)))
    assert not (tmp_path / "big.tif").exists()


def test_tiled_write_never_holds_the_whole_image(tmp_path):
    import tracemalloc

    shape = (6144, 512)  # 12.6 MB of float32; a strip of 256 rows is 0.5 MB
    data = np.random.default_rng(1).random(shape).astype(np.float32)
    lazy = _zarr_array(tmp_path, data, (256, 256))
    del data
    tracemalloc.start()
    try:
        write_tiff(tmp_path / "t.tif", lazy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    strip = 256 * shape[1] * 4
    # a few strips in flight (zarr chunks, the strip, tile copies), never the image
    assert peak < 8 * strip < 0.4 * shape[0] * shape[1] * 4, peak
    assert read_tiff(tmp_path / "t.tif").data.shape == shape
