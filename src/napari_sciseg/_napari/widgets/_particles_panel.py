"""Parts of the "Size particles" widget: the advanced form and the live preview of the mask."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
)

from .._layers import output_kwargs

__all__ = ["LivePreview", "build_advanced"]


def spin_box(value, lo, hi, step, decimals=2, tip=""):
    """A QDoubleSpinBox with range, step, decimals, value and tooltip."""
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def build_advanced(self) -> None:
    """Create the advanced fields as attributes of the widget ``self``."""
    from ...segment.thresholding import METHODS

    self.method = QComboBox()
    self.method.addItems(list(METHODS))
    self.polarity = QComboBox()
    self.polarity.addItems(["auto", "dark", "bright"])
    self.polarity.setToolTip("dark: bright-field TEM; bright: HAADF-STEM")
    self.particle_size = spin_box(0.0, 0.0, 1e4, 0.5, 2, "typical diameter in nm; 0 = estimate")
    self.split_touching = QCheckBox("split touching particles (watershed)")
    self.min_solidity = spin_box(0.93, 0.0, 1.0, 0.01, 2, "below: aggregate/overlap")
    self.max_aspect = spin_box(1.5, 1.0, 10.0, 0.1, 2, "above: elongated (overlap)")
    self.model_path = QLineEdit()
    self.model_path.setPlaceholderText("none: threshold with 'method'")
    self.model_path.setToolTip("a trained 2D one-channel .sciseg model segments instead")
    browse = QPushButton("…")
    browse.clicked.connect(lambda: _browse_model(self))
    model_row = QHBoxLayout()
    model_row.addWidget(self.model_path)
    model_row.addWidget(browse)
    self.live_preview = QCheckBox("live preview of the mask (visible region)")
    self.live_preview.setToolTip("re-segment the visible region when a parameter changes")
    self.advanced = QGroupBox("advanced")
    self.advanced.setCheckable(True)
    self.advanced.setChecked(False)
    adv = QFormLayout(self.advanced)
    for name, w in (
        ("method", self.method), ("polarity", self.polarity),
        ("particle size (nm)", self.particle_size), ("", self.split_touching),
        ("min solidity", self.min_solidity), ("max aspect ratio", self.max_aspect),
        ("model", model_row), ("", self.live_preview),
    ):  # fmt: skip
        adv.addRow(name, w)


def _browse_model(self) -> None:
    path, _ = QFileDialog.getOpenFileName(self, "Trained model", "", "sciseg model (*.sciseg)")
    if path:
        self.model_path.setText(path)


class LivePreview:
    """Re-segments the visible part of the image when asked or when the camera stops.

    ``owner`` provides ``viewer``, ``image_combo``, ``live_preview`` (a checkbox)
    and ``segment_kwargs(layer)``.
    """

    def __init__(self, owner):
        self.owner = owner
        self.worker = None
        self._timer = QTimer(owner)  # refresh once panning/zooming pauses
        self._timer.setSingleShot(True)
        self._timer.setInterval(400)
        self._timer.timeout.connect(self.maybe_run)
        viewer = owner.viewer
        scene = getattr(viewer, "scene", None)  # napari >= 0.9; viewer.camera before
        camera = scene.camera if scene is not None else viewer.camera
        camera.events.center.connect(self._camera_moved)
        camera.events.zoom.connect(self._camera_moved)

    def _camera_moved(self, event=None) -> None:
        if self.owner.live_preview.isChecked():
            self._timer.start()

    def maybe_run(self, *args) -> None:
        if self.owner.live_preview.isChecked():
            self.run()

    def run(self) -> None:
        """Segment the visible part of the image (at least 64 px) into a preview layer."""
        from napari.qt.threading import create_worker

        from ...segment import segment_particles

        layer = self.owner.image_combo.value
        if layer is None or layer.ndim != 2 or getattr(layer, "rgb", False):
            return
        if self.worker is not None:
            self.worker.quit()
        corners = np.asarray(layer.corner_pixels)[:, -2:]
        shape = np.asarray(layer.data.shape[-2:])
        lo = np.clip(corners[0], 0, shape)
        hi = np.clip(np.maximum(corners[1] + 1, lo + 64), 0, shape)
        lo = np.maximum(np.minimum(lo, hi - 64), 0)
        crop = np.asarray(layer.data[lo[0] : hi[0], lo[1] : hi[1]]).copy()
        kwargs = self.owner.segment_kwargs(layer)
        name = f"{layer.name} preview"
        translate = np.asarray(layer.translate)[-2:] + lo * np.asarray(layer.scale)[-2:]
        viewer = self.owner.viewer

        def show(mask):
            out = output_kwargs(layer, name, ndim=2, opacity=0.5, translate=tuple(translate))
            if name in viewer.layers:
                viewer.layers.remove(name)
            viewer.add_labels(mask.astype(np.uint8), **out)

        worker = create_worker(segment_particles, crop, **kwargs, _start_thread=False)
        worker.returned.connect(show)
        worker.errored.connect(lambda exc: show_error(f"Preview failed: {exc}"))
        self.worker = worker
        worker.start()
