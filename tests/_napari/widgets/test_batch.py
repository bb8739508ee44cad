"""The Batch dock: a folder -> the CLI's per-file workflow -> one merged table."""

import csv
import json
import threading

import pytest

from napari_sciseg._napari.widgets._batch_job import batch_job
from napari_sciseg._napari.widgets.batch import BatchWidget
from napari_sciseg.data import tem_particles
from napari_sciseg.io.tiff import write_tiff

TIMEOUT = 120_000


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for seed in (0, 1):
        image = tem_particles("bf", shape=(192, 192), pixel_size=0.5, seed=seed)
        write_tiff(images / f"tem_{seed}.tif", image, spacing=(0.5, 0.5))
    (images / "broken.tif").write_bytes(b"II*\x00 this is not a TIFF")
    return images


@pytest.fixture
def widget(make_napari_viewer):
    viewer = make_napari_viewer()
    w = BatchWidget(viewer)
    viewer.window.add_dock_widget(w)
    return w


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_folder_with_a_corrupt_file_finishes_the_rest_and_names_it(qtbot, widget, folder,
                                                                  tmp_path, notes):
    out = tmp_path / "out"
    widget.input_edit.setText(str(folder))
    widget.output_edit.setText(str(out))
    assert widget.start() is not None
    assert widget.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    result = widget.result
    assert result.n_ok == 2 and list(result.failed) == ["broken.tif"]
    assert "broken.tif" in widget.status.text() and "Skipped" in widget.status.text()
    # the CLI's files per image, and the merged ones
    for stem in ("tem_0", "tem_1"):
        for suffix in ("_particles.csv", "_mask.tif", "_labels.tif", "_psd.png"):
            assert (out / f"{stem}{suffix}").is_file()
    summary = _rows(out / "summary.csv")
    assert [r["status"] for r in summary][:1] == ["error: ValueError: broken.tif"] or any(
        r["status"].startswith("error") and "broken" in r["file"] for r in summary)
    merged = _rows(out / "all_particles.csv")
    per_file = sum(len(_rows(out / f"tem_{s}_particles.csv")) for s in (0, 1))
    assert len(merged) == per_file > 0 and {r["file"] for r in merged} == {"tem_0.tif",
                                                                          "tem_1.tif"}
    assert (out / "psd_all.png").stat().st_size > 1000
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "failed" and any("broken" in k for k in manifest["failed"])

    # a second run into the same folder asks first; "no" keeps every earlier file
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    asked = []
    widget.confirm = lambda outdir, existing: asked.append(len(existing)) or False
    assert widget.start() is None
    assert asked and asked[0] >= 8 and "kept" in widget.status.text()
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_folder_without_images_says_so(widget, tmp_path, notes):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    widget.input_edit.setText(str(empty))
    widget.output_edit.setText(str(tmp_path / "out"))
    assert widget.start() is None
    assert "holds no image" in notes[-1].message and "input folder" in notes[-1].message
    widget.task_combo.setCurrentText("saved model")
    widget.input_edit.setText(str(empty.parent))
    (empty.parent / "x.tif").write_bytes(b"")
    widget.model_edit.setText(str(tmp_path / "missing.sciseg"))
    assert widget.start() is None and "'model'" in notes[-1].message


def test_cancel_stops_between_files(folder, tmp_path):
    cancel = threading.Event()
    files = sorted(folder.glob("tem_*.tif"))
    gen = batch_job("particle sizing", files, tmp_path / "out", {}, overwrite=False,
                    cancel=cancel)
    first = next(gen)
    assert first.done == 0
    cancel.set()
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    result = stop.value.value
    assert result.cancelled and len(result.rows) == 1
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["status"] == "interrupted"


def _tick(widget, names):
    from qtpy.QtCore import Qt

    widget.source_combo.setCurrentText("open layers")
    for i in range(widget.layer_list.count()):
        item = widget.layer_list.item(i)
        if item.text() in names:
            item.setCheckState(Qt.CheckState.Checked)


def test_open_layers_merged_a_nan_layer_named_and_same_names_kept_apart(qtbot, widget,
                                                                       tmp_path, notes):
    import numpy as np

    viewer = widget.viewer
    for seed in (0, 1):
        viewer.add_image(tem_particles("bf", shape=(192, 192), pixel_size=0.5, seed=seed),
                         name="tem.sample", scale=(0.5, 0.5), units=("nm", "nm"))
    viewer.add_image(np.full((64, 64), np.nan, np.float32), name="blank/nan")
    viewer.add_image(np.zeros((32, 32)), name="not ticked")
    # napari keeps names unique ("tem.sample [1]"); two that are the same once made file-safe
    viewer.layers[1].name = "tem sample"
    assert [widget.layer_list.item(i).text() for i in range(4)] == [
        "tem.sample", "tem sample", "blank/nan", "not ticked"]
    _tick(widget, {"tem.sample", "tem sample", "blank/nan"})
    assert len(widget.checked_layers()) == 3
    out = tmp_path / "out"
    widget.output_edit.setText(str(out))
    assert widget.start() is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT)
    result = widget.result
    assert result.n_ok == 2 and list(result.failed) == ["blank/nan"]
    assert "blank/nan" in widget.status.text() and "Skipped" in widget.status.text()
    # one set of CLI outputs per layer: sanitised names, the second same-named layer apart
    for stem in ("tem_sample", "tem_sample_2"):
        for suffix in ("_particles.csv", "_mask.tif", "_labels.tif", "_psd.png"):
            assert (out / f"{stem}{suffix}").is_file()
    first, second = (_rows(out / f"{s}_particles.csv") for s in ("tem_sample", "tem_sample_2"))
    assert first != second and len(first) > 0 and len(second) > 0
    merged = _rows(out / "all_particles.csv")
    assert len(merged) == len(first) + len(second)
    assert [sum(r["file"] == n for r in merged) for n in ("tem.sample", "tem sample")] == [
        len(first), len(second)]
    summary = _rows(out / "summary.csv")
    assert [r["file"] for r in summary] == ["tem.sample", "tem sample", "blank/nan"]
    assert [r["status"] for r in summary][:2] == ["ok", "ok"]
    # sized in nm with the layer's scale, as the particles widget does
    assert all(r["unit"] == "nm" and float(r["pixel_size_nm"]) == 0.5 for r in summary[:2])
    assert (out / "psd_all.png").stat().st_size > 1000
    assert not (out / "not_ticked_particles.csv").exists()


def test_open_layers_without_a_tick_says_so(widget, tmp_path, notes):
    widget.source_combo.setCurrentText("open layers")
    widget.output_edit.setText(str(tmp_path / "out"))
    assert widget.start() is None and "'layers'" in notes[-1].message
