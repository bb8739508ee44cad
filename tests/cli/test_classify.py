"""``sciseg classify train / predict / cv`` end to end on a small synthetic data set."""

import csv
import json

import pytest

from napari_sciseg.cli import main
from napari_sciseg.data.cnt import write_cnt_dataset

FAST = ["--estimators", "15", "--words", "8"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    return write_cnt_dataset(root / "folders", 24, shape=(48, 48), seed=2), \
        write_cnt_dataset(root / "table", 12, layout="csv", shape=(48, 48), seed=5)


def test_train_then_predict(data, tmp_path, capsys):
    folders, table = data
    model = tmp_path / "m.sciseg"
    assert main(["classify", "train", str(folders), "-o", str(model), *FAST]) == 0
    assert model.is_file()
    assert main(["classify", "predict", str(model), str(table), "-o", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "predictions.csv").read_text().splitlines()))
    assert len(rows) == len(table.read_text().splitlines()) - 1
    assert list(rows[0]) == ["file", "class", "p_cluster", "p_fiber", "p_matrix", "p_mixed"]
    assert all(abs(sum(float(r[f"p_{c}"]) for c in ("cluster", "fiber", "matrix", "mixed"))
                   - 1) < 1e-4 for r in rows)
    assert "accuracy on the" in capsys.readouterr().out


def test_cv_writes_report_and_figures(data, tmp_path):
    out = tmp_path / "cv"
    assert main(["classify", "cv", str(data[0]), "--folds", "3", "--representation", "texture",
                 "-o", str(out), *FAST]) == 0
    report = json.loads((out / "cv_report.json").read_text())
    assert report["n_folds"] == 3 and 0 <= report["balanced_accuracy"] <= 1
    assert sum(map(sum, report["confusion"])) == len(list(csv.DictReader(
        (out / "cv_predictions.csv").read_text().splitlines())))
    assert (out / "confusion.png").stat().st_size > 1000
    assert (out / "embedding.png").stat().st_size > 1000


def test_errors_in_flag_words(data, tmp_path, capsys):
    assert main(["classify", "train", str(data[0]), "-o", str(tmp_path / "m.sciseg"),
                 "--representation", "hypercolumn"]) == 2
    assert "--weights" in capsys.readouterr().err
    assert main(["classify", "cv", str(tmp_path / "nowhere")]) == 2
    assert "no such folder or CSV" in capsys.readouterr().err
