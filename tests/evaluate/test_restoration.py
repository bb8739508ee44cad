"""Restoration scores and classical baselines."""

import numpy as np
import pytest

from napari_sciseg.evaluate.restoration import (
    denoise_classical,
    inpaint_classical,
    restoration_scores,
)


def test_scores_analytic():
    truth = np.linspace(0, 1, 100).reshape(10, 10)
    mask = np.zeros_like(truth, bool)
    mask[:, :2] = True
    out = truth.copy()
    out[mask] += 0.1
    s = restoration_scores(out, truth, mask=mask)
    assert s.l1 == pytest.approx(0.1) and s.pearson_r == pytest.approx(1.0)
    assert s.n_pixels == 20
    assert s.psnr == pytest.approx(10 * np.log10(1 / (0.01 * 0.2)))
    with pytest.raises(ValueError, match="mask selects no pixel"):
        restoration_scores(out, truth, mask=np.zeros_like(mask))
    with pytest.raises(ValueError, match="does not match"):
        restoration_scores(out[:5], truth)


def test_biharmonic_changes_only_the_mask_and_log_mode():
    y, x = np.mgrid[0:32, 0:32]
    image = np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / 200.0) * 1000
    mask = np.zeros(image.shape, bool)
    mask[14:17] = True
    out = inpaint_classical(np.where(mask, 0, image), mask, log=True)
    np.testing.assert_array_equal(out[~mask], image[~mask].astype(np.float32))
    assert np.abs(out[mask] - image[mask]).max() / image.max() < 0.02  # 1.4% at the edges
    with pytest.raises(ValueError, match="covers every pixel"):
        inpaint_classical(image, np.ones_like(mask))


@pytest.mark.parametrize("method", ["gaussian", "nlm"])
def test_tuned_classical_denoisers_beat_the_noise(method, rng):
    truth = np.tile(np.sin(np.linspace(0, 3, 32)), (32, 1))
    noisy = truth + rng.normal(0, 0.2, truth.shape)
    out, strength = denoise_classical(noisy, truth, method=method)
    assert strength > 0
    assert np.mean((out - truth) ** 2) < np.mean((noisy - truth) ** 2) / 3


def test_unknown_baseline_lists_the_valid_ones():
    with pytest.raises(ValueError, match="expected one of 'gaussian', 'nlm'"):
        denoise_classical(np.zeros((8, 8)), np.zeros((8, 8)), method="bm3d")
