"""Drive the real Train & predict widget: scribble, train a tiny ensemble, predict, cancel,
continue, save/load, live mode, and bad inputs on real workers."""

import numpy as np
import pytest

from napari_sciseg._napari.widgets.train import TrainPredictWidget

N = 40
TIMEOUT = 40_000  # ms


def disks(n=N, seed=0):
    """Two bright disks on a dark noisy background, and the truth mask."""
    yy, xx = np.mgrid[:n, :n]
    truth = ((yy - 12) ** 2 + (xx - 12) ** 2 < 49) | ((yy - 27) ** 2 + (xx - 28) ** 2 < 64)
    rng = np.random.default_rng(seed)
    image = np.where(truth, 0.8, 0.2) + rng.normal(0, 0.05, truth.shape)
    return image.astype(np.float32), truth


def scribble(layer, fg=((12, 12), (27, 28)), bg=((3, 3), (36, 36), (4, 34), (34, 4)), z=None):
    layer.brush_size = 3
    lead = () if z is None else (z,)
    for point in bg:
        layer.paint(lead + tuple(point), 1)
    for point in fg:
        layer.paint(lead + tuple(point), 2)


def tiny(widget, *, steps=30, members=2):
    opts = widget.options
    opts.members_spin.setValue(members)
    opts.steps_spin.setValue(steps)
    opts.set_advanced(model_kwargs={"depth": 4, "width": 4}, crop=32, lr=0.02, early_stopping=None)


