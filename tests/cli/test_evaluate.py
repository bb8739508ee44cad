"""``sciseg evaluate``: report, CSV, refusals."""

import csv

import numpy as np
import pytest

from napari_sciseg.cli import main
from napari_sciseg.io.tiff import write_tiff


@pytest.fixture
def pair(tmp_path):
    truth = np.zeros((60, 60), np.uint8)
    yy, xx = np.mgrid[:60, :60]
    for cy, cx in ((15, 15), (15, 45), (45, 15), (45, 45)):
        truth[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 1
    write_tiff(tmp_path / "truth.tif", truth, spacing=(0.5, 0.5), unit="nm")
    write_tiff(tmp_path / "pred.tif", np.roll(truth, 1, axis=1), spacing=(0.5, 0.5), unit="nm")
    return tmp_path


def test_evaluate_writes_report_and_csv(pair, capsys):
    out = pair / "rep" / "scores.csv"
    rc = main(["evaluate", str(pair / "pred.tif"), str(pair / "truth.tif"), "-o", str(out),
               "--tolerance", "0.5", "--particles"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "mean IoU" in text and "particles: 4 predicted vs 4 true" in text
    rows = list(csv.DictReader(out.read_text().splitlines()))
    fg = [r for r in rows if r["class"] == "1"][0]
    assert float(fg["boundary_f"]) == 1.0  # a one-pixel (0.5 nm) shift within 0.5 nm
    assert float(fg["instance_f1"]) == 1.0 and float(fg["iou"]) < 1
    assert (pair / "rep" / "scores.md").is_file()
    part = dict(csv.reader((pair / "rep" / "scores_particles.csv").read_text().splitlines()))
    assert float(part["ks"]) == 0.0
    # nothing overwritten without --overwrite
    assert main(["evaluate", str(pair / "pred.tif"), str(pair / "truth.tif"), "-o",
                 str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_evaluate_refuses_other_shapes_and_spacings(pair, capsys):
    write_tiff(pair / "small.tif", np.zeros((50, 60), np.uint8), spacing=(0.5, 0.5), unit="nm")
    write_tiff(pair / "coarse.tif", np.zeros((60, 60), np.uint8), spacing=(1.0, 1.0), unit="nm")
    assert main(["evaluate", str(pair / "small.tif"), str(pair / "truth.tif")]) == 2
    assert "differ in shape" in capsys.readouterr().err
    assert main(["evaluate", str(pair / "coarse.tif"), str(pair / "truth.tif")]) == 2
    assert "differ in pixel size" in capsys.readouterr().err
