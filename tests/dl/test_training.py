"""Sparse-label training: quality, reproducibility, cancellation, bad input."""

import threading

import numpy as np
import pytest
import torch
from skimage.filters import threshold_otsu

from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import TrainedModel, iter_train, train
from napari_sciseg.dl.training import macro_f1

TINY = {"depth": 3, "width": 2}
FAST = {"crop": 32, "device": "cpu", "model_kwargs": TINY}


@pytest.fixture(scope="module")
def task():
    return scribbles_2d(shape=(64, 64), seed=3)


def f1(pred, truth):
    return 2 * np.sum(pred & truth) / (pred.sum() + truth.sum())


def predict_2d(model, image):
    x = torch.from_numpy(model.normalize(image[None]))[None]
    with torch.no_grad():
        mean, _ = model.network(x)
    return mean[0].numpy()


def test_three_member_ensemble_reaches_f1_085_on_scribbles():
    image, scribbles, truth = scribbles_2d(shape=(192, 192), seed=0, return_truth=True)
    model = train(image, scribbles, members=3, steps=60, crop=64, batch=2, device="cpu",
                  model_kwargs={"depth": 8, "width": 4}, seed=0)
    pred = predict_2d(model, image).argmax(0) == 1
    assert f1(pred, truth) >= 0.85
    assert model.config.metrics["val_f1"] > 0.85
    assert len({str(m.graph["edges"]) for m in model.network.members}) == 3


