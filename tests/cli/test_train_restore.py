"""``sciseg train --task inpainting|denoising`` and ``sciseg predict`` of the stored task."""

import re

import numpy as np
import pytest

from napari_sciseg.cli import main
from napari_sciseg.data.scattering import scattering_pattern
from napari_sciseg.dl import load_model
from napari_sciseg.io import read_image
from napari_sciseg.io.tiff import write_tiff

pytestmark = pytest.mark.usefixtures("few_torch_threads")
FAST = ["--steps", "2", "--crop", "32", "--device", "cpu"]


@pytest.fixture
def files(tmp_path):
    pattern, gaps = scattering_pattern((64, 64), seed=1, module=(20, 28), gap=(3, 2))
    write_tiff(tmp_path / "pattern.tif", pattern)
    write_tiff(tmp_path / "gaps.tif", gaps.astype(np.uint8))
    return tmp_path


def test_inpainting_train_then_predict_fills_only_the_gaps(files, capsys):
    model = files / "gaps.sciseg"
    assert main(["train", str(files / "pattern.tif"), "--task", "inpainting", "--mask",
                 str(files / "gaps.tif"), "--log-counts", "-o", str(model), *FAST]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("inpainting: validation r ") and str(model) in last
    trained = load_model(model)
    assert (trained.config.task, trained.config.recipe["transform"]) == ("inpaint", "log1p")
    assert trained.config.arch == "tunet" and len(trained.network.members) == 1
    out = files / "out"
    assert main(["predict", str(model), str(files / "pattern.tif"), "-o", str(out),
                 "--mask", str(files / "gaps.tif"), "--device", "cpu"]) == 0
    filled = np.asarray(read_image(out / "pattern_inpainted.tif").data)
    pattern = np.asarray(read_image(files / "pattern.tif").data)
    gaps = np.asarray(read_image(files / "gaps.tif").data) != 0
    np.testing.assert_array_equal(filled[~gaps], pattern[~gaps])
    assert (filled[gaps] > 0).all() and (out / "pattern_std.tif").exists()


def test_denoising_self_supervised_and_paired(files, capsys):
    model = files / "d.sciseg"
    assert main(["train", str(files / "pattern.tif"), "--task", "denoising", "-o", str(model),
                 "--loss", "huber", *FAST]) == 0
    cfg = load_model(model).config
    assert cfg.task == "denoise" and cfg.recipe["self_supervised"] is True
    assert cfg.recipe["loss"] == "huber"
    assert main(["train", str(files / "pattern.tif"), "--task", "denoising", "--clean",
                 str(files / "pattern.tif"), "-o", str(files / "p.sciseg"), *FAST]) == 0
    assert load_model(files / "p.sciseg").config.recipe["self_supervised"] is False
    assert main(["predict", str(model), str(files / "pattern.tif"), "-o",
                 str(files / "out"), "--device", "cpu"]) == 0
    assert (files / "out" / "pattern_denoised.tif").exists()


@pytest.mark.parametrize("argv, message", [
    (["--task", "inpainting"], "--task inpainting needs --mask"),
    (["LABELS", "--task", "inpainting", "--mask", "MASK"], "--task inpainting takes no LABELS"),
    (["--task", "denoising", "--mask", "MASK"], "--mask is for --task inpainting"),
    (["--mask", "MASK"], "segmentation needs LABELS"),
    (["--task", "inpainting", "--mask", "MASK", "--loss", "ce"], "Unknown regression loss 'ce'"),
    (["--task", "inpainting", "--mask", "EMPTY"], "gap mask is empty"),
    (["--task", "inpainting", "--mask", "SMALL"], r"gap mask has shape \(8, 8\)"),
])
def test_bad_input_clear_errors_nothing_written(files, capsys, argv, message):
    write_tiff(files / "empty.tif", np.zeros((64, 64), np.uint8))
    write_tiff(files / "small.tif", np.ones((8, 8), np.uint8))
    names = {"LABELS": "gaps.tif", "MASK": "gaps.tif", "EMPTY": "empty.tif",
             "SMALL": "small.tif"}
    argv = [str(files / names[a]) if a in names else a for a in argv]
    out = files / "bad.sciseg"
    assert main(["train", str(files / "pattern.tif"), *argv, "-o", str(out), *FAST]) == 2
    assert re.search(message, " ".join(capsys.readouterr().err.split()))
    assert not out.exists()


def test_predict_needs_the_mask_of_an_inpainting_model(files, capsys):
    model = files / "gaps.sciseg"
    assert main(["train", str(files / "pattern.tif"), "--task", "inpainting", "--mask",
                 str(files / "gaps.tif"), "-o", str(model), *FAST]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(files / "pattern.tif"), "-o",
                 str(files / "o")]) == 2
    assert "inpainting model: pass --mask" in capsys.readouterr().err
    assert not (files / "o" / "pattern_inpainted.tif").exists()
