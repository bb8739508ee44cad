"""Hybrid, global and local thresholding of particle images: accuracy, polarity, bad input."""

import numpy as np
import pytest

from napari_sciseg.data import tem_particles
from napari_sciseg.segment import (
    detect_polarity,
    hybrid_threshold,
    segment_particles,
    threshold_global,
    threshold_local,
)


def jsc(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.mark.parametrize("mode, expected", [("bf", "dark"), ("haadf", "bright")])
@pytest.mark.parametrize("size_range", [(2.0, 5.0), (5.0, 15.0)])
def test_polarity_is_detected_in_both_modes(mode, expected, size_range):
    for contrast in ("high", "low"):
        image = tem_particles(mode, shape=(256, 256), contrast=contrast, size_range=size_range)
        assert detect_polarity(image) == expected


@pytest.mark.parametrize(
    "mode, contrast, target", [("bf", "high", 0.85), ("bf", "mid", 0.8), ("haadf", "high", 0.9),
                               ("haadf", "mid", 0.88)]
)  # fmt: skip
def test_hybrid_jsc_on_seeded_samples(mode, contrast, target):
    scores = {"hybrid": [], "otsu": [], "local": []}
    for seed in (0, 1):
        image, truth = tem_particles(
            mode, shape=(256, 256), contrast=contrast, seed=seed, return_truth=True
        )
        for method in scores:
            scores[method].append(jsc(segment_particles(image, method=method), truth.mask))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["hybrid"] >= target, mean
    assert mean["hybrid"] > mean["local"] + 0.1, mean
    assert mean["hybrid"] >= mean["otsu"] - 0.01, mean


def test_intensity_affine_invariance_and_explicit_polarity():
    image, truth = tem_particles("bf", shape=(192, 192), seed=3, return_truth=True)
    a = hybrid_threshold(image)
    b = hybrid_threshold(image.astype(np.float64) * 3.5 + 100)
    assert (a == b).mean() > 0.999
    inverted = hybrid_threshold(image.max() - image.astype(np.float64))  # now bright particles
    assert jsc(inverted, truth.mask) > 0.8
    assert jsc(hybrid_threshold(image, polarity="dark"), a) > 0.99
    assert jsc(hybrid_threshold(image, polarity="bright"), truth.mask) < 0.3


def test_given_particle_size_matches_estimate():
    image, truth = tem_particles("haadf", shape=(192, 192), seed=4, return_truth=True)
    size_px = float(np.median(truth.diameters_nm) / truth.pixel_size)
    assert jsc(hybrid_threshold(image, particle_size=size_px), truth.mask) > 0.85


def test_no_particles_gives_empty_mask():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    support = 150 * (1 + 0.2 * xx / 256)  # a gradient, no particles
    image = rng.poisson(support).astype(np.uint16)
    assert not hybrid_threshold(image).any()
    # Otsu alone splits pure noise in two: the known weakness of a global threshold
    assert threshold_global(image).mean() > 0.1


def test_constant_image_warns_and_is_empty():
    with pytest.warns(UserWarning, match="constant"):
        mask = hybrid_threshold(np.full((64, 64), 7, np.uint16))
    assert mask.shape == (64, 64) and not mask.any()


def test_nan_pixels_are_filled_with_a_warning():
    image, truth = tem_particles("haadf", shape=(128, 128), seed=5, return_truth=True)
    image = image.astype(np.float32)
    image[10:14, 10:14] = np.nan
    with pytest.warns(UserWarning, match="16 NaN"):
        mask = hybrid_threshold(image)
    assert jsc(mask, truth.mask) > 0.8
    with pytest.raises(ValueError, match="only NaN"):
        hybrid_threshold(np.full((32, 32), np.nan))


@pytest.mark.parametrize(
    "image, kwargs, error, match",
    [
        (np.zeros((64, 64, 3)), {}, ValueError, "RGB"),
        (np.zeros((5, 64, 64)), {}, ValueError, "2D.*slice"),
        (np.zeros((64, 64), bool), {}, TypeError, "numeric"),
        (np.zeros((4, 64)), {}, ValueError, "at least 8x8"),
        (np.zeros((64, 64)), {"polarity": "white"}, ValueError, "'auto', 'dark', 'bright'"),
        (np.zeros((64, 64)), {"particle_size": 0}, ValueError, "particle_size must be > 0"),
        (np.zeros((64, 64)), {"window_factor": -1}, ValueError, "window_factor"),
    ],
)
def test_bad_input_messages(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        hybrid_threshold(image, **kwargs)


def test_methods_by_name():
    image = tem_particles("haadf", shape=(96, 96), seed=6)
    np.testing.assert_array_equal(segment_particles(image, method="otsu"), threshold_global(image))
    np.testing.assert_array_equal(segment_particles(image, method="local"), threshold_local(image))
    with pytest.raises(ValueError, match="'hybrid', 'otsu', 'local'"):
        segment_particles(image, method="li")
