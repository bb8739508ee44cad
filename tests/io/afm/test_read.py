"""AFM vendor readers on real files: channel names, units, pixel sizes and orientation."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sciseg.io.afm import is_afm_file, read_afm

DATA = Path(__file__).parents[2] / "data" / "afm"


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


# ------------------------------------------------------------- Asylum .ibw
def _xcorr_shift(a, b):
    """(dy, dx) of the cross-correlation peak of two images."""
    a, b = a - a.mean(), b - b.mean()
    c = np.real(np.fft.ifft2(np.fft.fft2(a) * np.conj(np.fft.fft2(b))))
    peak = np.unravel_index(np.argmax(c), c.shape)
    return tuple(int(p if p <= n // 2 else p - n) for p, n in zip(peak, c.shape))


def _deplaned(a):
    ny, nx = a.shape
    yy, xx = np.mgrid[:ny, :nx]
    design = np.c_[np.ones(a.size), xx.ravel(), yy.ravel()]
    coef, *_ = np.linalg.lstsq(design, a.ravel().astype(float), rcond=None)
    return a - (design @ coef).reshape(a.shape)


def test_asylum_ibw_channels_units_spacing(caplog):
    img = read_afm(DATA / "asylum_sample_0.ibw")
    assert img.data.shape == (8, 512, 512)
    # the file's labels: HeightTrace/Retrace, ZSensor..., UserIn0..., UserIn1...
    # (igor2 alone returns "HeightTracee": it keeps bytes after the label's NUL)
    assert img.channel_names == (
        "Height",
        "Height (retrace)",
        "ZSensor",
        "ZSensor (retrace)",
        "UserIn0",
        "UserIn0 (retrace)",
        "UserIn1",
        "UserIn1 (retrace)",
    )
    # heights in nm (stored in m); this z sensor is uncalibrated (ZLVDTSens = -1):
    # its ~1 "m" values are volts, which the reader says instead of giving 1e9 nm
    assert img.channel_units == ("nm", "nm", "V", "V", "V", "V", "V", "V")
    assert "not in metres" in caplog.text
    # ScanSize 800 nm over ScanPoints = ScanLines = 512 (not Igor's 800 nm / 511)
    np.testing.assert_allclose(img.spacing, (800 / 512, 800 / 512))
    height, height_retrace, zsensor = img.data[0], img.data[1], img.data[2]
    low, high = np.percentile(height, [1, 99])
    assert -900 < low < high < -800 and 5 < high - low < 40  # nm: a flat sample, z offset
    assert 0.5 < zsensor.min() < zsensor.max() < 1.5  # V
    # trace and retrace see the same surface, shifted along the fast (x) axis only
    dy, dx = _xcorr_shift(_deplaned(height), _deplaned(height_retrace))
    assert dy == 0 and 5 < abs(dx) < 30


def test_asylum_ibw_orientation_against_the_raw_wave():
    igor2 = pytest.importorskip("igor2.binarywave")
    wave = igor2.load(str(DATA / "asylum_sample_0.ibw"))["wave"]["wData"]  # (x, y, channel)
    img = read_afm(DATA / "asylum_sample_0.ibw")
    # Igor's dimension 0 is x (points along a line, stored fastest) and y runs upwards:
    # transposed to (y, x), then flipped so row 0 is the top line
    np.testing.assert_allclose(img.data[0], wave[:, :, 0].T[::-1] * 1e9, rtol=1e-5)
    raw = _deplaned(wave[:, :, 0].astype(float))
    # neighbours along dimension 0 (within a scan line) differ less than neighbouring lines
    assert np.abs(np.diff(raw, axis=0)).mean() < 0.7 * np.abs(np.diff(raw, axis=1)).mean()


def test_asylum_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "igor2", None)
    with pytest.raises(ImportError, match=r"igor2.*napari-sciseg\[afm\]"):
        read_afm(DATA / "asylum_sample_0.ibw")


# ----------------------------------------------------------- Nanosurf .nid
def test_nanosurf_nid_channels_units_spacing_values():
    path = DATA / "nanosurf_circles.nid"
    assert is_afm_file(path)
    img = read_afm(path)
    assert img.data.shape == (4, 256, 256)
    assert img.channel_names == (
        "Topography",
        "Amplitude",
        "Topography (retrace)",
        "Amplitude (retrace)",
    )
    assert img.channel_units == ("nm", "V", "nm", "V")
    np.testing.assert_allclose(img.spacing, (50000 / 256, 50000 / 256))  # 50 µm scan
    assert img.metadata["vendor"] == "Nanosurf"
    # value = Dim2Min + Dim2Range * (int16 + 2^15) / 2^16; the data follow "#!"
    raw = path.read_bytes()
    start = raw.index(b"#!") + 2
    counts = np.frombuffer(raw, "<i2", count=256 * 256, offset=start).reshape(256, 256)
    metres = -1.016e-05 + 2.032e-05 * (counts + 32768.0) / 65536
    np.testing.assert_allclose(img.data[0], metres[::-1] * 1e9, rtol=1e-5)
    topo, amplitude = img.data[0], img.data[1]
    assert 300 < np.ptp(np.percentile(_deplaned(topo), [1, 99])) < 3000  # nm-scale relief
    assert 0 < amplitude.min() and amplitude.max() < 10  # V, within the ±10 V range


def test_nanosurf_backward_scan_is_not_mirrored():
    img = read_afm(DATA / "nanosurf_circles.nid")
    forward, backward = _rows_aligned(img.data[0]), _rows_aligned(img.data[2])
    assert _corr(forward, backward) > 0.6
    assert abs(_corr(forward, backward[:, ::-1])) < 0.2
    dy, dx = _xcorr_shift(_deplaned(img.data[0]), _deplaned(img.data[2]))
    assert dy == 0 and abs(dx) < 20  # lag along the fast axis only


def test_nanosurf_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.nid"
    path.write_bytes(b"[DataSet]\r\nVersion=2\r\n")
    with pytest.raises(ValueError, match="broken.nid.*'#!'"):
        read_afm(path)
    raw = (DATA / "nanosurf_circles.nid").read_bytes()
    cut = tmp_path / "cut.nid"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.nid.*truncated"):
        read_afm(cut)


@pytest.mark.parametrize(
    "name, first, spacing, unit",
    [
        ("nanosurf_circles.nid", "Topography", 50000 / 256, "nm"),
        ("asylum_sample_0.ibw", "Height", 800 / 512, "nm"),
        ("old_bruker.002", "Height", 15000 / 256, "nm"),  # numbered Bruker suffix
    ],
)
def test_napari_reader_opens_ibw_and_nid(name, first, spacing, unit):
    import fnmatch

    import yaml

    pytest.importorskip("napari")
    from napari_sciseg._napari._reader import get_reader

    manifest = Path(__file__).parents[3] / "src" / "napari_sciseg" / "napari.yaml"
    patterns = yaml.safe_load(manifest.read_text())["contributions"]["readers"][0]
    assert any(fnmatch.fnmatch(name, p) for p in patterns["filename_patterns"])
    reader = get_reader(str(DATA / name))
    assert reader is not None
    layers = reader(str(DATA / name))
    data, kwargs, kind = layers[0]
    stem = name.split(".")[0]
    assert kind == "image" and kwargs["name"] == f"{stem} {first}"
    assert kwargs["scale"] == pytest.approx((spacing, spacing))
    assert kwargs["units"] == ("nm", "nm") and kwargs["metadata"]["value_unit"] == unit
    assert data.ndim == 2


def _write_ibw(path, data_xyc, labels, note):
    """A minimal Igor binary wave v5 (float32, x fastest) laid out like Asylum's."""
    data = np.asarray(data_xyc, np.float32)
    nx, ny, nc = data.shape
    body = data.tobytes(order="F")
    note_b = note.encode("latin-1")
    slots = b"".join(s.encode().ljust(32, b"\0") for s in ["", *labels])
    wave = bytearray(320)
    struct.pack_into("<iH", wave, 12, nx * ny * nc, 2)  # npnts, NT_FP32
    struct.pack_into("<h28s", wave, 26, 1, b"synthetic")  # whVersion, bname
    struct.pack_into("<4i", wave, 68, nx, ny, nc, 0)  # nDim
    struct.pack_into("<4d", wave, 84, 1e-9, 2e-9, 1.0, 1.0)  # sfA (Igor's, ignored)
    struct.pack_into("<1s", wave, 152, b"m")  # dimUnits[0]
    struct.pack_into("<1s", wave, 156, b"m")
    sizes = [320 + len(body), 0, len(note_b), 0, *[0] * 4, 0, 0, len(slots), 0, 0, 0, 0]
    head = struct.pack("<hh15i", 5, 0, *sizes)  # version, checksum, section sizes
    path.write_bytes(head + bytes(wave) + body + note_b + slots)


