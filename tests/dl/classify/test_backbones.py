"""User weight files in torchvision's layout: loading, hypercolumn shapes, layout errors."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_sciseg.dl.classify.backbones import (
    DEFAULT_LAYERS,
    VGG16,
    create_backbone,
    hypercolumns,
    layer_channels,
    load_backbone,
)


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    torch.manual_seed(0)
    net = create_backbone("resnet18")
    path = tmp_path_factory.mktemp("w") / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path, net


def test_weight_file_loads_the_same_weights(resnet_file):
    path, net = resnet_file
    loaded = load_backbone(path, "resnet18")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x))


def test_hypercolumn_shapes(resnet_file):
    net = load_backbone(resnet_file[0], "resnet18")
    layers = DEFAULT_LAYERS["resnet18"]
    assert layer_channels(net, layers) == [64, 64, 128, 256, 512]
    h = hypercolumns(net, np.random.default_rng(0).random((1, 40, 48), np.float32), layers,
                     stride=4)
    assert h.shape == (10, 12, 64 + 64 + 128 + 256 + 512) and h.dtype == np.float32


def test_vgg16_layout_gives_the_studys_1472_channels():
    with torch.device("meta"):
        net = VGG16()
    names = set(net.state_dict())
    assert {"features.0.weight", "features.28.bias", "classifier.6.weight"} <= names
    assert sum(net.features[int(n.split(".")[1]) - 1].out_channels
               for n in DEFAULT_LAYERS["vgg16"]) == 1472


def test_layout_mismatch_lists_missing_keys(resnet_file, tmp_path):
    state = {k: v for k, v in resnet_file[1].state_dict().items() if not k.startswith("layer4")}
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match=r"missing keys layer4\.0\.conv1\.weight"):
        load_backbone(path, "resnet18")
    with pytest.raises(ValueError, match="missing keys features.0.weight"):
        load_backbone(resnet_file[0], "vgg16")


def test_unknown_layer_names_the_layers(resnet_file):
    net = load_backbone(resnet_file[0], "resnet18")
    with pytest.raises(ValueError, match="Unknown layer.*layer9.*conv1"):
        hypercolumns(net, np.zeros((1, 32, 32), np.float32), ("layer9",))


def test_onnx_file_gives_hypercolumns_and_names_tensors(resnet_file, tmp_path):
    pytest.importorskip("onnxruntime")
    from napari_sciseg.dl.classify.onnx_encoder import OnnxEncoder

    net = resnet_file[1]
    path = tmp_path / "r18.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), str(path), input_names=["x"],
                      dynamic_axes={"x": {2: "h", 3: "w"}}, dynamo=False)
    with pytest.raises(ValueError, match=r"unknown: layer1.*Relu_output_0"):
        OnnxEncoder.from_file(path, ("layer1",))
    layers = ("/relu/Relu_output_0", "/layer1/layer1.1/relu_1/Relu_output_0")
    enc = OnnxEncoder.from_file(path, layers)
    image = np.random.default_rng(0).random((1, 48, 48), np.float32)
    h = hypercolumns(enc, image, layers, stride=2)
    assert h.shape == (24, 24, 128)
    # the same numbers as the torch module's relu and layer1 outputs
    assert np.allclose(h, hypercolumns(net, image, ("relu", "layer1"), stride=2), atol=1e-4)
