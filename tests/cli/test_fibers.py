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
    for name in ("fibers.csv", "removed.csv", "labels.tif", "lengths.png", "orientation.png",
                 "summary.json"):  # fmt: skip
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


def test_outputs_are_atomic_locked_and_run_json_comes_last(phantom, tmp_path, capsys,
                                                           monkeypatch):
    """#17: the fibre report goes through io.outputs like predict and particles."""
    from napari_sciseg.io import outputs

    folder, _ = phantom
    out = tmp_path / "out"
    args = ["fibers", str(folder / "vol.tif"), "--mask", str(folder / "mask.tif"), "-o", str(out),
            "--min-size", "20"]
    written = []
    real = outputs.RunManifest.finish

    def finish(self, status="complete"):
        written.append(sorted(p.name for p in out.iterdir()))  # what exists before run.json
        return real(self, status)

    monkeypatch.setattr(outputs.RunManifest, "finish", finish)
    assert main(args) == 0
    manifest = outputs.read_manifest(out)
    assert manifest["status"] == "complete" and manifest["command"] == "fibers"
    assert sorted(manifest["outputs"][str(folder / "vol.tif")]) == sorted(
        ["fibers.csv", "removed.csv", "labels.tif", "lengths.png", "orientation.png",
         "summary.json"])
    assert "summary.json" in written[0]  # every output was in place when run.json was finished
    assert not [p.name for p in out.iterdir() if outputs.is_partial(p)]
    # a second run into the folder while one holds it is refused, naming the holder
    with outputs.lock_folder(out, command="sciseg fibers"):
        assert main(args + ["--overwrite"]) == 2
    assert "is in use by another sciseg run" in capsys.readouterr().err


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
    with pytest.raises(SystemExit):  # checked by argparse, before anything is read
        main(["fibers", str(folder / "vol.tif"), "--min-size", "-3", "-o", str(tmp_path / "o3")])
    assert "--min-size" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()
    with pytest.raises(SystemExit):
        main(["fibers", str(folder / "vol.tif"), "--mask", str(tmp_path / "missing.tif"),
              "-o", str(tmp_path / "o4")])  # fmt: skip
    assert "no such file" in capsys.readouterr().err


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


def test_threshold_route_counts_the_sample(tmp_path, capsys):
    """No --mask/--model: the grey volume is thresholded (dark fibres detected) and filtered."""
    volume, _, truth = fiber_volume(shape=(96, 96, 96), seed=1, return_truth=True)
    write_tiff(tmp_path / "v.tif", volume, unit="pixel")
    assert main(["fibers", str(tmp_path / "v.tif"), "-o", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["polarity"] == "dark"
    assert abs(summary["count"] - truth.n_fibers) <= 0.1 * truth.n_fibers
    # pores are removed as round, noise specks as small: reported per run
    assert summary["removed"]["round"] > 5 and summary["removed"]["small"] > 50
    with open(tmp_path / "o" / "removed.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == summary["n_removed"]
    assert {r["reason"].split(":")[0] for r in rows} == {"small", "round"}
    assert "Removed objects: small" in capsys.readouterr().out


def test_no_fibres_is_an_explicit_empty_result(tmp_path, capsys):
    write_tiff(tmp_path / "v.tif", np.zeros((16, 16, 16), np.uint8), unit="pixel")
    out = tmp_path / "o"
    assert main(["fibers", str(tmp_path / "v.tif"), "--mask", str(tmp_path / "v.tif"),
                 "-o", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 0 and summary["median_length"] is None
    assert summary["note"] == "no fibres"
    assert (out / "orientation.png").stat().st_size > 0 and (out / "lengths.png").exists()
    text = capsys.readouterr().out
    assert text.startswith("0 fibers") and "no median" in text and "None" not in text


def test_model_without_a_fiber_class_asks_for_it(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    import napari_sciseg.dl as dl

    fake = SimpleNamespace(config=SimpleNamespace(class_names=["matrix", "pore"]))
    monkeypatch.setattr(dl, "load_model", lambda path: fake)
    write_tiff(tmp_path / "v.tif", np.zeros((16, 16, 16), np.float32), unit="pixel")
    (tmp_path / "m.sciseg").write_bytes(b"")
    rc = main(["fibers", str(tmp_path / "v.tif"), "--model", str(tmp_path / "m.sciseg"),
               "-o", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2 and not (tmp_path / "o").exists()
    err = capsys.readouterr().err
    assert "no class named fiber" in err and "['matrix', 'pore']" in err and "--fiber-class" in err
