"""Model files: save -> load gives identical outputs; bad files give clear errors."""

import json
import zipfile

import numpy as np
import pytest
import torch

from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import load_model, save_model, train


@pytest.fixture(scope="module")
def model():
    image, scribbles = scribbles_2d(shape=(48, 48), seed=2)
    return train(image, scribbles, members=2, steps=2, crop=32, device="cpu",
                 model_kwargs={"depth": 3, "width": 2}, class_names=["bg", "fg"],
                 class_colors=[(0, 0, 1, 1), (1, 0, 0, 1)])


@pytest.mark.parametrize("where", ["m.sciseg", "folder/"])
def test_save_load_identical_output(model, tmp_path, where):
    path = save_model(model, str(tmp_path / where))
    loaded = load_model(path)
    assert loaded.config == model.config
    x = torch.rand(1, 1, 21, 19)
    with torch.no_grad():
        for a, b in zip(model.network(x), loaded.network(x)):
            assert torch.equal(a, b)
    image = np.random.default_rng(0).random((3, 3))
    np.testing.assert_array_equal(loaded.normalize(image[None]), model.normalize(image[None]))


@pytest.mark.parametrize("arch,kwargs", [("tunet", {"depth": 2, "base_channels": 2}),
                                         ("msdnet", {"depth": 3})])
def test_other_architectures_round_trip(tmp_path, arch, kwargs):
    image, scribbles = scribbles_2d(shape=(48, 48), seed=2)
    model = train(image, scribbles, arch=arch, members=1, steps=2, crop=32, device="cpu",
                  model_kwargs=kwargs)
    loaded = load_model(save_model(model, tmp_path / "m.sciseg"))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model.network(x)[0], loaded.network(x)[0])


def test_truncated_file(model, tmp_path):
    path = save_model(model, tmp_path / "m.sciseg")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.sciseg: .*corrupt/truncated"):
        load_model(path)


def test_foreign_file(tmp_path):
    path = tmp_path / "image.sciseg"
    path.write_bytes(b"II*\x00 a tiff, not a model")
    with pytest.raises(ValueError, match=r"image\.sciseg: not a napari-sciseg model file"):
        load_model(path)


def test_foreign_zip(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.pkl", b"\x80\x04")
    with pytest.raises(ValueError, match=r"other\.zip: a zip file but not a napari-sciseg model"):
        load_model(path)


def _rewrite_config(path, change):
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("config.json"))
        weights = zf.read("weights.safetensors")
    change(header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(header))
        zf.writestr("weights.safetensors", weights)


def test_newer_format_version(model, tmp_path):
    path = save_model(model, tmp_path / "m.sciseg")
    _rewrite_config(path, lambda h: h.update(format_version=99))
    with pytest.raises(ValueError, match=r"m\.sciseg: written by a newer napari-sciseg"):
        load_model(path)


def test_other_json_format(model, tmp_path):
    path = save_model(model, tmp_path / "m.sciseg")
    _rewrite_config(path, lambda h: h.update(format="something else"))
    with pytest.raises(ValueError, match="not a napari-sciseg segmentation model"):
        load_model(path)


def test_weights_not_matching_graph(model, tmp_path):
    path = save_model(model, tmp_path / "m.sciseg")

    def change(h):
        h["config"]["member_configs"][0]["kwargs"]["width"] = 5

    _rewrite_config(path, change)
    with pytest.raises(ValueError, match="weights do not match the saved architecture"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_model(tmp_path / "nope.sciseg")


def test_safetensors_whose_header_length_looks_like_a_pickle_still_loads(tmp_path):
    """A header of 0x380 bytes starts the file with 80 03, the bytes of pickle's PROTO 3."""
    import pickle

    from safetensors.torch import save as save_tensors

    from napari_sciseg.dl.serialization import _read_tensors

    tensors = {"w": torch.arange(4, dtype=torch.float32)}
    for pad in range(2000):
        blob = save_tensors(tensors, metadata={"pad": "x" * pad})
        if blob[:2] == b"\x80\x03":
            break
    else:
        pytest.fail("no padding gave a header length starting with 80 03")
    loaded = _read_tensors(tmp_path / "m.sciseg", blob)
    assert torch.equal(loaded["w"], tensors["w"])
    with pytest.raises(ValueError, match="pickled Python objects"):
        _read_tensors(tmp_path / "m.sciseg", pickle.dumps({"w": [1.0]}, protocol=3))
