"""The Train & predict widget's panels that need no training: scribbles, classes, options, plot."""

from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtWidgets import QWidget

from napari_sciseg._napari._workers import progress_of, throttle
from napari_sciseg._napari.widgets.train import TrainPredictWidget
from napari_sciseg._napari.widgets.train._loss_plot import LossPlot
from napari_sciseg._napari.widgets.train._options import PRESETS, TrainingOptions


@pytest.fixture
def widget(make_napari_viewer):
    viewer = make_napari_viewer()
    w = TrainPredictWidget(viewer)
    viewer.window.add_dock_widget(w)
    return w


def test_new_scribbles_2d_same_shape_and_calibration(widget):
    viewer = widget.viewer
    img = viewer.add_image(np.zeros((30, 40), np.float32), name="img", scale=(0.5, 0.25),
                           translate=(3.0, 4.0), units=("nm", "nm"))
    layer = widget.scribbles.new_scribbles()
    assert layer.name == "img scribbles"
    assert layer.data.shape == (30, 40) and layer.data.dtype == np.uint8
    assert tuple(layer.scale) == tuple(img.scale)
    assert tuple(layer.translate) == tuple(img.translate)
    assert layer.mode == "paint" and layer.selected_label == 1
    assert widget.scribbles.class_names() == ["background", "foreground"]
    orange = [0xE6 / 255, 0x91 / 255, 0x38 / 255]
    assert np.allclose(layer.colormap.map(np.array([2]))[0][:3], orange)
    assert widget.options.dim == "2"
    # classes: add, rename, remove; they travel with the layer
    panel = widget.scribbles
    panel.add_class("pores", "#00ff00")
    panel.rename_class(1, "fibre")
    assert panel.class_names() == ["background", "fibre", "pores"]
    assert layer.metadata["sciseg_classes"]["names"] == ["background", "fibre", "pores"]
    assert panel.class_table.rowCount() == 3 and panel.class_table.item(2, 0).text() == "pores"
    panel.class_table.item(0, 0).setText("matrix")  # edit in the table
    assert panel.class_names()[0] == "matrix"
    data = np.zeros((30, 40), np.uint8)
    data[:, 0], data[:, 1], data[:, 2] = 1, 2, 3
    layer.data = data
    panel.remove_class(1)  # strokes of class 2 are erased, class 3 becomes 2
    assert panel.class_names() == ["matrix", "pores"]
    assert set(np.unique(layer.data)) == {0, 1, 2}
    assert (layer.data[:, 1] == 0).all() and (layer.data[:, 2] == 2).all()
    panel.remove_class(0)  # at least two classes stay
    assert len(panel.class_names()) == 2
    # a Labels layer naming its classes (like the samples) keeps its names, gets colours
    named = viewer.add_labels(np.zeros((30, 40), np.uint8), name="named",
                              metadata={"class_names": {0: "unlabeled", 1: "matrix", 2: "fiber"}})
    panel.scribbles_combo.value = named
    assert panel.class_names() == ["matrix", "fiber"]
    assert list(named.metadata["sciseg_classes"]["names"]) == ["matrix", "fiber"]


def test_new_scribbles_3d_paint_on_any_axis(widget):
    viewer = widget.viewer
    viewer.add_image(np.zeros((8, 20, 20), np.float32), name="vol", scale=(2.0, 1.0, 1.0))
    layer = widget.scribbles.new_scribbles()
    assert layer.data.shape == (8, 20, 20) and tuple(layer.scale) == (2.0, 1.0, 1.0)
    assert widget.options.dim in ("2.5", "3")
    layer.brush_size = 3
    viewer.dims.order = (2, 0, 1)  # paint in a ZY slice
    viewer.dims.set_point(2, 5)
    layer.paint((4, 10, 5), 2)
    assert (layer.data[:, :, 5] == 2).sum() > 0 and (layer.data[:, :, 4] == 2).sum() == 0


def test_presets_and_kwargs(qtbot):
    opts = TrainingOptions()
    qtbot.addWidget(opts)
    for name, values in PRESETS.items():
        opts.preset_combo.setCurrentText(name)
        kw = opts.train_kwargs()
        assert kw["members"] == values["members"] and kw["steps"] == values["steps"]
    opts.steps_spin.setValue(7)
    assert opts.preset_combo.currentText() == "custom"
    opts.arch_combo.setCurrentText("MSDNet")
    kw = opts.train_kwargs()
    assert kw["arch"] == "msdnet" and kw["steps"] == 7 and kw["device"] == "auto"
    assert "seed" not in kw  # advanced values go in only when changed
    opts.set_advanced(seed=3)
    assert opts.train_kwargs()["seed"] == 3
    labels = [opts.device_combo.itemText(i) for i in range(opts.device_combo.count())]
    assert labels[0] == "auto" and any(t.startswith("cpu") for t in labels)


def test_every_control_explains_itself_in_plain_words(widget):
    """Tooltips everywhere; advanced options say "auto"/"never", not None."""
    from qtpy.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QTableWidget

    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QTableWidget)
    mute = [w for w in widget.findChildren(QWidget) if isinstance(w, kinds)
            and not w.toolTip() and not isinstance(w.parent(), kinds)
            and type(w.parent()).__name__ != "QTabBar"  # its scroll arrows
            and w.objectName() != "qt_spinbox_lineedit"]
    names = [(type(w).__name__, getattr(w, "text", lambda: "")()) for w in mute]
    assert names == [], names
    fields = widget.options.fields
    assert fields["lr"].widget.placeholderText() == "auto" and fields["lr"].value() is None
    assert fields["model_kwargs"].widget.text() == ""  # not "None"
    assert fields["early_stopping"].widget.specialValueText() == "never"
    assert fields["crop"].label == "patch size (px)"
    widget.options.set_advanced(early_stopping=None, lr=0.01)
    kw = widget.options.train_kwargs()
    assert kw["early_stopping"] is None and kw["lr"] == 0.01
    assert "None" not in [fields[n].widget.property("text") for n in fields]


