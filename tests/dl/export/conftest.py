import pytest
import torch

from napari_sciseg.dl.config import ModelConfig, TrainedModel
from napari_sciseg.dl.models import Ensemble, create_model


def make_model(arch: str = "smsnet", ndim: int = 2, members: int = 2, classes: int = 2,
               **kw) -> TrainedModel:
    """An untrained ensemble with random weights and a full configuration (seconds to build)."""
    kw = kw or {"smsnet": {"depth": 3}, "msdnet": {"depth": 3},
                "tunet": {"depth": 2, "base_channels": 4}}[arch]
    nets = [create_model(arch, ndim=ndim, in_channels=1, out_channels=classes, seed=s, **kw)
            for s in range(members)]
    with torch.no_grad():  # sharper, more varied outputs than the initial weights
        for i, n in enumerate(nets):
            for p in n.parameters():
                p.mul_(1.5 + i)
    network = Ensemble(nets).eval()
    config = ModelConfig(
        arch=arch, member_configs=[n.config for n in nets], model_ndim=ndim,
        dim=str(ndim), slice_axis=0, in_channels=1, n_classes=classes,
        class_names=tuple(f"class {i + 1}" for i in range(classes)),
        class_colors=(None,) * classes, normalization=((0.0, 1.0),),
        recipe={"loss": "ce", "steps": 0, "note": "random weights for tests"},
    )
    return TrainedModel(network=network, config=config)


@pytest.fixture(scope="module")
def smsnet_2d():
    return make_model("smsnet", 2)
