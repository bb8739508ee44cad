"""Autocorrelation on a sphere and per-fiber direction densities."""

import numpy as np
import pytest

from napari_sciseg.measure import autocorrelation_shell, direction_density, fibers
from napari_sciseg.measure.orientation import shell_radius, sphere_directions


def rod(shape, direction, length, radius, spacing=(1, 1, 1)):
    g = np.indices(shape).reshape(3, -1).T * np.asarray(spacing)
    center = (np.asarray(shape) - 1) * np.asarray(spacing) / 2
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    rel = g - center
    t = rel @ d
    perp = np.linalg.norm(rel - t[:, None] * d, axis=1)
    return ((np.abs(t) <= length / 2) & (perp <= radius)).reshape(shape)


@pytest.mark.parametrize("direction", [(0, 0, 1), (1, 0, 0), (0.3, -0.6, 1.0)])
def test_single_fiber_autocorrelation_peaks_along_it(direction):
    mask = rod((40, 40, 40), direction, 30, 2.0)
    shell = autocorrelation_shell(mask, 8.0, n_directions=3000)
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    angle = np.degrees(np.arccos(min(1.0, abs(float(shell.peak @ d)))))
    assert angle < 5
    # centrosymmetric: the value at d equals the value at -d
    plus = shell.values[np.argmax(shell.directions @ d)]
    minus = shell.values[np.argmax(shell.directions @ -d)]
    assert plus == pytest.approx(minus, abs=0.05)
    # along the fiber 1 - r/L of the voxels stay inside, times the edge correction of a
    # stationary estimator (pairs at lag r in the box: prod(n - |r_i|)); across, none
    edge = 40**3 / np.prod(40 - np.abs(8 * d))
    # (the nearest lattice direction is a few degrees off the axis of a thin rod: a bit less)
    expected = min(1.0, (1 - 8 / 30) * edge)
    assert 0.8 * expected < plus < expected + 0.05
    assert shell.values.min() == pytest.approx(0.0, abs=1e-3)


def test_autocorrelation_respects_spacing():
    # a fiber along z sampled at 2 units per slice: in physical space it still points along z
    spacing = (2.0, 1.0, 1.0)
    mask = rod((24, 40, 40), (1, 0, 0), 40, 2.5, spacing=spacing)
    shell = autocorrelation_shell(mask, 8.0, spacing=spacing)
    assert abs(shell.peak[0]) > 0.98


def test_default_radius_is_a_third_of_the_shortest_fiber():
    mask = rod((40, 40, 40), (0, 0, 1), 36, 1.5) | rod((40, 40, 40), (0, 1, 0), 30, 1.5)
    res = fibers(mask)
    expected = np.percentile(res.table["length"], 10) / 3
    assert expected > 2 * np.median(res.table["radius"]) + 1
    assert autocorrelation_shell(mask).radius == pytest.approx(expected)
    # fragments do not shrink it below a fiber's cross-section
    assert shell_radius(np.array([4.0, 40.0]), np.array([2.0, 2.0])) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="no fiber"):
        shell_radius(np.zeros(0), np.zeros(0))


def test_autocorrelation_bad_inputs():
    with pytest.raises(ValueError, match="needs a 3D volume"):
        autocorrelation_shell(np.ones((10, 10), bool), 3)
    with pytest.raises(ValueError, match="mask is empty"):
        autocorrelation_shell(np.zeros((10, 10, 10), bool), 3)
    with pytest.raises(ValueError, match="too large"):
        autocorrelation_shell(np.ones((10, 10, 10), bool), 30)
    with pytest.raises(ValueError, match="positive length"):
        autocorrelation_shell(np.ones((10, 10, 10), bool), -1)
    with pytest.raises(ValueError, match="n_directions must be >= 1"):
        sphere_directions(0)


def test_direction_density_integrates_to_one_and_is_axial():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(50, 3)) * (0.3, 0.6, 1.0)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    lon, lat, dens = direction_density(d, bandwidth=12)
    cell = (lon[1] - lon[0]) * (lat[1] - lat[0]) * np.cos(lat)[:, None]
    assert float((dens * cell).sum()) == pytest.approx(1.0, abs=0.01)
    _, _, flipped = direction_density(-d, bandwidth=12)
    np.testing.assert_allclose(dens, flipped, atol=1e-12)
    # peak near +-x, the mean axis of this distribution
    i, j = np.unravel_index(np.argmax(dens), dens.shape)
    assert abs(np.cos(lat[i]) * np.cos(lon[j])) > 0.9
    weighted = direction_density(d, weights=np.arange(50.0), bandwidth=12)[2]
    assert not np.allclose(weighted, dens)


def test_direction_density_edge_cases():
    lon, lat, dens = direction_density(np.zeros((0, 3)))
    assert dens.shape == (90, 180) and not dens.any()
    with pytest.raises(ValueError, match=r"\(n, 3\) unit vectors"):
        direction_density(np.ones((4, 2)))
    with pytest.raises(ValueError, match="one value per direction"):
        direction_density(np.eye(3), weights=np.ones(2))
