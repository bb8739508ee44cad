"""GUI: the "Classify images" widget with real layers and workers."""

import shutil

import numpy as np

from napari_sciseg._napari.widgets.classify import CLASS_KEY, ClassifyImagesWidget
from napari_sciseg.data.cnt import cnt_tem, write_cnt_dataset
from napari_sciseg.dl.classify.workflow import train_classifier

FAST = {"n_estimators": 10, "k": 6, "pixels_per_image": 200}


def test_label_layers_by_clicking_and_cross_validate(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    widget = ClassifyImagesWidget(viewer)
    for kind in ("fiber", "soot"):
        layers = [viewer.add_image(cnt_tem(kind, shape=(40, 40), seed=i), name=f"{kind} {i}")
                  for i in range(5)]
        viewer.layers.selection = set(layers)
        widget.class_edit.setText(kind)
        assert widget.label_selected() == 5
    assert viewer.layers["soot 3"].metadata[CLASS_KEY] == "soot"
    widget.representation.setCurrentText("texture")
    monkeypatch.setattr(widget, "_options", lambda: {"representation": "texture", **FAST})
    widget.cross_validate()
    qtbot.waitUntil(lambda: widget.cv is not None, timeout=120_000)
    qtbot.waitUntil(lambda: widget.train_button.isEnabled(), timeout=10_000)
    assert widget.cv.report.confusion.sum() == 10
    assert "CV accuracy" in widget.summary.text()
    assert widget.canvas.figure.axes  # confusion matrix and t-SNE drawn


def test_train_from_folder_then_cancel(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    widget = ClassifyImagesWidget(viewer)
    widget.data_edit.setText(str(write_cnt_dataset(tmp_path, 12, shape=(40, 40))))
    monkeypatch.setattr(widget, "_options", lambda: {"representation": "vlad", **FAST})
    widget.train()
    qtbot.waitUntil(lambda: widget.model is not None, timeout=120_000)
    assert widget.model.class_names == ("cluster", "fiber", "matrix", "mixed")
    qtbot.waitUntil(lambda: widget.cancel_button.isEnabled() is False, timeout=10_000)
    new = tmp_path / "new"
    new.mkdir()
    for i, src in enumerate(sorted((tmp_path / "cluster").iterdir())[:3]):
        shutil.copy(src, new / f"image{i}.tif")
    widget.predict_folder(new)
    qtbot.waitUntil(lambda: widget.predictions is not None, timeout=60_000)
    text = (new / "predictions.csv").read_text().splitlines()
    assert len(text) == 4 and text[0].startswith("file,class,p_cluster")
    qtbot.waitUntil(lambda: widget.train_button.isEnabled(), timeout=10_000)
    widget.model = None
    monkeypatch.setattr(widget, "_options", lambda: {"representation": "cnn", "epochs": 200})
    worker = widget.train()
    qtbot.waitUntil(lambda: widget.progress.value() > 0, timeout=60_000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.train_button.isEnabled(), timeout=60_000)
    assert widget.model is None and worker is not None


def test_class_map_and_explanation_overlays(make_napari_viewer, qtbot):
    images = [cnt_tem(k, shape=(40, 40), seed=i) for k in ("fiber", "soot") for i in range(6)]
    model = train_classifier(images, [0] * 6 + [1] * 6, ("fiber", "soot"),
                             representation="texture", calibrate=False, **FAST)
    viewer = make_napari_viewer()
    big = np.concatenate([cnt_tem("fiber", shape=(64, 64)), cnt_tem("soot", shape=(64, 64))], 1)
    layer = viewer.add_image(big, name="scene", scale=(2.0, 2.0))
    widget = ClassifyImagesWidget(viewer)
    widget.set_model(model)
    viewer.layers.selection.active = layer
    tiles = widget.classify_layer()
    assert tiles.data.shape == big.shape and tiles.data.max() == len(tiles.features) - 1
    np.testing.assert_allclose(tiles.scale, layer.scale)
    assert set(tiles.features["class"][1:]) <= {"fiber", "soot"}
    heat = widget.explain_layer()
    assert heat.data.shape == big.shape and heat.metadata["method"] == "occlusion"
