"""Fiber labelling and measurement: analytic cylinders, dusting, connectivity, bad input."""

import numpy as np
import pytest

from napari_sciseg.data.fibers import fiber_volume
from napari_sciseg.measure import fibers, label_fibers, measure_labels
from napari_sciseg.measure.fibers import COLUMNS


def cylinder(shape, spacing, center, direction, length, radius):
    """Voxels whose centre lies in a flat-capped cylinder (physical units)."""
    g = np.indices(shape).reshape(3, -1).T * np.asarray(spacing)
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    rel = g - np.asarray(center)
    t = rel @ d
    perp = np.linalg.norm(rel - t[:, None] * d, axis=1)
    return ((np.abs(t) <= length / 2) & (perp <= radius)).reshape(shape)


def angle_deg(a, b):
    return float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(a, b)))))))


SPACING = (2.0, 0.8, 0.8)


@pytest.mark.parametrize("direction", [(1, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1), (0.3, 0.5, 1)])
@pytest.mark.parametrize("arc", ["centerline", "skeleton"])
def test_analytic_cylinder_with_anisotropic_spacing(direction, arc):
    shape = (40, 100, 100)
    center = np.array(shape) * SPACING / 2 + 0.3
    length, radius = 45.3, 3.0
    mask = cylinder(shape, SPACING, center, direction, length, radius)
    res = fibers(mask, spacing=SPACING, min_size=5, arc=arc)
    assert res.count == 1
    row = res.row(1)
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    # each end is known to within half a voxel (projected on the axis)
    voxel = float(np.abs(d) @ SPACING)
    assert abs(row["length"] - length) <= voxel + 0.05
    assert abs(row["arc_length"] - length) <= voxel + 1.5  # skeleton paths are rougher
    assert angle_deg(res.directions[0], d) < 0.5
    assert row["radius"] == pytest.approx(radius, rel=0.06)
    assert row["tortuosity"] >= 1.0
    assert row["volume"] == pytest.approx(mask.sum() * np.prod(SPACING))
    np.testing.assert_allclose([row["z"], row["y"], row["x"]], center, atol=0.6)
    # axial sign convention: first non-zero component positive; angles consistent
    dz, dy, dx = res.directions[0]
    assert [c for c in (dz, dy, dx) if abs(c) > 1e-9][0] > 0
    assert row["polar"] == pytest.approx(np.degrees(np.arccos(abs(dz))), abs=1e-6)
    assert row["azimuth"] == pytest.approx(np.degrees(np.arctan2(dy, dx)), abs=1e-6)


@pytest.mark.parametrize("direction", [(0, 0, 1), (0.2, 0.3, 1)])
def test_length_is_unbiased_over_subvoxel_shifts(direction):
    # axis-aligned: each end errs uniformly in +-s/2, so the mean error vanishes
    errors = []
    for shift in np.linspace(0, 1, 8, endpoint=False):
        mask = cylinder((24, 24, 70), (1, 1, 1), (12, 12, 35 + shift), direction, 50.0, 2.5)
        errors.append(fibers(mask, min_size=5).row(1)["length"] - 50.0)
    assert abs(np.mean(errors)) < 0.15
    assert np.median(np.abs(errors)) <= 0.5


def test_lengths_scale_with_spacing():
    mask = cylinder((20, 20, 60), (1, 1, 1), (10, 10, 30), (0.2, 0.1, 1), 40, 2.5)
    a = fibers(mask, spacing=1.0, min_size=5)
    b = fibers(mask, spacing=0.25, min_size=5)
    assert b.row(1)["length"] == pytest.approx(a.row(1)["length"] * 0.25)
    assert b.row(1)["volume"] == pytest.approx(a.row(1)["volume"] * 0.25**3)
    np.testing.assert_allclose(a.directions, b.directions)


def test_table_and_stats_layout():
    mask = np.zeros((10, 12, 40), bool)
    mask[2:4, 2:4, 2:30] = True  # along x
    mask[6:8, 7:9, 5:38] = True  # along x, longer
    res = fibers(mask, min_size=5)
    assert tuple(res.table) == COLUMNS
    assert res.count == res.stats.count == 2 == int(res.labels.max())
    assert res.table["label"].tolist() == [1, 2]
    assert np.trace(res.stats.orientation_tensor) == pytest.approx(1.0)
    assert abs(res.stats.principal_direction[2]) == pytest.approx(1.0)
    assert res.stats.volume_fraction == pytest.approx(mask.mean())
    df = res.to_dataframe()
    assert list(df.columns) == list(COLUMNS) and len(df) == 2
    with pytest.raises(KeyError, match="labels run from 1 to 2"):
        res.row(3)


def test_dust_threshold_is_inclusive():
    mask = np.zeros((12, 12, 40), bool)
    mask[1, 1, 0:9] = True  # 9 voxels
    mask[5, 5, 0:10] = True  # 10
    mask[9, 9, 0:11] = True  # 11
    labels, n_dusted = label_fibers(mask, min_size=10)
    assert int(labels.max()) == 2 and n_dusted == 1
    assert np.bincount(labels.ravel())[1:].tolist() == [10, 11]
    res = fibers(mask, min_size=10)
    assert res.count == 2 and res.stats.n_dusted == 1
    assert fibers(mask, min_size=0).count == 3
    assert fibers(mask, min_size=12).count == 0


