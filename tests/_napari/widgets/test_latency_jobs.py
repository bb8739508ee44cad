"""The viewer stays responsive while particle sizing, AFM classification and a batch run.

As in the training latency test: a QTimer asks to fire every 10 ms on the GUI
thread, and a plain control thread ticks at the same cadence, so the load of a
shared 2-core machine is measured and allowed for. The GUI's 95th percentile may
exceed its idle baseline (scaled by the load) by at most 100 ms, its maximum by
at most 500 ms.

Particles are sized at 2048^2 as the issue asks (SCISEG_LATENCY_SIZE changes it): the
image is a 256^2 synthetic field tiled 8 x 8, since generating a 2048^2 field takes
minutes on a loaded 2-core machine while sizing it takes seconds.
"""

import os
import threading
import time

import numpy as np
from qtpy.QtCore import QTimer

TICK_MS = 10


class _Control(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.late, self.halt = [], threading.Event()

    def run(self):
        while not self.halt.is_set():
            t0 = time.perf_counter()
            time.sleep(TICK_MS / 1000)
            self.late.append(max(0.0, (time.perf_counter() - t0) * 1000 - TICK_MS))


def measure(qtbot, until, timeout_s=120.0):
    """GUI and control tick lateness (ms) until ``until()`` (or 1 s when it is None)."""
    late, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    pinger, control = QTimer(), _Control()
    pinger.setInterval(TICK_MS)
    pinger.timeout.connect(tick)
    pinger.start()
    control.start()
    if until is None:
        qtbot.wait(1000)
    else:
        qtbot.waitUntil(until, timeout=int(timeout_s * 1000))
    pinger.stop()
    control.halt.set()
    control.join()
    return np.asarray(late), np.asarray(control.late or [0.0])


def add_layer_ms(viewer, shape, block=None) -> float:
    """What napari itself takes (GUI thread) to add one Labels layer of ``shape`` here
    (zeros, or ``block``-sized tiles of distinct labels with a colour each, like the AFM
    tile class map: napari's direct colormap costs more per label)."""
    data, kw = np.zeros(shape, np.int32), {}
    if block:
        grid = np.arange(1, (-(-shape[0] // block)) * (-(-shape[1] // block)) + 1, dtype=np.int32)
        grid = grid.reshape(-(-shape[0] // block), -1)
        data = np.kron(grid, np.ones((block, block), np.int32))[: shape[0], : shape[1]]
        from napari.utils.colormaps import DirectLabelColormap

        colors = {None: "transparent", 0: "transparent"}
        colors.update({int(i): ("red", "green", "blue")[i % 3] for i in grid.ravel()})
        kw = {"colormap": DirectLabelColormap(color_dict=colors), "opacity": 0.45}
    t0 = time.perf_counter()
    layer = viewer.add_labels(data, name="probe", **kw)
    cost = (time.perf_counter() - t0) * 1000
    viewer.layers.remove(layer)
    return cost


def check_responsive(name, base, base_control, late, control, *, one_layer_ms=0.0):
    """p95 within 100 ms of what the load explains; max within 500 ms of it plus the cost
    of one napari layer (result layers are added one per event-loop turn)."""
    b95, bc95, c95 = (np.percentile(x, 95) for x in (base, base_control, control))
    p95 = np.percentile(late, 95)
    load = max(1.0, (c95 + TICK_MS) / (bc95 + TICK_MS))
    print(f"\n{name}: {late.size} ticks, p95 {p95:.0f} ms, max {late.max():.0f} ms; idle p95 "
          f"{b95:.0f} ms, max {base.max():.0f} ms; load factor {load:.2f}; napari adds one "
          f"layer in {one_layer_ms:.0f} ms")
    assert late.size >= 20
    # with few ticks (~50) the p95 also catches the turns napari spends adding the result
    # layers (one layer's cost is measured); a full run once gave 123 ms with a 284 ms layer
    assert p95 < 100 + load * b95 + 0.5 * one_layer_ms, f"{name}: GUI p95 {p95:.0f} ms"
    allowed = 500 + load * base.max() + 1.5 * one_layer_ms
    assert late.max() < allowed, f"{name}: GUI max {late.max():.0f} ms > {allowed:.0f} ms"


SIZE = int(os.environ.get("SCISEG_LATENCY_SIZE", "2048"))


def test_responsive_while_sizing_particles(make_napari_viewer, qtbot):
    from napari_sciseg._napari.widgets.particles import SizeParticlesWidget
    from napari_sciseg.data import tem_particles

    viewer = make_napari_viewer()
    tile = tem_particles("bf", shape=(256, 256), pixel_size=0.5, seed=0)
    reps = -(-SIZE // 256)
    image = np.tile(tile, (reps, reps))[:SIZE, :SIZE]
    viewer.add_image(image, name="tem", scale=(0.5, 0.5))
    widget = SizeParticlesWidget(viewer)
    viewer.window.add_dock_widget(widget)
    qtbot.wait(300)
    one_layer = add_layer_ms(viewer, image.shape)
    base, base_control = measure(qtbot, None)
    widget.run_button.click()
    late, control = measure(qtbot, lambda: widget.result is not None and widget.worker is None,
                            timeout_s=600)
    check_responsive(f"size particles {SIZE}^2", base, base_control, late, control,
                     one_layer_ms=one_layer)


def test_responsive_while_classifying_an_afm_scan(make_napari_viewer, qtbot, afm_csv):
    from napari_sciseg._napari.widgets.afm import AfmWidget
    from napari_sciseg.classify.afm.dataset import read_dataset
    from napari_sciseg.dl.afm import train_afm

    model = train_afm(read_dataset(afm_csv), fusion="vlad", use_metadata=False,
                      vlad_options={"k": 6, "n_estimators": 20, "pixels_per_scan": 500})
    viewer = make_napari_viewer()
    viewer.open_sample("napari-sciseg", "afm_scan")
    for layer in viewer.layers:  # 4 x 4 scans: a job long enough to measure (~2048^2)
        layer.data = np.tile(layer.data, (4, 4))
    widget = AfmWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(model)
    qtbot.wait(300)
    shape = viewer.layers[0].data.shape[-2:]
    one_layer = add_layer_ms(viewer, shape, block=64)  # like the tile class map added
    base, base_control = measure(qtbot, None)
    assert widget.classify() is not None
    late, control = measure(qtbot, lambda: widget.result is not None and widget.worker is None,
                            timeout_s=600)
    assert widget.result.label in widget.summary.text()
    assert viewer.layers["AFM p(Equal)"].data.shape == shape
    check_responsive(f"AFM classify {shape[0]}x{shape[1]}", base, base_control, late, control,
                     one_layer_ms=one_layer)


def test_responsive_while_batch_runs(make_napari_viewer, qtbot, tmp_path):
    from napari_sciseg._napari.widgets.batch import BatchWidget
    from napari_sciseg.data import tem_particles
    from napari_sciseg.io.tiff import write_tiff

    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(3):
        write_tiff(folder / f"t{seed}.tif", tem_particles("bf", shape=(512, 512),
                                                          pixel_size=0.5, seed=seed),
                   spacing=(0.5, 0.5))
    viewer = make_napari_viewer()
    widget = BatchWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.input_edit.setText(str(folder))
    widget.output_edit.setText(str(tmp_path / "out"))
    qtbot.wait(300)
    base, base_control = measure(qtbot, None)
    assert widget.start() is not None
    late, control = measure(qtbot, lambda: widget.worker is None, timeout_s=600)
    assert widget.result.n_ok == 3
    check_responsive("batch of 3 images", base, base_control, late, control)

    # Cancel within 2 s (between files; these take well under a second each)
    (tmp_path / "out2").mkdir()
    widget.output_edit.setText(str(tmp_path / "out2"))
    assert widget.start() is not None
    t0 = time.perf_counter()
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert time.perf_counter() - t0 < 2.0 and widget.result.cancelled