def _fiber_task(shape=(24, 40, 40), seed=0):
    """Straight bright cylinders in noise on a background that rises along x."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape, dtype=float)
    truth = np.zeros(shape, bool)
    for _ in range(10):
        p = rng.uniform(0, 1, 3) * shape
        d = rng.normal(size=3) * (0.3, 1, 1)
        d /= np.linalg.norm(d)
        rel = np.stack([zz - p[0], yy - p[1], xx - p[2]], -1)
        dist = np.linalg.norm(rel - (rel @ d)[..., None] * d, axis=-1)
        truth |= dist < rng.uniform(1.8, 2.5)
    volume = 0.2 + 0.5 * xx / shape[2] + 0.3 * truth + rng.normal(0, 0.08, shape)
    scribbles = np.zeros(shape, np.uint8)
    for z in (4, 12, 19):  # sparse labels on three slices
        pick = rng.random(shape[1:])
        scribbles[z][(pick < 0.1) & ~truth[z]] = 1
        scribbles[z][(pick < 0.6) & truth[z]] = 2
    otsu = threshold_otsu(volume)
    return volume.astype(np.float32), scribbles, truth, f1(volume > otsu, truth)


def test_2d_model_on_slices_and_3d_model_beat_otsu_on_fibers():
    volume, scribbles, truth, otsu_f1 = _fiber_task()
    slices = train(volume, scribbles, dim="2.5", slice_axis=0, members=2, steps=50, crop=48,
                   device="cpu", model_kwargs={"depth": 5, "width": 4}, shared_dilations=False)
    x = torch.from_numpy(slices.normalize(volume[None])).permute(1, 0, 2, 3)
    with torch.no_grad():
        pred2 = slices.network(x)[0].argmax(1).numpy() == 1
    assert slices.config.model_ndim == 2 and slices.config.dim == "2.5"
    cube = train(volume, scribbles, dim="3", members=1, steps=60, crop=24, device="cpu",
                 model_kwargs={"depth": 4, "width": 4, "dilations": (1, 2, 3)})
    with torch.no_grad():
        pred3 = cube.network(torch.from_numpy(cube.normalize(volume[None]))[None])[0]
    pred3 = pred3[0].argmax(0).numpy() == 1
    assert cube.config.model_ndim == 3
    assert f1(pred2, truth) > otsu_f1 + 0.1
    assert f1(pred3, truth) > otsu_f1 + 0.03


def test_slice_axis_is_respected(task):
    image, scribbles = task
    volume = np.repeat(image[:, None, :], 6, axis=1)  # (Y, Z=6, X): slices along axis 1
    labels = np.repeat(scribbles[:, None, :], 6, axis=1)
    model = train(volume, labels, dim="2.5", slice_axis=1, members=1, steps=2, **FAST)
    assert model.config.slice_axis == 1 and model.config.model_ndim == 2


@pytest.mark.parametrize("arch,kwargs", [("tunet", {"depth": 2, "base_channels": 2}),
                                         ("msdnet", {"depth": 3, "max_dilation": 2})])
def test_other_architectures_train(task, arch, kwargs):
    image, scribbles = task
    model = train(image, scribbles, arch=arch, members=2, steps=3, crop=32, device="cpu",
                  model_kwargs=kwargs, loss="focal+dice")
    assert model.config.arch == arch and len(model.network.members) == 2
    assert not model.network.training


def test_same_seed_same_weights_other_seed_differs(task):
    image, scribbles = task
    a = train(image, scribbles, members=2, steps=4, seed=1, **FAST)
    b = train(image, scribbles, members=2, steps=4, seed=1, **FAST)
    c = train(image, scribbles, members=2, steps=4, seed=2, **FAST)
    sa, sb, sc = (m.network.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.config.member_configs != c.config.member_configs


def test_cancel_event_stops_within_one_step_and_keeps_members(task):
    image, scribbles = task
    cancel = threading.Event()
    gen = iter_train(image, scribbles, members=2, steps=50, cancel=cancel, **FAST)
    steps = []
    try:
        while True:
            p = next(gen)
            steps.append(p.step)
            if p.step == 3:
                cancel.set()
    except StopIteration as stop:
        model = stop.value
    assert steps == [1, 2, 3]
    assert isinstance(model, TrainedModel) and model.config.metrics["steps_done"] == 3
    mean, _ = model.network(torch.zeros(1, 1, 20, 20))
    assert torch.isfinite(mean).all()


def test_closing_the_generator_keeps_trained_members(task, tmp_path):
    from napari_sciseg.dl import load_model, save_model

    image, scribbles = task
    gen = iter_train(image, scribbles, members=2, steps=50, **FAST)
    first = next(gen)
    before = {k: v.clone() for k, v in first.model.network.state_dict().items()}
    for _ in range(3):
        last = next(gen)
    gen.close()
    model = last.model
    assert model.config.metrics["stopped"] == "closed"
    assert model.config.metrics["steps_done"] == 4
    after = model.network.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert load_model(save_model(model, tmp_path / "m.sciseg")).config.n_classes == 2


def test_progress_records(task):
    image, scribbles = task
    records = list(iter_train(image, scribbles, members=1, steps=10, val_every=5, **FAST))
    assert [r.step for r in records] == list(range(1, 11))
    assert records[-1].eta_s == 0 and records[0].total_steps == 10
    assert records[4].val_score is not None and records[3].val_score is None
    assert "CPU" in records[0].device


def test_multichannel_and_continue_training(task):
    image, scribbles = task
    two = np.stack([image, 1 - image], axis=-1)
    model = train(two, scribbles, channel_axis=-1, members=1, steps=2,
                  class_names=["matrix", "fiber", "pore"], **FAST)
    assert model.config.in_channels == 2 and len(model.config.normalization) == 2
    assert model.config.class_names == ("matrix", "fiber", "pore")
    more = train(two, scribbles, channel_axis=-1, members=1, steps=2, init=model, **FAST)
    assert more.config.member_configs == model.config.member_configs


def test_macro_f1_perfect_and_ignores_unlabeled():
    assert macro_f1(np.array([1, 2, 1]), np.array([1, 2, 0])) == 1.0


# --- bad input --------------------------------------------------------------------------
def bad(image, labels, **kw):
    train(image, labels, members=1, steps=1, **{**FAST, **kw})


def test_no_labels(task):
    with pytest.raises(ValueError, match="no labeled pixels.*Paint a few strokes"):
        bad(task[0], np.zeros_like(task[1]))


def test_one_class_only(task):
    with pytest.raises(ValueError, match=r"only one class \(1\).*at least two"):
        bad(task[0], (task[1] == 1).astype(np.uint8))
    # only value 2 painted: class 1 would never be trained (a stray brush value)
    with pytest.raises(ValueError, match=r"labels use value 2.*classes \[1\] are never painted"):
        bad(task[0], (task[1] == 2).astype(np.uint8) * 2)


def test_labels_shape_mismatch(task):
    with pytest.raises(ValueError, match=r"labels shape \(64, 63\) does not match.*\(64, 64\)"):
        bad(task[0], task[1][:, :63])


def test_labels_beyond_declared_classes(task):
    labels = task[1].copy()
    labels[0, 0] = 3
    with pytest.raises(ValueError, match="labels use class 3 but only 2 classes are declared"):
        bad(task[0], labels, class_names=["background", "particle"])


def test_nan_in_image(task):
    image = task[0].copy()
    image[3, 4] = np.nan
    with pytest.raises(ValueError, match="image contains 1 NaN and 0 infinite values"):
        bad(image, task[1])


def test_image_smaller_than_receptive_field():
    image, scribbles = scribbles_2d(shape=(24, 24), seed=1)
    with pytest.raises(ValueError, match="smaller than the network's receptive field"):
        bad(image, scribbles, model_kwargs={"depth": 12, "dilations": (8,)})


def test_unknown_architecture(task):
    with pytest.raises(ValueError, match="Unknown architecture 'resnet'.*'smsnet'"):
        bad(task[0], task[1], arch="resnet", model_kwargs={})


def test_volume_given_for_2d(task):
    with pytest.raises(ValueError, match=r"dim='2' needs a 2D image.*'2.5' or '3' for volumes"):
        bad(np.stack([task[0]] * 3), np.stack([task[1]] * 3))


def test_unknown_dim_and_device(task):
    with pytest.raises(ValueError, match=r"Unknown dim '4'; expected one of '2', '2.5', '3'"):
        bad(task[0], task[1], dim="4")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        bad(task[0], task[1], device="tpu")


def test_per_edge_dilations_train_too(task):
    image, scribbles = task
    model = train(image, scribbles, members=2, steps=3, shared_dilations=False, **FAST)
    per_node = [{d for _, t, d in m.graph["edges"] if t == j}
                for m in model.network.members for j in range(1, 4)]
    assert len(model.network.members) == 2 and all(per_node)


def test_members_share_node_dilations_but_not_edges(task):
    image, scribbles = task
    model = train(image, scribbles, members=3, steps=1, **FAST)
    graphs = [m.graph for m in model.network.members]
    node_dils = [[{d for _, t, d in g["edges"] if t == j} for j in range(1, 4)] for g in graphs]
    assert node_dils[0] == node_dils[1] == node_dils[2]
    assert all(len(s) == 1 for s in node_dils[0])
