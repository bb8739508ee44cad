"""The second fibre CT generator: seeded, anisotropic, with truth that matches the volume."""

import numpy as np
import pytest

from napari_sciseg.data.fibers_ct import fiber_concrete_ct


@pytest.mark.parametrize("kind", ["polymer", "steel"])
def test_seeded_anisotropic_and_truth_matches_the_volume(kind):
    v1, t1 = fiber_concrete_ct(shape=(32, 64, 64), kind=kind, seed=3)
    v2, t2 = fiber_concrete_ct(shape=(32, 64, 64), kind=kind, seed=3)
    np.testing.assert_array_equal(v1, v2)
    assert v1.dtype == np.float32 and v1.shape == (32, 64, 64)
    assert t1.spacing == (20.0, 10.0, 10.0) and t1.kind == kind
    assert t1.n_fibers > 0 and set(np.unique(t1.labels)) == set(range(t1.n_fibers + 1))
    assert np.all(t1.lengths > 4 * t1.radii) and np.all(
        t1.arc_lengths + 2 * t1.radii >= 0.95 * t1.lengths
    )
    np.testing.assert_allclose(np.linalg.norm(t1.directions, axis=1), 1.0)
    paste = np.median(v1)
    inside = np.median(v1[t1.mask])
    # polymer fibres are darker than the paste, steel fibres far brighter
    assert inside < paste - 0.05 if kind == "polymer" else inside > paste + 0.4


def test_bundles_touch_and_fibres_leave_the_volume():
    from scipy import ndimage

    _, truth = fiber_concrete_ct(shape=(40, 96, 96), seed=0, bundle_fraction=0.5)
    assert truth.bundled.any() and truth.cut.any()
    # some bundled fibres touch another one: fewer components than fibres
    _, n = ndimage.label(truth.mask, structure=np.ones((3, 3, 3)))
    assert n < truth.n_fibers


def test_bad_kind_and_shape():
    with pytest.raises(ValueError, match="kind must be one of"):
        fiber_concrete_ct(kind="glass")
    with pytest.raises(ValueError, match="at least 16"):
        fiber_concrete_ct(shape=(8, 64, 64))
