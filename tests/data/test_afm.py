"""The synthetic AFM generator: classes from counts, linked channels, metadata, data sets."""

import csv

import numpy as np
import pytest

from napari_sciseg.classify.afm.dataset import CLASSES, class_from_counts
from napari_sciseg.data.afm import afm_scan


@pytest.mark.parametrize("cls", CLASSES)
def test_counts_give_the_requested_class(cls):
    scan, truth = afm_scan(cls=cls, shape=(128, 128), seed=3, return_truth=True)
    s, n_l = len(truth.spherulite_centers), len(truth.lamellar_centers)
    assert class_from_counts(s, n_l) == cls == truth.cls
    assert scan.data.shape == (4, 128, 128) and scan.channel_units == ("nm", "V", "deg", "nm")
    assert {1, 2} & set(np.unique(truth.crystals))
    assert set(np.unique(truth.crystals)) <= {0, 1, 2, 3}


def test_channels_are_physically_linked():
    scan, truth = afm_scan(cls=0.5, shape=(256, 256), seed=0, return_truth=True)
    height, amplitude, phase, zsensor = scan.data
    assert np.corrcoef(height.ravel(), zsensor.ravel())[0, 1] > 0.8
    slope = np.gradient(zsensor, axis=1)
    assert np.corrcoef(amplitude.ravel(), slope.ravel())[0, 1] > 0.5
    kinds = truth.crystals
    assert phase[kinds == 1].mean() > phase[kinds == 2].mean() > phase[kinds == 0].mean()
    np.testing.assert_allclose(scan.spacing, (10000 / 256,) * 2)


def _separability(values, crystal, film):
    """ROC AUC of telling crystal pixels from film pixels by one channel's value."""
    from scipy.stats import mannwhitneyu

    pos, neg = values[crystal], values[film]
    return mannwhitneyu(pos, neg).statistic / (pos.size * neg.size)


def test_phase_shows_crystals_that_the_topography_hides():
    from napari_sciseg.classify.afm.scans import prepare_scan

    scan, truth = afm_scan(cls=0.5, shape=(256, 256), seed=1, return_truth=True)
    x = prepare_scan(scan.data, channel_names=("height", "amplitude", "phase", "z-sensor"))
    crystal, film = np.isin(truth.crystals, (1, 2)), truth.crystals == 0
    by_channel = [_separability(c, crystal, film) for c in x]
    # phase contrast does not depend on relief: nearly every crystal pixel stands out
    assert by_channel[2] > 0.99
    # flat-on crystals barely rise above the rough, undulating film
    assert 0.7 < by_channel[0] < 0.95 and 0.7 < by_channel[3] < 0.95
    assert 0.4 < by_channel[1] < 0.6  # the error signal is a slope: no net level


def test_unfiltered_films_carry_more_amorphous_aggregates():
    from scipy import ndimage as ndi

    from napari_sciseg.classify.afm.scans import prepare_scan
    from napari_sciseg.data.afm import CHANNELS

    counts = {"yes": 0, "no": 0}
    for seed in range(12):
        for filtered in counts:
            scan, truth = afm_scan(
                shape=(128, 128), seed=seed, return_truth=True, metadata={"filtered": filtered}
            )
            aggregates = truth.crystals == 3
            counts[filtered] += ndi.label(aggregates)[1]
            # amorphous: no crystalline phase shift, but taller than the film
            film = truth.crystals == 0
            crystal_phase = np.median(scan.data[2][np.isin(truth.crystals, (1, 2))])
            if aggregates.sum() > 3:
                assert np.median(scan.data[2][aggregates]) < crystal_phase - 3
                levelled = prepare_scan(scan.data, channel_names=CHANNELS)[3]
                assert np.median(levelled[aggregates]) > np.median(levelled[film]) + 10
    assert counts["no"] > 2.5 * counts["yes"] > 0


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
