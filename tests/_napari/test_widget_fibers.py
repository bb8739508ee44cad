"""The "Fibers" widget: segmentation -> instance labels with features, vectors, plots."""

import numpy as np
import pytest

from napari_sciseg.data.fibers import fiber_volume


@pytest.fixture(scope="module")
def phantom():
    return fiber_volume(shape=(48, 56, 64), seed=5, return_truth=True)


@pytest.fixture
def widget(make_napari_viewer, qtbot, phantom):
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    volume, _, truth = phantom
    viewer = make_napari_viewer()
    viewer.add_image(volume, name="ct", scale=(2.0, 1.0, 1.0))
    # a class map as the training widget makes it: 1 = matrix, 2 = fiber
    viewer.add_labels(truth.mask.astype(np.uint8) + 1, name="seg", scale=(2.0, 1.0, 1.0))
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    return viewer, w


def _run(w, qtbot):
    w.result = None
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.run_button.isEnabled(), timeout=30000)


def test_labels_to_fibers_layers_plots_and_selection(widget, qtbot, phantom):
    viewer, w = widget
    _, _, truth = phantom
    w.source_combo.setCurrentText("seg")
    w.fiber_class.setValue(2)
    w.min_size.setValue(20)
    _run(w, qtbot)
    assert w.result.count == truth.n_fibers
    labels = viewer.layers["seg fibers"]
    assert labels.scale[0] == pytest.approx(2.0)
    assert len(labels.features) == truth.n_fibers
    assert {"index", "length", "arc_length", "dz", "polar", "radius"} <= set(labels.features)
    vectors = viewer.layers["seg fiber directions"]
    assert vectors.data.shape == (truth.n_fibers, 2, 3)
    # the vectors span the fibers: their physical lengths equal the measured lengths
    phys = np.linalg.norm(vectors.data[:, 1] * np.array([2.0, 1.0, 1.0]), axis=1)
    np.testing.assert_allclose(phys, w.result.table["length"], rtol=1e-6)
    assert w.length_figure.axes[0].patches
    assert [a.name for a in w.orientation_figure.axes if a.name == "hammer"]
    assert f"{truth.n_fibers} fibers" in w.summary.text()
    # picking a label shows its row
    labels.selected_label = 2
    assert w.selection.text().startswith("label 2, ")
    labels.selected_label = truth.n_fibers + 5
    assert "not a fiber" in w.selection.text()
    # outputs are not offered as inputs
    names = [w.source_combo.itemText(i) for i in range(w.source_combo.count())]
    assert "seg fibers" not in names


def test_live_recount_and_no_duplicate_layers(widget, qtbot):
    viewer, w = widget
    w.source_combo.setCurrentText("seg")
    w.fiber_class.setValue(2)
    _run(w, qtbot)
    n_layers, count = len(viewer.layers), w.result.count
    sizes = np.bincount(viewer.layers["seg fibers"].data.ravel())[1:]
    old = w.result
    w.min_size.setValue(int(np.median(sizes)) + 1)  # live: dusts about half of the fibers
    qtbot.waitUntil(lambda: w.result is not old and w.run_button.isEnabled(), timeout=30000)
    assert 0 < w.result.count < count
    assert len(viewer.layers) == n_layers


def test_threshold_an_image(widget, qtbot, phantom):
    viewer, w = widget
    _, _, truth = phantom
    w.source_combo.setCurrentText("ct")
    assert w.threshold.isEnabled() and not w.fiber_class.isEnabled()
    w.dark.setChecked(True)
    w.threshold.setValue(0.3)
    w.with_shell.setChecked(False)
    _run(w, qtbot)
    assert w.result.count >= truth.n_fibers // 2  # plain thresholding: pores join in
    assert w.shell is None
    assert "ct fibers" in viewer.layers


def test_no_layer_reports_an_error(make_napari_viewer, qtbot, monkeypatch):
    from napari_sciseg._napari.widgets import fibers as mod

    messages = []
    monkeypatch.setattr(mod, "show_error", messages.append)
    w = mod.FibersWidget(make_napari_viewer())
    qtbot.addWidget(w)
    w.run()
    assert messages and "No 3D segmentation" in messages[0]