def test_asylum_non_square_scan_keeps_lines_as_rows(tmp_path):
    pytest.importorskip("igor2")
    nx, ny = 6, 4  # 6 points per line, 4 lines
    height = np.arange(nx * ny, dtype=float).reshape(ny, nx).T * 1e-9  # (x, y), metres
    phase = np.full((nx, ny), 12.5)
    note = (
        "ScanSize: 3e-06\rFastScanSize: 3e-06\rSlowScanSize: 2e-06\rScanPoints: 6\rScanLines: 4\r"
    )
    path = tmp_path / "ns.ibw"
    _write_ibw(path, np.stack([height, phase], axis=2), ["HeightTrace", "PhaseRetrace"], note)
    img = read_afm(path)
    assert img.channel_names == ("Height", "Phase (retrace)")
    assert img.channel_units == ("nm", "deg")
    assert img.data.shape == (2, ny, nx)
    np.testing.assert_allclose(img.spacing, (2000 / 4, 3000 / 6))
    # stored line y = 0 (values 0..5 nm) is the bottom row; the top row is the last line
    np.testing.assert_allclose(img.data[0, -1], np.arange(6.0))
    np.testing.assert_allclose(img.data[0, 0], np.arange(18.0, 24.0))
    np.testing.assert_allclose(img.data[1], 12.5)
