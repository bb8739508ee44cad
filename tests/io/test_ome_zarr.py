"""OME-Zarr: predict --zarr writes NGFF pyramids with units; read back lazily with the scale."""

import numpy as np
import pytest
import zarr

from napari_sciseg.cli import main
from napari_sciseg.io import read_image
from napari_sciseg.io.ome_zarr import read_ome_zarr_layers, write_prediction_pyramids
from napari_sciseg.io.tiff import write_tiff


def _predicted_group(path, shape=(160, 140), classes=2):
    g = zarr.open_group(str(path), mode="w")
    rng = np.random.default_rng(0)
    mean = rng.random((classes, *shape)).astype("f4")
    g.create_array("mean", data=mean, chunks=(1, 64, 64))
    g.create_array("std", data=mean / 10, chunks=(1, 64, 64))
    g.create_array("segmentation", data=(mean.argmax(0) + 1).astype("u1"), chunks=(64, 64))
    g.create_array("uncertainty", data=mean[0] / 5, chunks=(64, 64))
    return g, mean


def test_pyramids_keep_data_scale_and_units(tmp_path):
    g, mean = _predicted_group(tmp_path / "p.zarr")
    write_prediction_pyramids(g, spacing=(0.25, 0.5), unit="µm", class_names=["bg", "fg"],
                              class_colors=[(0, 0, 0, 1), (1, 0, 0, 1)])
    layers = {layer.name: layer for layer in read_ome_zarr_layers(tmp_path / "p.zarr")}
    assert set(layers) == {"probability", "std", "uncertainty", "segmentation"}
    prob = layers["probability"]
    assert prob.image.axes == "CYX" and prob.image.unit == "nm"
    assert prob.image.spacing == (250.0, 500.0)  # µm -> nm
    assert [lv.shape for lv in prob.levels] == [(2, 160, 140), (2, 80, 70)]
    np.testing.assert_array_equal(np.asarray(prob.levels[0]), mean)
    np.testing.assert_allclose(np.asarray(prob.levels[1])[0, 0, 0], mean[0, :2, :2].mean(),
                               rtol=1e-6)
    seg = layers["segmentation"]
    assert seg.kind == "labels" and seg.levels[1].dtype == np.uint8
    attrs = dict(zarr.open_group(str(tmp_path / "p.zarr"))["labels/segmentation"].attrs)["ome"]
    assert attrs["image-label"]["colors"][1]["rgba"] == [255, 0, 0, 255]
    ms = dict(zarr.open_group(str(tmp_path / "p.zarr")).attrs)["ome"]["multiscales"][0]
    assert ms["axes"][1] == {"name": "y", "type": "space", "unit": "micrometer"}
    assert ms["datasets"][1]["coordinateTransformations"][0]["scale"] == [1.0, 0.5, 1.0]
    # read_image opens it lazily (dask), calibrated
    img = read_image(tmp_path / "p.zarr")
    assert hasattr(img.data, "dask") and img.calibrated and img.spacing == (250.0, 500.0)


def test_zarr_without_multiscales_is_refused(tmp_path):
    g = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    g.create_array("image", data=np.zeros((8, 8), "u1"))
    with pytest.raises(ValueError, match="without OME-Zarr multiscales metadata"):
        read_ome_zarr_layers(tmp_path / "plain.zarr")


def test_predict_zarr_writes_ome_zarr_that_predict_and_napari_read(tmp_path, make_napari_viewer):
    from napari_sciseg._napari._reader import get_reader
    from napari_sciseg.dl.config import ModelConfig, TrainedModel
    from napari_sciseg.dl.models import Ensemble, create_model
    from napari_sciseg.dl.serialization import save_model

    nets = [create_model("msdnet", ndim=2, in_channels=1, out_channels=2, depth=3, seed=s)
            for s in range(2)]
    config = ModelConfig(arch="msdnet", member_configs=[n.config for n in nets], model_ndim=2,
                         dim="2", slice_axis=0, in_channels=1, n_classes=2,
                         class_names=("bg", "fg"), class_colors=(None, (1.0, 0.0, 0.0, 1.0)),
                         normalization=((0.0, 1.0),))
    model = save_model(TrainedModel(Ensemble(nets).eval(), config), tmp_path / "m.sciseg")
    image = np.random.default_rng(1).random((140, 150)).astype(np.float32)
    write_tiff(tmp_path / "img.tif", image, spacing=(2.0, 2.0), unit="nm")
    assert main(["predict", str(model), str(tmp_path / "img.tif"), "-o", str(tmp_path / "o"),
                 "--zarr", "--device", "cpu"]) == 0
    store = tmp_path / "o" / "img.zarr"
    group = zarr.open_group(str(store), mode="r")
    assert "multiscales" in group.attrs["ome"] and group.attrs["spacing"] == [2.0, 2.0]
    # an OME-Zarr input (NGFF 0.4, zarr v2) is predicted lazily, with its scale
    src = zarr.open_group(str(tmp_path / "in.zarr"), mode="w", zarr_format=2)
    src.create_array("0", data=image, chunks=(64, 64))
    axes = [{"name": a, "type": "space", "unit": "nanometer"} for a in "yx"]
    src.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [2.0, 2.0]}]}]}]
    assert main(["predict", str(model), str(tmp_path / "in.zarr"), "-o", str(tmp_path / "again"),
                 "--device", "cpu"]) == 0
    again = read_image(tmp_path / "again" / "in_probability.tif")
    assert again.spacing == (2.0, 2.0)
    # napari opens it through our reader, calibrated
    reader = get_reader(str(store))
    assert reader is not None
    viewer = make_napari_viewer()
    for data, kwargs, kind in reader(str(store)):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    seg = viewer.layers["img segmentation"]
    assert seg.multiscale and tuple(seg.scale) == (2.0, 2.0)
    assert str(seg.units[0]) == "nanometer"
    assert len([la for la in viewer.layers if la.name.startswith("img probability")]) == 2
