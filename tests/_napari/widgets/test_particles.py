"""The "Size particles" widget: one click -> mask, isolated and rejected layers, PSD, exports."""

import numpy as np
import pytest

from napari_sciseg.data import tem_particles


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    from napari_sciseg._napari.widgets.particles import SizeParticlesWidget

    viewer = make_napari_viewer()
    image = tem_particles("haadf", shape=(192, 192), seed=2)
    viewer.add_image(image, name="haadf", scale=(0.2, 0.2), units=("nm", "nm"))
    w = SizeParticlesWidget(viewer)
    qtbot.addWidget(w)
    return viewer, w


def _run(w, qtbot):
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.run_button.isEnabled(), timeout=30000)


def test_one_click_gives_layers_plot_and_exports(widget, qtbot, tmp_path):
    viewer, w = widget
    assert w.image_combo.currentText() == "haadf"
    _run(w, qtbot)
    for name in ("particle mask", "isolated particles", "rejected particles"):
        assert f"haadf {name}" in viewer.layers
        assert viewer.layers[f"haadf {name}"].scale[-1] == pytest.approx(0.2)
    iso = viewer.layers["haadf isolated particles"]
    rej = viewer.layers["haadf rejected particles"]
    assert w.result.particles.unit == "nm" and w.result.psd.count == len(iso.features) > 0
    assert set(np.unique(iso.data)) - {0} == set(iso.features["index"])
    assert "reason" in rej.features and (rej.features["reason"] != "").all()
    assert rej.contour > 0
    ax = w.figure.axes[0]
    assert ax.get_xlabel() == "diameter (nm)" and len(ax.patches) > 0 and ax.lines
    assert "n=" in w.summary.text()
    csv = w.export_csv(tmp_path / "p.csv")
    png = w.export_png(tmp_path / "p.png")
    header = csv.read_text().splitlines()[0].split(",")
    assert {"label", "diameter_nm", "feret_min_nm", "reason"} <= set(header)
    assert png.stat().st_size > 1000
    # re-running updates the layers instead of piling up copies
    n_layers = len(viewer.layers)
    w.result = None
    _run(w, qtbot)
    assert len(viewer.layers) == n_layers


def test_uncalibrated_layer_sizes_in_pixels_and_typed_size_wins(make_napari_viewer, qtbot):
    from napari_sciseg._napari.widgets.particles import SizeParticlesWidget

    viewer = make_napari_viewer()
    viewer.add_image(tem_particles("bf", shape=(160, 160), seed=1), name="bf")
    w = SizeParticlesWidget(viewer)
    qtbot.addWidget(w)
    _run(w, qtbot)
    assert w.result.particles.unit == "px" and w.result.psd.calibration == "none"
    assert w.figure.axes[0].get_xlabel().startswith("diameter (pixels")
    w.pixel_size.setValue(0.25)
    w.result = None
    _run(w, qtbot)
    assert w.result.particles.unit == "nm" and w.result.psd.calibration == "user"


def test_stack_is_refused_without_layers(make_napari_viewer, qtbot):
    from napari_sciseg._napari.widgets.particles import SizeParticlesWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 32, 32), np.float32), name="stack")
    w = SizeParticlesWidget(viewer)
    qtbot.addWidget(w)
    w.run()
    assert w.worker is None and len(viewer.layers) == 1


def test_live_preview_segments_the_visible_region(widget, qtbot):
    viewer, w = widget
    w.live_preview.setChecked(True)  # triggers a preview
    qtbot.waitUntil(lambda: "haadf preview" in viewer.layers, timeout=30000)
    preview = viewer.layers["haadf preview"]
    assert preview.data.shape[0] >= 64 and preview.data.any()
    assert preview.scale[-1] == pytest.approx(0.2)
    w.method.setCurrentText("otsu")  # a parameter change refreshes it
    qtbot.waitUntil(lambda: w.preview.worker is not None and not w.preview.worker.is_running,
                    timeout=30000)  # fmt: skip
    assert "haadf preview" in viewer.layers
    w.live_preview.setChecked(False)  # no preview may start after the test (camera timer)
    qtbot.wait(500)
    qtbot.waitUntil(lambda: not w.preview.worker.is_running, timeout=30000)


def test_bad_model_is_refused_before_any_work(widget, qtbot, tmp_path):
    viewer, w = widget
    w.model_path.setText(str(tmp_path / "missing.sciseg"))
    n_layers = len(viewer.layers)
    w.run()
    assert w.worker is None and len(viewer.layers) == n_layers and w.run_button.isEnabled()


def test_edge_method_and_split_touching_from_the_form(widget, qtbot):
    viewer, w = widget
    w.method.setCurrentText("edge")
    w.split_touching.setChecked(True)
    _run(w, qtbot)
    assert w.result.method == "edge" and w.result.psd.count > 0
    assert "split" in viewer.layers["haadf isolated particles"].features
