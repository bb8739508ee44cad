"""The synthetic AFM generator: classes from counts, linked channels, metadata, data sets."""

import csv

import numpy as np
import pytest

from napari_sciseg.classify.afm_dataset import CLASSES, class_from_counts
from napari_sciseg.data.afm import afm_scan


@pytest.mark.parametrize("cls", CLASSES)
def test_counts_give_the_requested_class(cls):
    scan, truth = afm_scan(cls=cls, shape=(128, 128), seed=3, return_truth=True)
    s, n_l = len(truth.spherulite_centers), len(truth.lamellar_centers)
    assert class_from_counts(s, n_l) == cls == truth.cls
    assert scan.data.shape == (4, 128, 128) and scan.channel_units == ("nm", "V", "deg", "nm")
    assert {1, 2} & set(np.unique(truth.crystals))


def test_channels_are_physically_linked():
    scan, truth = afm_scan(cls=0.5, shape=(256, 256), seed=0, return_truth=True)
    height, amplitude, phase, zsensor = scan.data
    assert np.corrcoef(height.ravel(), zsensor.ravel())[0, 1] > 0.8
    slope = np.gradient(zsensor, axis=1)
    assert np.corrcoef(amplitude.ravel(), slope.ravel())[0, 1] > 0.5
    kinds = truth.crystals
    assert phase[kinds == 1].mean() > phase[kinds == 2].mean() > phase[kinds == 0].mean()
    np.testing.assert_allclose(scan.spacing, (10000 / 256,) * 2)


def test_deterministic_and_bad_class():
    a, b = afm_scan(seed=5, shape=(64, 64)), afm_scan(seed=5, shape=(64, 64))
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="Unknown class 'Mostly'"):
        afm_scan(cls="Mostly")
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        afm_scan(cls=1.5)


def test_dataset_csv(afm_csv):
    with open(afm_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and len({r["sample"] for r in rows}) == 5
    assert {"file", "spherulite_count", "lamellar_count", "filtered", "nm_per_px"} <= set(rows[0])
    assert (afm_csv.parent / rows[0]["file"]).is_file()
