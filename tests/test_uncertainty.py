"""Annotation suggestions: the most uncertain regions come first, labeled regions are skipped."""

import numpy as np
import pytest

from napari_sciseg.uncertainty import suggest_regions


def _map3d():
    unc = np.random.default_rng(0).uniform(0, 0.01, (40, 64, 64)).astype(np.float32)
    unc[5:10, 40:50, 3:9] = 0.5
    unc[30:33, 2:6, 50:60] = 0.3
    return unc


def test_tiles_rank_3d_and_points_inside():
    unc = _map3d()
    s = suggest_regions(unc, n=3, size=16)
    assert s.boxes.shape == (3, 2, 3) and s.points.shape == (3, 3)
    assert s.boxes[0].tolist() == [[0, 32, 0], [16, 48, 16]]
    assert tuple(s.points[0]) >= (5, 40, 3) and unc[tuple(s.points[0])] == 0.5
    assert np.all(np.diff(s.scores) <= 0)
    for box, pt in zip(s.boxes, s.points):
        assert np.all(box[0] <= pt) and np.all(pt < box[1])


def test_components_and_labeled_regions_skipped():
    unc = _map3d()
    s = suggest_regions(unc, n=2, mode="components", quantile=0.998)
    assert s.boxes[0].tolist() == [[5, 40, 3], [10, 50, 9]]
    assert s.boxes[1].tolist() == [[30, 2, 50], [33, 6, 60]]
    labels = np.zeros(unc.shape, np.uint8)
    labels[5:10, 40:50, 3:9] = 2
    s2 = suggest_regions(unc, n=1, mode="components", quantile=0.998, labels=labels)
    assert s2.boxes[0].tolist() == [[30, 2, 50], [33, 6, 60]]
    s3 = suggest_regions(unc, n=1, size=16, labels=labels)
    assert s3.boxes[0].tolist() != [[0, 32, 0], [16, 48, 16]]


def test_prediction_like_input_and_empty():
    class P:
        uncertainty = np.zeros((20, 20), np.float32)

    assert len(suggest_regions(P(), n=3)) == 0


def test_errors():
    with pytest.raises(ValueError, match="Unknown mode 'blobs'"):
        suggest_regions(np.zeros((8, 8)), mode="blobs")
    with pytest.raises(ValueError, match="must be 2D or 3D"):
        suggest_regions(np.zeros(8))
    with pytest.raises(ValueError, match="n must be at least 1"):
        suggest_regions(np.zeros((8, 8)), n=0)
    with pytest.raises(ValueError, match="labels shape"):
        suggest_regions(np.zeros((8, 8)), labels=np.zeros((8, 9)))
