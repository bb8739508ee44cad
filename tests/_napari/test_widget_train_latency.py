"""The viewer stays responsive while an ensemble trains on the 3D fiber sample.

A QTimer asks to fire every 10 ms on the GUI thread; how late each tick comes is
the event-loop latency a user feels while painting or moving sliders. Moving
through slices during training works.

On a loaded machine (other CPU-bound jobs, two cores) every thread is late, GUI
or not. So a control thread ticks at the same 10 ms in the same window: it
suffers the same load and the same GIL contention with the training worker, but
runs none of the GUI's work. The GUI's 95th-percentile lateness may exceed the
control's by at most 100 ms, and the window lasts until 100 GUI ticks came (a
GUI thread blocked by training would never get them).
"""

import threading
import time

import numpy as np
import pytest
from qtpy.QtCore import QTimer

from napari_sciseg._napari.widgets.train import TrainPredictWidget

TICK_MS = 10
TRAIN_FOR_S = 3.0
MIN_TICKS = 100


class ControlTicker(threading.Thread):
    """Tick lateness (ms) of a plain thread with the GUI's cadence: the load's share."""

    def __init__(self):
        super().__init__(daemon=True)
        self.late: list[float] = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t0 = time.perf_counter()
            time.sleep(TICK_MS / 1000)
            self.late.append(max(0.0, (time.perf_counter() - t0) * 1000 - TICK_MS))


def measure(qtbot, viewer, seconds):
    """GUI and control-thread tick lateness (ms) while the slider moves every 200 ms.

    Measures for ``seconds``, then on until ``MIN_TICKS`` GUI ticks came.
    Returns (gui lateness, control lateness, slider checks).
    """
    late, last, moved = [], [time.perf_counter()], []

    def tick():
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    def move_slice():
        z = (viewer.dims.current_step[0] + 3) % viewer.dims.nsteps[0]
        viewer.dims.current_step = (z, *viewer.dims.current_step[1:])
        moved.append(viewer.dims.current_step[0] == z)

    pinger, slider, control = QTimer(), QTimer(), ControlTicker()
    pinger.setInterval(TICK_MS)
    pinger.timeout.connect(tick)
    slider.setInterval(200)
    slider.timeout.connect(move_slice)
    last[0] = time.perf_counter()
    pinger.start()
    slider.start()
    control.start()
    qtbot.wait(int(seconds * 1000))
    qtbot.waitUntil(lambda: len(late) >= MIN_TICKS, timeout=60_000)
    pinger.stop()
    slider.stop()
    control.halt.set()
    control.join()
    return np.asarray(late), np.asarray(control.late), moved


def latency_while_training(qtbot, widget, viewer, seconds=TRAIN_FOR_S):
    """:func:`measure` while ``widget`` trains; also returns the progress records seen."""
    widget.run.train_button.click()
    qtbot.waitUntil(lambda: len(widget.plot.steps) >= 1, timeout=60_000)  # training has begun
    late, control, moved = measure(qtbot, viewer, seconds)
    steps = len(widget.plot.steps)
    widget.run.cancel_button.click()
    qtbot.waitUntil(lambda: widget.run.worker is None, timeout=30_000)
    return late, control, moved, steps


@pytest.mark.slow
def test_event_loop_latency_while_training_3d(qtbot, make_napari_viewer):
    from napari_sciseg.data import fiber_volume

    volume, scribbles = fiber_volume(seed=0)  # the 3D sample, 96^3
    viewer = make_napari_viewer()
    widget = TrainPredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(volume, name="fibers")
    labels = viewer.add_labels(scribbles, name="fibers scribbles")
    widget.scribbles.scribbles_combo.value = labels
    opts = widget.options
    opts.members_spin.setValue(3)
    opts.steps_spin.setValue(100_000)
    opts.dim_combo.setCurrentText("3D")
    opts.set_advanced(crop=32, model_kwargs={"depth": 4})

    base, base_control, _ = measure(qtbot, viewer, 1.5)  # the same GUI work, no training
    late, control, moved, steps = latency_while_training(qtbot, widget, viewer)
    p50, p95, p99 = np.percentile(late, [50, 95, 99])
    b95, c95, bc95 = (np.percentile(x, 95) for x in (base, control, base_control))
    print(f"\nbaseline (slider moving, no training): {base.size} ticks, p95 {b95:.1f} ms; "
          f"control thread p95 {bc95:.1f} ms")
    print(f"event-loop lateness over {late.size} ticks of {TICK_MS} ms while training "
          f"({steps} progress records): p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
          f"max {late.max():.1f} ms; control thread p95 {c95:.1f} ms")
    assert late.size >= MIN_TICKS and control.size >= MIN_TICKS / 4
    # what the load explains: the GUI's own baseline, scaled by how much slower the control
    # thread got once training started (the worker takes a core of two)
    load = max(1.0, (c95 + TICK_MS) / (bc95 + TICK_MS))
    allowed = 100.0 + load * b95
    assert p95 < allowed, f"GUI p95 {p95:.0f} ms > {allowed:.0f} ms that the load explains"
    assert moved and all(moved)
    assert widget.model is not None  # cancel kept the members trained so far

    # the 3D model predicts the visible slice from a slab of +- its receptive field
    assert widget.model.config.model_ndim == 3
    viewer.dims.current_step = (40, *viewer.dims.current_step[1:])
    widget.prediction.target_combo.setCurrentText("visible slice")
    widget.prediction.predict_button.click()
    qtbot.waitUntil(lambda: widget.prediction.runs == 1, timeout=60_000)
    prob = viewer.layers["fibers probability"]
    assert prob.data.shape == (2, *volume.shape)
    assert prob.data[:, 40].sum() > 0 and not prob.data[:, 39].any()
