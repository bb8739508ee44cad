"""Fiber figures: length histogram and Hammer maps (no pyplot, no show)."""

import numpy as np
import pytest

from napari_sciseg.measure import autocorrelation_shell
from napari_sciseg.plot.fibers import hammer_axes_data, length_histogram, orientation_figure


def test_length_histogram_with_truth(tmp_path):
    fig = length_histogram(np.array([10.0, 11.0, 30.0]), unit="µm", truth=np.array([10.0, 30.0]))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "end-to-end length (µm)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "measured (n=3)" and labels[1] == "true (n=2)"
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert length_histogram(np.zeros(0)).axes  # no fibers: an empty plot, no crash


def test_orientation_figure_panels():
    mask = np.zeros((30, 30, 30), bool)
    mask[14:16, 14:16, 3:27] = True
    shell = autocorrelation_shell(mask, 6.0, n_directions=500)
    dirs = np.array([[0.0, 0.0, 1.0], [0.1, 0.1, 0.99]])
    fig = orientation_figure(shell=shell, directions=dirs, truth_directions=dirs)
    hammers = [a for a in fig.axes if a.name == "hammer"]
    assert len(hammers) == 2
    assert "autocorrelation" in hammers[0].get_title()
    assert "n = 2" in hammers[1].get_title()
    lon, lat, values = hammer_axes_data(shell, n_lat=30)
    # the brightest cell of the map is at the equator near +-x
    i, j = np.unravel_index(np.argmax(values), values.shape)
    assert abs(lat[i]) < 0.2 and min(abs(lon[j]), np.pi - abs(lon[j])) < 0.2
    with pytest.raises(ValueError, match="needs shell=..., directions=..."):
        orientation_figure()
