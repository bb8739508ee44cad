"""size_particles: the one workflow behind the CLI and the widget; its bad-input messages."""

import warnings

import numpy as np
import pytest

from napari_sciseg.data import tem_particles
from napari_sciseg.measure import size_particles


@pytest.fixture(scope="module")
def haadf():
    return tem_particles("haadf", shape=(160, 160), seed=2)


def test_user_spacing_wins_over_calibration_and_is_stated(haadf):
    res = size_particles(haadf, spacing=0.25, calibration=((0.5, 0.5), "nm", "OME"))
    assert res.spacing.spacing == (0.25, 0.25) and res.psd.calibration == "user"
    res = size_particles(haadf, calibration=((0.5, 0.5), "nm", "OME"))
    assert res.spacing.spacing == (0.5, 0.5) and res.psd.calibration == "file (OME)"
    res = size_particles(haadf, calibration=((0.5, 0.5), "µm", "ImageJ"))
    assert res.spacing.spacing == (500.0, 500.0) and res.particles.unit == "nm"


def test_missing_pixel_size_sizes_in_pixels_with_a_note(haadf):
    with pytest.warns(UserWarning, match="no pixel size"):
        res = size_particles(haadf)
    assert res.particles.unit == "px" and any("no pixel size" in n for n in res.notes)


@pytest.mark.parametrize("bad", [0.0, -0.2, float("nan")])
def test_non_positive_pixel_size_is_refused(haadf, bad):
    with pytest.raises(ValueError, match="spacing .pixel size. must be > 0"):
        size_particles(haadf, spacing=bad)


def test_rgb_is_converted_and_noted(haadf):
    rgb = np.repeat(haadf[..., None], 3, axis=-1)
    res = size_particles(rgb, spacing=0.2)
    gray = size_particles(haadf.astype(np.float32), spacing=0.2)
    assert "RGB converted" in res.notes[0] and res.psd.count == pytest.approx(gray.psd.count, abs=2)


def test_stack_is_refused():
    with pytest.raises(ValueError, match="one 2D .Y, X. image.*each slice"):
        size_particles(np.zeros((5, 32, 32)), spacing=0.2)


def test_constant_and_empty_images_give_no_particles():
    with pytest.warns(UserWarning, match="constant"):
        res = size_particles(np.full((64, 64), 7.0), spacing=0.2)
    assert res.particles.count == 0 and res.psd.count == 0
    noise = np.random.default_rng(0).poisson(100.0, (128, 128)).astype(np.float32)
    for method in ("hybrid", "edge"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = size_particles(noise, spacing=0.2, method=method)
        assert res.psd.count == 0  # a few noise specks may be found, none enters the PSD


def test_nan_pixels_are_filled_with_a_warning(haadf):
    img = haadf.astype(np.float32)
    img[10:14, 10:14] = np.nan
    with pytest.warns(UserWarning, match="NaN"):
        res = size_particles(img, spacing=0.2)
    assert res.psd.count > 0 and any("NaN" in n for n in res.notes)


def test_model_must_be_a_segmenter(haadf):
    with pytest.raises(TypeError, match="particle_segmenter"):
        size_particles(haadf, spacing=0.2, model="m.sciseg")
    res = size_particles(haadf, spacing=0.2, model=lambda im: im > np.percentile(im, 90))
    assert res.method == "model" and res.particles.count > 0
    with pytest.raises(ValueError, match="model returned shape"):
        size_particles(haadf, spacing=0.2, model=lambda im: im[:10])


def test_split_touching_is_reported_in_the_psd():
    yy, xx = np.mgrid[:80, :120]
    image = np.zeros((80, 120), np.float32)
    for c in (45, 74):
        image += np.sqrt(np.clip(15.0**2 - (yy - 40) ** 2 - (xx - c) ** 2, 0, None))
    image = np.random.default_rng(1).poisson(20 + 8 * image).astype(np.float32)
    res = size_particles(image, spacing=0.2, method="edge", split_touching=True)
    assert res.psd.n_split == 2 and res.rejected == {}
