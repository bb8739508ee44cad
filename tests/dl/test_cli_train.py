"""``sciseg train`` end to end on a tiny TIFF pair."""

import pytest

from napari_sciseg.cli import main
from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import load_model
from napari_sciseg.io.tiff import write_tiff


@pytest.fixture
def files(tmp_path):
    image, scribbles = scribbles_2d(shape=(48, 48), seed=4)
    write_tiff(tmp_path / "image.tif", image)
    write_tiff(tmp_path / "labels.tif", scribbles)
    return tmp_path


def test_train_writes_model_and_reports_validation(files, capsys):
    out = files / "model.sciseg"
    argv = [str(files / "image.tif"), str(files / "labels.tif"), "-o", str(out),
            "--members", "2", "--steps", "3", "--crop", "32", "--device", "cpu",
            "--model-kwargs", '{"depth": 3, "width": 2}', "--loss", "ce+dice"]
    assert main(["train", *argv]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "CPU" in lines[0]
    assert lines[-1].startswith("validation F1 ") and str(out) in lines[-1]
    model = load_model(out)
    assert len(model.network.members) == 2 and model.config.recipe["loss"] == "ce+dice"
    assert main(["train", *argv]) == 2  # exists: refuses without --overwrite
    assert "pass --overwrite" in capsys.readouterr().err


def test_train_bad_labels_is_a_clean_error(files, capsys):
    write_tiff(files / "empty.tif", (scribbles_2d(shape=(48, 48))[1] * 0))
    code = main(["train", str(files / "image.tif"), str(files / "empty.tif"),
                 "-o", str(files / "m.sciseg"), "--device", "cpu"])
    assert code == 2
    assert "no labeled pixels" in capsys.readouterr().err
