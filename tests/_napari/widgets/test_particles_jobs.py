"""Size particles as a job: Cancel, results cleared when the image changes, a removed image."""

import os
import threading
import time

import numpy as np
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


def _load_factor() -> float:
    """How much slower than quiet this shared machine runs now (>= 1)."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def _core_threads(name):
    return [t for t in threading.enumerate() if t.name == name]


def test_cancel_within_2_s_stops_the_core_and_a_removed_image(widget, qtbot, notes):
    """Cancel from the first progress record of a 2048^2 job (seconds long, so it cannot
    finish first): the worker ends at once, the core call stops at its next stage, and no
    result is added afterwards."""
    viewer, w = widget
    tile = tem_particles("haadf", shape=(256, 256), seed=4)
    viewer.add_image(np.tile(tile, (8, 8)), name="big", scale=(0.2, 0.2), units=("nm", "nm"))
    w.image_combo.setCurrentText("big")
    clicked = []

    def first_record(_):
        if not clicked:
            clicked.append(time.perf_counter())
            w.cancel_button.click()

    w.run()
    w.worker.yielded.connect(first_record)
    qtbot.waitUntil(lambda: w.worker is None, timeout=30_000)
    bound = 2.0 * _load_factor()
    assert clicked and time.perf_counter() - clicked[0] < bound and w.result is None
    qtbot.waitUntil(lambda: not _core_threads("sciseg sizing"), timeout=60_000)
    assert time.perf_counter() - clicked[0] < bound, "the core call ran on after Cancel"
    qtbot.wait(200)
    assert w.result is None and "big particle mask" not in viewer.layers

    w.image_combo.setCurrentText("a")
    w.run()
    viewer.layers.remove("a")
    qtbot.waitUntil(lambda: w.worker is None, timeout=10_000)
    assert any("was removed" in n.message for n in notes)
    assert w.result is None and "a particle mask" not in viewer.layers


def test_size_particles_stops_between_stages():
    """The core call itself: a set flag (Event or callable) raises Cancelled before a stage."""
    from napari_sciseg._generators import Cancelled
    from napari_sciseg.measure import size_particles

    image = tem_particles("haadf", shape=(96, 96), seed=1)
    stages = []

    def flag():  # set once segmentation is done (the second check)
        stages.append(len(stages))
        return len(stages) >= 2

    with pytest.raises(Cancelled, match="cancelled before measurement"):
        size_particles(image, spacing=0.2, cancel=flag)
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled, match="segmentation"):
        size_particles(image, spacing=0.2, cancel=event)
    assert size_particles(image, spacing=0.2, cancel=threading.Event()).psd.count > 0
