"""ONNX export: the same numbers as torch through the same tiling; clear refusals."""

import numpy as np
import pytest
import torch
from torch import nn

from napari_sciseg.cli import main
from napari_sciseg.dl.config import TrainedModel
from napari_sciseg.dl.export import load_any_model
from napari_sciseg.dl.export.onnx import OnnxExportError, export_onnx, load_onnx
from napari_sciseg.dl.models import Ensemble
from napari_sciseg.dl.models.base import SegmentationModel
from napari_sciseg.dl.prediction import predict
from napari_sciseg.dl.serialization import save_model
from napari_sciseg.io.tiff import write_tiff

from .conftest import make_model


@pytest.mark.parametrize("arch,ndim,shape,tile", [
    ("smsnet", 2, (70, 83), 41),
    ("msdnet", 2, (64, 64), 37),
    ("tunet", 2, (61, 50), 39),  # windows of odd size: our numpy padding = the U-Net's own
    ("smsnet", 3, (12, 40, 36), 27),
])
def test_onnx_predicts_what_torch_predicts(tmp_path, arch, ndim, shape, tile):
    trained = make_model(arch, ndim, **({"depth": 2} if ndim == 3 else {}))
    path = export_onnx(trained, tmp_path / "m.onnx")
    onnx_model = load_onnx(path, threads=1)
    assert onnx_model.config == trained.config
    assert onnx_model.receptive_field == trained.receptive_field
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    a = predict(trained, image, tile=tile, device="cpu")
    b = predict(onnx_model, image, tile=tile, device="cpu")
    np.testing.assert_allclose(b.mean, a.mean, atol=1e-4)
    np.testing.assert_allclose(b.std, a.std, atol=1e-4)
    assert a.std.max() > 1e-3  # members disagree: std is tested, not zeros
    assert (a.segmentation != b.segmentation).mean() < 1e-3


class BesselGate(nn.Module):
    """A custom layer with an operator ONNX lacks (aten::i0)."""

    def forward(self, x):
        return x * torch.special.i0(x)


class CustomNet(SegmentationModel):
    arch = "custom"

    def __init__(self):
        super().__init__(ndim=2, in_channels=1, out_channels=2)
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.gate = BesselGate()

    @property
    def receptive_field(self):
        return 1

    def forward(self, x):
        return self.gate(self.conv(x))


def test_a_layer_onnx_cannot_export_is_named(tmp_path, smsnet_2d):
    trained = TrainedModel(network=Ensemble([CustomNet()]).eval(), config=smsnet_2d.config)
    with pytest.raises(OnnxExportError, match=r"members\.0\.gate \(BesselGate: .*aten::i0"):
        export_onnx(trained, tmp_path / "bad.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_refusals(tmp_path, smsnet_2d):
    path = export_onnx(smsnet_2d, tmp_path / "m.onnx")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(smsnet_2d, path)
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="must end in .onnx"):
        export_onnx(smsnet_2d, tmp_path / "m.bin")
    # an ONNX file from another tool: no classes, normalisation or halo -> refused
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ValueError, match="not exported by napari-sciseg"):
        load_any_model(tmp_path / "foreign.onnx")


def test_cli_export_and_predict_onnx(tmp_path, smsnet_2d, capsys):
    model = save_model(smsnet_2d, tmp_path / "m.sciseg")
    image = np.random.default_rng(1).random((90, 70)).astype(np.float32)
    write_tiff(tmp_path / "img.tif", image, spacing=(2.0, 2.0), unit="nm")
    assert main(["export", str(model), "--format", "onnx"]) == 0
    assert (tmp_path / "m.onnx").is_file()
    assert main(["export", str(model), "--format", "onnx"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    for m, out in ((model, "torch"), (tmp_path / "m.onnx", "onnx")):
        assert main(["predict", str(m), str(tmp_path / "img.tif"), "-o", str(tmp_path / out),
                     "--device", "cpu", "--tile", "50"]) == 0
    import tifffile

    for name in ("probability", "std"):
        a = tifffile.imread(tmp_path / "torch" / f"img_{name}.tif")
        b = tifffile.imread(tmp_path / "onnx" / f"img_{name}.tif")
        np.testing.assert_allclose(b, a, atol=1e-4)
