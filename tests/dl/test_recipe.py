"""The training recipe: validated, frozen, JSON round trip, read back from saved models."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import load_model, train
from napari_sciseg.dl.losses import LOSSES, LossTerm
from napari_sciseg.dl.models import Arch, list_models
from napari_sciseg.dl.recipe import Dim, Task, TrainRecipe
from napari_sciseg.dl.trainer import SegmentationTrainer
from napari_sciseg.dl.training import iter_train_recipe, run_steps

MODELS = Path(__file__).parents[1] / "data" / "models"
FAST = {"crop": 32, "model_kwargs": {"depth": 3, "width": 2}}


def test_choices_are_strenums_and_plain_strings_still_work():
    r = TrainRecipe(arch="TUNet", dim="2.5", loss="CE + Dice")
    assert r.arch is Arch.TUNET and r.arch == "tunet"
    assert r.dim is Dim.D2_5 and r.dim == "2.5" and r.model_ndim == 2
    assert r.task is Task.SEGMENT and r.loss == "ce+dice"
    assert list(Arch) == list_models() and tuple(LossTerm) == LOSSES
    assert TrainRecipe(dim="3").model_ndim == 3


def test_json_round_trip_and_frozen():
    r = TrainRecipe(members=3, steps=7, class_weights=[1, 2], model_kwargs={"depth": 4},
                    early_stopping=None, lr=0.01)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["arch"] == "smsnet" and d["dim"] == "2" and d["class_weights"] == [1.0, 2.0]
    assert TrainRecipe.from_dict(d) == r
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.steps = 3
    assert r.replace(steps=9).steps == 9 and r.steps == 7


@pytest.mark.parametrize("name", ["smsnet2d", "smsnet25d", "smsnet3d", "tunet2d", "msdnet2d"])
def test_recipe_of_a_model_saved_by_an_older_version(name):
    """Old files have no arch/dim/slice_axis in their recipe: the model config fills them."""
    config = load_model(MODELS / f"{name}.sciseg").config
    assert "arch" not in config.recipe
    r = TrainRecipe.from_model_config(config)
    assert (r.arch, str(r.dim), r.slice_axis) == (config.arch, config.dim, config.slice_axis)
    assert (r.steps, r.seed, r.members) == (config.recipe["steps"], 1,
                                            len(config.member_configs))


@pytest.mark.parametrize("kwargs, match", [
    ({"arch": "resnet"}, "Unknown architecture 'resnet'; expected one of 'smsnet'"),
    ({"dim": "4"}, r"Unknown dim '4'; expected one of '2', '2.5', '3'"),
    ({"task": "regress"}, r"Unknown task 'regress'; expected one of 'segment'"),
    ({"loss": "ce+l2"}, "Unknown loss 'l2' in 'ce\\+l2'"),
    ({"steps": 0}, "steps must be a positive integer; got 0"),
    ({"members": 2.5}, "members must be a positive integer; got 2.5"),
    ({"seed": -5}, "seed must be a non-negative integer; got -5"),
])
def test_bad_recipes_say_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainRecipe(**kwargs)


def test_unknown_fields_in_a_dict_are_refused():
    with pytest.raises(ValueError, match=r"unknown training recipe fields \['colour'\]"):
        TrainRecipe.from_dict({"steps": 3, "colour": "red"})
    # facts of the run that saved models carry are not settings: skipped
    assert TrainRecipe.from_dict({"steps": 3, "device": "cpu", "split_seed": 0}).steps == 3


def test_recipe_runs_like_the_keyword_interface():
    image, scribbles = scribbles_2d(shape=(64, 64), seed=3)
    a = train(image, scribbles, members=2, steps=3, seed=4, device="cpu", **FAST)
    recipe = TrainRecipe(members=2, steps=3, seed=4, **FAST)
    assert len(list(iter_train_recipe(image, scribbles, recipe, device="cpu"))) == 3
    trainer = SegmentationTrainer(image, scribbles, recipe, device="cpu")
    steps = []
    gen = run_steps(trainer, on_step=lambda t: steps.append(t.step_done))
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        b = stop.value
    assert steps == [1, 2, 3] and b.config.metrics["stopped"] == "completed"
    sa, sb = a.network.state_dict(), b.network.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert TrainRecipe.from_model_config(b.config).replace(
        lr=None, class_weights="balanced") == recipe
    assert np.isclose(b.config.recipe["lr"], 0.05)
