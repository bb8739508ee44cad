"""The viewer stays responsive while an ensemble trains on the 3D fiber sample.

A QTimer asks to fire every 10 ms on the GUI thread; how late each tick comes is
the event-loop latency a user feels while painting or moving sliders. Moving
through slices during training works.

On a loaded machine (other CPU-bound jobs, two cores) every thread is late and
the GUI's own rendering takes longer, so tick lateness alone cannot tell a busy
machine from a widget that burdens the GUI thread. The test therefore checks
(1) that 100 GUI ticks come while training runs (a training loop on the GUI
thread would starve them), (2) the CPU time that training's own GUI-thread work
(progress records, loss-plot redraws) costs, which load cannot inflate, and
(3) a generous bound on the longest freeze. Lateness percentiles, of the GUI
thread and of a control thread ticking at the same rate, are printed beside an
idle baseline with the same slider work.
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


def _time_gui_work(widget) -> list[float]:
    """Record the GUI-thread CPU seconds of each progress record and loss-plot redraw."""
    spent: list[float] = []

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.append(time.thread_time() - t0)

        return wrapper

    widget.record_progress = timed(widget.record_progress)  # start() connects this attribute
    widget.plot.draw = timed(widget.plot.draw)  # draw_idle() calls self.draw() later
    return spent


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

    gui_work = _time_gui_work(widget)
    base, base_control, _ = measure(qtbot, viewer, 1.5)  # the same GUI work, no training
    late, control, moved, steps = latency_while_training(qtbot, widget, viewer)
    p50, p95, p99 = np.percentile(late, [50, 95, 99])
    b95, c95, bc95 = (np.percentile(x, 95) for x in (base, control, base_control))
    work = np.asarray(gui_work) * 1000
    print(f"\nbaseline (slider moving, no training): {base.size} ticks, p95 {b95:.1f} ms, "
          f"max {base.max():.1f} ms; control thread p95 {bc95:.1f} ms")
    print(f"event-loop lateness over {late.size} ticks of {TICK_MS} ms while training "
          f"({steps} progress records): p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
          f"max {late.max():.1f} ms; control thread p95 {c95:.1f} ms")
    print(f"training's own work on the GUI thread (CPU time, {work.size} calls): "
          f"median {np.median(work):.1f} ms, max {work.max():.1f} ms")
    # 1. the GUI thread keeps turning: 100 ticks came while training ran (a training loop
    #    on the GUI thread would starve them for the whole run)
    assert late.size >= MIN_TICKS
    # 2. what training puts on the GUI thread (progress records, loss-plot redraws) is
    #    small, measured as that thread's CPU time, which other jobs cannot inflate
    assert work.size >= 1
    #    (a loss-plot redraw costs 60-80 ms of CPU here; slower CI CPUs get some margin;
    #    the first draw builds font caches once)
    assert np.median(work) < 150.0 and work.max() < 1000.0
    # 3. no freeze: the longest wait between ticks is bounded generously (seconds on a
    #    machine with other CPU-bound jobs; a blocking step or save would exceed it)
    assert late.max() < max(5000.0, 3 * base.max())
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
