"""Balanced sampling and weights, D4 augmentation, calibration, VLAD order invariance."""

import numpy as np
import pytest

from napari_sciseg.classify.images.balance import (
    augment_rare,
    balanced_indices,
    class_weights,
    dihedral,
)
from napari_sciseg.classify.images.calibration import apply_temperature, fit_temperature
from napari_sciseg.classify.images.prepare import choose_tile, prepare_image, tile_starts
from napari_sciseg.classify.vlad import vlad_encode, word_fractions


def test_balanced_sampler_draws_classes_equally():
    labels = np.array([0] * 92 + [1] * 8 + [2] * 30)
    idx = balanced_indices(labels, 300, seed=1)
    assert np.bincount(labels[idx]).tolist() == [100, 100, 100]
    # the rare class's 8 images are all used, each 12 or 13 times
    rare = np.bincount(idx[labels[idx] == 1])[92:100]
    assert set(rare.tolist()) <= {12, 13}


def test_class_weights_give_classes_equal_total():
    labels = np.array([0] * 9 + [1])
    w = class_weights(labels)
    assert w[labels == 0].sum() == pytest.approx(w[labels == 1].sum())
    assert w.mean() == pytest.approx(1.0)


def test_dihedral_group_has_eight_distinct_members():
    image = np.arange(12.0).reshape(1, 3, 4)
    members = {dihedral(image, k).tobytes() + bytes(dihedral(image, k).shape) for k in range(8)}
    assert len(members) == 8


def test_augment_rare_tops_up_rare_classes_only():
    images = [np.full((1, 4, 4), i, float) for i in range(12)]
    labels = np.array([0] * 10 + [1] * 2)
    out, lab, src = augment_rare(images, labels)
    assert np.bincount(lab).tolist() == [10, 10]  # 2 images x 5 versions
    assert set(src[lab == 1].tolist()) == {10, 11}


def test_vlad_is_invariant_to_feature_order():
    rng = np.random.default_rng(0)
    feats, cents = rng.normal(size=(200, 6)), rng.normal(size=(5, 6))
    perm = rng.permutation(200)
    assert np.allclose(vlad_encode(feats, cents), vlad_encode(feats[perm], cents), atol=1e-6)
    assert np.allclose(word_fractions(feats, cents), word_fractions(feats[perm], cents))


def test_temperature_fixes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    right = rng.random(400) < 0.7  # 70 % right but claims 99 %
    pred = np.where(right, labels, 1 - labels)
    proba = np.where(np.eye(2)[pred] > 0, 0.99, 0.01)
    t = fit_temperature(proba, labels)
    assert apply_temperature(proba, t).max(1).mean() == pytest.approx(0.7, abs=0.05)


def test_tiles_from_the_data_and_too_small_images():
    assert choose_tile([(1, 50, 70), (1, 200, 200)]) == 48
    with pytest.raises(ValueError, match="smallest usable tile is 16"):
        choose_tile([(1, 10, 70)])
    starts = tile_starts((1, 50, 70), 48)
    assert starts[-1] == (2, 22)
    assert prepare_image(np.ones((1, 30, 30)), 3.0, target_spacing=1.5).shape == (1, 60, 60)
