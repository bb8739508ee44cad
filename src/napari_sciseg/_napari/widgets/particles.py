"""The "Size particles" dock widget: image -> one button -> isolated particles and their PSD.

Thin translator: the image layer (its scale, units, RGB flag) and the fields
become the arguments of :func:`napari_sciseg.measure.size_particles`, run in a
worker; :mod:`._particles_results` presents the result (three layers: semantic
mask, isolated particles with a features table, rejected particles outlined with
the reason on hover; a docked histogram; CSV and PNG exports).
"""

from __future__ import annotations

import threading

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .._layer_combo import LayerCombo
from .._layers import layer_spacing, layer_unit
from .._workers import start_job, wait_for_call
from ._particles_panel import LivePreview, build_advanced, spin_box
from ._particles_results import PsdOutputs, build_outputs, result_layers

__all__ = ["SizeParticlesWidget"]


def _size_job(image, kwargs, cancel):
    """Generator run in the worker: the whole sizing workflow in one core call.

    Cancel returns at once (``None``); the core call, which checks ``cancel``
    between its stages, stops there with ``Cancelled`` (dropped in its thread).
    """
    from ...measure import size_particles

    return (yield from wait_for_call(lambda: size_particles(image, cancel=cancel, **kwargs),
                                     cancel=cancel,
                                     what="sizing"))


