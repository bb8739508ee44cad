"""Take the documentation screenshots from the real widgets, under Xvfb.

Run from the repository root::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots.py [NAME ...]

Each ``shot_<name>`` function builds a real viewer state (sample data, widget
docked, a workflow run through the widget's own buttons and workers) and the
window is saved to ``docs/images/<name>.png``. Nothing is mocked or painted in.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
PLUGIN = "napari-sciseg"


def wait_for(condition, timeout: float = 600.0) -> None:
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


def new_viewer() -> napari.Viewer:
    viewer = napari.Viewer(title="napari-sciseg")
    viewer.window.resize(1500, 950)
    return viewer


def dock(viewer: napari.Viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def save(viewer: napari.Viewer, name: str) -> Path:
    settle()
    path = IMAGES / f"{name}.png"
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
    widget.options.steps_spin.setValue(150)
    widget.run.train_button.click()
    wait_for(lambda: widget.run.worker is None and widget.model is not None)
    widget.prediction.target_combo.setCurrentText("whole image")
    widget.prediction.predict_button.click()
    wait_for(lambda: widget.prediction.runs > 0)
    for name in ("probability", "segmentation"):
        viewer.layers[f"disks and lines {name}"].visible = False
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

    from napari_sciseg.cli._afm import demo

    workdir = Path(tempfile.mkdtemp())
    demo(workdir)
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "afm_scan")
    widget = dock(viewer, "AFM crystal classes")
    widget.load_model(workdir / "afm_vlad.sciseg")
    widget.classify_button.click()
    wait_for(lambda: widget.classify_button.isEnabled() and len(viewer.layers) > 4)
    return save(viewer, "afm")


SHOTS = {name[5:]: obj for name, obj in dict(globals()).items() if name.startswith("shot_")}


def main(names: list[str]) -> int:
    IMAGES.mkdir(exist_ok=True)
    failed = []
    for name in names or list(SHOTS):
        try:
            path = SHOTS[name]()
            print(f"{name}: {path.relative_to(HERE.parent)}")
        except Exception as exc:  # report every failing shot, keep going
            failed.append(name)
            print(f"{name}: FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
