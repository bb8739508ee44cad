"""Tiny models and images for the CLI tests: seconds, not minutes."""

import numpy as np
import pytest

from napari_sciseg.io.tiff import write_tiff


def save_tiny_model(path, n_classes: int = 2, seed: int = 0):
    """A 2-member SMSNet ensemble with random weights, saved to ``path``."""
    torch = pytest.importorskip("torch")
    del torch
    from napari_sciseg.dl import Ensemble, ModelConfig, TrainedModel, create_model, save_model

    nets = [
        create_model("smsnet", ndim=2, in_channels=1, out_channels=n_classes, depth=3,
                     seed=seed + s, dilations=(1, 2))
        for s in range(2)
    ]  # fmt: skip
    config = ModelConfig(
        arch="smsnet", member_configs=[n.config for n in nets], model_ndim=2, dim="2",
        slice_axis=0, in_channels=1, n_classes=n_classes,
        class_names=tuple(f"class {i}" for i in range(1, n_classes + 1)),
        normalization=((0.0, 255.0),), recipe={"val_fraction": 0.2, "split_seed": 0},
    )  # fmt: skip
    save_model(TrainedModel(network=Ensemble(nets).eval(), config=config), path)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """{n_classes: path} of a 2-class and a 7-class tiny model."""
    folder = tmp_path_factory.mktemp("models")
    return {k: save_tiny_model(folder / f"tiny{k}.sciseg", k, seed=k) for k in (2, 7)}


@pytest.fixture
def images(tmp_path):
    """A folder of four small calibrated 8-bit images."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        write_tiff(folder / f"im{i}.tif", rng.integers(0, 255, (32, 40), dtype=np.uint8),
                   spacing=(2.0, 2.0))  # fmt: skip
    return folder
