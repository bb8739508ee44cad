"""GUI: the AFM classification widget and the crystal-count widget with real layers and workers."""

import csv

import numpy as np

from napari_sciseg._napari.widgets.afm import AfmWidget
from napari_sciseg._napari.widgets.afm_annotate import CrystalCountWidget
from napari_sciseg.classify.afm.dataset import read_dataset
from napari_sciseg.dl.afm import train_afm


def test_classify_widget_overlays(make_napari_viewer, qtbot, afm_csv):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-sciseg", "afm_scan")
    widget = AfmWidget(viewer)
    assert widget.channel_combos["phase"].currentText() == "AFM scan phase"
    widget.level()
    assert "AFM scan height levelled" in viewer.layers
    model = train_afm(
        read_dataset(afm_csv),
        fusion="vlad",
        use_metadata=False,
        vlad_options={"k": 6, "n_estimators": 20, "pixels_per_scan": 500},
    )
    widget.set_model(model)
    widget.classify()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=60_000)
    qtbot.waitUntil(lambda: widget.classify_button.isEnabled(), timeout=10_000)
    # after levelling the pickers (and so the classification) use the levelled channels
    height = viewer.layers["AFM scan height levelled"]
    assert height.metadata["afm_class"] == widget.result.label
    assert widget.result.label in widget.summary.text()
    tiles = viewer.layers["AFM tile classes (extrapolated)"]
    np.testing.assert_allclose(tiles.scale, height.scale)
    assert "p_Equal" in tiles.features and len(tiles.features) == tiles.data.max() + 1
    prob = viewer.layers["AFM p(Equal)"]
    assert prob.data.shape == height.data.shape
    assert tiles.metadata["note"] == "tile-wise extrapolation of per-scan labels"


def test_crystal_counts_give_class_and_csv(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64)), name="scan height", scale=(20, 20))
    widget = CrystalCountWidget(viewer)
    points = widget.new_layer()
    np.testing.assert_allclose(points.scale, (20, 20))
    for i in range(3):
        points.add([[10.0 * i, 5.0]])
    widget.kind_combo.setCurrentText("lamellar")
    points.add([[50.0, 50.0]])
    assert widget.counts() == (3, 1)
    assert "Majority Spherulite" in widget.counts_label.text()
    widget.csv_edit.setText(str(tmp_path / "train.csv"))
    widget.sample_edit.setText("S7")
    path = widget.add_to_csv()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {"file": "scan height", "sample": "S7", "spherulite_count": "3", "lamellar_count": "1"}
    ]


def test_classify_cancel_stops_the_core_within_2_s(make_napari_viewer, qtbot, afm_csv):
    """Cancel from the first progress record of a 2048^2 scan: the worker ends, the core
    call (predict_scan, which takes the same event) stops at its next tile, nothing added."""
    import os
    import threading
    import time

    viewer = make_napari_viewer()
    viewer.open_sample("napari-sciseg", "afm_scan")
    for layer in viewer.layers:
        layer.data = np.tile(layer.data, (4, 4))
    widget = AfmWidget(viewer)
    widget.set_model(train_afm(read_dataset(afm_csv), fusion="vlad", use_metadata=False,
                               vlad_options={"k": 6, "n_estimators": 20,
                                             "pixels_per_scan": 500}))
    clicked = []

    def first_record(_):
        if not clicked:
            clicked.append(time.perf_counter())
            widget.cancel_button.click()

    assert widget.classify() is not None
    widget.worker.yielded.connect(first_record)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    bound = 2.0 * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert clicked and time.perf_counter() - clicked[0] < bound

    def core_running():
        return any(t.name == "sciseg classifying" for t in threading.enumerate())

    qtbot.waitUntil(lambda: not core_running(), timeout=60_000)
    assert time.perf_counter() - clicked[0] < bound, "predict_scan ran on after Cancel"
    qtbot.wait(200)
    assert widget.result is None and "AFM p(Equal)" not in viewer.layers
