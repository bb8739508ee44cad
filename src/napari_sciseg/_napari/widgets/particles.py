"""The "Size particles" dock widget: image -> one button -> isolated particles and their PSD.

Thin translator: the image layer and its scale become an array and ``spacing``;
:func:`napari_sciseg.segment.segment_particles` and
:func:`napari_sciseg.measure.particles` run in a worker; the result becomes
three layers (semantic mask, isolated particles with a features table,
rejected particles outlined with the reason on hover) and a docked histogram.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...io.calibration import length_to_nm
from .._layer_combo import LayerCombo
from .._layers import add_or_update, layer_spacing, layer_unit, output_kwargs
from .._workers import JobStep, start_job

__all__ = ["SizeParticlesWidget"]


def _size_job(image, spacing, calibration, seg_kw, measure_kw):
    """Generator run in the worker: segment, then measure (yields progress)."""
    from ...measure import particles
    from ...segment import segment_particles

    yield JobStep(0, 2, "segmenting")
    mask = segment_particles(image, **seg_kw)
    yield JobStep(1, 2, "measuring")
    result = particles(mask, image, spacing=spacing, calibration=calibration, **measure_kw)
    yield JobStep(2, 2, "done")
    return mask, result


def _spin(value, lo, hi, step, decimals=2, tip=""):
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setToolTip(tip)
    return box


class SizeParticlesWidget(QWidget):
    """Size nanoparticles in one click.

    Attributes for scripts and tests: ``image_combo``, ``pixel_size`` (0 = use the
    layer's scale), ``run_button``, ``advanced`` (group box) with ``method``,
    ``polarity``, ``particle_size`` (nm, 0 = auto), ``split_touching``,
    ``min_solidity``, ``max_aspect``; ``canvas`` (the PSD plot), ``summary``
    (label), ``result`` (the last ParticleResult), ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.worker = None
        self._source_name = ""

        self.image_combo = LayerCombo(napari_viewer, "image")
        self.pixel_size = _spin(0.0, 0.0, 1e6, 0.01, 4, "nm per pixel; 0 = from the layer's scale")
        self.pixel_size.setSpecialValueText("from the image")  # shown at 0
        self.run_button = QPushButton("Size particles")
        self.run_button.clicked.connect(self.run)
        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("pixel size (nm)", self.pixel_size)

        self.method = QComboBox()
        self.method.addItems(["hybrid", "otsu", "local"])
        self.polarity = QComboBox()
        self.polarity.addItems(["auto", "dark", "bright"])
        self.polarity.setToolTip("dark: bright-field TEM; bright: HAADF-STEM")
        self.particle_size = _spin(0.0, 0.0, 1e4, 0.5, 2, "typical diameter in nm; 0 = estimate")
        self.split_touching = QCheckBox("split touching particles (watershed)")
        self.min_solidity = _spin(0.93, 0.0, 1.0, 0.01, 2, "below: aggregate/overlap")
        self.max_aspect = _spin(1.5, 1.0, 10.0, 0.1, 2, "above: elongated (overlap)")
        self.live_preview = QCheckBox("live preview of the mask (visible region)")
        self.live_preview.setToolTip("re-segment the visible region when a parameter changes")
        self.live_preview.toggled.connect(self._on_param_changed)
        self.method.currentTextChanged.connect(self._on_param_changed)
        self.polarity.currentTextChanged.connect(self._on_param_changed)
        self.particle_size.valueChanged.connect(self._on_param_changed)
        self.preview_worker = None
        self._pan_timer = QTimer(self)  # refresh the preview once panning/zooming pauses
        self._pan_timer.setSingleShot(True)
        self._pan_timer.setInterval(400)
        self._pan_timer.timeout.connect(self._on_param_changed)
        scene = getattr(napari_viewer, "scene", None)  # napari >= 0.9; viewer.camera before
        camera = scene.camera if scene is not None else napari_viewer.camera
        camera.events.center.connect(self._camera_moved)
        camera.events.zoom.connect(self._camera_moved)
        self.advanced = QGroupBox("advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        adv = QFormLayout(self.advanced)
        for name, w in (
            ("method", self.method), ("polarity", self.polarity),
            ("particle size (nm)", self.particle_size), ("", self.split_touching),
            ("min solidity", self.min_solidity), ("max aspect ratio", self.max_aspect),
            ("", self.live_preview),
        ):  # fmt: skip
            adv.addRow(name, w)

        self.figure = Figure(figsize=(3.4, 2.4), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(200)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.csv_button = QPushButton("Export CSV…")
        self.png_button = QPushButton("Export PNG…")
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.png_button.clicked.connect(lambda: self.export_png())
        exports = QHBoxLayout()
        exports.addWidget(self.csv_button)
        exports.addWidget(self.png_button)
        self._set_exports(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.advanced)
        layout.addWidget(self.canvas)
        layout.addWidget(self.summary)
        layout.addLayout(exports)
        layout.addStretch()

    # -- inputs ------------------------------------------------------------

    def _image_layer(self):
        return self.image_combo.value

    def _calibration(self, layer):
        """(spacing in nm or None, calibration text) from the typed size or the layer."""
        typed = float(self.pixel_size.value())
        if typed > 0:
            return (typed, typed), "user (typed)"
        spacing = layer_spacing(layer, 2)
        unit = layer_unit(layer)
        nm = [length_to_nm(s, unit) for s in spacing] if unit != "pixel" else [None]
        if None in nm:
            return None, "none"
        source = (layer.metadata or {}).get("calibration_source", "layer scale")
        return tuple(nm), f"file ({source})"

    def _seg_kwargs(self, spacing) -> dict:
        kw = {"method": self.method.currentText(), "polarity": self.polarity.currentText()}
        size_nm = float(self.particle_size.value())
        if size_nm > 0 and spacing:
            kw["particle_size"] = size_nm / spacing[-1]
        return kw

    # -- live preview ---------------------------------------------------------
    def _camera_moved(self, event=None) -> None:
        if self.live_preview.isChecked():
            self._pan_timer.start()

    def _on_param_changed(self, *args) -> None:
        if self.live_preview.isChecked():
            self.preview()

    def preview(self) -> None:
        """Segment only the visible part of the image (at least 64 px) into a preview layer."""
        from napari.qt.threading import create_worker

        layer = self._image_layer()
        if layer is None or layer.ndim != 2 or getattr(layer, "rgb", False):
            return
        if self.preview_worker is not None:
            self.preview_worker.quit()
        corners = np.asarray(layer.corner_pixels)[:, -2:]
        shape = np.asarray(layer.data.shape[-2:])
        lo = np.clip(corners[0], 0, shape)
        hi = np.clip(np.maximum(corners[1] + 1, lo + 64), 0, shape)
        lo = np.maximum(np.minimum(lo, hi - 64), 0)
        crop = np.asarray(layer.data[lo[0] : hi[0], lo[1] : hi[1]]).copy()
        kwargs = self._seg_kwargs(self._calibration(layer)[0])
        name = f"{layer.name} preview"
        translate = np.asarray(layer.translate)[-2:] + lo * np.asarray(layer.scale)[-2:]

        def show(mask):
            out = output_kwargs(layer, name, ndim=2, opacity=0.5, translate=tuple(translate))
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.viewer.add_labels(mask.astype(np.uint8), **out)

        from ...segment import segment_particles

        worker = create_worker(segment_particles, crop, **kwargs, _start_thread=False)
        worker.returned.connect(show)
        worker.errored.connect(lambda exc: show_error(f"Preview failed: {exc}"))
        self.preview_worker = worker
        worker.start()

    # -- run ---------------------------------------------------------------
    def run(self) -> None:
        """Size the particles of the chosen image in a worker thread."""
        layer = self._image_layer()
        if layer is None:
            show_error("No image: open an image (or a sample) and pick it in 'image'.")
            return
        if getattr(layer, "rgb", False):
            from skimage.color import rgb2gray

            image = rgb2gray(np.asarray(layer.data)[..., :3]).astype(np.float32)
            show_info(f"'{layer.name}' is RGB: sizing its luminance.")
        else:
            image = np.asarray(layer.data)
        if image.ndim != 2:
            show_error(
                f"'{layer.name}' has {image.ndim} dimensions (shape {image.shape}); particle "
                "sizing needs one 2D image. Split the stack or pick one slice."
            )
            return
        spacing, calibration = self._calibration(layer)
        if spacing is None:
            show_warning(
                f"'{layer.name}' has no pixel size: sizes are in pixels. Type the pixel size "
                "in nm to get nm."
            )
        seg_kw = self._seg_kwargs(spacing)
        measure_kw = {
            "split_touching": self.split_touching.isChecked(),
            "min_solidity": float(self.min_solidity.value()),
            "max_aspect_ratio": float(self.max_aspect.value()),
        }
        self._source_name = layer.name
        self.run_button.setEnabled(False)
        image = image.copy()
        self.worker = start_job(
            lambda: _size_job(image, spacing, calibration, seg_kw, measure_kw),
            desc="Size particles",
            on_return=self._show,
            on_finish=lambda: self.run_button.setEnabled(True),
        )

    def _show(self, returned) -> None:
        mask, result = returned
        self.result = result
        source = self.viewer.layers[self._source_name]
        name = self._source_name
        add_or_update(
            self.viewer, mask.astype(np.uint8), "labels",
            output_kwargs(source, f"{name} particle mask", ndim=2, opacity=0.3),
        )  # fmt: skip
        table = result.table
        iso, rej = result.isolated, ~result.isolated

        def features(rows):
            feats = {"index": table["label"][rows]}
            feats.update({k: v[rows] for k, v in table.items() if k not in ("label",)})
            return feats

        add_or_update(
            self.viewer, result.isolated_labels(), "labels",
            output_kwargs(source, f"{name} isolated particles", ndim=2, features=features(iso)),
        )  # fmt: skip
        rejected = add_or_update(
            self.viewer, result.rejected_labels(), "labels",
            output_kwargs(source, f"{name} rejected particles", ndim=2, features=features(rej)),
        )  # fmt: skip
        rejected.contour = 2
        self.plot()
        self.summary.setText(str(result.psd))
        self._set_exports(True)

    # -- outputs -------------------------------------------------------------
    def plot(self) -> None:
        """Redraw the histogram and log-normal fit of the last result."""
        from ...plot.particles import draw_psd

        self.figure.clear()
        ax = self.figure.add_subplot()
        if self.result is not None:
            draw_psd(ax, self.result.diameters, self.result.psd, title=self._source_name)
        self.canvas.draw_idle()

    def _set_exports(self, enabled: bool) -> None:
        self.csv_button.setEnabled(enabled)
        self.png_button.setEnabled(enabled)

    def _ask(self, title: str, suffix: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, f"{self._source_name}{suffix}")
        return path

    def export_csv(self, path: str | Path | None = None) -> Path | None:
        """Write one row per particle (isolated and rejected, with reasons) to ``path``."""
        if self.result is None:
            return None
        path = path or self._ask("Export particles CSV", "_particles.csv")
        if not path:
            return None
        return self.result.to_csv(path)

    def export_png(self, path: str | Path | None = None) -> Path | None:
        """Save the PSD figure to ``path``."""
        if self.result is None:
            return None
        path = path or self._ask("Export PSD figure", "_psd.png")
        if not path:
            return None
        self.figure.savefig(path, dpi=150)
        return Path(path)
