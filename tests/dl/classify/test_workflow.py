"""Image classifier workflows: grouped CV, save -> load -> same predictions, tiles, mixed sizes."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_sciseg.data.cnt import cnt_images, cnt_tem
from napari_sciseg.dl.classify.backbones import create_backbone
from napari_sciseg.dl.classify.io import load_classifier, save_classifier
from napari_sciseg.dl.classify.workflow import (
    cross_validate,
    predict_images,
    predict_tiles,
    train_classifier,
)

FAST = {"n_estimators": 15, "pixels_per_image": 200, "k": 8}


@pytest.fixture(scope="module")
def small():
    return cnt_images(24, shape=(48, 48), mixed_sizes=True, seed=3)


def test_grouped_cv_never_splits_a_group(small):
    groups = small.groups
    cv = cross_validate(small.images, small.labels, small.class_names, spacings=small.spacings,
                        groups=groups, n_folds=3, representation="texture", **FAST)
    fold_of = {}
    for k, test in enumerate(cv.folds):
        for i in test:
            assert fold_of.setdefault(groups[i], k) == k
    assert sorted(np.concatenate(cv.folds).tolist()) == list(range(len(groups)))
    assert cv.proba.shape == (len(groups), 4)
    assert np.allclose(cv.proba.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("representation", ["vlad", "texture"])
def test_save_load_same_predictions(small, tmp_path, representation):
    model = train_classifier(small.images, small.labels, small.class_names,
                             spacings=small.spacings, representation=representation, **FAST)
    assert model.config.target_spacing == pytest.approx(np.median(small.spacings))
    path = save_classifier(model, tmp_path / "m.sciseg")
    again = load_classifier(path)
    assert again.config == model.config
    a = predict_images(model, small.images[:6], spacings=small.spacings[:6])
    assert np.array_equal(a, predict_images(again, small.images[:6], spacings=small.spacings[:6]))


def test_hypercolumn_model_is_self_contained(small, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "r18.safetensors"
    save_file(create_backbone("resnet18").state_dict(), str(weights))
    model = train_classifier(small.images, small.labels, small.class_names,
                             representation="hypercolumn", weights=str(weights),
                             arch="resnet18", layers=("layer1", "layer2"), calibrate=False,
                             **FAST)
    path = save_classifier(model, tmp_path / "h.sciseg")
    weights.unlink()  # the model file carries the encoder
    again = load_classifier(path)
    assert np.allclose(predict_images(model, small.images[:3]),
                       predict_images(again, small.images[:3]), atol=1e-6)


def test_class_map_of_tiles(small):
    model = train_classifier(small.images, small.labels, small.class_names,
                             representation="texture", calibrate=False, **FAST)
    big = np.concatenate([cnt_tem("cluster", shape=(64, 80)), cnt_tem("fiber", shape=(64, 80))],
                         axis=1)  # two kinds side by side
    grid, step = predict_tiles(model, big, tile=32)
    assert grid.shape == (2, 5, 4) and step == 32
    assert np.allclose(grid.sum(-1), 1, atol=1e-5)


def test_wrong_channel_count_is_refused(small):
    model = train_classifier(small.images, small.labels, small.class_names,
                             representation="texture", calibrate=False, **FAST)
    with pytest.raises(ValueError, match="takes 1 channel"):
        predict_images(model, [np.zeros((3, 32, 32))])


def test_hypercolumn_needs_weights():
    with pytest.raises(ValueError, match="needs weights="):
        train_classifier([np.zeros((32, 32))] * 2, [0, 1], ("a", "b"),
                         representation="hypercolumn")


def test_pretrained_and_scratch_cnn_save_load(small, tmp_path):
    for representation in ("cnn", "pretrained"):
        model = train_classifier(small.images, small.labels, small.class_names,
                                 spacings=small.spacings, representation=representation,
                                 epochs=1, pretrain_epochs=1, calibrate=False)
        again = load_classifier(save_classifier(model, tmp_path / f"{representation}.sciseg"))
        assert again.config.net == model.config.net
        a = predict_images(model, small.images[:4], spacings=small.spacings[:4])
        b = predict_images(again, small.images[:4], spacings=small.spacings[:4])
        assert np.allclose(a, b, atol=1e-6)


def test_onnx_hypercolumn_model_is_self_contained(small, tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, padding=1, stride=2), torch.nn.ReLU())
    weights = tmp_path / "tiny.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(weights), input_names=["x"],
                      output_names=["out"], dynamic_axes={"x": {2: "h", 3: "w"}}, dynamo=False)
    model = train_classifier(small.images, small.labels, small.class_names,
                             representation="hypercolumn", weights=str(weights),
                             layers=("/1/Relu_output_0", "out"), calibrate=False,
                             **FAST)
    path = save_classifier(model, tmp_path / "o.sciseg")
    weights.unlink()
    again = load_classifier(path)
    assert again.config.encoder["arch"] == "onnx"
    assert np.allclose(predict_images(model, small.images[:3]),
                       predict_images(again, small.images[:3]), atol=1e-6)
