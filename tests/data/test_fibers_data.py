"""The fiber phantom: deterministic, fast, and its truth matches the volume."""

import time

import numpy as np
import pytest

from napari_sciseg.data.fibers import MATRIX, FiberTruth, axial_sign, fiber_volume


def test_default_volume_is_fast_deterministic_and_typed():
    t0, c0 = time.perf_counter(), time.process_time()
    volume, scribbles = fiber_volume()
    # the smaller of wall and CPU time: other jobs on the machine inflate the first,
    # threaded numpy the second; neither is this generator being slow
    assert min(time.perf_counter() - t0, time.process_time() - c0) < 2.0
    assert volume.shape == scribbles.shape == (96, 96, 96)
    assert volume.dtype == np.float32 and scribbles.dtype == np.uint8
    again, _ = fiber_volume(seed=0)
    np.testing.assert_array_equal(volume, again)
    other, _ = fiber_volume(seed=1)
    assert not np.array_equal(volume, other)


def test_truth_is_consistent_with_the_volume():
    import cc3d

    volume, scribbles, truth = fiber_volume(shape=(48, 64, 80), seed=2, return_truth=True)
    assert isinstance(truth, FiberTruth) and truth.mask.shape == (48, 64, 80)
    n = truth.n_fibers
    assert n >= 3 and int(truth.labels.max()) == n
    # fibers never touch: the 26-connected components of the mask are the fibers
    _, n_cc = cc3d.connected_components(truth.mask, connectivity=26, return_N=True)
    assert n_cc == n
    for arr in (truth.lengths, truth.arc_lengths, truth.radii, truth.bowed):
        assert arr.shape == (n,)
    np.testing.assert_allclose(np.linalg.norm(truth.directions, axis=1), 1.0)
    assert (truth.arc_lengths >= truth.lengths - 2 * truth.radii).all()
    assert ((truth.radii >= 1.5) & (truth.radii <= 2.5)).all()
    assert ((truth.lengths > 0.2 * 48 - 1) & (truth.lengths < 0.5 * 48 + 6)).all()
    # fibers are dark against the matrix, and their voxels count matches pi r^2 L roughly
    assert volume[truth.mask].mean() < MATRIX - 0.1
    expected = np.pi * truth.radii**2 * truth.arc_lengths
    counts = np.bincount(truth.labels.ravel(), minlength=n + 1)[1:]
    np.testing.assert_allclose(counts, expected, rtol=0.25)
    # scribbles: fiber strokes on fibers, background strokes off them, on three slices
    assert truth.mask[scribbles == 2].all() and not truth.mask[scribbles == 1].any()
    assert np.flatnonzero(scribbles.reshape(48, -1).any(1)).size == 3


def test_orientation_is_anisotropic_along_x():
    _, _, truth = fiber_volume(shape=(128, 128, 128), seed=0, return_truth=True)
    d = np.abs(truth.directions)
    assert d[:, 2].mean() > d[:, 1].mean() > d[:, 0].mean()


def test_axial_sign_and_bad_shape():
    v = axial_sign(np.array([[0.0, -1.0, 0.0], [-0.6, 0.0, 0.8]]))
    assert v[0, 1] == 1.0 and v[1, 0] == 0.6
    with pytest.raises(ValueError, match="3 sides of at least 32"):
        fiber_volume(shape=(16, 64, 64))
    with pytest.raises(ValueError, match="n_fibers must be >= 0"):
        fiber_volume(n_fibers=-1)
    _, _, truth = fiber_volume(shape=(40, 40, 40), n_fibers=0, return_truth=True)
    assert truth.n_fibers == 0 and not truth.mask.any()
