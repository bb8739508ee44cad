"""Is this object a fibre? Evidence, the default filter, the workflow and its bad input."""

import threading

import numpy as np
import pytest

from napari_sciseg.measure.fiber_filter import FiberFilter, filter_objects, object_evidence
from napari_sciseg.measure.fiber_workflow import (
    fiber_class_index,
    fiber_threshold,
    iter_measure_fibers,
    measure_fibers,
)


def _rod_and_pore(shape=(32, 32, 64)):
    """A rod of 3x3x40 = 360 voxels and a ball of about the same volume, apart."""
    mask = np.zeros(shape, bool)
    mask[8:11, 8:11, 10:50] = True
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    mask[(zz - 22) ** 2 + (yy - 22) ** 2 + (xx - 30) ** 2 <= 4.4**2] = True
    return mask


def test_elongated_blob_passes_and_a_round_pore_of_the_same_volume_does_not():
    mask = _rod_and_pore()
    res = measure_fibers(mask, orientation=False)
    assert res.count == 1
    assert res.row(1)["length"] == pytest.approx(40, abs=1)
    assert res.row(1)["elongation"] > 10
    assert len(res.removed["label"]) == 1
    reason = res.removed["reason"][0]
    assert reason.startswith("round: elongation 1.") and "pore" in reason
    ball = res.removed["voxels"][0]
    assert 0.8 < ball / 360 < 1.25  # same volume as the rod
    assert res.summary["removed"] == {"small": 0, "round": 1, "unsure": 0, "disputed": 0}
    # the removed object keeps its shape in its own labels
    assert int((res.removed_labels == 1).sum()) == ball


def test_evidence_of_a_cylinder_is_analytic_and_spacing_aware():
    labels = np.zeros((10, 10, 50), np.uint16)
    labels[4:6, 4:6, 5:45] = 1  # 2 x 2 x 40 voxels
    ev = object_evidence(labels, spacing=(1.0, 1.0, 0.5))
    # sqrt(l1 / l3) with l1 = 20**2 / 12 along x (0.5 spacing), l3 = 2**2 / 12 across
    assert ev["elongation"][0] == pytest.approx(10.0, rel=1e-6)
    assert ev["inertia_length"][0] == pytest.approx(20.0, rel=1e-6)
    assert ev["volume"][0] == pytest.approx(80.0)
    assert not ev["border"][0] and np.isnan(ev["mean_probability"][0])


def test_dust_is_relative_to_the_expected_fibre_volume():
    labels = np.zeros((40, 40, 80), np.uint16)
    for i in range(5):  # five rods of 4x4x40 = 640 voxels
        labels[2 + 7 * i : 6 + 7 * i, 5:9, 20:60] = i + 1
    labels[30:33, 30:33, 2:14] = 6  # an elongated fragment of 108 voxels (< 0.2 x 640)
    labels[30:35, 30:35, 62:79] = 7  # a piece of 425 voxels (> 0.2 x 640): a short fibre
    keep, reasons, expected = filter_objects(object_evidence(labels), FiberFilter())
    assert expected == pytest.approx(640)
    assert keep.tolist() == [True] * 5 + [False, True]
    assert reasons[5].startswith("small: 108 voxels, under 0.2 x the expected fibre volume")
    # a fixed size replaces the relative rule
    keep, _, expected = filter_objects(object_evidence(labels), FiberFilter(min_voxels=100))
    assert expected is None and keep.all()


def test_probability_and_std_evidence():
    labels = np.zeros((10, 10, 50), np.uint16)
    labels[2:4, 2:4, 5:45] = 1
    labels[6:8, 6:8, 5:45] = 2
    prob = np.where(labels == 1, 0.9, 0.4).astype(np.float32)
    std = np.where(labels == 1, 0.05, 0.3).astype(np.float32)
    ev = object_evidence(labels, probability=prob, std=std)
    np.testing.assert_allclose(ev["mean_probability"], [0.9, 0.4], rtol=1e-6)
    keep, reasons, _ = filter_objects(ev, FiberFilter(min_voxels=10))
    assert keep.tolist() == [True, False] and reasons[1].startswith(
        "unsure: mean fibre probability 0.40"
    )
    keep, reasons, _ = filter_objects(
        ev, FiberFilter(min_voxels=10, min_probability=0, max_std=0.2)
    )
    assert reasons[1].startswith("disputed: mean ensemble std 0.30 > 0.2")
    with pytest.raises(ValueError, match="probability must have the labels' shape"):
        object_evidence(labels, probability=prob[:5])


def test_empty_volume_gives_an_explicit_empty_result():
    res = measure_fibers(np.zeros((16, 16, 16), bool))
    assert res.count == 0 and res.labels.shape == (16, 16, 16) and not res.labels.any()
    assert res.summary["median_length"] is None and res.summary["note"] == "no fibres"
    assert res.orientation is None and res.table["length"].size == 0
    assert res.directions.shape == (0, 3)
    # a grey volume of pure noise: no fibre, not a crash
    noise = np.random.default_rng(0).normal(0.5, 0.05, (24, 24, 24)).astype(np.float32)
    assert measure_fibers(noise).count == 0


def test_polarity_is_detected_both_ways():
    rng = np.random.default_rng(1)
    v = rng.normal(0.5, 0.03, (24, 24, 60)).astype(np.float32)
    v[5:8, 5:8, 5:55] = 0.15  # a dark fibre
    zz, yy, xx = np.ogrid[:24, :24, :60]
    v[(zz - 16) ** 2 + (yy - 16) ** 2 + (xx - 30) ** 2 <= 25] = 0.9  # a bright aggregate
    assert fiber_threshold(v).polarity == "dark"
    res = measure_fibers(v, orientation=False)
    assert res.count == 1 and res.summary["polarity"] == "dark"
    flipped = fiber_threshold(1 - v)
    assert flipped.polarity == "bright" and flipped.threshold > 0.5
    assert measure_fibers(1 - v, orientation=False).count == 1


def test_class_map_and_fiber_class():
    seg = np.ones((16, 16, 48), np.uint8)
    seg[6:9, 6:9, 4:44] = 2
    assert measure_fibers(seg, fiber_class=2, orientation=False).count == 1
    with pytest.raises(ValueError, match="fiber_class 3 does not occur"):
        measure_fibers(seg, fiber_class=3)
    assert fiber_class_index(["matrix", "steel fibres"]) == 2
    assert fiber_class_index(["fiber", "fibre bundle"]) is None  # two: ambiguous
    assert fiber_class_index(None) is None


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="need a 3D volume"):
        measure_fibers(np.zeros((16, 16), bool))
    v = np.full((8, 8, 8), 0.5, np.float32)
    v[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        measure_fibers(v)
    with pytest.raises(ValueError, match="polarity"):
        measure_fibers(np.zeros((8, 8, 8), bool), polarity="grey")
    with pytest.raises(ValueError, match="min_elongation must be >= 1"):
        FiberFilter(min_elongation=0.5)


def test_cancel_stops_between_stages():
    cancel = threading.Event()
    gen = iter_measure_fibers(_rod_and_pore(), cancel=cancel)
    first = next(gen)
    assert (first.done, first.total) == (0, 6)
    cancel.set()
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    assert stop.value.value is None


def test_crossing_fibres_are_split_and_kept():
    labels = np.zeros((7, 60, 60), bool)
    labels[2:5, 28:31, 4:56] = True
    labels[2:5, 4:56, 28:31] = True
    res = measure_fibers(labels, orientation=False)
    assert res.count == 2 and res.summary["n_split"] == 1
    assert sorted(res.table["length"].round()) == [52.0, 52.0]
