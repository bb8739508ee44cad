"""PSD distances and fiber matching: analytic cases."""

import numpy as np
import pytest

from napari_sciseg.evaluate import fiber_scores, particle_scores, psd_distances


def test_psd_distances_analytic():
    d = psd_distances([11.0, 22.0], [10.0, 20.0], unit="nm")
    assert d.mean_error == pytest.approx(0.1) and d.median_error == pytest.approx(0.1)
    assert d.ks == pytest.approx(0.5) and d.unit == "nm"
    assert psd_distances([], [5.0]).ks == 1.0
    with pytest.raises(ValueError, match="truth holds no particle"):
        psd_distances([1.0], [])


def _disks(shape, centers, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    m = np.zeros(shape, bool)
    for cy, cx in centers:
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return m


def test_particle_scores_same_and_grown():
    centers = [(20, 20), (20, 60), (60, 20), (60, 60)]
    truth = _disks((80, 80), centers, 8)
    same = particle_scores(truth, truth, spacing=0.5, unit="nm")
    assert same.ks == 0 and same.mean_error == 0 and same.n_true == 4
    grown = particle_scores(_disks((80, 80), centers, 10), truth, spacing=0.5)
    assert grown.mean_error == pytest.approx(0.25, abs=0.03)  # radius 10 vs 8
    assert grown.ks == 1.0


def test_fiber_scores_find_the_fibers_and_errors():
    truth = np.zeros((30, 30, 60), bool)
    truth[5:8, 5:8, 5:55] = True  # along x
    truth[20:23, 5:55, 20:23] = True  # along y
    pred = truth.copy()
    pred[20:23, 5:55, 20:23] = False  # one missed
    m = fiber_scores(pred, truth, min_size=10)
    assert (m.n_true, m.n_pred, m.n_matched) == (2, 1, 1)
    assert m.recall == 0.5 and m.precision == 1.0
    assert m.median_length_error == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="needs 3D"):
        fiber_scores(truth[0], truth[0])
