"""Every sample generator is deterministic for a seed, fast and consistent with its truth."""

import time

import numpy as np
import pytest

from napari_sciseg import data


def _arrays(result):
    if isinstance(result, tuple):
        out = []
        for r in result:
            out += _arrays(r)
        return out
    if hasattr(result, "data") and hasattr(result, "spacing"):
        return [np.asarray(result.data)]
    if isinstance(result, np.ndarray):
        return [result]
    return []


GENERATORS = {
    "tem_bf": lambda seed: data.tem_particles("bf", seed=seed),
    "tem_haadf": lambda seed: data.tem_particles("haadf", seed=seed),
    "scribbles_2d": lambda seed: data.scribbles_2d(seed=seed),
    "fiber_volume": lambda seed: data.fiber_volume(seed=seed),
    "afm_scan": lambda seed: data.afm_scan(seed=seed),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_is_deterministic_and_fast(name):
    make = GENERATORS[name]
    t0, c0 = time.perf_counter(), time.process_time()
    a = _arrays(make(3))
    t1, c1 = time.perf_counter(), time.process_time()
    b = _arrays(make(3))
    # the faster of two runs, each the smaller of wall and CPU time: other jobs on the
    # machine inflate wall time, threaded numpy inflates CPU time; neither is the generator
    elapsed = min(t1 - t0, c1 - c0, time.perf_counter() - t1, time.process_time() - c1)
    c = _arrays(make(4))
    assert a and len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c)), "seed has no effect"
    assert all(np.isfinite(x).all() for x in a if x.dtype.kind == "f")
    assert elapsed < 2.0, f"{name} took {elapsed:.2f} s (budget: under a second, 2 s on CI)"


def test_tem_truth_masks_cover_the_particles():
    for mode, sign in (("bf", -1), ("haadf", 1)):
        image, truth = data.tem_particles(mode, seed=0, return_truth=True)
        assert image.shape == truth.mask.shape
        inside = image[truth.mask].mean()
        outside = image[~truth.mask].mean()
        polarity = "bright" if sign > 0 else "dark"
        assert sign * (inside - outside) > 0, f"{mode}: particles must be {polarity}"
        assert len(truth.diameters_nm) == truth.labels.max()


def test_scribbles_agree_with_truth():
    image, scribbles, truth = data.scribbles_2d(seed=0, return_truth=True)
    assert image.shape == scribbles.shape == truth.shape
    labeled = scribbles > 0
    assert 0.001 < labeled.mean() < 0.1
    # every foreground scribble lies on true foreground, every background one on background
    np.testing.assert_array_equal(truth[scribbles == 2], True)
    np.testing.assert_array_equal(truth[scribbles == 1], False)


def test_fiber_scribbles_agree_with_truth():
    volume, scribbles, truth = data.fiber_volume(seed=0, return_truth=True)
    assert volume.shape == scribbles.shape == truth.mask.shape
    assert truth.mask[scribbles == 2].all()
    assert not truth.mask[scribbles == 1].any()
    slices_with_scribbles = np.flatnonzero((scribbles > 0).reshape(len(scribbles), -1).any(1))
    assert 1 <= len(slices_with_scribbles) <= 8


def test_afm_scan_has_four_linked_channels():
    scan = data.afm_scan(seed=0)
    assert scan.axes == "CYX" and scan.data.shape[0] == 4
    assert [n.lower() for n in scan.channel_names] == ["height", "amplitude", "phase", "z-sensor"]
    assert scan.calibrated and scan.unit == "nm"
    height, _, _, zsensor = scan.data
    assert np.corrcoef(height.ravel(), zsensor.ravel())[0, 1] > 0.8
