"""Write the reference model files of tests/dl/test_saved_models.py (run once, from main).

The files were written by main at commit 544b841 (before the training refactor of
issue 13) with ``python tests/data/models/make_models.py``; the test loads them with
today's code and checks that the saved predictions come out again. Do not re-run it
to "fix" a failing test: a failure means old model files no longer load unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import predict, save_model, train

HERE = Path(__file__).parent


def volume(seed: int = 0, shape=(24, 24, 24)):
    """A smoothed-noise volume and sparse labels on three slices."""
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.normal(size=shape), 2.0)
    truth = smooth > 0
    image = (0.3 + 0.4 * truth + rng.normal(0, 0.08, shape)).astype(np.float32)
    labels = np.zeros(shape, np.uint8)
    for z in (4, 12, 20):
        labels[z, ::3, ::3] = np.where(truth[z, ::3, ::3], 2, 1)
    return image, labels


CASES = {
    # name: (data, train kwargs)
    "smsnet2d": ("2d", dict(arch="smsnet", members=2, steps=4, crop=32,
                            model_kwargs={"depth": 4})),
    "smsnet3d": ("3d", dict(arch="smsnet", members=2, steps=3, crop=16, dim="3",
                            model_kwargs={"depth": 3})),
    "smsnet25d": ("3d", dict(arch="smsnet", members=2, steps=3, crop=16, dim="2.5",
                             slice_axis=1, model_kwargs={"depth": 3})),
    "tunet2d": ("2d", dict(arch="tunet", members=1, steps=3, crop=32,
                           model_kwargs={"depth": 2, "base_channels": 4})),
    "msdnet2d": ("2d", dict(arch="msdnet", members=2, steps=3, crop=32,
                            model_kwargs={"depth": 4})),
}


def inputs():
    image2d, scribbles2d = scribbles_2d(shape=(48, 48), seed=3)
    image3d, labels3d = volume()
    return {"2d": (image2d, scribbles2d), "3d": (image3d, labels3d)}


def main() -> None:
    torch.set_num_threads(1)
    data = inputs()
    np.savez_compressed(HERE / "inputs.npz", image2d=data["2d"][0], labels2d=data["2d"][1],
                        image3d=data["3d"][0], labels3d=data["3d"][1])
    expected = {}
    for name, (which, kwargs) in CASES.items():
        image, labels = data[which]
        model = train(image, labels, seed=1, device="cpu", **kwargs)
        save_model(model, HERE / f"{name}.sciseg")
        result = predict(model, image, device="cpu")
        expected[f"{name}_mean"] = result.mean
        expected[f"{name}_std"] = result.std
        expected[f"{name}_segmentation"] = result.segmentation
    np.savez_compressed(HERE / "expected.npz", **expected)


if __name__ == "__main__":
    main()
