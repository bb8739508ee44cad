import numpy as np
import pytest

from napari_sciseg.io import read_image

rsciio_emd = pytest.importorskip("rsciio.emd")
pytest.importorskip("h5py")


def _signal(data, scale, units):
    axes = [
        {"name": n, "scale": scale, "units": units, "offset": 0.0, "size": s, "navigate": False}
        for n, s in zip("yx", data.shape)
    ]
    return {
        "data": data,
        "axes": axes,
        "metadata": {"General": {"title": "particles"}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
    }


def test_emd_written_by_rosettasciio_reads_with_nm_calibration(tmp_path):
    data = np.random.default_rng(1).random((20, 30)).astype(np.float32)
    path = tmp_path / "scan.emd"
    rsciio_emd.file_writer(str(path), _signal(data, 0.021, "µm"))
    image = read_image(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.spacing == pytest.approx((21.0, 21.0))
    assert image.unit == "nm" and image.calibrated
    assert image.source.startswith("rosettasciio")


def test_emd_without_length_unit_is_uncalibrated(tmp_path):
    data = np.zeros((8, 8), np.float32)
    path = tmp_path / "raw.emd"
    rsciio_emd.file_writer(str(path), _signal(data, 1.0, ""))
    image = read_image(path)
    assert image.spacing == (1.0, 1.0) and not image.calibrated


def test_corrupt_dm4_names_the_file(tmp_path):
    bad = tmp_path / "broken.dm4"
    bad.write_bytes(b"\x00\x00\x00\x04 not a dm file")
    with pytest.raises(ValueError, match="broken.dm4"):
        read_image(bad)
