"""Data-set CSV parsing, classes from counts, metadata encoding, grouped splits, metrics."""

import csv

import numpy as np
import pytest

from napari_sciseg.classify.afm.dataset import (
    CLASSES,
    ClassCutoffs,
    MetadataEncoder,
    class_from_counts,
    class_from_fraction,
    read_dataset,
)
from napari_sciseg.classify.afm.scans import select_channels, tile_corners
from napari_sciseg.evaluate.classification import (
    classification_report,
    grouped_kfold,
    grouped_split,
)


def _write(folder, rows, files=None):
    for name in files if files is not None else [r["file"] for r in rows]:
        (folder / name).write_bytes(b"")
    path = folder / "dataset.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("f", "cls"),
    [
        (0.4, "Equal"),
        (0.6, "Equal"),
        (0.61, "Majority Spherulite"),
        (0.8, "Majority Spherulite"),
        (0.81, "Vast Majority Spherulite"),
        (0.39, "Majority Lamellar"),
        (0.2, "Majority Lamellar"),
        (0.19, "Vast Majority Lamellar"),
        (0.0, "Vast Majority Lamellar"),
        (1.0, "Vast Majority Spherulite"),
    ],
)
def test_default_cutoffs(f, cls):
    assert class_from_fraction(f) == cls


def test_configurable_cutoffs_and_counts():
    narrow = ClassCutoffs(equal_low=0.45, equal_high=0.55, vast_low=0.1, vast_high=0.9)
    assert class_from_counts(6, 4) == "Equal"
    assert class_from_counts(6, 4, narrow) == "Majority Spherulite"
    with pytest.raises(ValueError, match="undefined"):
        class_from_counts(0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        class_from_counts(-1, 3)
    with pytest.raises(ValueError, match="Cut-offs must satisfy"):
        ClassCutoffs(equal_low=0.7, equal_high=0.6)


def test_read_counts_csv_with_metadata(tmp_path):
    rows = [
        {
            "file": f"s{i}.tif",
            "sample": f"S{i // 2}",
            "spherulite_count": str(9 - 2 * i),
            "lamellar_count": str(1 + 2 * i),
            "filtered": "yes" if i % 2 else "no",
            "ageing_days": str(3 * i),
        }
        for i in range(5)
    ]
    data = read_dataset(_write(tmp_path, rows))
    assert len(data) == 5 and data.groups[:2] == ("S0", "S0")
    assert [CLASSES[k] for k in data.labels] == [
        "Vast Majority Spherulite",
        "Majority Spherulite",
        "Equal",
        "Majority Lamellar",
        "Vast Majority Lamellar",
    ]
    assert data.metadata_columns == ("filtered", "ageing_days")


def test_bad_csvs(tmp_path):
    with pytest.raises(ValueError, match="no 'file' column"):
        read_dataset(_write(tmp_path, [{"path": "a.tif", "class": "Equal"}], files=["a.tif"]))
    with pytest.raises(ValueError, match=r"do not exist.*missing.tif"):
        read_dataset(_write(tmp_path, [{"file": "missing.tif", "class": "Equal"}], files=[]))
    with pytest.raises(ValueError, match=r"Unknown class name\(s\) \['Mostly round'\]"):
        read_dataset(_write(tmp_path, [{"file": "a.tif", "class": "Mostly round"}]))
    with pytest.raises(ValueError, match="has no labels"):
        read_dataset(_write(tmp_path, [{"file": "a.tif", "sample": "x"}]))
    with pytest.raises(ValueError, match="row 2.*undefined"):
        read_dataset(
            _write(tmp_path, [{"file": "a.tif", "spherulite_count": "0", "lamellar_count": "0"}])
        )
    # prediction: labels optional
    data = read_dataset(_write(tmp_path, [{"file": "a.tif", "tip": "A"}]), require_labels=False)
    assert data.labels is None


def test_metadata_encoder_onehot_standardise_unseen_and_missing():
    train = [
        {"filtered": "yes", "age": "2", "tip": "A", "id": "x1"},
        {"filtered": "no", "age": "4", "tip": "B", "id": "x2"},
        {"filtered": "yes", "age": "6", "tip": "C", "id": "x3"},
        {"filtered": "no", "age": "8", "tip": "A", "id": "x4"},
    ]
    enc = MetadataEncoder.fit(train)
    assert enc.columns == ("age", "filtered", "tip")  # 'id' has 4 categories: dropped
    x = enc.transform([{"filtered": "yes", "age": "5", "tip": "Z", "id": "?"}])
    np.testing.assert_allclose(x, [[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])  # unseen tip: zeros
    again = MetadataEncoder.from_dict(enc.to_dict())
    np.testing.assert_array_equal(again.transform(train), enc.transform(train))
    with pytest.raises(ValueError, match=r"column\(s\) \['age'\] .* missing"):
        enc.transform([{"filtered": "yes", "tip": "A"}])


def test_grouped_split_never_shares_a_sample(rng):
    groups = [f"S{i % 7}" for i in range(50)]
    labels = rng.integers(0, 5, 50)
    for seed in range(5):
        tr, te = grouped_split(groups, labels, test_fraction=0.3, seed=seed)
        assert not {groups[i] for i in tr} & {groups[i] for i in te}
        assert len(tr) + len(te) == 50 and 0.15 < len(te) / 50 < 0.5
    with pytest.raises(ValueError, match="at least 2 groups"):
        grouped_split(["a", "a"])


def test_grouped_kfold_tests_every_scan_once_and_never_shares_a_sample(rng):
    groups = [f"S{i % 7}" for i in range(50)]
    labels = rng.integers(0, 5, 50)
    for seed in range(3):
        folds = grouped_kfold(groups, labels, n_folds=5, seed=seed)
        assert len(folds) == 5
        np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(50))
        for test in folds:
            train = np.setdiff1d(np.arange(50), test)
            assert not {groups[i] for i in train} & {groups[i] for i in test}
        # groups of 7-8 scans dealt to the emptiest fold: sizes within one group
        sizes = [len(f) for f in folds]
        assert max(sizes) - min(sizes) <= 8 and min(sizes) >= 7
    assert len(grouped_kfold(["a", "b", "c"], n_folds=3)) == 3  # leave-one-sample-out
    with pytest.raises(ValueError, match=r"number of groups \(samples\), 2; got 3"):
        grouped_kfold(["a", "a", "b"], n_folds=3)


def test_missing_channels_named_with_present_ones():
    with pytest.raises(ValueError, match=r"missing channel\(s\) \['phase'\]; present: \['Height'"):
        select_channels(
            np.zeros((2, 8, 8)), ("Height", "Amplitude Error"), channels=("height", "phase")
        )
    out = select_channels(
        np.arange(3)[:, None, None] * np.ones((3, 4, 4)),
        ("Phase", "Height Sensor", "Height"),
        channels=("height", "z-sensor"),
    )
    np.testing.assert_array_equal(out[:, 0, 0], [2, 1])


def test_scan_smaller_than_tile_is_refused_clearly():
    with pytest.raises(ValueError, match="smaller than one tile"):
        tile_corners((50, 80), 64)


def test_metrics_against_hand_computed():
    y = np.array([0, 0, 1, 1, 2])
    p = np.eye(3)[[0, 1, 1, 1, 0]]
    r = classification_report(y, p)
    np.testing.assert_array_equal(r.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_allclose(r.precision, [0.5, 2 / 3, 0])
    np.testing.assert_allclose(r.recall, [0.5, 1.0, 0])
    assert r.accuracy == 0.6