def test_bincount_dust_matches_cc3d_dust():
    import cc3d

    rng = np.random.default_rng(0)
    mask = rng.random((30, 30, 30)) > 0.8
    labels, _ = label_fibers(mask, min_size=4, connectivity=6)
    expected = cc3d.dust(mask, threshold=4, connectivity=6)
    np.testing.assert_array_equal(labels > 0, expected)


def test_connectivity_decides_whether_corner_neighbours_merge():
    mask = np.zeros((7, 6, 20), bool)
    mask[1, 1, 0:10] = True
    mask[2, 2, 10:20] = True  # meets the rod above at a corner only (26-neighbours)
    mask[4, 1, 0:10] = True
    mask[5, 1, 10:20] = True  # meets the rod above at an edge (18- and 26-neighbours)
    assert fibers(mask, connectivity=26, min_size=1).count == 2
    assert fibers(mask, connectivity=18, min_size=1).count == 3
    assert fibers(mask, connectivity=6, min_size=1).count == 4


def test_touching_fibers_merge_without_split():
    mask = cylinder((30, 60, 60), (1, 1, 1), (15, 30, 30), (0, 0, 1), 50, 2.5)
    mask |= cylinder((30, 60, 60), (1, 1, 1), (15, 30, 30), (0, 1, 0), 50, 2.5)
    assert fibers(mask, min_size=5).count == 1


def test_instance_labels_are_kept_apart():
    labels = np.zeros((10, 10, 30), np.uint16)
    labels[3:5, 3:5, 2:15] = 1
    labels[3:5, 3:5, 15:28] = 2  # touching, but another instance
    labels[7:9, 7:9, 2:28] = 3
    res = fibers(labels, min_size=5)
    assert res.count == 3
    np.testing.assert_allclose(np.sort(res.table["length"]), [13, 13, 26])
    # two non-zero values means instances too, but one value is a plain mask
    assert fibers((labels > 0) * 7, min_size=5).count == 2


def test_empty_volume_gives_zero_fibers():
    res = fibers(np.zeros((8, 9, 10), bool))
    assert res.count == 0 and res.labels.shape == (8, 9, 10)
    assert all(len(v) == 0 for v in res.table.values()) and tuple(res.table) == COLUMNS
    assert res.stats.volume_fraction == 0 and np.isnan(res.stats.principal_direction).all()
    assert fibers(np.zeros((5, 5, 5), np.uint8)).count == 0


def test_measure_labels_needs_consecutive_labels():
    labels = np.zeros((5, 5, 12), np.uint16)
    labels[1, 1, 1:10] = 2
    with pytest.raises(ValueError, match="label 1 is missing"):
        measure_labels(labels)


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match="fibers need a 3D volume.*2D array"):
        fibers(np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="fibers need a 3D volume.*4D"):
        fibers(np.ones((2, 10, 10, 10), bool))
    with pytest.raises(ValueError, match="probability map"):
        fibers(np.full((5, 5, 5), 0.7))
    with pytest.raises(ValueError, match="must be >= 0"):
        fibers(-np.ones((5, 5, 5), np.int32))
    with pytest.raises(TypeError, match="boolean mask or integer labels"):
        fibers(np.ones((5, 5, 5), complex))
    with pytest.raises(ValueError, match="Unknown connectivity 8"):
        fibers(np.ones((5, 5, 5), bool), connectivity=8)
    with pytest.raises(ValueError, match="spacing must have one value per axis"):
        fibers(np.ones((5, 5, 5), bool), spacing=(1, 1))
    with pytest.raises(ValueError, match="min_size must be >= 0"):
        fibers(np.ones((5, 5, 5), bool), min_size=-1)
    with pytest.raises(ValueError, match="Unknown arc"):
        fibers(np.ones((5, 5, 5), bool), arc="spline")
    # a 0/1 float mask is fine
    assert fibers(np.ones((5, 5, 5), np.float32), min_size=1).count == 1


def test_too_large_volume_says_how(monkeypatch):
    import importlib

    module = importlib.import_module("napari_sciseg.measure.fibers")  # the module, not the function
    monkeypatch.setattr(module, "BYTES_PER_VOXEL", 10**12)
    with pytest.raises(MemoryError, match="Bin it"):
        fibers(np.ones((4, 4, 4), bool))


def test_phantom_truth_mask_recall_and_length_error():
    volume, scribbles, truth = fiber_volume(seed=0, return_truth=True)
    res = fibers(truth.mask, spacing=truth.spacing)
    # match every measured fiber to the true one it overlaps
    match = np.array(
        [np.bincount(truth.labels[res.labels == i]).argmax() for i in range(1, res.count + 1)]
    )
    assert res.count == truth.n_fibers
    assert len(set(match.tolist())) == truth.n_fibers  # recall 1.0, no merges
    err = res.table["length"] - truth.lengths[match - 1]
    assert np.median(np.abs(err)) <= 0.5
    cos = np.abs((res.directions * truth.directions[match - 1]).sum(1))
    assert np.median(np.degrees(np.arccos(np.clip(cos, 0, 1)))) < 2.0
    arc_err = res.table["arc_length"] - truth.arc_lengths[match - 1]
    assert np.median(np.abs(arc_err)) <= 0.5
    assert np.median(np.abs(res.table["radius"] - truth.radii[match - 1])) < 0.25
