"""The recipe that chooses its configuration by grouped inner cross-validation."""

import numpy as np
import pytest

from napari_sciseg.classify.afm.dataset import read_dataset
from napari_sciseg.dl.afm import load_afm_model, predict_scan, save_afm_model, train_recipe
from napari_sciseg.dl.afm.recipe import Candidate, inner_folds, selection_report

# texture first; a network of 2 steps is near chance, so texture wins on these scans
MENU = (
    Candidate("texture", "texture"),
    Candidate("early 32px 2", "early", tile=32, steps=2, use_metadata=True),
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """16 small scans (64 px, 156 nm/px) from 4 samples: seconds per candidate."""
    from napari_sciseg.data.afm import afm_dataset

    folder = tmp_path_factory.mktemp("recipe")
    return read_dataset(afm_dataset(folder, n_scans=16, n_samples=4, seed=1, shape=(64, 64)))


@pytest.fixture(scope="module")
def chosen(data):
    return train_recipe(data, menu=MENU, seed=3)


def test_inner_folds_never_split_a_sample(data):
    groups = np.asarray(data.groups)
    folds, note = inner_folds(groups, data.labels, 3, seed=0)
    assert note == "" and len(folds) == 3
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(data)))
    for test in folds:
        rest = np.setdiff1d(np.arange(len(data)), test)
        assert not set(groups[test]) & set(groups[rest])


def test_the_texture_candidate_wins_and_is_shipped_with_its_cv_table(chosen, tmp_path):
    sel = chosen.config.selection
    scores = {c["name"]: c["macro_f1"] for c in sel["candidates"]}
    assert list(scores) == ["texture", "early 32px 2"]
    assert scores["texture"] >= scores["early 32px 2"]
    assert sel["chosen"] == "texture"
    assert chosen.vlad is not None and chosen.net is None
    assert chosen.config.fusion == "texture" and chosen.vlad.descriptor == "texture"
    confusion = np.array(sel["confusion"])
    assert confusion.shape == (5, 5) and confusion.sum() == 16  # every scan once out of fold
    assert sel["n_folds"] == 3 and sel["train_seconds"] > 0
    # saved with the model and printed
    loaded = load_afm_model(save_afm_model(chosen, tmp_path / "recipe.sciseg"))
    assert loaded.config.selection == sel
    text = selection_report(sel)
    assert "chosen: texture" in text and "early 32px 2" in text


def test_the_choice_is_deterministic_with_a_seed(data, chosen):
    again = train_recipe(data, menu=MENU, seed=3)
    first, second = dict(chosen.config.selection), dict(again.config.selection)
    for sel in (first, second):
        sel.pop("train_seconds")
        for c in sel["candidates"]:
            c.pop("seconds")
    assert first == second


def test_fewer_samples_than_folds_falls_back_and_says_so(data, caplog):
    two = np.flatnonzero(np.isin(data.groups, sorted(set(data.groups))[:2]))
    subset = data.subset(two)
    with caplog.at_level("WARNING"):
        model = train_recipe(subset, menu=MENU[:1], n_folds=3)
    sel = model.config.selection
    assert sel["n_folds"] == 2 and "only 2 samples" in sel["note"]
    assert "only 2 samples: inner cross-validation with 2 folds instead of 3" in caplog.text
    one = data.subset(np.flatnonzero(np.asarray(data.groups) == data.groups[0]))
    with pytest.raises(ValueError, match="needs at least 2; the data set has 1"):
        train_recipe(one, menu=MENU[:1])


def test_one_class_only_is_refused(data):
    labels = np.asarray(data.labels)
    common = np.bincount(labels).argmax()
    only = data.subset(np.flatnonzero(labels == common))
    with pytest.raises(ValueError, match="at least 2 classes; the data set has only"):
        train_recipe(only, menu=MENU[:1])


def test_missing_metadata_columns_at_prediction_are_named(data):
    from napari_sciseg.dl.afm import train_afm

    model = train_afm(data, fusion="single", use_metadata=True, steps=1, batch=2, tile=32)
    scan = np.zeros((1, 64, 64), np.float32)
    meta = dict(data.metadata[0])
    meta.pop("filtered")
    with pytest.raises(ValueError, match=r"Metadata column\(s\) \['filtered'\].*missing"):
        predict_scan(model, scan, spacing=model.config.target_spacing, metadata=meta)
    with pytest.raises(ValueError, match="needs the scan's metadata columns"):
        predict_scan(model, scan, spacing=model.config.target_spacing)
