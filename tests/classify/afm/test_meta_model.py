"""The metadata term: balanced logistic regression, ridge by grouped cross-validation."""

import numpy as np
import pytest

from napari_sciseg.classify.afm.dataset import CLASSES, MetadataEncoder, read_dataset
from napari_sciseg.classify.afm.meta_model import fit_metadata_logits


def test_filtering_favours_spherulite_classes(afm_csv):
    # the generator's filtered films grow more spherulites: the term must learn that
    data = read_dataset(afm_csv)
    encoder = MetadataEncoder.fit(data.metadata)
    meta = encoder.transform(data.metadata)
    term = fit_metadata_logits(meta, data.labels, data.groups)
    filtered = encoder.transform([{**data.metadata[0], "filtered": "yes"}])
    unfiltered = encoder.transform([{**data.metadata[0], "filtered": "no"}])
    shift = (filtered - unfiltered) @ term.weight.T
    vms, vml = CLASSES.index("Vast Majority Spherulite"), CLASSES.index("Vast Majority Lamellar")
    assert shift[0, vms] > shift[0, vml]
    assert np.isfinite(term.ridge) and term.cv_loss[np.inf][0] == pytest.approx(np.log(5))


def test_balanced_fit_gives_no_class_an_edge_from_its_frequency():
    # metadata without information and a 9:1 class imbalance: a balanced fit stays
    # uniform (the image network is trained class-balanced too)
    rng = np.random.default_rng(0)
    labels = np.array([0] * 90 + [1] * 10)
    groups = np.arange(100) % 10
    term = fit_metadata_logits(np.ones((100, 1)), labels, groups, n_classes=2, lambdas=[0.01])
    logits = np.ones((1, 1)) @ term.weight.T + term.bias
    assert abs(logits[0, 0] - logits[0, 1]) < 0.05
    noisy = fit_metadata_logits(rng.normal(size=(100, 2)), labels, groups, n_classes=2)
    assert np.abs(noisy.weight).max() < 0.2


def test_absent_classes_and_bad_shapes():
    labels = np.array([0, 0, 1, 1, 0, 1])
    x = np.array([[1.0], [1.2], [-1.0], [-0.8], [0.9], [-1.1]])
    term = fit_metadata_logits(x, labels, list("aabbcc"), n_classes=3, lambdas=[0.01])
    assert term.weight.shape == (3, 1)
    # class 2 never seen: its logit is the mean of the others, neither favoured nor excluded
    logits = x @ term.weight.T + term.bias
    np.testing.assert_allclose(logits[:, 2], logits[:, :2].mean(1), atol=1e-5)
    with pytest.raises(ValueError, match=r"Expected meta \(N, M\).*got meta \(6, 1\), 5 labels"):
        fit_metadata_logits(x, labels[:5], list("aabbc"))
