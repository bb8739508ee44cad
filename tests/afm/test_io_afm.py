"""AFM vendor readers on real files: channel names, units, pixel sizes and orientation."""

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sciseg.io.afm import is_afm_file, read_afm

DATA = Path(__file__).parents[1] / "data" / "afm"


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _rows_aligned(a):
    return a - np.median(a, axis=1, keepdims=True)


def test_bruker_di_channels_units_spacing_and_orientation():
    img = read_afm(DATA / "di-3.di")
    assert img.axes == "CYX" and img.data.shape == (4, 256, 256)
    assert img.channel_names == (
        "Height Sensor",
        "Amplitude Error (retrace)",
        "Phase (retrace)",
        "Height (retrace)",
    )
    assert img.channel_units == ("nm", "V", "deg", "nm")
    assert img.calibrated and img.unit == "nm"
    np.testing.assert_allclose(img.spacing, (10000 / 256, 10000 / 256))
    height_sensor, amplitude, phase, height = img.data
    assert np.ptp(phase) < 360 and np.abs(amplitude).max() < 3.0  # deg and V, not raw counts
    # z-sensor and height see the same topography: same orientation, not transposed
    assert _corr(_rows_aligned(height_sensor), _rows_aligned(height)) > 0.9
    assert _corr(_rows_aligned(height_sensor), _rows_aligned(height).T) < 0.5
    # stored bottom line first: our row 0 is the last stored line, scaled by the header
    raw = np.frombuffer((DATA / "di-3.di").read_bytes(), "<i2", count=256 * 256, offset=40960)
    scale = 24.57563 / 65536 * 790.3658  # Z scale (V) / 2^16 * ZsensSens (nm/V)
    np.testing.assert_allclose(img.data[0], raw.reshape(256, 256)[::-1] * scale, rtol=1e-5)


def test_bruker_numbered_suffix_is_detected_by_content(tmp_path):
    path = DATA / "old_bruker.002"
    assert is_afm_file(path)
    img = read_afm(path)
    assert img.channel_names == ("Height",) and img.channel_units == ("nm",)
    np.testing.assert_allclose(img.spacing, (15000 / 256,) * 2)
    other = tmp_path / "notes.001"
    other.write_text("not a scan")
    assert not is_afm_file(other)


def test_park_tiff_scale_and_orientation_against_its_preview():
    path = DATA / "example_ps.tiff"
    assert is_afm_file(path)
    img = read_afm(path)
    assert img.channel_names == ("Z Height",) and img.channel_units == ("nm",)
    np.testing.assert_allclose(img.spacing, (1000 / 512,) * 2)
    assert 5 < np.ptp(img.data[0]) < 200  # nm over a 1 µm scan
    preview = tifffile.imread(path).astype(float)  # 256² rendering by the vendor software
    small = img.data[0].reshape(256, 2, 256, 2).mean(axis=(1, 3))
    assert _corr(small, preview) > 0.95
    assert _corr(small[::-1], preview) < 0.5


def test_plain_tiff_is_not_claimed(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    assert not is_afm_file(path)


def test_jpk_channels_trace_and_retrace():
    img = read_afm(DATA / "topostats_file.jpk")
    names = img.channel_names
    assert img.data.shape == (10, 256, 256)
    assert {"height", "height (retrace)", "phase", "amplitude", "measuredHeight"} <= set(names)
    units = dict(zip(names, img.channel_units))
    assert units["height"] == "nm" and units["phase"] == "deg" and units["error"] == "V"
    np.testing.assert_allclose(img.spacing, (326.91651420070083 / 256,) * 2, rtol=1e-6)
    trace = img.data[names.index("height")]
    retrace = img.data[names.index("height (retrace)")]
    assert _corr(_rows_aligned(trace), _rows_aligned(retrace)) > 0.8


def test_gwy_unitless_file_is_uncalibrated():
    img = read_afm(DATA / "gwyfile_test.gwy")
    assert img.channel_names == ("Test",) and img.data.shape == (1, 128, 128)
    assert not img.calibrated and img.spacing == (1.0, 1.0)


def test_gwy_non_square_keeps_rows_and_converts_units(tmp_path):
    gwyfile = pytest.importorskip("gwyfile")
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    data = np.arange(6 * 10, dtype=float).reshape(6, 10) * 1e-9  # metres
    field = GwyDataField(
        data,
        xreal=10e-6,
        yreal=6e-6,
        si_unit_xy=GwySIUnit(unitstr="m"),
        si_unit_z=GwySIUnit(unitstr="m"),
    )
    obj = GwyContainer()
    obj["/0/data"] = field
    obj["/0/data/title"] = "Height"
    path = tmp_path / "ns.gwy"
    obj.tofile(str(path))
    del gwyfile
    img = read_afm(path)
    assert img.data.shape == (1, 6, 10)
    np.testing.assert_allclose(img.data[0, 0, :3], [0, 1, 2])  # nm, first row intact
    np.testing.assert_allclose(img.spacing, (1000.0, 1000.0))
    assert img.channel_units == ("nm",)


def test_unsupported_vendor_lists_supported_ones(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_text("1 2 3")
    with pytest.raises(ValueError, match="supported: Bruker NanoScope.*Gwyddion"):
        read_afm(path)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gwyfile", None)
    with pytest.raises(ImportError, match=r"napari-sciseg\[afm\]"):
        read_afm(DATA / "gwyfile_test.gwy")


def test_corrupt_bruker_names_the_file(tmp_path):
    path = tmp_path / "broken.spm"
    path.write_bytes(b"\\*File list\r\n\\Version: 0x0\r\n")
    with pytest.raises(ValueError, match="broken.spm"):
        read_afm(path)