@pytest.fixture
def setup(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = TrainPredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    image, truth = disks()
    layer = viewer.add_image(image, name="disks", scale=(0.5, 0.5), translate=(1.0, 2.0))
    scribbles = widget.scribbles.new_scribbles()
    scribble(scribbles)
    tiny(widget)
    return viewer, widget, layer, scribbles, truth


def train(qtbot, widget, *, resume=False):
    button = widget.run.continue_button if resume else widget.run.train_button
    assert button.isEnabled()
    button.click()
    assert widget.run.worker is not None
    qtbot.waitUntil(lambda: widget.run.worker is None, timeout=TIMEOUT)
    assert widget.model is not None


def predict(qtbot, widget, target="whole image"):
    widget.prediction.target_combo.setCurrentText(target)
    runs = widget.prediction.runs
    widget.prediction.predict_button.click()
    qtbot.waitUntil(lambda: widget.prediction.runs > runs, timeout=TIMEOUT)
    viewer = widget.viewer
    return [viewer.layers[f"disks {s}"] for s in ("probability", "std", "segmentation")]


def test_train_predict_suggest_save_load(qtbot, setup, tmp_path, notes):
    viewer, widget, image, scribbles, truth = setup
    image_before, scribbles_before = image.data.copy(), scribbles.data.copy()
    widget.scribbles.rename_class(1, "particle")
    train(qtbot, widget)
    assert len(widget.plot.steps) >= 1
    assert len(widget.model.config.member_configs) == 2
    assert list(widget.model.config.class_names) == ["background", "particle"]
    # one progress bar, one ETA: the widget's bar, none in the activity dock
    assert widget.run.progress.value() == widget.run.progress.maximum() > 0
    assert "Held-out F1" in widget.run.quality.text()
    prob, std, seg = predict(qtbot, widget)
    # the segmentation shows; probability and std are a click away (hidden) so they do
    # not blend with the class colours, which are exactly the class table's
    assert seg.visible and not prob.visible and not std.visible
    for i, color in enumerate(widget.scribbles.class_colors(), start=1):
        rgb = [int(color[j:j + 2], 16) / 255 for j in (1, 3, 5)]
        assert np.allclose(seg.colormap.map(np.array([i]))[0][:3], rgb, atol=1e-3)
    assert "Unsure on" in widget.prediction.readout.text()
    assert prob.data.shape == (2, N, N) and prob.data.dtype == np.float32
    assert std.data.shape == (N, N) and std.data.dtype == np.float32
    assert seg.data.shape == (N, N) and seg.data.dtype == np.uint8
    assert seg._type_string == "labels"
    for layer in (std, seg):
        assert tuple(layer.scale) == (0.5, 0.5) and tuple(layer.translate) == (1.0, 2.0)
    assert tuple(prob.scale)[1:] == (0.5, 0.5)
    meta = seg.metadata["sciseg"]
    assert meta["model"] == "smsnet" and meta["members"] == 2 and meta["source"] == "disks"
    assert meta["classes"] == ["background", "particle"] and "seed" in meta
    fg = prob.data[1]
    assert fg[truth].mean() > fg[~truth].mean() + 0.2  # the classes separate
    sure_fg, sure_bg = seg.data == 2, seg.data == 1  # 0 = unsure
    assert sure_fg.sum() > 0.2 * truth.sum() and sure_bg.sum() > 0.2 * (~truth).sum()
    assert (sure_fg & truth).sum() > 0.8 * sure_fg.sum()
    assert (sure_bg & ~truth).sum() > 0.8 * sure_bg.sum()
    np.testing.assert_array_equal(image.data, image_before)
    np.testing.assert_array_equal(scribbles.data, scribbles_before)
    n_layers = len(viewer.layers)
    predict(qtbot, widget)  # re-running updates the same layers instead of adding copies
    assert len(viewer.layers) == n_layers

    widget.prediction.suggest()
    points = viewer.layers["disks suggestions"]
    assert len(points.data) >= 1
    widget.prediction.go(+1)
    world = image.data_to_world(widget.prediction.suggestions[widget.prediction._at])
    assert np.allclose(viewer.scene.camera.center[-2:], world)

    # bad inputs with a model: a notification, and no layer changes
    volume = viewer.add_image(np.zeros((4, N, N), np.float32), name="vol")
    rgb = viewer.add_image(np.zeros((N, N, 3), np.float32), name="rgb", rgb=True)
    state = [(layer.name, np.asarray(layer.data).copy()) for layer in viewer.layers]
    widget.prediction.other_combo.value = volume
    assert widget.prediction.predict("another layer") is None
    assert "model is 2D" in notes[-1].message
    widget.rgb_check.setChecked(True)
    widget.prediction.other_combo.value = rgb
    assert widget.prediction.predict("another layer") is None
    assert "expects 1 input channel(s)" in notes[-1].message
    widget.rgb_check.setChecked(False)
    widget.scribbles.image_combo.value = volume  # a 2D model's scribbles on a 3D image
    widget.scribbles.scribbles_combo.value = scribbles
    assert widget.run.start() is None and "shape" in notes[-1].message
    assert [n for n, _ in state] == [layer.name for layer in viewer.layers]
    for (_, d), layer in zip(state, viewer.layers):
        np.testing.assert_array_equal(d, np.asarray(layer.data))
    viewer.layers.remove(volume)
    viewer.layers.remove(rgb)
    widget.scribbles.image_combo.value = image

    # save, clear, load: the same output, class names back on the scribbles
    before = [np.asarray(layer.data).copy() for layer in (prob, std, seg)]
    path = widget.save_model(tmp_path / "m")
    assert path.name == "m.sciseg" and path.exists()
    widget.set_model(None)
    for name in ("probability", "std", "segmentation", "suggestions"):
        viewer.layers.remove(f"disks {name}")
    widget.scribbles.set_classes(["a", "b"])
    widget.load_model(path)
    assert list(scribbles.metadata["sciseg_classes"]["names"]) == ["background", "particle"]
    after = [np.asarray(layer.data) for layer in predict(qtbot, widget)]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_cancel_keeps_members_then_continue(qtbot, setup, monkeypatch):
    viewer, widget, image, scribbles, truth = setup
    from napari_sciseg._napari.widgets.train import _training

    seen = {}
    real = _training.training_job

    def spy(image, labels, kwargs, threads):
        seen["labels"], seen["kwargs"] = labels, kwargs
        return (yield from real(image, labels, kwargs, threads))

    monkeypatch.setattr(_training, "training_job", spy)
    widget.options.steps_spin.setValue(100_000)
    widget.run.train_button.click()
    qtbot.waitUntil(lambda: len(widget.plot.steps) >= 2, timeout=TIMEOUT)
    frozen = seen["labels"].copy()
    scribbles.paint((20, 20), 2)  # painting while training: the run has its own copy
    assert seen["labels"] is not scribbles.data
    np.testing.assert_array_equal(seen["labels"], frozen)
    widget.run.cancel_button.click()
    qtbot.waitUntil(lambda: widget.run.worker is None, timeout=10_000)
    assert widget.model is not None and "cancelled" in widget.run.status.text()
    assert widget.run.continue_button.isEnabled()

    first, n_points = widget.model, len(widget.plot.steps)
    scribble(scribbles, fg=((30, 30),), bg=((20, 4),))  # more strokes, then continue
    widget.options.steps_spin.setValue(5)
    train(qtbot, widget, resume=True)
    assert seen["kwargs"]["init"] is first and widget.model is not first
    assert (seen["labels"] > 0).sum() > (frozen > 0).sum()
    assert len(widget.plot.steps) > n_points
    assert widget.plot.steps[n_points] > widget.plot.steps[n_points - 1]


def test_live_mode_repredicts_after_a_stroke(qtbot, setup):
    viewer, widget, image, scribbles, truth = setup
    widget.live.steps_spin.setValue(3)
    widget.live.timer.setInterval(50)
    widget.live.check.setChecked(True)
    scribbles.paint((20, 20), 1)  # a finished stroke
    qtbot.waitUntil(lambda: widget.live.runs >= 1, timeout=TIMEOUT)
    assert widget.model is not None
    assert "disks probability" in viewer.layers
    first = widget.model
    scribbles.paint((30, 30), 2)
    qtbot.waitUntil(lambda: widget.live.runs >= 2 and widget.live.worker is None, timeout=TIMEOUT)
    assert widget.model is not first  # fine-tuned from the previous model


def test_3d_volume_slices_and_visible_slice(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    widget = TrainPredictWidget(viewer)
    image2d, truth2d = disks(seed=1)
    volume = np.stack([image2d] * 6)
    viewer.add_image(volume, name="disks", scale=(2.0, 0.5, 0.5))
    scribbles = widget.scribbles.new_scribbles()
    viewer.dims.set_point(0, 2 * 2.0)
    scribble(scribbles, z=2)
    assert (scribbles.data[2] > 0).any() and not (scribbles.data[3] > 0).any()
    tiny(widget)
    widget.options.dim_combo.setCurrentText("2D on slices")
    train(qtbot, widget)
    assert widget.model.config.dim == "2.5"
    viewer.dims.set_point(0, 4 * 2.0)
    prob, std, seg = predict(qtbot, widget, "visible slice")
    assert prob.data.shape == (2, 6, N, N) and seg.data.shape == (6, N, N)
    assert prob.data[1, 4][truth2d].mean() > prob.data[1, 4][~truth2d].mean() + 0.2
    assert not prob.data[:, 3].any()  # only the visible slice was predicted
    assert tuple(seg.scale) == (2.0, 0.5, 0.5)


def test_closing_the_dock_cancels_training(qtbot, setup):
    viewer, widget, image, scribbles, truth = setup
    widget.options.steps_spin.setValue(100_000)
    widget.run.train_button.click()
    qtbot.waitUntil(lambda: len(widget.plot.steps) >= 2, timeout=TIMEOUT)
    viewer.window.remove_dock_widget(widget)  # what the dock's close button does
    qtbot.waitUntil(lambda: widget.run.worker is None, timeout=10_000)
    done = widget.model.config.metrics["steps_done"]
    assert 2 <= done < 1000  # stopped within a step of the close, members kept
    assert "cancelled" in widget.run.status.text()


def test_removing_the_image_stops_training_with_a_notification(qtbot, setup, notes):
    import time

    viewer, widget, image, scribbles, truth = setup
    widget.options.steps_spin.setValue(100_000)
    widget.run.train_button.click()
    qtbot.waitUntil(lambda: len(widget.plot.steps) >= 1, timeout=TIMEOUT)
    t0 = time.perf_counter()
    viewer.layers.remove(scribbles)
    qtbot.waitUntil(lambda: widget.run.worker is None, timeout=TIMEOUT)
    assert time.perf_counter() - t0 < 10  # within a step or two on a loaded machine
    assert any("was removed" in n.message for n in notes)
    assert widget.model is not None  # the members trained so far are kept
