"""Held-out whole strokes: spatially apart from the training scribbles."""

import numpy as np
import pytest
from scipy import ndimage

from napari_sciseg.annotation import split_by, split_labels, split_strokes


def three_strokes_per_class():
    labels = np.zeros((40, 40), np.uint8)
    for row in (3, 13, 23):
        labels[row, 5:35] = 1
        labels[row + 5, 5:35] = 2
    return labels


def test_whole_strokes_held_out_and_disjoint():
    labels = three_strokes_per_class()
    train, val = split_strokes(labels, val_fraction=0.3, seed=1)
    assert not np.any((train > 0) & (val > 0))
    np.testing.assert_array_equal(train + val, labels)  # several strokes: nothing dropped
    for cls in (1, 2):
        strokes, n = ndimage.label(labels == cls)
        held = [i for i in range(1, n + 1) if (val[strokes == i] == cls).any()]
        assert len(held) == 1  # about 30 % of three equal strokes
        assert (val[strokes == held[0]] == cls).all()  # whole, never part of a stroke
    again = split_strokes(labels, val_fraction=0.3, seed=1)
    np.testing.assert_array_equal(again[1], val)


def test_single_stroke_cut_with_a_gap():
    labels = np.zeros((10, 50), np.uint8)
    labels[2, 0:40] = 1
    labels[7, 0:40] = 2
    train, val = split_strokes(labels, val_fraction=0.25, seed=0, gap=4)
    for cls in (1, 2):
        cols_val = np.nonzero(val == cls)[1]
        cols_train = np.nonzero(train == cls)[1]
        assert len(cols_val) == 10 and len(cols_train) == 26  # 40 = 10 held + 4 gap + 26
        gap = min(abs(cols_val[:, None] - cols_train[None, :]).ravel())
        assert gap > 4  # no held-out pixel next to a training pixel


def test_held_out_pixels_are_far_from_training_ones_unlike_a_pixel_split():
    labels = three_strokes_per_class()
    dist = lambda train, val: ndimage.distance_transform_edt(train == 0)[val > 0]  # noqa: E731
    by_pixel = dist(*split_labels(labels, val_fraction=0.3, seed=0))
    by_stroke = dist(*split_strokes(labels, val_fraction=0.3, seed=0))
    assert np.median(by_pixel) <= 1.0 and by_stroke.min() >= 5.0


def test_split_by_names_the_valid_choices():
    labels = three_strokes_per_class()
    np.testing.assert_array_equal(split_by(labels, "strokes", seed=2)[1],
                                  split_strokes(labels, seed=2)[1])
    with pytest.raises(ValueError, match="expected one of 'pixels', 'strokes'"):
        split_by(labels, "blocks")
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        split_strokes(labels, val_fraction=1.0)
    train, val = split_strokes(labels, val_fraction=0.0)
    assert not val.any() and np.array_equal(train, labels)
