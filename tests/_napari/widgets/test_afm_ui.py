"""AFM widgets as a first-time user meets them: markers that stay small on screen, a
legend, pickers on the levelled layers, training and classifying in workers with Cancel."""

import os
import time

import numpy as np
import pytest

from napari_sciseg._napari.widgets.afm import AfmWidget
from napari_sciseg._napari.widgets.afm_annotate import MARKER_PX, CrystalCountWidget
from napari_sciseg.classify.afm.dataset import read_dataset
from napari_sciseg.dl.afm import train_afm


def _marker_width(viewer) -> int:
    """Width in screen pixels of the (only) marker drawn on the canvas."""
    shot = viewer.screenshot(canvas_only=True, flash=False)
    blue = (shot[..., 2] > 150) & (shot[..., 0] < 150)  # the spherulite colour on black
    cols = np.flatnonzero(blue.any(axis=0))
    return int(cols.max() - cols.min() + 1) if cols.size else 0


def test_markers_keep_their_screen_size_under_zoom_and_have_a_legend(make_napari_viewer,
                                                                     qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((256, 256), np.float32), name="scan height",
                     scale=(19.5, 19.5), colormap="gray")
    widget = CrystalCountWidget(viewer)
    assert "spherulite" in widget.legend.text() and "lamellar" in widget.legend.text()
    points = widget.new_layer()
    points.add([[128.0, 128.0]])
    viewer.reset_view()
    widths = []
    for zoom in (0.5, 2.0, 8.0):
        viewer.camera.zoom = viewer.camera.zoom * zoom
        qtbot.wait(100)
        widths.append(_marker_width(viewer))
    assert all(w > 0 for w in widths)
    assert max(widths) - min(widths) <= 2  # the same few screen pixels at every zoom
    assert max(widths) <= 2 * MARKER_PX  # border and antialiasing; not a 4.6 µm disc


def test_pickers_follow_levelled_layers_and_classify_cancels(make_napari_viewer, qtbot,
                                                              afm_csv, notes):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-sciseg", "afm_scan")
    widget = AfmWidget(viewer)
    widget.level()
    assert widget.channel_combos["height"].currentText() == "AFM scan height levelled"
    assert widget.channel_combos["phase"].currentText() == "AFM scan phase levelled"
    model = train_afm(read_dataset(afm_csv), fusion="vlad", use_metadata=False,
                      vlad_options={"k": 6, "n_estimators": 20, "pixels_per_scan": 500})
    widget.set_model(model)
    assert widget.classify() is not None and widget.cancel_button.isEnabled()
    t0 = time.perf_counter()
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert time.perf_counter() - t0 < 2.0
    assert "AFM tile classes (extrapolated)" not in viewer.layers
    # a layer removed while its job runs: the job ends, a notification says why
    assert widget.classify() is not None
    viewer.layers.remove("AFM scan height levelled")
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert any("was removed" in n.message for n in notes)
    assert "AFM tile classes (extrapolated)" not in viewer.layers
    # and a full run still works
    viewer.layers.remove("AFM scan phase levelled")
    assert widget.classify() is not None
    qtbot.waitUntil(lambda: widget.result is not None, timeout=60_000)
    assert "AFM tile classes (extrapolated)" in viewer.layers
    assert "Equal" in widget.legend.text()


@pytest.mark.parametrize("fusion", ["VLAD texture (fast, no network)",
                                    "early fusion (CNN, all channels)"])
def test_train_from_the_widget(make_napari_viewer, qtbot, afm_csv, tmp_path, fusion):
    viewer = make_napari_viewer()
    widget = AfmWidget(viewer)
    panel = widget.training
    panel.csv_edit.setText(str(afm_csv))
    panel.fusion_combo.setCurrentText(fusion)
    panel.steps_spin.setValue(3 if "VLAD" in fusion else 10_000)
    panel.tile_spin.setValue(32)
    output = tmp_path / "m.sciseg"
    assert panel.start(output) is not None
    if "VLAD" in fusion:
        qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
        assert output.is_file() and widget.model is not None
        assert "vlad" in widget.model_label.text()
    else:  # 10 000 steps would take long: Cancel stops it, nothing is saved
        qtbot.waitUntil(lambda: panel.progress.value() >= 1, timeout=120_000)
        t0 = time.perf_counter()
        panel.cancel_button.click()
        qtbot.waitUntil(lambda: panel.worker is None, timeout=10_000)
        # Cancel lands between training steps; on a loaded machine one step takes longer
        bound = 2.0 * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
        assert time.perf_counter() - t0 < bound
        assert not output.exists() and widget.model is None


def test_missing_csv_is_named_in_widget_words(make_napari_viewer, tmp_path, notes):
    widget = AfmWidget(make_napari_viewer())
    widget.training.csv_edit.setText(str(tmp_path / "nope.csv"))
    assert widget.training.start() is None
    assert "'training CSV'" in notes[-1].message and "AFM crystal counts" in notes[-1].message
