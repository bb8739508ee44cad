"""Pretrained encoders from a weight file on disk: VGG16 and ResNet18 in torchvision's layout.

No model hub: the user points at a ``state_dict`` saved as safetensors (for
example ``safetensors.torch.save_file(torchvision.models.vgg16(weights=...).state_dict(),
"vgg16.safetensors")`` on a machine that has them). The modules below are written
here with torchvision's parameter names, so such a file loads without
torchvision; a file of another layout is refused with the missing keys listed.
The classifier heads (``classifier.*``, ``fc.*``) are optional and unused.

**Hypercolumns** (:func:`hypercolumns`): the activations of the user-named
layers (``dict(net.named_modules())`` names, e.g. VGG16 ``features.3``,
``features.8``, ``features.15``, ``features.22``, ``features.29`` - the ReLUs
before each pooling, 64 + 128 + 256 + 512 + 512 = 1,472 channels, the study's
hypercolumn - or ResNet18 ``relu``, ``layer1`` ... ``layer4``), each upsampled
bilinearly to the output grid and stacked per pixel: an array of shape
``(Y // stride, X // stride, sum of the layers' channels)``.

Examples
--------
>>> import torch
>>> net = create_backbone("resnet18")
>>> hypercolumns(net, np.zeros((1, 32, 32), np.float32), ("layer1", "layer2"), stride=2).shape
(16, 16, 192)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["VGG16", "ResNet18", "BACKBONES", "create_backbone", "load_backbone",
           "hypercolumns", "layer_channels", "DEFAULT_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M")


class VGG16(nn.Module):
    """VGG16 (configuration D) with torchvision's names: ``features.N``, ``classifier.N``."""

    def __init__(self, n_classes: int = 1000):
        super().__init__()
        layers, c = [], 3
        for v in _VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 49, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, n_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class _Basic(nn.Module):
    """ResNet basic block (torchvision names conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """ResNet18 with torchvision's names: ``conv1``, ``bn1``, ``layer1-4``, ``fc``."""

    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = 64
        for i, width in enumerate((64, 128, 256, 512), start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(_Basic(c, width, stride),
                                                      _Basic(width, width, 1)))
            c = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


BACKBONES = {"vgg16": VGG16, "resnet18": ResNet18}
DEFAULT_LAYERS = {
    "vgg16": ("features.3", "features.8", "features.15", "features.22", "features.29"),
    "resnet18": ("relu", "layer1", "layer2", "layer3", "layer4"),
}
_HEADS = ("classifier.", "fc.")


def create_backbone(arch: str) -> nn.Module:
    """An untrained backbone (``"vgg16"`` or ``"resnet18"``) in eval mode."""
    if arch not in BACKBONES:
        raise ValueError(f"arch must be one of {', '.join(BACKBONES)}; got {arch!r}.")
    return BACKBONES[arch]().eval()


def load_backbone(path, arch: str) -> nn.Module:
    """A backbone with the weights of a torchvision-layout safetensors ``state_dict``.

    Parameters
    ----------
    path : str or Path
        ``.safetensors`` file (keys as in torchvision's ``state_dict()``).
    arch : {"vgg16", "resnet18"}

    Returns
    -------
    torch.nn.Module
        In eval mode.

    Raises
    ------
    ValueError
        The file's keys or shapes do not match ``arch`` (the missing keys are listed).
    """
    from safetensors.torch import load_file

    net = create_backbone(arch)
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors weight file ({exc}).") from None
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.startswith(_HEADS)
               and not k.endswith("num_batches_tracked")]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or wrong:
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12
                                           else "")
        raise ValueError(
            f"{path} does not hold a torchvision-layout {arch} state_dict: "
            + (f"missing keys {shown}" if missing else "")
            + ("; " if missing and wrong else "")
            + (f"wrong shapes {', '.join(wrong[:6])}" if wrong else "")
            + f". Save one with torch/safetensors from torchvision.models.{arch}().state_dict(), "
            "or pick the other architecture.")
    net.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    return net.eval()


def layer_channels(net: nn.Module, layers) -> list[int]:
    """Channels of each named layer's output (a dry run on a 32x32 input)."""
    return [f.shape[1] for f in _activations(net, torch.zeros(1, 3, 32, 32), layers)]


def _activations(net: nn.Module, x: torch.Tensor, layers) -> list[torch.Tensor]:
    modules = dict(net.named_modules())
    unknown = [n for n in layers if n not in modules or n == ""]
    if unknown:
        names = [n for n, m in net.named_modules() if n and not list(m.children())][:40]
        raise ValueError(f"Unknown layer(s) {', '.join(unknown)}; this network has e.g. "
                         f"{', '.join(names)} (and the blocks layer1...).")
    out: dict = {}
    hooks = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: out.__setitem__(n, o)) for n in layers]
    try:
        with torch.no_grad():
            _run_until(net, x, out, layers)
    finally:
        for h in hooks:
            h.remove()
    return [out[n] for n in layers]


class _Done(Exception):
    pass


def _run_until(net, x, out, layers):
    """Run the network only as far as the deepest requested layer."""
    last = set(layers)

    def stop(m, i, o):
        if last <= set(out):
            raise _Done

    hooks = [m.register_forward_hook(stop) for m in net.modules()]
    try:
        net(x)
    except _Done:
        pass
    finally:
        for h in hooks:
            h.remove()


def hypercolumns(net: nn.Module, image: np.ndarray, layers, *, stride: int = 1,
                 imagenet: bool = True) -> np.ndarray:
    """Per-pixel hypercolumns of a (C, Y, X) image in 0-1 (see the module docstring).

    Parameters
    ----------
    net : torch.nn.Module or OnnxEncoder
        A backbone (:func:`load_backbone`) or an ONNX graph
        (:class:`~napari_sciseg.dl.classify.onnx_encoder.OnnxEncoder`, which
        returns its own named tensors).
    image : (C, Y, X) ndarray
        One channel is repeated to three; three are taken as RGB.
    layers : sequence of str
        Module names whose outputs are stacked.
    stride : int
        Output grid step: (Y // stride, X // stride).
    imagenet : bool
        Standardise with ImageNet's channel means and deviations first.

    Returns
    -------
    (Y // stride, X // stride, D) float32 ndarray
        D is the sum of the layers' channels (:func:`layer_channels`).
    """
    x = torch.as_tensor(np.asarray(image, np.float32))[None]
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[1] != 3:
        raise ValueError(f"A pretrained backbone takes 1 or 3 channels; the image has "
                         f"{x.shape[1]}. Classify one channel or use the texture/cnn "
                         "representations.")
    if imagenet:
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[
            :, None, None]
    size = (x.shape[-2] // stride, x.shape[-1] // stride)
    if hasattr(net, "activations"):  # an ONNX encoder (.onnx_encoder.OnnxEncoder)
        acts = [torch.from_numpy(np.asarray(a)) for a in net.activations(x.numpy())]
    else:
        acts = _activations(net, x, layers)
    up = [F.interpolate(a, size=size, mode="bilinear", align_corners=False) for a in acts]
    return torch.cat(up, 1)[0].permute(1, 2, 0).numpy().astype(np.float32)