class SizeParticlesWidget(PsdOutputs, QWidget):
    """Size nanoparticles in one click.

    Attributes for scripts and tests: ``image_combo``, ``pixel_size`` (0 = use the
    layer's scale), ``run_button``, ``advanced`` (group box) with ``method``,
    ``polarity``, ``particle_size`` (nm, 0 = auto), ``split_touching``,
    ``min_solidity``, ``max_aspect``, ``model_path`` (a trained ``.sciseg``
    model; empty = thresholding), ``live_preview``; ``canvas`` (the PSD plot),
    ``summary`` (label), ``result`` (the last SizingResult), ``worker``, ``preview``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.worker = None
        self._source_name = ""

        self.image_combo = LayerCombo(napari_viewer, "image")
        self.pixel_size = spin_box(0.0, 0.0, 1e6, 0.01, 4, "nm per pixel; 0 = the layer's scale")
        self.pixel_size.setSpecialValueText("from the image")  # shown at 0
        self.run_button = QPushButton("Size particles")
        self.run_button.setToolTip("Size the particles of the image in the background")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop sizing at once; nothing is added")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_event: threading.Event | None = None
        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("pixel size (nm)", self.pixel_size)
        build_advanced(self)
        self.preview = LivePreview(self)
        for signal in (self.live_preview.toggled, self.method.currentTextChanged,
                       self.polarity.currentTextChanged, self.particle_size.valueChanged):
            signal.connect(self.preview.maybe_run)  # fmt: skip

        exports = build_outputs(self)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        layout.addWidget(self.advanced)
        layout.addWidget(self.canvas)
        layout.addWidget(self.summary)
        layout.addLayout(exports)
        layout.addStretch()
        # results belong to one image: another image (or new data) clears them
        self._watched = None
        self.image_combo.currentIndexChanged.connect(self._image_changed)
        napari_viewer.layers.events.removed.connect(self._layer_removed)
        self._image_changed()

    # -- inputs ------------------------------------------------------------

    def _calibration(self, layer):
        """The layer's (spacing, unit, source): what ``size_particles`` resolves against."""
        source = (layer.metadata or {}).get("calibration_source", "layer scale")
        return layer_spacing(layer, 2), layer_unit(layer), source

    def segment_kwargs(self, layer) -> dict:
        """Segmentation options for the preview (particle size converted to pixels)."""
        kw = {"method": self.method.currentText(), "polarity": self.polarity.currentText()}
        size_nm = float(self.particle_size.value())
        typed = float(self.pixel_size.value())
        px = typed if typed > 0 else layer_spacing(layer, 2)[-1]
        if size_nm > 0 and (typed > 0 or layer_unit(layer) != "pixel"):
            kw["particle_size"] = size_nm / px
        return kw

    def _kwargs(self, layer) -> dict:
        typed = float(self.pixel_size.value())
        size = float(self.particle_size.value())
        model = self.model_path.text().strip()
        return {
            "spacing": typed if typed > 0 else None, "calibration": self._calibration(layer),
            "method": self.method.currentText(), "polarity": self.polarity.currentText(),
            "particle_size": size if size > 0 else None, "model": model or None,
            "split_touching": self.split_touching.isChecked(),
            "min_solidity": float(self.min_solidity.value()),
            "max_aspect_ratio": float(self.max_aspect.value()),
            "rgb": bool(getattr(layer, "rgb", False)),
        }  # fmt: skip

    def _check(self, layer, kwargs) -> bool:
        """Refuse what cannot be sized, with the widget's words; True when it can run."""
        if layer is None:
            show_error("No image: open an image (or a sample) and pick it in 'image'.")
            return False
        if layer.ndim != 2 and not kwargs["rgb"]:
            show_error(
                f"'{layer.name}' has {layer.ndim} dimensions (shape {layer.data.shape}); particle "
                "sizing needs one 2D image. Split the stack or pick one slice."
            )
            return False
        if kwargs["model"]:
            from ...dl.particle_model import particle_segmenter

            try:
                kwargs["model"] = particle_segmenter(kwargs["model"])
            except (ValueError, FileNotFoundError) as exc:
                show_error(f"'model': {exc}")
                return False
        if kwargs["rgb"]:
            show_info(f"'{layer.name}' is RGB: sizing its luminance.")
        return True

    # -- run ---------------------------------------------------------------
    def run(self) -> None:
        """Size the particles of the chosen image in a worker thread."""
        layer = self.image_combo.value
        kwargs = self._kwargs(layer) if layer is not None else {}
        if not self._check(layer, kwargs):
            return
        if kwargs["spacing"] is None and layer_unit(layer) == "pixel":
            show_warning(
                f"'{layer.name}' has no pixel size: sizes are in pixels. Type the pixel size "
                "in nm to get nm."
            )
        self._source_name = layer.name
        self.clear_results()
        self._running(True)
        image = np.asarray(layer.data).copy()
        self.cancel_event = event = threading.Event()
        self.worker = start_job(
            lambda: _size_job(image, kwargs, event),
            desc="Size particles",
            on_return=self._show,
            on_finish=lambda: self._running(False),
        )

    def cancel(self) -> None:
        """Stop sizing at once; nothing is added."""
        if self.cancel_event is not None:
            self.cancel_event.set()

    def _running(self, running: bool) -> None:
        if not running:
            self.worker = None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def clear_results(self) -> None:
        """Forget the last result: plot, summary and exports belong to another image."""
        self.result = None
        self.summary.setText("")
        self._set_exports(False)
        self.plot()

    def _image_changed(self, *_) -> None:
        if self._watched is not None:
            self._watched.events.data.disconnect(self._data_changed)
        self._watched = self.image_combo.value
        if self._watched is not None:
            self._watched.events.data.connect(self._data_changed)
        if self.result is not None and self.image_combo.currentText() != self._source_name:
            self.clear_results()

    def _data_changed(self, event=None) -> None:
        if self.result is not None:
            self.clear_results()

    def _layer_removed(self, event) -> None:
        if self.worker is not None and event.value.name == self._source_name:
            self.cancel()
            show_info(f"Particle sizing stopped: its image '{self._source_name}' was removed.")

    def _show(self, result) -> None:
        """Add the result layers one per event-loop turn (napari takes a while per layer)."""
        if result is None or self._source_name not in self.viewer.layers:
            return  # cancelled, or the image went away
        source = self.viewer.layers[self._source_name]

        def done():
            self.viewer.layers[f"{source.name} rejected particles"].contour = 2  # outlined
            self.result = result
            self.plot()
            self.summary.setText(str(result.psd))
            self._set_exports(True)

        self._steps([*result_layers(self.viewer, source, result), done])

    def _steps(self, steps: list) -> None:
        """Run ``steps`` one per turn of the event loop, so the viewer repaints between."""
        if steps and self._source_name in self.viewer.layers:
            steps[0]()
            QTimer.singleShot(0, lambda: self._steps(steps[1:]))