def test_loss_plot_is_log_scaled_and_says_when_empty(qtbot):
    plot = LossPlot(redraw_ms=0)
    qtbot.addWidget(plot)
    assert plot.ax.get_yscale() == "log"
    assert plot.empty_note.get_visible() and "No training yet" in plot.empty_note.get_text()
    plot.add(SimpleNamespace(step=1, total_steps=5, loss=0.5, val_loss=110.0, val_score=0.4))
    plot.add(SimpleNamespace(step=2, total_steps=5, loss=0.0, val_loss=None))
    plot.flush()
    assert not plot.empty_note.get_visible()
    low, high = plot.ax.get_ylim()
    assert 0 < low <= 0.5 and high >= 110 and high / low < 1e4  # both readable on one axis


def test_loss_plot_extends_across_runs(qtbot):
    plot = LossPlot(redraw_ms=0)
    qtbot.addWidget(plot)
    rec = lambda s, v=None: SimpleNamespace(step=s, total_steps=10, loss=1.0 / s, val_loss=v)  # noqa: E731
    for s in (1, 2, 3):
        plot.add(rec(s, 0.5 if s == 3 else None))
    plot.add(rec(1))  # the counter restarted (next member): appended after step 3
    assert plot.steps == [1, 2, 3, 4] and plot.val_steps == [3]
    plot.new_run()
    plot.add(rec(2))
    assert plot.steps[-1] == 6
    plot.flush()
    assert list(plot.train_line.get_xdata()) == plot.steps
    plot.clear()
    assert plot.steps == []


def test_throttle_keeps_last_and_return_value():
    def gen():
        for i in range(5):
            yield SimpleNamespace(step=i, total_steps=5)
        return "model"

    out = []

    def consume():
        out.append((yield from throttle(gen(), min_interval=0.0)))

    assert [progress_of(r) for r in consume()] == [(i, 5) for i in range(5)]
    assert out == ["model"]
    assert progress_of(SimpleNamespace(done=2, total=9)) == (2, 9)


def _state(viewer):
    return [(layer.name, np.asarray(layer.data).copy()) for layer in viewer.layers]


def _same(a, b):
    same_data = all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
    return [n for n, _ in a] == [n for n, _ in b] and same_data


def test_bad_inputs_notify_and_change_nothing(qtbot, widget, notes):
    viewer = widget.viewer
    run = widget.run
    assert run.start() is None and "No image" in notes[-1].message

    viewer.add_image(np.random.default_rng(0).random((16, 16)).astype(np.float32), name="img")
    before = _state(viewer)
    assert run.start() is None and "No scribbles" in notes[-1].message
    layer = widget.scribbles.new_scribbles()
    before = _state(viewer)
    assert run.start() is None and "empty" in notes[-1].message
    layer.data[2:4, 2:8] = 1
    before = _state(viewer)
    assert run.start() is None and "only class 1" in notes[-1].message
    assert _same(before, _state(viewer))

    other = viewer.add_labels(np.zeros((8, 8), np.uint8), name="small")
    other.data[0, 0], other.data[1, 1] = 1, 2
    widget.scribbles.scribbles_combo.value = other
    before = _state(viewer)
    assert run.start() is None and "have shape (8, 8) but image" in notes[-1].message
    assert _same(before, _state(viewer))

    assert widget.prediction.predict("whole image") is None and "No model" in notes[-1].message

    # an error raised by the engine in the worker (image smaller than the default
    # network's receptive field) arrives as a notification; nothing changes
    layer.data[8:10, 2:8] = 2
    widget.scribbles.scribbles_combo.value = layer
    before = _state(viewer)
    assert run.start() is not None
    qtbot.waitUntil(lambda: run.worker is None, timeout=30_000)
    assert "Training failed" in notes[-1].message and "receptive field" in notes[-1].message
    assert widget.model is None and _same(before, _state(viewer))


def test_manifest_lists_the_widget_and_its_menu():
    from pathlib import Path

    import npe2

    import napari_sciseg

    manifest = npe2.PluginManifest.from_file(Path(napari_sciseg.__file__).parent / "napari.yaml")
    widgets = {w.display_name: w.command for w in manifest.contributions.widgets}
    assert widgets["Train and predict"] == "napari-sciseg.train_predict"
    menu = manifest.contributions.menus["napari/layers/segment"]
    assert "napari-sciseg.train_predict" in [item.command for item in menu]


def test_rgb_image_offers_channels(widget, notes):
    viewer = widget.viewer
    viewer.add_image(np.zeros((16, 16, 3), np.uint8), name="rgb", rgb=True)
    layer = widget.scribbles.new_scribbles()
    assert layer.data.shape == (16, 16)
    layer.data[1, 1], layer.data[5, 5] = 1, 2
    before = _state(viewer)
    assert widget.run.start() is None
    assert "RGB" in notes[-1].message and notes[-1].actions
    assert _same(before, _state(viewer))
    notes[-1].actions[0][1](notes[-1])  # the "Treat as channels" action
    assert widget.rgb_as_channels
    args = widget.run.inputs()
    assert args is not None and args[2]["channel_axis"] == 2 and args[0].shape == (16, 16, 3)
