"""Sparse label checks and the pixel-level train/validation split."""

import numpy as np
import pytest

from napari_sciseg.annotation import check_labels, class_counts, split_labels
from napari_sciseg.data.scribbles import scribbles_2d


def test_split_is_disjoint_complete_and_seeded(rng):
    labels = rng.integers(0, 4, size=(40, 50)).astype(np.uint8)
    train, val = split_labels(labels, val_fraction=0.25, seed=3)
    assert not np.any((train > 0) & (val > 0))
    np.testing.assert_array_equal(train + val, labels)
    for k, n in enumerate(class_counts(labels, 3), start=1):
        assert abs(int((val == k).sum()) - round(0.25 * n)) <= 1
    again = split_labels(labels, val_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(split_labels(labels, val_fraction=0.25, seed=4)[1], val)


def test_rare_class_is_in_both_sets():
    labels = np.zeros((10, 10), np.uint8)
    labels[0, :50 // 10] = 1
    labels[5, 5], labels[6, 6] = 2, 2
    train, val = split_labels(labels, val_fraction=0.1, seed=0)
    assert (train == 2).sum() == 1 and (val == 2).sum() == 1


def test_no_validation():
    labels = np.array([[1, 2, 0]])
    train, val = split_labels(labels, val_fraction=0.0)
    assert not val.any() and np.array_equal(train, labels)


def test_bad_fraction():
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\); got 1.0"):
        split_labels(np.ones((2, 2), int), val_fraction=1.0)


def test_check_labels_errors():
    with pytest.raises(TypeError, match="labels must be an integer array"):
        check_labels(np.ones((2, 2)))
    with pytest.raises(ValueError, match="must be >= 0"):
        check_labels(np.array([[-1, 1, 2]]))
    assert check_labels(np.array([[0, 1, 3]]), n_classes=3) == 3


def test_stray_label_value_is_refused_unless_declared():
    labels = np.zeros((20, 20), np.uint8)
    labels[:5] = 1
    labels[10:12] = 2
    labels[19, :3] = 7  # a slip of the brush
    with pytest.raises(
        ValueError,
        match=r"labels use value 7, which would make a 7-class model, but classes \[3, 4, 5, 6\] "
        r"are never painted; values found \(value: pixels\): 1: 100 px, 2: 40 px, 7: 3 px\. "
        r"If 7 classes are meant, declare them in class_names",
    ):
        check_labels(labels)
    assert check_labels(labels, n_classes=7) == 7
    with pytest.raises(ValueError, match=r"only 3 classes are declared.*7: 3 px"):
        check_labels(labels, n_classes=3)


def test_scribbles_sample_is_sparse_and_consistent():
    image, scribbles, truth = scribbles_2d(seed=5, return_truth=True)
    assert image.shape == scribbles.shape == truth.shape == (256, 256)
    assert 0.003 < (scribbles > 0).mean() < 0.05
    assert truth[scribbles == 2].all() and not truth[scribbles == 1].any()
    again = scribbles_2d(seed=5)
    np.testing.assert_array_equal(again[1], scribbles)
