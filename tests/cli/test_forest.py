"""``sciseg train --arch forest`` then ``sciseg predict``: same outputs as an ensemble."""

import numpy as np
import tifffile

from napari_sciseg.cli import main
from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import load_model
from napari_sciseg.io.tiff import write_tiff


def test_train_forest_then_predict(tmp_path, capsys):
    image, scribbles, truth = scribbles_2d(shape=(96, 96), seed=2, return_truth=True)
    write_tiff(tmp_path / "image.tif", image)
    write_tiff(tmp_path / "labels.tif", scribbles)
    model = tmp_path / "fast.sciseg"
    code = main(["train", str(tmp_path / "image.tif"), str(tmp_path / "labels.tif"), "-o",
                 str(model), "--arch", "forest", "--trees", "6", "--sigmas", "1", "2", "4",
                 "--class-names", "matrix", "particle"])
    assert code == 0, capsys.readouterr().err
    assert "forest of 6 trees on 25 features" in capsys.readouterr().out
    forest = load_model(model)  # the one loader tells the formats apart
    assert forest.config.arch == "forest" and forest.config.class_names == ("matrix", "particle")
    out = tmp_path / "out"
    assert main(["predict", str(model), str(tmp_path / "image.tif"), "-o", str(out)]) == 0
    prob = tifffile.imread(out / "image_probability.tif")
    std = tifffile.imread(out / "image_std.tif")
    seg = tifffile.imread(out / "image_segmentation.tif")
    assert prob.shape == std.shape == (2, 96, 96) and seg.dtype == np.uint8
    fg = prob.argmax(0) == 1
    assert 2 * np.sum(fg & truth) / (fg.sum() + truth.sum()) > 0.8


def test_forest_with_one_class_is_a_clean_error(tmp_path, capsys):
    image, scribbles = scribbles_2d(shape=(48, 48))
    scribbles[scribbles == 2] = 0
    write_tiff(tmp_path / "image.tif", image)
    write_tiff(tmp_path / "labels.tif", scribbles)
    code = main(["train", str(tmp_path / "image.tif"), str(tmp_path / "labels.tif"), "-o",
                 str(tmp_path / "m.sciseg"), "--arch", "forest"])
    assert code == 2
    assert "Missing: class 2" in capsys.readouterr().err
