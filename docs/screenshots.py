"""Take the documentation screenshots from the real widgets, under Xvfb.

Run from the repository root::

    xvfb-run -a -s "-screen 0 1920x1200x24" python docs/screenshots.py [NAME ...]

Each ``shot_<name>`` function builds a real viewer state (sample data, widget
docked, a workflow run through the widget's own buttons and workers) and the
window is saved at a laptop's 1280x800 to ``docs/images/<name>.png`` and at
1800x1100 to ``docs/images/<name>_1800.png``. Nothing is mocked or painted in.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
PLUGIN = "napari-sciseg"


def wait_for(condition, timeout: float = 1500.0) -> None:
    """Process Qt events until ``condition()`` is true (workers finishing, layers appearing)."""
    t0 = time.perf_counter()
    while not condition():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("screenshot state not reached in time")


def settle(seconds: float = 0.5) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        QApplication.processEvents()
        time.sleep(0.02)


#: window sizes: file suffix -> (width, height)
SIZES = {"": (1280, 800), "_1800": (1800, 1100)}
_size = SIZES[""]


def new_viewer() -> napari.Viewer:
    viewer = napari.Viewer(title="napari-sciseg")
    viewer.window.resize(*_size)
    return viewer


def dock(viewer: napari.Viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def save(viewer: napari.Viewer, name: str) -> Path:
    settle()
    suffix = next(k for k, v in SIZES.items() if v == _size)
    path = IMAGES / f"{name}{suffix}.png"
    viewer.window.screenshot(str(path), canvas_only=False)
    viewer.close()
    return path


def shot_overview() -> Path:
    """The scribble sample with the plugin's widgets docked (README picture)."""
    from napari_sciseg._napari._demo import populate

    viewer = new_viewer()
    populate(viewer, samples=("scribbles_2d",))
    return save(viewer, "overview")


def shot_train_predict() -> Path:
    """Train and predict on the 2D scribble sample: trained through the widget, then predicted."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "scribbles_2d")
    widget = dock(viewer, "Train and predict")
    widget.options.members_spin.setValue(3)
    widget.options.steps_spin.setValue(60)
    widget.run.train_button.click()
    wait_for(lambda: widget.run.worker is None and widget.model is not None)
    widget.prediction.target_combo.setCurrentText("whole image")
    widget.prediction.predict_button.click()
    wait_for(lambda: widget.prediction.runs > 0)
    widget.tabs.setCurrentIndex(1)  # the Train tab: quality readout, progress
    return save(viewer, "train_predict")


def shot_instant() -> Path:
    """Instant feedback on the 2D scribble sample: 'instant' ticked, the forest's redraw shown."""
    viewer = new_viewer()
    viewer.window.resize(1280, 800)
    viewer.open_sample(PLUGIN, "scribbles_2d")
    widget = dock(viewer, "Train and predict")
    widget.instant.check.setChecked(True)  # runs once on the sample's scribbles
    wait_for(lambda: widget.instant.runs > 0 and not widget.instant.busy)
    viewer.layers["disks and lines probability"].visible = False
    return save(viewer, "instant")


def shot_size_particles() -> Path:
    """Size particles on the bright-field TEM sample: one click, layers and PSD plot."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "tem_bf")
    widget = dock(viewer, "Size particles")
    widget.run_button.click()
    wait_for(lambda: widget.result is not None and widget.run_button.isEnabled())
    name = widget.image_combo.currentText()
    viewer.layers[f"{name} particle mask"].visible = False
    return save(viewer, "size_particles")


def shot_fibers() -> Path:
    """Fibers on the 3D sample with the widget's defaults: the grey volume thresholded
    (polarity detected), pores and dust removed, instances, directions and plots."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "fiber_volume")
    widget = dock(viewer, "Fibers")
    widget.form.source_combo.setCurrentText("fiber volume")
    widget.run_button.click()
    wait_for(lambda: "fiber volume removed objects" in viewer.layers)
    viewer.layers["fiber volume scribbles"].visible = False
    viewer.layers["fiber volume"].visible = False
    viewer.dims.ndisplay = 3
    viewer.camera.angles = (0, -30, 60)
    return save(viewer, "fibers")


