"""The "Fibers" widget with its defaults on the plugin's outputs: class, polarity, worker."""

import time

import numpy as np
import pytest
from qtpy.QtCore import QTimer

from napari_sciseg.data.fibers import fiber_volume

TICK_MS = 10


@pytest.fixture(scope="module")
def phantom():
    return fiber_volume(shape=(48, 56, 64), seed=5, return_truth=True)


@pytest.fixture(scope="module")
def sample():
    return fiber_volume(seed=0, return_truth=True)  # the plugin's 96³ sample


def _segmentation_as_train_predict_writes_it(viewer, volume, seg, scale=(1.0, 1.0, 1.0)):
    """A class map 1 = matrix, 2 = fiber with the metadata Train & predict gives its layers."""
    meta = {"sciseg": {"classes": ["matrix", "fiber"], "source": "ct", "model": "smsnet"}}
    viewer.add_image(volume, name="ct", scale=scale)
    return viewer.add_labels(seg, name="ct segmentation", scale=scale, metadata=meta)


@pytest.fixture
def widget(make_napari_viewer, qtbot, phantom):
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    volume, _, truth = phantom
    viewer = make_napari_viewer()
    _segmentation_as_train_predict_writes_it(
        viewer, volume, truth.mask.astype(np.uint8) + 1, scale=(2.0, 1.0, 1.0)
    )
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    # this small phantom's shortest fibres are about two diameters long (elongation < 3)
    w.form.min_elongation.setValue(2.0)
    return viewer, w


def _run(w, qtbot, timeout=60_000):
    w.result = None
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.run_button.isEnabled(), timeout=timeout)
    # the output layers are added one per event-loop turn, the removed objects last
    removed = f"{w.form.source_combo.currentText()} removed objects"
    qtbot.waitUntil(lambda: removed in w.viewer.layers, timeout=timeout)


def test_train_predict_segmentation_defaults_count_the_sample(make_napari_viewer, qtbot, sample):
    """#16: on Train & predict's class map the default class is "fiber", not "any non-zero"."""
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    volume, _, truth = sample
    viewer = make_napari_viewer()
    # a segmentation that, like a weakly trained model, calls the dark pores fiber too
    seg = np.where(volume < 0.36, 2, 1).astype(np.uint8)
    _segmentation_as_train_predict_writes_it(viewer, volume, seg)
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    w.form.source_combo.setCurrentText("ct segmentation")
    assert w.form.fiber_class.currentText() == "2: fiber" and w.form.fiber_class.currentData() == 2
    _run(w, qtbot)
    fraction = w.result.stats.volume_fraction
    assert abs(w.result.count - truth.n_fibers) <= 0.2 * truth.n_fibers
    assert abs(fraction - truth.mask.mean()) <= 0.2 * truth.mask.mean()
    assert fraction < 0.05  # not the matrix (0.9995 with the old default)
    removed = viewer.layers["ct segmentation removed objects"]
    assert not removed.visible and "reason" in removed.features
    assert removed.features["reason"].str.startswith("round").sum() > 5  # the pores


def test_labels_to_fibers_layers_plots_and_selection(widget, qtbot, phantom):
    viewer, w = widget
    _, _, truth = phantom
    w.form.source_combo.setCurrentText("ct segmentation")
    _run(w, qtbot)
    assert w.result.count == truth.n_fibers
    labels = viewer.layers["ct segmentation fibers"]
    assert labels.scale[0] == pytest.approx(2.0)
    assert len(labels.features) == truth.n_fibers
    assert {"index", "length", "arc_length", "dz", "polar", "radius", "elongation",
            "border"} <= set(labels.features)  # fmt: skip
    vectors = viewer.layers["ct segmentation fiber directions"]
    assert vectors.data.shape == (truth.n_fibers, 2, 3)
    # the vectors span the fibers: their physical lengths equal the measured lengths
    phys = np.linalg.norm(vectors.data[:, 1] * np.array([2.0, 1.0, 1.0]), axis=1)
    np.testing.assert_allclose(phys, w.result.table["length"], rtol=1e-6)
    assert w.length_figure.axes[0].patches
    assert [a.name for a in w.orientation_figure.axes if a.name == "hammer"]
    assert w.summary.text().startswith(f"{truth.n_fibers} fibers")
    labels.selected_label = 2
    assert w.selection.text().startswith("label 2, ")
    labels.selected_label = truth.n_fibers + 5
    assert "not a fiber" in w.selection.text()
    names = [w.form.source_combo.itemText(i) for i in range(w.form.source_combo.count())]
    assert "ct segmentation fibers" not in names  # outputs are not offered as inputs


def test_live_recount_and_no_duplicate_layers(widget, qtbot):
    viewer, w = widget
    w.form.source_combo.setCurrentText("ct segmentation")
    _run(w, qtbot)
    n_layers, count = len(viewer.layers), w.result.count
    sizes = np.bincount(viewer.layers["ct segmentation fibers"].data.ravel())[1:]
    old = w.result
    w.form.min_size.setValue(int(np.median(sizes)) + 1)  # live: removes about half
    qtbot.waitUntil(lambda: w.result is not old and w.run_button.isEnabled(), timeout=30000)
    qtbot.wait(500)  # the layers of the recount
    assert 0 < w.result.count < count
    assert len(viewer.layers) == n_layers


