"""``sciseg afm train / predict / level`` end to end on a small synthetic data set."""

import csv

import pytest

from napari_sciseg.cli import main
from napari_sciseg.io.outputs import is_partial, read_manifest


def train_vlad(csv_path, model, *extra) -> int:
    """``sciseg afm train`` of a metadata-free VLAD model (fast); returns the exit code."""
    return main(
        [
            "afm",
            "train",
            str(csv_path),
            "-o",
            str(model),
            "--fusion",
            "vlad",
            "--no-metadata",
            *extra,
        ]
    )


DATA = __import__("pathlib").Path(__file__).parents[1] / "data" / "afm"


def test_train_predict_level_end_to_end(afm_csv, tmp_path, capsys):
    model = tmp_path / "m.sciseg"
    assert train_vlad(afm_csv, model, "--split-column", "sample") == 0
    assert "held-out: accuracy" in capsys.readouterr().out
    out = tmp_path / "pred"
    assert main(["afm", "predict", str(model), str(afm_csv), "-o", str(out)]) == 0
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20
    assert list(rows[0]) == [
        "file",
        "class",
        "p_Equal",
        "p_Majority Spherulite",
        "p_Majority Lamellar",
        "p_Vast Majority Spherulite",
        "p_Vast Majority Lamellar",
    ]
    assert abs(sum(float(v) for k, v in rows[0].items() if k.startswith("p_")) - 1) < 1e-3
    # a folder of scans works too (model without metadata)
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("scan_000.tif", "scan_001.tif"):
        (folder / name).write_bytes((afm_csv.parent / name).read_bytes())
    assert main(["afm", "predict", str(model), str(folder), "-o", str(out)]) == 2  # #17
    assert "--overwrite" in capsys.readouterr().err
    assert main(["afm", "predict", str(model), str(folder), "-o", str(out), "--overwrite"]) == 0
    manifest = read_manifest(out)
    assert manifest["status"] == "complete" and len(manifest["outputs"]) == 2
    assert not [p for p in out.iterdir() if is_partial(p)]
    # levelling a real vendor file
    assert main(["afm", "level", str(DATA / "old_bruker.002"), "-o", str(tmp_path / "lv")]) == 0
    assert (tmp_path / "lv" / "old_bruker_levelled.tif").is_file()
    assert read_manifest(tmp_path / "lv")["outputs"] == {
        str(DATA / "old_bruker.002"): ["old_bruker_levelled.tif"]}


def test_train_says_whether_the_metadata_term_is_used(afm_csv, tmp_path, capsys):
    from napari_sciseg.dl.afm import load_afm_model

    model = tmp_path / "single_meta.sciseg"
    args = ["afm", "train", str(afm_csv), "-o", str(model), "--fusion", "single", "--metadata"]
    assert main([*args, "--steps", "3", "--tile", "64"]) == 0
    out = capsys.readouterr().out
    ridge = load_afm_model(model).config.recipe["metadata_ridge"]
    expected = "metadata term: off" if ridge is None else f"metadata term: on (ridge {ridge:g}"
    assert expected in out


def test_cli_errors_are_clear(afm_csv, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\nnope.tif,Equal\n")
    assert main(["afm", "train", str(bad), "-o", str(tmp_path / "m.sciseg")]) == 2
    assert "do not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["afm", "train", str(afm_csv), "-o", "m.sciseg", "--fusion", "mid"])
    # a scan missing channels: the error names the channels that are there
    model = tmp_path / "v.sciseg"
    train_vlad(afm_csv, model, "--no-test")
    capsys.readouterr()
    assert (
        main(
            ["afm", "predict", str(model), str(DATA / "old_bruker.002"), "-o", str(tmp_path / "p")]
        )
        == 2
    )
    assert (
        "missing channel(s) ['amplitude', 'phase', 'z-sensor']; present: ['Height']"
        in capsys.readouterr().err
    )


def test_default_command_chooses_a_recipe_on_mixed_scan_sizes(tmp_path, capsys):
    # 5-20 um scans at 96 px: after resampling to the median pixel size the smallest
    # are ~40 px, under the 128 px default tile; the tile then comes from the data
    from napari_sciseg.data.afm_films import afm_film_dataset
    from napari_sciseg.dl.afm import load_afm_model

    csv_path = afm_film_dataset(tmp_path / "films", n_scans=12, n_samples=4, shape=(96, 96))
    model = tmp_path / "auto.sciseg"
    assert main(["afm", "train", str(csv_path), "-o", str(model), "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "grouped 3-fold cross-validation over samples" in out
    assert "texture" in out and "chosen: " in out and "out-of-fold confusion" in out
    sel = load_afm_model(model).config.selection
    scores = {c["name"]: c["macro_f1"] for c in sel["candidates"]}
    assert len(scores) == 4 and scores[sel["chosen"]] == max(scores.values())
    assert scores[sel["chosen"]] >= scores["texture"]  # never below texture + boosting
