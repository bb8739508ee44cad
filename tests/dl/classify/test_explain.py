"""Grad-CAM and occlusion maps show where a classifier looks."""

import numpy as np
import torch
from torch import nn

from napari_sciseg.data.cnt import cnt_images
from napari_sciseg.dl.classify.explain import explain_image, grad_cam, occlusion_map
from napari_sciseg.dl.classify.workflow import train_classifier


class _RightBlind(nn.Module):
    def forward(self, x):
        mask = torch.zeros_like(x)
        mask[..., : x.shape[-1] // 2] = 1
        return x * mask


def _left_half_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), _RightBlind(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)).eval()


def test_grad_cam_of_a_left_half_model_is_zero_on_the_right():
    net = _left_half_model()
    image = np.random.default_rng(1).random((1, 32, 32), np.float32)
    cams = [grad_cam(net, image, c, layer=net[1]) for c in (0, 1)]
    for cam in cams:
        assert cam.shape == (32, 32)
        assert np.all(cam[:, 17:] == 0)  # bilinear upsampling may touch column 16
    assert max(cam[:, :16].max() for cam in cams) == 1.0


def test_occlusion_of_a_left_half_model_is_zero_on_the_right():
    net = _left_half_model()
    image = np.random.default_rng(2).random((1, 32, 32), np.float32)

    def predict(im):
        with torch.no_grad():
            return torch.softmax(net(torch.from_numpy(im)[None]), 1)[0].numpy()

    heats = [occlusion_map(predict, image, c, patch=8, stride=4) for c in (0, 1)]
    for heat in heats:  # no patch that touches the left half covers these columns
        assert np.all(heat[:, 16 + 8:] == 0)
    # hiding left patches lowers one of the two classes somewhere
    assert max(h[:, :16].max() for h in heats) > 0


def test_explain_a_trained_cnn_on_the_image_grid():
    s = cnt_images(12, shape=(40, 40), seed=0)
    model = train_classifier(s.images, s.labels, s.class_names, representation="cnn", epochs=1,
                             calibrate=False)
    heat, k = explain_image(model, s.images[0])
    assert heat.shape == (40, 40) and 0 <= k < 4
    assert heat.min() >= 0 and heat.max() <= 1
