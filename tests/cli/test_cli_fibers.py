"""``sciseg fibers`` end to end on the phantom."""

import csv
import json

import numpy as np
import pytest

from napari_sciseg.cli import main
from napari_sciseg.data.fibers import fiber_volume
from napari_sciseg.io.tiff import read_tiff, write_tiff


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fib")
    volume, _, truth = fiber_volume(shape=(64, 64, 64), seed=3, return_truth=True)
    write_tiff(folder / "vol.tif", volume, spacing=(2.0, 1.0, 1.0), unit="nm")
    write_tiff(folder / "mask.tif", truth.mask, spacing=(2.0, 1.0, 1.0), unit="nm")
    write_tiff(folder / "classes.tif", truth.mask.astype(np.uint8) + 1, unit="pixel")
    return folder, truth


def test_mask_to_report(phantom, tmp_path, capsys):
    folder, truth = phantom
    out = tmp_path / "out"
    rc = main(
        [
            "fibers",
            str(folder / "vol.tif"),
            "--mask",
            str(folder / "mask.tif"),
            "-o",
            str(out),
            "--spacing",
            "1",
            "1",
            "1",
            "--min-size",
            "20",
        ]
    )
    assert rc == 0
    assert f"{truth.n_fibers} fibers" in capsys.readouterr().out
    for name in ("fibers.csv", "labels.tif", "lengths.png", "orientation.png", "summary.json"):
        assert (out / name).stat().st_size > 0
    with open(out / "fibers.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:8] == [
        "label",
        "length",
        "arc_length",
        "dz",
        "dy",
        "dx",
        "radius",
        "volume",
    ]
    assert len(rows) == truth.n_fibers
    lengths = np.sort([float(r["length"]) for r in rows])
    np.testing.assert_allclose(lengths, np.sort(truth.lengths), atol=1.5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == truth.n_fibers and summary["unit"] == "voxel"
    assert summary["inputs"]["min_size"] == 20
    labels = read_tiff(out / "labels.tif")
    assert int(np.asarray(labels.data).max()) == truth.n_fibers
    # the same outputs again need --overwrite
    args = ["fibers", str(folder / "vol.tif"), "--mask", str(folder / "mask.tif"), "-o", str(out)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_file_calibration_and_fiber_class(phantom, tmp_path):
    folder, truth = phantom
    out = tmp_path / "cal"
    assert (
        main(
            [
                "fibers",
                str(folder / "vol.tif"),
                "--mask",
                str(folder / "classes.tif"),
                "--fiber-class",
                "2",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unit"] == "nm" and summary["spacing"] == [2.0, 1.0, 1.0]
    assert summary["count"] == truth.n_fibers


def test_bad_inputs(phantom, tmp_path, capsys):
    folder, _ = phantom
    write_tiff(tmp_path / "small.tif", np.zeros((8, 8, 8), np.uint8), unit="pixel")
    write_tiff(tmp_path / "flat.tif", np.zeros((8, 8), np.float32), unit="pixel")
    rc = main(
        [
            "fibers",
            str(folder / "vol.tif"),
            "--mask",
            str(tmp_path / "small.tif"),
            "-o",
            str(tmp_path / "o1"),
        ]
    )
    assert rc == 2 and "does not match" in capsys.readouterr().err
    rc = main(
        [
            "fibers",
            str(tmp_path / "flat.tif"),
            "--mask",
            str(tmp_path / "flat.tif"),
            "-o",
            str(tmp_path / "o2"),
        ]
    )
    assert rc == 2 and "need a 3D volume" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --mask or --model is required
        main(["fibers", str(folder / "vol.tif"), "-o", str(tmp_path / "o3")])
    rc = main(
        [
            "fibers",
            str(folder / "vol.tif"),
            "--mask",
            str(tmp_path / "missing.tif"),
            "-o",
            str(tmp_path / "o4"),
        ]
    )
    assert rc == 2 and "No such file" in capsys.readouterr().err


def test_model_segments_then_measures(phantom, tmp_path, capsys):
    """--model: a (tiny, barely trained) ensemble segments the volume first."""
    from napari_sciseg.data.fibers import fiber_volume
    from napari_sciseg.dl import save_model, train

    folder, _ = phantom
    volume, scribbles = fiber_volume(shape=(64, 64, 64), seed=3)
    model = train(volume, scribbles, members=2, steps=3, dim="2.5", crop=32, seed=0,
                  class_names=["matrix", "fiber"],
                  model_kwargs={"depth": 3, "dilations": (1, 2)})  # fmt: skip
    save_model(model, tmp_path / "m.sciseg")
    out = tmp_path / "model_out"
    rc = main(["fibers", str(folder / "vol.tif"), "--model", str(tmp_path / "m.sciseg"),
               "-o", str(out), "--min-size", "10"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["model"].endswith("m.sciseg")
    assert (out / "fibers.csv").exists() and (out / "labels.tif").exists()


def test_fiber_class_of_model_config():
    from types import SimpleNamespace

    from napari_sciseg.cli._fibers import _fiber_class_of

    assert _fiber_class_of(SimpleNamespace(class_names=["matrix", "Fibre"], n_classes=2)) == 2
    assert _fiber_class_of(SimpleNamespace(class_names=["fiber", "pore", "matrix"])) == 1
    assert _fiber_class_of(SimpleNamespace(class_names=None, n_classes=3)) == 2
