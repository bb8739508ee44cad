"""The "Restore" widget: layers in, the restore workflow in a worker, layers out."""

import numpy as np
import pytest

from napari_sciseg.data.scattering import scattering_pattern


@pytest.fixture
def viewer_with_gaps(make_napari_viewer):
    pattern, gaps = scattering_pattern((64, 64), seed=2, module=(20, 28), gap=(3, 2))
    viewer = make_napari_viewer()
    viewer.add_image(pattern, name="pattern", scale=(0.5, 0.5))
    viewer.add_labels(gaps.astype(np.uint8), name="gaps", scale=(0.5, 0.5))
    return viewer, pattern, gaps


def _widget(viewer, qtbot):
    from napari_sciseg._napari.widgets.restore import RestoreWidget

    w = RestoreWidget(viewer)
    qtbot.addWidget(w)
    return w


def test_inpainting_adds_filled_std_and_baseline_layers(viewer_with_gaps, qtbot):
    viewer, pattern, gaps = viewer_with_gaps
    w = _widget(viewer, qtbot)
    assert (w.image_combo.currentText(), w.mask_combo.currentText()) == ("pattern", "gaps")
    w.steps.setValue(2)
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.run_button.isEnabled(), timeout=120_000)
    filled = viewer.layers["pattern inpainted"]
    np.testing.assert_array_equal(filled.data[~gaps], pattern[~gaps])  # only gaps change
    assert (filled.data[gaps] > 0).all()
    assert tuple(filled.scale) == (0.5, 0.5)
    assert (viewer.layers["pattern inpainted std"].data[~gaps] == 0).all()
    assert "pattern biharmonic" in viewer.layers
    assert w.status.text().startswith("done: 2 steps")


def test_denoising_self_supervised_and_errors(viewer_with_gaps, qtbot):
    viewer, pattern, _ = viewer_with_gaps
    w = _widget(viewer, qtbot)
    w.task.setCurrentText("denoising")
    assert not w.mask_combo.isEnabled() and not w.log_counts.isChecked()
    w.clean_combo.setCurrentText("pattern")
    w.run()  # the image itself as its clean version: refused, nothing runs
    assert w.worker is None and "is the image itself" in w.status.text()
    w.clean_combo.setCurrentText("none (self-supervised)")
    w.steps.setValue(2)
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.run_button.isEnabled(), timeout=120_000)
    out = viewer.layers["pattern denoised"].data
    assert out.shape == pattern.shape and np.isfinite(out).all()
    assert w.result.model.config.recipe["self_supervised"] is True


def test_cancel_adds_nothing(viewer_with_gaps, qtbot):
    viewer, _, _ = viewer_with_gaps
    w = _widget(viewer, qtbot)
    w.steps.setValue(10_000)
    w.run()
    qtbot.waitUntil(lambda: "training: step" in w.status.text(), timeout=60_000)
    w.cancel()
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=60_000)
    assert w.status.text() == "cancelled: nothing added"
    assert "pattern inpainted" not in viewer.layers and w.result is None


def test_mask_of_another_shape_is_refused(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((32, 32), np.float32), name="img")
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="small")
    w = _widget(viewer, qtbot)
    w.run()
    assert w.worker is None and "does not match 'image'" in w.status.text()