def test_grey_volume_polarity_detected(make_napari_viewer, qtbot, sample):
    """#16: the sample's fibres are dark; the default threshold finds them (count within 10 %)."""
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    volume, _, truth = sample
    viewer = make_napari_viewer()
    viewer.add_image(volume, name="ct")
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    assert w.form.threshold.isEnabled() and not w.form.fiber_class.isEnabled()
    assert w.form.polarity.currentText() == "auto" and w.form.threshold.text() == "auto"
    _run(w, qtbot)
    assert w.result.summary["polarity"] == "dark"
    assert abs(w.result.count - truth.n_fibers) <= 0.1 * truth.n_fibers
    assert "dark fibres" in w.summary.text()


def test_segmentation_without_a_fiber_class_asks(make_napari_viewer, qtbot, phantom, notes):
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    volume, _, truth = phantom
    viewer = make_napari_viewer()
    seg = truth.mask.astype(np.uint8) + 1
    viewer.add_labels(seg, name="named", metadata={"class_names": ["matrix", "pore"]})
    viewer.add_labels(seg, name="unnamed")
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    for name in ("named", "unnamed"):
        w.form.source_combo.setCurrentText(name)
        assert w.form.fiber_class.currentIndex() == -1  # nothing guessed
        w.run()
        assert w.worker is None and "Which class holds the fibres?" in w.summary.text()
    assert any("Pick it in 'fiber class'" in str(n.message) for n in notes)
    w.form.fiber_class.setCurrentIndex(1)  # the user says: 2
    w.form.min_elongation.setValue(2.0)
    _run(w, qtbot)
    assert w.result.count == truth.n_fibers


def test_input_change_clears_results(widget, qtbot):
    viewer, w = widget
    w.form.source_combo.setCurrentText("ct segmentation")
    _run(w, qtbot)
    assert "ct segmentation fibers" in viewer.layers
    seg = viewer.layers["ct segmentation"]
    seg.data = np.ones_like(seg.data)
    assert w.result is None and "results cleared" in w.summary.text()
    assert "ct segmentation fibers" not in viewer.layers
    assert not w.length_figure.axes


@pytest.fixture(scope="module")
def big():
    volume, _, _ = fiber_volume(shape=(160, 160, 160), seed=0, return_truth=True)
    return volume


def test_cancel_within_2_s_and_a_removed_layer_ends_cleanly(make_napari_viewer, qtbot, big,
                                                            notes):  # fmt: skip
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    viewer = make_napari_viewer()
    viewer.add_image(big, name="ct")
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    started = time.perf_counter()
    w.run()
    yields = [started]
    w.worker.yielded.connect(lambda _: yields.append(time.perf_counter()))
    assert w.cancel_button.isEnabled() and not w.run_button.isEnabled()
    qtbot.waitUntil(lambda: w.worker.is_running, timeout=10_000)
    qtbot.wait(300)
    t0 = time.perf_counter()
    w.cancel_button.click()
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=60_000)
    took = time.perf_counter() - t0
    # Cancel lands at the worker's next progress record: 2 s on a quiet machine; when
    # other jobs slow the worker down, the longest stretch between its records measured
    # in this run (load stretches both alike) sets the bound instead
    stretch = max(np.diff([*yields, t0]))
    assert took < max(2.0, 2 * stretch + 0.5), f"Cancel took {took:.1f} s (stretch {stretch:.1f})"
    assert w.result is None and "ct fibers" not in viewer.layers
    # the input removed while the job runs: the job ends, a note says why
    w.run()
    viewer.layers.remove("ct")
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=60_000)
    assert w.result is None
    assert any("was removed while" in str(n.message) for n in notes)


def _lateness(qtbot, until, seconds, stop=lambda: False):
    """Tick lateness (ms) for at least ``seconds`` and until ``until()``; ticks after
    ``stop()`` turned true are not counted."""
    late, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        if not stop():
            late.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    pinger = QTimer()
    pinger.setInterval(TICK_MS)
    pinger.timeout.connect(tick)
    pinger.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or not until():
        qtbot.wait(50)
    pinger.stop()
    return np.asarray(late)


def test_event_loop_stays_responsive_while_fibres_run(make_napari_viewer, qtbot, big):
    """#16: while a 160³ volume is measured in the worker, the GUI thread's tick lateness
    has p95 < 100 ms and max < 500 ms over the idle viewer's own (a loaded machine adds
    its noise to both). Adding the result layers afterwards is napari's work on the GUI
    thread and is timed separately (printed)."""
    from napari_sciseg._napari.widgets.fibers import FibersWidget

    viewer = make_napari_viewer()
    viewer.add_image(big, name="ct")
    w = FibersWidget(viewer)
    qtbot.addWidget(w)
    idle = _lateness(qtbot, lambda: True, 1.0)
    w.run()
    computed = []
    w.worker.yielded.connect(lambda rec: computed.append(rec.what == "done"))
    busy = _lateness(qtbot, lambda: any(computed), 0.5, stop=lambda: any(computed))
    # presenting the result: one layer per event-loop turn, each turn timed
    present = _lateness(qtbot, lambda: "ct removed objects" in viewer.layers, 0.2)
    assert w.result is not None and w.result.count > 50
    i95, imax = np.percentile(idle, 95), idle.max()
    p95, pmax = np.percentile(busy, 95), busy.max()
    print(f"\nidle p95 {i95:.1f} max {imax:.1f} ms; while measuring ({busy.size} ticks) "
          f"p95 {p95:.1f} max {pmax:.1f} ms; adding the result layers: longest turn "
          f"{present.max():.0f} ms")
    assert busy.size > 20
    assert p95 < 100 + i95
    assert pmax < 500 + imax
