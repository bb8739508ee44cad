"""Regression training: masked losses, recipes, errors, save -> load -> same output."""

import numpy as np
import pytest
import torch

from napari_sciseg.dl import TrainRecipe, load_model, save_model
from napari_sciseg.dl.losses import member_regression_losses
from napari_sciseg.dl.regression import iter_train_regression, train_regression
from napari_sciseg.dl.restore import restore

SMALL = dict(members=2, steps=4, crop=32, model_kwargs={"depth": 3}, device="cpu")


def test_masked_loss_ignores_unknown_pixels():
    pred = torch.zeros(2, 1, 1, 4, 4)
    target = torch.zeros_like(pred)
    weight = torch.ones_like(pred)
    weight[..., 0, :] = 0  # the first row is unknown
    base = member_regression_losses(pred, target, weight, loss="l1+l2+huber")
    target[..., 0, :] = torch.tensor([1e6, float("nan"), -3.0, 7.0])  # anything there
    changed = member_regression_losses(pred, torch.nan_to_num(target, nan=5.0), weight,
                                       loss="l1+l2+huber")
    assert torch.equal(base, changed) and float(base) == 0.0
    target[..., 1, 0] = 2.0  # one known pixel off by 2 of 12 known: L1 = 2 / 24 pixels
    l1 = member_regression_losses(pred, torch.nan_to_num(target), weight, loss="l1")
    assert float(l1) == pytest.approx(2 * 2 / 24)


def test_loss_of_a_batch_without_known_pixels_is_zero_not_nan():
    out = member_regression_losses(torch.ones(1, 3, 1, 4, 4), torch.zeros(1, 3, 1, 4, 4),
                                   torch.zeros(1, 3, 1, 4, 4), loss="l2")
    assert out.tolist() == [0.0, 0.0, 0.0]


def test_recipe_regression_losses_and_errors():
    r = TrainRecipe(task="inpaint", loss="Huber", transform="log1p")
    assert (r.loss, r.transform, TrainRecipe(task="denoise").loss) == ("huber", "log1p", "l1")
    assert TrainRecipe.from_dict(r.to_dict()) == r
    assert TrainRecipe().loss == "ce"
    with pytest.raises(ValueError, match="Unknown regression loss 'ce'.*'l1', 'l2', 'huber'"):
        TrainRecipe(task="regression", loss="ce")
    with pytest.raises(ValueError, match="Unknown task 'inpainting'; expected one of"):
        TrainRecipe(task="inpainting")
    with pytest.raises(ValueError, match="transform='log1p' is for the regression tasks"):
        TrainRecipe(transform="log1p")


def test_dense_regression_learns_a_linear_map_and_reports_r(rng):
    image = rng.random((64, 64)).astype(np.float32)
    model = train_regression(image, 3 * image + 1, **{**SMALL, "steps": 60, "members": 1},
                             arch="tunet", val_every=20)
    assert model.config.task == "regression"
    assert model.config.metrics["val_r"] > 0.9
    out = restore(model, image).values
    assert np.corrcoef(out.ravel(), (3 * image + 1).ravel())[0, 1] > 0.9


def test_masked_targets_nan_where_unknown_train(rng):
    image = rng.random((48, 48)).astype(np.float32)
    targets = image.copy()
    known = np.ones(image.shape, bool)
    known[:10] = False
    targets[~known] = np.nan  # unknown: anything, NaN included
    model = train_regression(image, targets, known=known, **SMALL)
    assert np.isfinite(restore(model, image).values).all()


def test_ensemble_gives_mean_and_member_std(rng):
    image = rng.random((48, 48)).astype(np.float32)
    model = train_regression(image, image, **SMALL)
    res = restore(model, image)
    assert res.values.shape == res.std.shape == image.shape
    assert res.std.min() >= 0 and res.std.max() > 0  # two different members


def test_save_load_same_output(rng, tmp_path):
    image = rng.random((48, 48)).astype(np.float32)
    model = train_regression(image, 1 - image, **SMALL)
    before = restore(model, image)
    loaded = load_model(save_model(model, tmp_path / "r.sciseg"))
    after = restore(loaded, image)
    assert loaded.config.task == "regression"
    np.testing.assert_array_equal(before.values, after.values)
    np.testing.assert_array_equal(before.std, after.std)


def test_cancel_returns_the_model_trained_so_far(rng):
    import threading

    image = rng.random((48, 48)).astype(np.float32)
    cancel = threading.Event()
    gen = iter_train_regression(image, image, cancel=cancel, **{**SMALL, "steps": 50})
    next(gen)
    cancel.set()
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value.config.metrics["stopped"] == "cancelled"
    assert stop.value.value.config.metrics["steps_done"] == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(targets=np.zeros((40, 48))), r"targets have spatial shape \(40, 48\); expected"),
    (dict(targets=np.full((48, 48), np.nan)), "targets .where known. contains 2304 NaN"),
    (dict(targets=np.zeros((48, 48)), known=np.zeros((48, 48), bool)),
     "leaves no pixel with known values"),
    (dict(targets=np.zeros((48, 48)), known=np.ones((4, 4), bool)),
     r"known mask has shape \(4, 4\); expected"),
    (dict(targets=None), "task='regression' needs targets"),
])
def test_bad_input_clear_errors(kwargs, match, rng):
    image = rng.random((48, 48)).astype(np.float32)
    targets = kwargs.pop("targets")
    with pytest.raises(ValueError, match=match):
        train_regression(image, targets, **kwargs, **SMALL)


def test_segmentation_entry_points_refuse_regression(rng):
    from napari_sciseg.dl import iter_train_recipe, predict

    image = rng.random((48, 48)).astype(np.float32)
    with pytest.raises(ValueError, match="regression task; train it with"):
        next(iter_train_recipe(image, np.zeros((48, 48), int), TrainRecipe(task="denoise")))
    model = train_regression(image, image, **{**SMALL, "steps": 1})
    with pytest.raises(ValueError, match="regression.*apply it with napari_sciseg.dl.restore"):
        predict(model, image)
