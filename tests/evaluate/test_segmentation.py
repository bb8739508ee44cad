"""Segmentation scores on cases with analytic answers."""

import numpy as np
import pytest

from napari_sciseg.evaluate import (
    boundary_f_score,
    check_same_grid,
    instance_f1,
    segmentation_scores,
)


def _squares():
    truth = np.zeros((40, 40), np.uint8)
    truth[5:15, 5:15] = 1
    truth[22:34, 20:32] = 2
    return truth


def test_a_mask_against_itself_scores_one():
    truth = _squares()
    s = segmentation_scores(truth, truth)
    for row in s.table:
        assert row["iou"] == row["dice"] == row["precision"] == row["recall"] == 1.0
        assert row["boundary_f"] == 1.0
    assert s.mean_iou == 1.0 and s.instance_f1 == 1.0 and s.pixel_accuracy == 1.0


def test_one_pixel_shift_gives_the_known_boundary_f_score():
    # an n x n square shifted by one pixel: with zero tolerance the two edges along the
    # shift coincide (2(n-1) of the 4n-4 boundary pixels) -> P = R = F = 1/2
    truth = np.zeros((30, 30), bool)
    truth[5:15, 5:15] = True
    shifted = np.roll(truth, 1, axis=1)
    assert boundary_f_score(shifted, truth, tolerance=0) == pytest.approx(0.5)
    assert boundary_f_score(shifted, truth, tolerance=1) == pytest.approx(1.0)
    # IoU of the shifted square: 9*10 / 11*10
    s = segmentation_scores(shifted, truth, tolerance=0)
    fg = [r for r in s.table if r["class"] == 1][0]
    assert fg["iou"] == pytest.approx(90 / 110)
    assert fg["dice"] == pytest.approx(180 / 200)
    assert fg["boundary_f"] == pytest.approx(0.5)
    assert fg["instance_f1"] == 1.0  # IoU 0.82 > 0.5


def test_boundary_tolerance_is_in_physical_units():
    truth = np.zeros((30, 30), bool)
    truth[5:15, 5:15] = True
    shifted = np.roll(truth, 1, axis=1)
    # a pixel of 0.5 nm: the shift is 0.5 nm, within 0.5 nm but not within 0.4 nm
    assert boundary_f_score(shifted, truth, tolerance=0.5, spacing=0.5) == 1.0
    assert boundary_f_score(shifted, truth, tolerance=0.4, spacing=0.5) == pytest.approx(0.5)


def test_instance_f1_counts_split_and_missed_objects():
    truth = np.zeros((20, 20), bool)
    truth[2:6, 2:6] = truth[10:14, 10:14] = True
    pred = truth.copy()
    pred[10:14, 10:14] = False  # missed
    pred[16:18, 2:4] = True  # false positive
    assert instance_f1(pred, truth) == (2, 2, 1)
    s = segmentation_scores(pred.astype(np.uint8), truth.astype(np.uint8))
    assert s.instance_f1 == pytest.approx(0.5)


def test_per_class_precision_recall_3d():
    truth = np.zeros((4, 10, 10), np.uint8)
    truth[:, :5] = 1
    pred = np.zeros_like(truth)
    pred[:, :4] = 1
    s = segmentation_scores(pred, truth, background=None)
    one = [r for r in s.table if r["class"] == 1][0]
    assert one["precision"] == 1.0 and one["recall"] == pytest.approx(0.8)


def test_sparse_truth_ignores_unlabeled_pixels():
    truth = np.zeros((10, 10), np.uint8)
    truth[0, :] = 1
    truth[9, :] = 2
    pred = np.ones_like(truth)
    pred[5:] = 2
    s = segmentation_scores(pred, truth, ignore=0)
    assert [r["class"] for r in s.table] == [1, 2]
    assert s.mean_iou == 1.0 and np.isnan(s.instance_f1)


def test_different_shapes_or_spacings_are_refused():
    with pytest.raises(ValueError, match="differ in shape.*prediction \\(4, 4\\), truth \\(4, 5"):
        segmentation_scores(np.zeros((4, 4), int), np.zeros((4, 5), int))
    with pytest.raises(ValueError, match="differ in pixel size"):
        check_same_grid((4, 4), (4, 4), (1.0, 1.0), (2.0, 2.0))
    with pytest.raises(TypeError, match="class map of integers"):
        segmentation_scores(np.full((4, 4), 0.3), np.zeros((4, 4), int))


def test_to_csv(tmp_path):
    truth = _squares()
    path = segmentation_scores(truth, truth, class_names={1: "a", 2: "b"}).to_csv(
        tmp_path / "r.csv")
    text = path.read_text().splitlines()
    assert text[0].startswith("class,name,iou,dice")
    assert text[2].startswith("1,a,1,1") and text[-1].startswith("all,mean,1")