def shot_afm() -> Path:
    """AFM crystal classes on the AFM sample, with a VLAD model trained by the headless demo."""
    import tempfile

    from napari_sciseg.cli._demo_steps import afm as demo

    workdir = Path(tempfile.mkdtemp())
    demo(workdir)
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "afm_scan")
    widget = dock(viewer, "AFM crystal classes")
    widget.load_model(workdir / "afm_vlad.sciseg")
    widget.classify_button.click()
    wait_for(lambda: widget.classify_button.isEnabled() and len(viewer.layers) > 4)
    return save(viewer, "afm")


def shot_classify() -> Path:
    """Classify images: 5-fold CV on a synthetic TEM folder through the widget, then a
    model trained by the widget classifies a TEM scene tile by tile and explains it."""
    import tempfile

    from napari_sciseg.data.cnt import cnt_tem, write_cnt_dataset

    data = write_cnt_dataset(Path(tempfile.mkdtemp()), 60, shape=(64, 64), mixed_sizes=True)
    viewer = new_viewer()
    top = np.concatenate([cnt_tem("cluster", shape=(128, 128), seed=3),
                          cnt_tem("fiber", shape=(128, 128), seed=4)], 1)
    bottom = np.concatenate([cnt_tem("matrix", shape=(128, 128), seed=5),
                             cnt_tem("mixed", shape=(128, 128), seed=6)], 1)
    layer = viewer.add_image(np.concatenate([top, bottom], 0), name="TEM scene",
                             scale=(2.0, 2.0), units="nm")
    widget = dock(viewer, "Classify images")
    widget.data_edit.setText(str(data))
    widget.cv_button.click()
    wait_for(lambda: widget.cv is not None and widget.train_button.isEnabled())
    cv_text = widget.summary.text()
    widget.train_button.click()
    wait_for(lambda: widget.model is not None and widget.train_button.isEnabled())
    viewer.layers.selection.active = layer
    widget.classify_button.click()
    viewer.layers.selection.active = layer
    heat = widget.explain_layer()
    heat.visible = False  # the class map is the picture; the heat map is one click away
    widget.summary.setText(cv_text)
    return save(viewer, "classify")


def shot_results_table() -> Path:
    """Size particles on the TEM sample, then its table in the Results table dock, sorted."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "tem_bf")
    sizing_dock, sizing = viewer.window.add_plugin_dock_widget(PLUGIN, "Size particles")
    sizing.run_button.click()
    wait_for(lambda: sizing.result is not None and sizing.run_button.isEnabled())
    table = dock(viewer, "Results table")
    name = sizing.image_combo.currentText()
    table.layer_combo.setCurrentText(f"{name} isolated particles")
    columns = list(table.columns)
    key = next((c for c in columns if c.startswith("diameter")), columns[0])
    table.table.sortItems(columns.index(key))
    table.table.selectRow(0)
    table.go_to(0)
    viewer.camera.zoom *= 3
    return save(viewer, "results_table")


def shot_batch() -> Path:
    """The Batch dock after sizing a folder of three TEM images, one of them corrupt."""
    import tempfile

    from napari_sciseg.data import tem_particles
    from napari_sciseg.io.tiff import write_tiff

    work = Path(tempfile.mkdtemp())
    (work / "images").mkdir()
    for seed in (0, 1):
        write_tiff(work / "images" / f"tem_{seed}.tif",
                   tem_particles("bf", shape=(512, 512), pixel_size=0.5, seed=seed),
                   spacing=(0.5, 0.5))
    (work / "images" / "broken.tif").write_bytes(b"II*\x00 not a TIFF")
    viewer = new_viewer()
    widget = dock(viewer, "Batch")
    widget.input_edit.setText(str(work / "images"))
    widget.output_edit.setText(str(work / "results"))
    widget.start()
    wait_for(lambda: widget.worker is None and widget.result is not None)
    viewer.open(str(work / "results" / "psd_all.png"), plugin="builtins")
    return save(viewer, "batch")


def shot_afm_counts() -> Path:
    """Crystal counting on the AFM sample: small on-screen markers and their legend."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "afm_scan")
    widget = dock(viewer, "AFM crystal counts")
    widget.image_combo.setCurrentText("AFM scan height")
    points = widget.new_layer()
    for y, x in ((40, 60), (90, 150), (160, 80)):
        points.add([[y, x]])
    widget.kind_combo.setCurrentText("lamellar")
    for y, x in ((200, 200), (60, 210)):
        points.add([[y, x]])
    return save(viewer, "afm_counts")


