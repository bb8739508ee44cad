"""Split-conformal calibration: coverage on synthetic calibration sets, sets, errors."""

import numpy as np
import pytest

from napari_sciseg.dl.conformal import (
    ConformalCalibration,
    calibrate_probabilities,
    conformal_threshold,
)


def _synthetic(n, k=3, seed=0, temperature=1.0):
    """Probabilities and labels drawn from them (sharpened by 1/temperature: miscalibrated)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.6), size=n).T.astype(np.float32)  # (K, n)
    q = p ** (1 / temperature)
    q /= q.sum(0)
    labels = np.array([rng.choice(k, p=q[:, i]) for i in range(n)]) + 1
    return p, labels


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_coverage_within_3_percent(alpha, temperature):
    mean, labels = _synthetic(24000, temperature=temperature, seed=int(alpha * 100))
    cal = calibrate_probabilities(mean[:, :4000], labels[:4000], alpha=alpha)
    coverage = cal.coverage(mean[:, 4000:], labels[4000:])
    assert abs(coverage - (1 - alpha)) < 0.03
    assert cal.n_calibration == 4000 and len(set(cal.thresholds)) == 1


def test_per_class_coverage_holds_for_each_class():
    mean, labels = _synthetic(24000, temperature=0.5, seed=3)
    cal = calibrate_probabilities(mean[:, :6000], labels[:6000], alpha=0.1, per_class=True)
    for c in (1, 2, 3):
        test = np.where(labels[6000:] == c, c, 0)
        assert abs(cal.coverage(mean[:, 6000:], test) - 0.9) < 0.03


def test_sets_classify_and_spatial_shapes():
    mean, labels = _synthetic(2000, k=2, seed=1)
    cal = calibrate_probabilities(mean.reshape(2, 40, 50), labels.reshape(40, 50), alpha=0.1)
    img = mean.reshape(2, 40, 50)
    sets = cal.prediction_sets(img)
    assert sets.shape == (2, 40, 50) and sets.dtype == bool
    seg = cal.classify(img)
    sure = sets.sum(0) == 1
    np.testing.assert_array_equal(seg[sure], sets.argmax(0)[sure] + 1)
    assert (seg[~sure] == 0).all()
    np.testing.assert_array_equal(cal.set_size(img), sets.sum(0))


def test_threshold_rank_and_errors():
    # n = 9 scores 0.1..0.9, alpha = 0.2: rank ceil(10 * 0.8) = 8 -> 0.8
    assert conformal_threshold(np.arange(1, 10) / 10, 0.2) == pytest.approx(0.8)
    assert conformal_threshold(np.arange(1, 10) / 10, 0.01) == 1.0  # too few pixels: full sets
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        conformal_threshold(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="No calibration pixels"):
        calibrate_probabilities(np.full((2, 4, 4), 0.5), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match=r"labels must be 0 \(none\) or 1..2"):
        calibrate_probabilities(np.full((2, 4, 4), 0.5), np.full((4, 4), 3))
    with pytest.raises(ValueError, match="does not match the spatial shape"):
        calibrate_probabilities(np.full((2, 4, 4), 0.5), np.ones((4, 5), int))
    cal = ConformalCalibration(alpha=0.1, thresholds=(0.5, 0.5), n_calibration=10)
    with pytest.raises(ValueError, match="mean has 3 classes"):
        cal.prediction_sets(np.full((3, 2, 2), 1 / 3))


def test_trained_ensemble_calibrate_suggest_and_reload(tmp_path):
    """Real training (seconds): calibration re-draws the validation split; save -> load -> same."""
    pytest.importorskip("torch")
    from napari_sciseg.data import scribbles_2d
    from napari_sciseg.dl import calibrate, load_model, predict, save_model, train
    from napari_sciseg.uncertainty import suggest_regions

    image, scribbles = scribbles_2d(shape=(80, 80))
    trained = train(image, scribbles, members=2, steps=4, crop=32, seed=0, device="cpu",
                    model_kwargs={"depth": 3, "dilations": (1, 2)})
    result = predict(trained, image, tile=40)
    assert result.mean.shape == (2, 80, 80) and float(result.std.max()) > 0
    cal = calibrate(trained, image, scribbles, alpha=0.2, prediction=result)
    assert 0 < cal.n_calibration < np.count_nonzero(scribbles)
    assert cal.prediction_sets(result.mean).any(axis=0).mean() > 0.5
    suggestions = suggest_regions(result, n=3, size=32, labels=scribbles)
    assert 1 <= len(suggestions) <= 3
    save_model(trained, tmp_path / "m.sciseg")
    again = predict(load_model(tmp_path / "m.sciseg"), image)
    np.testing.assert_allclose(again.mean, result.mean, atol=1e-5)
