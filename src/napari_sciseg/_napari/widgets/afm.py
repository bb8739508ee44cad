"""The "AFM crystal classes" dock widget: level channels, classify a scan, show overlays.

Thin translator: the channel layers (height, amplitude, phase, z-sensor, picked
by name) and their scale become a (C, Y, X) array and nm/pixel; levelling
(:func:`napari_sciseg.classify.afm.level.level_scan`) gives new layers;
classification (:func:`napari_sciseg.dl.afm.predict.predict_scan`) runs in a
worker, and :mod:`._afm_results` presents its result (whole-scan class, tile
class map, probability layers); :mod:`._afm_train` is the Train panel.
"""

from __future__ import annotations

import threading

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ...classify.afm.dataset import CLASSES
from ...classify.afm.scans import CHANNEL_ROLES
from .._layers import add_or_update, layer_kind, layer_spacing, output_kwargs
from .._workers import start_job
from ._afm_channels import NONE, guess_layer
from ._afm_results import (
    CLASS_COLORS,
    class_legend,
    one_per_turn,
    predict_job,
    show_scan_prediction,
)
from ._afm_train import AfmTrainPanel

__all__ = ["AfmWidget", "CLASS_COLORS"]


class AfmWidget(QWidget):
    """Level and classify an AFM scan.

    Attributes for scripts and tests: ``channel_combos`` (role -> QComboBox),
    ``level_button``, ``model_button``, ``classify_button``, ``cancel_button``,
    ``progress``, ``summary`` (label), ``legend``, ``training`` (the Train panel),
    ``model`` (the loaded AfmModel), ``result`` (the last ScanPrediction),
    ``worker``. ``load_model(path)`` and ``set_model(model)`` skip the dialog.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self.result = None
        self.worker = None
        form = QFormLayout()
        self.channel_combos = {}
        for role in CHANNEL_ROLES:
            combo = QComboBox()
            combo.setToolTip(f"Image layer holding the {role} channel")
            self.channel_combos[role] = combo
            form.addRow(role, combo)
        self.level_button = QPushButton("Level channels (rows, plane, scars)")
        self.level_button.setToolTip("Add a levelled copy of each chosen channel (row offsets, "
                                     "plane and scars removed); the pickers then use them")
        self.level_button.clicked.connect(self.level)
        self.model_button = QPushButton("Load model…")
        self.model_button.setToolTip("Open an AFM .sciseg model ('sciseg afm train' or Train "
                                     "below)")
        self.model_button.clicked.connect(self._choose_model)
        self.model_label = QLabel("no model loaded")
        self.model_label.setWordWrap(True)
        self.classify_button = QPushButton("Classify scan")
        self.classify_button.setToolTip("Classify the scan in the background: its class, and "
                                        "a tile-wise class map")
        self.classify_button.clicked.connect(self.classify)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop classifying; nothing is added")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setToolTip("Classification running")
        self.progress.setRange(0, 1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.legend = QLabel(class_legend(CLASSES, CLASS_COLORS))
        self.legend.setWordWrap(True)
        self.legend.setToolTip("Colours of the tile class map")
        self.training = AfmTrainPanel(self)
        train_box = QCollapsible("Train a model from a counts CSV")
        train_box.addWidget(self.training)
        for w in (train_box, *train_box.findChildren(QPushButton)):
            w.setToolTip("Train an AFM model on the scans of a CSV built with 'AFM crystal "
                         "counts'")
        buttons = QHBoxLayout()
        buttons.addWidget(self.classify_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for w in (self.level_button, self.model_button, self.model_label):
            layout.addWidget(w)
        layout.addLayout(buttons)
        for w in (self.progress, self.summary, self.legend, train_box):
            layout.addWidget(w)
        layout.addStretch(1)
        self.cancel_event = None
        self._source = None
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed):
            ev.connect(self.refresh_layers)
        events.removed.connect(self._layer_removed)
        self.refresh_layers()

    # ------------------------------------------------------------------ layers
    def refresh_layers(self, event=None) -> None:
        """Fill the channel combos; a layer whose name ends with a role is picked for it.

        A levelled copy ("<scan> height levelled") is preferred to its raw channel.
        """
        images = [lay.name for lay in self.viewer.layers if layer_kind(lay) == "image"]
        for role, combo in self.channel_combos.items():
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([NONE, *images])
            combo.setCurrentText(guess_layer(images, role, current))
            combo.blockSignals(False)

    def _layers(self, roles):
        out = []
        for role in roles:
            name = self.channel_combos[role].currentText()
            if name == NONE or name not in self.viewer.layers:
                present = [r for r, c in self.channel_combos.items() if c.currentText() != NONE]
                raise ValueError(f"Choose a layer for the {role} channel (set: {present}).")
            out.append(self.viewer.layers[name])
        return out

    # ------------------------------------------------------------------ levelling
    def level(self) -> None:
        """Add a levelled copy of every chosen channel (the inputs are kept)."""
        from ...classify.afm.level import level_scan

        roles = [r for r, c in self.channel_combos.items() if c.currentText() != NONE]
        if not roles:
            show_error("Choose at least one channel layer to level.")
            return
        for role, layer in zip(roles, self._layers(roles)):
            out = level_scan(np.asarray(layer.data, dtype=np.float32), channel_names=(role,))
            levelled = add_or_update(
                self.viewer,
                out,
                "image",
                output_kwargs(layer, f"{layer.name} levelled", colormap="afmhot"),
            )
            self.channel_combos[role].setCurrentText(levelled.name)  # classify the levelled

    # ------------------------------------------------------------------ model
    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "AFM model", "", "Models (*.sciseg)")
        if path:
            self.load_model(path)

    def load_model(self, path) -> None:
        from ...dl.afm.io import load_afm_model

        self.set_model(load_afm_model(path))

    def set_model(self, model) -> None:
        self.model = model
        cfg = model.config
        f1 = cfg.metrics.get("macro_f1")
        extra = f", held-out macro F1 {f1:.2f}" if isinstance(f1, float) else ""
        if cfg.selection:  # the recipe's choice among its candidates
            extra += f", chosen by grouped cross-validation ({cfg.selection['chosen']})"
        self.model_label.setText(
            f"{cfg.fusion} fusion, channels {list(cfg.channels)}, "
            f"metadata {'yes' if model.needs_metadata else 'no'}{extra}"
        )

    # ------------------------------------------------------------------ classify
    def classify(self) -> None:
        """Classify the scan in a worker; results arrive in :meth:`_show`."""
        if self.model is None:
            show_error("Load a model first ('Load model…', or train one below).")
            return None
        try:
            roles = self.model.config.channels
            layers = self._layers(roles) if roles else self._layers(("height",))
        except ValueError as exc:
            show_error(str(exc))
            return None
        source = layers[0]
        data = (
            np.stack([np.asarray(lay.data, dtype=np.float32) for lay in layers]) if roles else None
        )
        spacing = layer_spacing(source, 2)[-1]
        meta = {k: str(v) for k, v in source.metadata.items()}
        self.cancel_event = event = threading.Event()
        self._source = source
        self._running(True)
        model = self.model
        shape = np.shape(source.data)[-2:]
        self.worker = start_job(
            lambda: predict_job(model, data, spacing, meta, event, shape),
            desc="AFM classification",
            on_return=lambda res: self._show(res, source),
            on_finish=lambda: self._running(False),
            show_progress=False,
        )
        return self.worker

    def cancel(self) -> None:
        """Stop classifying at once; nothing is added."""
        if self.cancel_event is not None:
            self.cancel_event.set()

    def _running(self, running: bool) -> None:
        if not running:
            self.worker = None
            self._source = None
        self.classify_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setRange(0, 0 if running else 1)  # busy indicator while it runs
        self.progress.setValue(0)

    def _layer_removed(self, event) -> None:
        if self.worker is not None and event.value is self._source:
            self.cancel()
            show_info(f"AFM classification stopped: its layer '{event.value.name}' was removed.")

    def _show(self, found, source) -> None:
        """Add the result layers one per event-loop turn; ``result`` is set when all are in."""
        if found is None or source not in self.viewer.layers:
            return  # cancelled, or the scan's layer went away
        (result, maps), steps = found, []
        summary = show_scan_prediction(self.viewer, result, source, maps, later=steps.extend)
        one_per_turn([*steps, lambda: self._done(result, summary)], self.viewer, source)

    def _done(self, result, summary: str) -> None:
        self.result = result
        self.summary.setText(summary)
        show_info(f"AFM scan: {result.label} ({result.probabilities.max():.2f})")