def shot_evaluate() -> Path:
    """Evaluate: Size particles' mask of the TEM sample against the generator's ground truth,
    with the particle size distributions compared."""
    from napari_sciseg import data

    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "tem_bf")
    sizing_dock, sizing = viewer.window.add_plugin_dock_widget(PLUGIN, "Size particles")
    sizing.run_button.click()
    wait_for(lambda: sizing.result is not None and sizing.run_button.isEnabled())
    name = sizing.image_combo.currentText()
    wait_for(lambda: f"{name} particle mask" in viewer.layers)
    _, truth = data.tem_particles("bf", pixel_size=0.2, seed=0, return_truth=True)
    source = viewer.layers[name]
    viewer.add_labels(truth.mask.astype(np.uint8), name="ground truth", scale=source.scale,
                      units=source.units, opacity=0.4)
    for layer in list(viewer.layers):
        if layer.name not in (name, "ground truth", f"{name} particle mask"):
            layer.visible = False
    viewer.window.remove_dock_widget(sizing_dock)
    widget = dock(viewer, "Evaluate")
    widget.pred_combo.setCurrentText(f"{name} particle mask")
    widget.truth_combo.setCurrentText("ground truth")
    widget.particles.setChecked(True)
    widget.run_button.click()
    wait_for(lambda: widget.result is not None and widget.run_button.isEnabled())
    return save(viewer, "evaluate")


def shot_latent_space() -> Path:
    """Latent space: an autoencoder trained through the dock on 96 tiles of random shapes;
    UMAP scatter coloured by k-means cluster, one cluster brushed and outlined on the image,
    then written as scribbles of class 1."""
    from napari_sciseg.data.shapes import shapes_mosaic

    viewer = new_viewer()
    image, _ = shapes_mosaic(8, 12, size=32, noise=0.05, seed=0)
    viewer.add_image(image, name="shapes")
    widget = dock(viewer, "Latent space")
    widget.tile.setValue(32)
    widget.depth.setValue(3)
    widget.base_channels.setValue(8)
    widget.latent.setValue(8)
    widget.steps.setValue(400)
    widget.run_button.click()
    wait_for(lambda: widget.embedding is not None and widget.run_button.isEnabled())
    widget.cluster_to_scribbles(cluster=1, class_id=1)
    widget._points_selected(np.flatnonzero(widget.embedding.clusters == 2))
    viewer.layers["shapes latent tiles"].visible = False
    settle(1.0)
    return save(viewer, "latent_space")


def shot_restore() -> Path:
    """Restore: the scattering sample's detector gaps filled by a network trained in the dock
    (the biharmonic baseline and the member std are added, hidden, beside it)."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "scattering")
    widget = dock(viewer, "Restore")
    widget.steps.setValue(150)
    widget.members.setValue(2)
    widget.run_button.click()
    wait_for(lambda: widget.result is not None and widget.run_button.isEnabled())
    shown = ("scattering pattern", "scattering pattern inpainted")
    for layer in viewer.layers:
        layer.visible = layer.name in shown
        if layer.name in shown:  # counts over decades: a low gamma shows rings and gaps
            layer.contrast_limits = (0.0, float(layer.data.max()))
            layer.gamma = 0.3
    viewer.grid.enabled = True  # measured (gaps at 0) beside inpainted
    viewer.reset_view()
    viewer.layers.selection.active = viewer.layers["scattering pattern inpainted"]
    return save(viewer, "restore")


SHOTS = {name[5:]: obj for name, obj in dict(globals()).items() if name.startswith("shot_")}


def main(names: list[str]) -> int:
    global _size
    IMAGES.mkdir(exist_ok=True)
    failed = []
    for name in names or list(SHOTS):
        for size in SIZES.values():
            _size = size
            try:
                path = SHOTS[name]()
                print(f"{name} {size[0]}x{size[1]}: {path.relative_to(HERE.parent)}")
            except Exception as exc:  # report every failing shot, keep going
                failed.append(name)
                print(f"{name}: FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
