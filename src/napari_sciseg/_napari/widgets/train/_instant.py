"""Instant mode: after each stroke, a pixel forest is refitted and the visible slice redrawn.

The forest (``napari_sciseg.classify.forest``) splits on a filter bank computed
once per image or slice and cached, so a stroke costs one fit on at most
:data:`FIT_PIXELS` scribbled pixels per class plus one prediction of the visible
slice on every other pixel (probabilities interpolated in between), in a worker;
when no stroke is waiting, a second run predicts every pixel with the same forest
(the refined answer). Strokes are debounced; a stroke during a run marks it
"pending" and one more run follows.
Results go to the same probability / std / segmentation layers as the ensemble's
(the std is the trees' disagreement); training the ensemble stays the last step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
)

from ..._workers import start_job
from ._checks import _classes_present, image_problem, spatial_shape
from ._instant_job import instant_job
from ._outputs import Region, visible_region, write_prediction
from ._scribbles import hex_to_rgb

__all__ = ["InstantMode", "FIT_PIXELS", "FIRST_STRIDE"]

#: scribbled pixels per class the instant fit draws (F1 within 0.01 of 10 000, 3x faster).
FIT_PIXELS = 2000
#: the first answer after a stroke predicts every FIRST_STRIDE-th pixel per axis.
FIRST_STRIDE = 2


class InstantMode(QObject):
    """The "instant" switch, its debounce timer, worker, feature cache and fast model."""

    updated = Signal()  # after each redraw of the segmentation

    def __init__(self, host, *, delay_ms: int = 150):
        super().__init__()
        from napari_sciseg.segment.features import FeatureCache

        self._host = host
        self._layer = None
        self.cache = FeatureCache()
        self.model = None  # the last PixelForest
        self.loaded = False  # the model came from a file (not refitted on strokes)
        self.worker = None
        self.pending = False
        self.runs = 0
        self.check = QCheckBox("instant: refit after each stroke")  # narrow: fits 1280x800
        self.check.setToolTip("Refit a pixel forest on the scribbles after each stroke and "
                              "redraw the visible slice; train the ensemble when satisfied")
        self.trees_spin = QSpinBox()
        self.trees_spin.setRange(1, 256)
        self.trees_spin.setValue(8)
        self.trees_spin.setToolTip("Trees in the fast forest: more = smoother uncertainty, "
                                   "slower updates (16 is about twice as slow as 8)")
        self.whole_button = QPushButton("Predict all (fast)")
        self.save_button = QPushButton("Save fast model…")
        self.save_button.setEnabled(False)
        self.whole_button.setToolTip("Predict the whole image or volume (slice by slice) with "
                                     "the fast model, in the background")
        self.save_button.setToolTip("Write the fast model to a .sciseg file (sciseg predict "
                                    "and 'Load model…' read it)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.panel = QGroupBox("Instant feedback")
        form = QFormLayout(self.panel)
        form.addRow(self.check)
        form.addRow("trees", self.trees_spin)
        buttons = QHBoxLayout()
        buttons.addWidget(self.whole_button)
        buttons.addWidget(self.save_button)
        form.addRow(buttons)
        form.addRow(self.status)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self._fire)
        self.check.toggled.connect(self._toggled)
        self.whole_button.clicked.connect(lambda: self.run(whole=True))
        self.save_button.clicked.connect(self._save_dialog)
        host.scribbles.scribbles_combo.currentIndexChanged.connect(self._rewire)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def _toggled(self, on: bool) -> None:
        if on and self.loaded:  # ticking again starts a fresh fast model
            self.model, self.loaded = None, False
        self._rewire()
        if on:
            self.run()

    def _rewire(self, *_):
        if self._layer is not None:
            self._layer.events.paint.disconnect(self.stroke_finished)
            self._layer = None
        layer = self._host.scribbles.scribbles
        if self.check.isChecked() and layer is not None:
            layer.events.paint.connect(self.stroke_finished)
            self._layer = layer

    def stroke_finished(self, event=None) -> None:
        """(Re)start the debounce timer: quick strokes make one run."""
        self.timer.start()

    def _fire(self) -> None:
        if self.busy:
            self.pending = True
            return
        self.run()

    def set_model(self, forest, path=None) -> None:
        """Use a loaded forest (predicts without refitting until 'instant' is ticked again)."""
        self.model, self.loaded = forest, True
        self.save_button.setEnabled(True)
        cfg = forest.config
        self.status.setText(f"loaded {Path(path).name if path else 'fast model'}: "
                            f"{forest.n_trees} trees, {cfg.n_classes} classes, dim {cfg.dim}")

    def _settings(self, image, shape):
        host = self._host
        spacing = tuple(float(s) for s in image.scale[-len(shape):])
        calibrated = any(str(u) not in ("pixel", "px", "") for u in
                         (getattr(image, "units", None) or ())[-len(shape):])
        names = host.scribbles.class_names()
        colors = [hex_to_rgb(c) for c in host.scribbles.class_colors()]
        return {"sigmas": None, "spacing": spacing if calibrated else None,
                "trees": self.trees_spin.value(), "class_names": tuple(names),
                "class_colors": tuple(colors), "k": host.prediction.k_spin.value(),
                "layer": (id(image), id(image.data)),  # new data -> new features
                "model": self.model if self.loaded else None, "fit_pixels": FIT_PIXELS,
                "stride": FIRST_STRIDE}

    def _missing_classes(self, scribbles) -> str | None:
        """A message naming the classes still to paint when fewer than two are painted."""
        present = set(_classes_present(np.asarray(scribbles.data)).tolist())
        if len(present) >= 2:
            return None
        names = self._host.scribbles.class_names() or ["background", "foreground"]
        missing = [n for i, n in enumerate(names, 1) if i not in present]
        had = [n for i, n in enumerate(names, 1) if i in present]
        return (f"Paint {' and '.join(repr(n) for n in missing[:2])} too: the fast model needs "
                f"two classes (painted so far: {', '.join(had) or 'none'}).")

    def run(self, *, whole: bool = False, refine: bool = False):
        """Refit and redraw (the visible slice, or everything with ``whole``).

        ``refine``: no refit; the current forest predicts every pixel of the visible
        slice (after a first answer on a coarser grid).
        """
        host = self._host
        image, scribbles = host.scribbles.image, host.scribbles.scribbles
        problem = image_problem(image, rgb_as_channels=False)
        if problem is None and host.rgb_as_channels:
            problem = "Instant mode works on gray images; untick 'RGB as channels'."
        if problem is None and (scribbles is None or
                                scribbles.data.shape != spatial_shape(image)):
            problem = "Press 'New scribbles' and paint at least two classes on this image."
        if problem is not None:
            self.status.setText(problem)
            return None
        shape = spatial_shape(image)
        missing = self._missing_classes(scribbles) if not self.loaded else None
        if missing:
            self.status.setText(missing)
            return None
        if self.loaded and self.model.config.dim == "2" and len(shape) == 3:
            show_error(f"The fast model is 2D (trained on a 2D image) and '{image.name}' is 3D. "
                       "Untick and tick 'instant' to fit a new fast model on this volume.")
            return None
        region = Region() if whole else visible_region(host.viewer, image, len(shape))
        if len(shape) == 3 and region.axis is None and not whole:
            self.status.setText("3D view: instant mode redraws a slice; switch to 2D view.")
            return None
        data = image.data[0] if image.multiscale else image.data
        labels = np.array(scribbles.data, copy=True)  # the worker sees this snapshot
        settings = self._settings(image, shape)
        if refine or whole:
            settings["stride"] = 1
        if refine:
            settings["model"] = self.model
        coarse = settings["stride"] > 1 and max(shape[-2:]) > 2 * settings["stride"]

        def done(result):
            forest, prediction = result
            self.model = forest
            self.save_button.setEnabled(True)
            meta = {"model": "forest", "trees": forest.n_trees, "source": image.name,
                    "target": "instant", "k": settings["k"], "seed": 0, "members": 0,
                    "classes": list(forest.config.class_names or [])}
            write_prediction(host.viewer, image, prediction, forest.config, region, shape, meta)
            self.runs += 1
            self.status.setText(f"fast forest: {forest.n_trees} trees, "
                                f"{forest.config.metrics.get('train_pixels', 0)} scribbled px")
            self.updated.emit()

        def failed(exc):
            self.status.setText(str(exc))

        def finished():
            self.worker = None
            if self.pending and self.check.isChecked():
                self.pending = False
                self.timer.start()
            elif coarse and self.model is not None and self.check.isChecked():
                self.run(refine=True)

        self.worker = start_job(
            lambda: instant_job(data, labels, region, self.cache, settings, whole),
            desc="Instant update", on_return=done, on_finish=finished, on_error=failed,
            show_progress=whole)
        return self.worker

    def save(self, path) -> Path | None:
        """Write the fast model to ``path`` (``.sciseg``)."""
        from napari_sciseg.classify.forest_io import save_forest

        if self.model is None:
            show_error("No fast model yet: tick 'instant' and paint two classes first.")
            return None
        path = Path(path)
        path = path if path.suffix == ".sciseg" else path.with_suffix(".sciseg")
        save_forest(self.model, path)
        show_info(f"Fast model saved to {path}")
        return path

    def _save_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self._host, "Save fast model", "fast.sciseg",
                                              "sciseg model (*.sciseg)")
        if path:
            self.save(path)
