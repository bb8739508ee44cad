"""Size particles as a job: Cancel, results cleared when the image changes, a removed image."""

import time

import pytest

from napari_sciseg.data import tem_particles


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    from napari_sciseg._napari.widgets.particles import SizeParticlesWidget

    viewer = make_napari_viewer()
    viewer.add_image(tem_particles("haadf", shape=(192, 192), seed=2), name="a",
                     scale=(0.2, 0.2), units=("nm", "nm"))
    viewer.add_image(tem_particles("bf", shape=(192, 192), seed=3), name="b",
                     scale=(0.2, 0.2), units=("nm", "nm"))
    w = SizeParticlesWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w


def test_changing_the_image_clears_the_results(widget, qtbot):
    viewer, w = widget
    w.image_combo.setCurrentText("a")
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.worker is None, timeout=60_000)
    assert w.csv_button.isEnabled() and w.summary.text()
    w.image_combo.setCurrentText("b")  # another image: the histogram and exports were a's
    assert w.result is None and not w.csv_button.isEnabled() and w.summary.text() == ""
    assert not w.figure.axes[0].patches
    w.image_combo.setCurrentText("a")
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.worker is None, timeout=60_000)
    viewer.layers["a"].data = viewer.layers["a"].data[::-1].copy()  # new data: stale too
    assert w.result is None and not w.png_button.isEnabled()


def test_cancel_within_2_s_and_a_removed_image(widget, qtbot, notes):
    viewer, w = widget
    w.image_combo.setCurrentText("a")
    w.run()
    assert w.cancel_button.isEnabled()
    t0 = time.perf_counter()
    w.cancel_button.click()
    qtbot.waitUntil(lambda: w.worker is None, timeout=10_000)
    assert time.perf_counter() - t0 < 2.0 and w.result is None
    assert "a particle mask" not in viewer.layers
    w.run()
    viewer.layers.remove("a")
    qtbot.waitUntil(lambda: w.worker is None, timeout=10_000)
    assert any("was removed" in n.message for n in notes)
    assert w.result is None and "a particle mask" not in viewer.layers
