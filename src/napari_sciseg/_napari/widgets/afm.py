"""The "AFM crystal classes" dock widget: level channels, classify a scan, show overlays.

Thin translator: the channel layers (height, amplitude, phase, z-sensor, picked
by name) and their scale become a (C, Y, X) array and nm/pixel; levelling
(:func:`napari_sciseg.classify.afm.level.level_scan`) gives new layers;
classification (:func:`napari_sciseg.dl.afm.predict.predict_scan`) runs in a
worker and gives the whole-scan class and probabilities (shown here and put in
the height layer's metadata), a tile-wise class map (Labels, one label per
tile, coloured by class, with a features table) and one probability layer per
class. The maps are a tile-wise extrapolation of per-scan labels, not per-region
ground truth.
"""

from __future__ import annotations

import threading

import numpy as np
from napari.utils.colormaps import DirectLabelColormap
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
from ...classify.afm.scans import CHANNEL_ROLES, channel_role
from .._layers import add_or_update, layer_kind, layer_spacing, output_kwargs
from .._workers import start_job, wait_for_call
from ._afm_train import AfmTrainPanel

__all__ = ["AfmWidget", "CLASS_COLORS"]

#: one colour per class, in the order of CLASSES.
CLASS_COLORS = ("#9e9e9e", "#4fc3f7", "#ffb74d", "#0277bd", "#e65100")
_NONE = "(none)"


def _predict_job(model, data, spacing, metadata, cancel):
    from ...dl.afm.predict import predict_scan

    return (yield from wait_for_call(
        lambda: predict_scan(model, data, spacing=spacing, metadata=metadata),
        cancel=cancel, what="classifying"))


def class_legend(names, colors) -> str:
    """Rich text: a coloured square and the name of each class."""
    return "  ".join(f'<span style="color:{c}">&#9632;</span>&nbsp;{n}'
                     for n, c in zip(names, colors))


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
            combo.addItems([_NONE, *images])
            levelled = [n for n in images if n.endswith(" levelled") and _role_of(n[:-9]) == role]
            raw = [n for n in images if _role_of(n) == role]
            guess = (levelled or raw or [_NONE])[0]
            if current in images and not (levelled and f"{current} levelled" in levelled):
                guess = current
            combo.setCurrentText(guess)
            combo.blockSignals(False)

    def _layers(self, roles):
        out = []
        for role in roles:
            name = self.channel_combos[role].currentText()
            if name == _NONE or name not in self.viewer.layers:
                present = [r for r, c in self.channel_combos.items() if c.currentText() != _NONE]
                raise ValueError(f"Choose a layer for the {role} channel (set: {present}).")
            out.append(self.viewer.layers[name])
        return out

    # ------------------------------------------------------------------ levelling
    def level(self) -> None:
        """Add a levelled copy of every chosen channel (the inputs are kept)."""
        from ...classify.afm.level import level_scan

        roles = [r for r, c in self.channel_combos.items() if c.currentText() != _NONE]
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
        self.worker = start_job(
            lambda: _predict_job(model, data, spacing, meta, event),
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
            show_info(f"AFM classification stopped: its layer '{event.value.name}' was "
                      "removed.")

    def _show(self, result, source) -> None:
        from ...dl.afm.predict import tile_maps

        if result is None or source not in self.viewer.layers:
            return  # cancelled, or the scan's layer went away

        self.result = result
        probs = {c: float(p) for c, p in zip(CLASSES, result.probabilities)}
        source.metadata["afm_class"] = result.label
        source.metadata["afm_probabilities"] = probs
        lines = [f"<b>{result.label}</b>"] + [f"{c}: {p:.2f}" for c, p in probs.items()]
        self.summary.setText(
            "<br>".join(lines) + "<br><i>Maps: tile-wise extrapolation of per-scan labels.</i>"
        )
        shape = np.shape(source.data)[-2:]
        _, prob_maps = tile_maps(result, shape)
        tiles = np.zeros(shape, np.int32)
        size = int(round(result.tile))
        for i, (y, x) in enumerate(result.corners, start=1):
            tiles[int(round(y)) : int(round(y)) + size, int(round(x)) : int(round(x)) + size] = i
        tile_class = result.tile_probabilities.argmax(1)
        colors = {None: "transparent", 0: "transparent"}
        colors.update({i + 1: CLASS_COLORS[c] for i, c in enumerate(tile_class)})
        features = {
            "index": np.arange(len(tile_class) + 1),
            "class": ["none"] + [CLASSES[c] for c in tile_class],
        }
        for k, c in enumerate(CLASSES):
            features[f"p_{c}"] = np.r_[np.nan, result.tile_probabilities[:, k]]
        meta = {
            "afm_class": result.label,
            "afm_probabilities": probs,
            "note": "tile-wise extrapolation of per-scan labels",
        }
        add_or_update(
            self.viewer,
            tiles,
            "labels",
            output_kwargs(
                source,
                "AFM tile classes (extrapolated)",
                opacity=0.45,
                features=features,
                colormap=DirectLabelColormap(color_dict=colors),
                metadata=meta,
            ),
        )
        for k, c in enumerate(CLASSES):
            add_or_update(
                self.viewer,
                prob_maps[k],
                "image",
                output_kwargs(
                    source,
                    f"AFM p({c})",
                    colormap="magma",
                    contrast_limits=(0.0, 1.0),
                    blending="additive",
                    visible=False,
                    metadata=meta,
                ),
            )
        show_info(f"AFM scan: {result.label} ({result.probabilities.max():.2f})")


def _role_of(layer_name: str) -> str | None:
    """Role of a layer named like "<scan> height" or "<scan> Amplitude Error"."""
    lower = layer_name.lower()
    if "levelled" in lower or lower.startswith("afm p(") or "tile classes" in lower:
        return None
    words = layer_name.split()
    for k in range(min(3, len(words)), 0, -1):
        role = channel_role(" ".join(words[-k:]))
        if role is not None:
            return role
    return None
