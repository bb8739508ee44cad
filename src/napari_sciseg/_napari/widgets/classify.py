"""The "Classify images" dock widget: your own classes, from a folder or the open layers.

Thin translator over :mod:`napari_sciseg.dl.classify.workflow` (the functions
``sciseg classify`` calls). Training data is a folder of class folders or a
CSV (``Data…``), or the open image layers labelled by clicking (select layers,
type a class, ``Label selected``: the class goes to ``layer.metadata["class"]``).
Training and cross-validation run in a worker with progress and Cancel; the
cross-validated confusion matrix and a t-SNE of the representations are drawn
in the widget. The current layer can be classified tile by tile (a class map
overlay) and explained (Grad-CAM for networks, occlusion for boosted trees).
"""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...classify.images.model import REPRESENTATIONS
from .._layers import layer_kind, layer_spacing
from .._workers import start_job
from ._classify_apply import ClassifierUse
from ._classify_show import ResultCanvas

__all__ = ["ClassifyImagesWidget", "CLASS_KEY"]

#: layer metadata key holding a clicked-in class
CLASS_KEY = "class"
_LAYERS = "(labelled open layers)"


def _button(text: str, tip: str, slot) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    b.clicked.connect(slot)
    return b


class ClassifyImagesWidget(ClassifierUse, QWidget):
    """Train, cross-validate, apply and explain an image classifier.

    Attributes for scripts and tests: ``data_edit`` (folder/CSV or the open layers),
    ``class_edit``, ``representation``, ``balance``, ``augment``, ``train_button``,
    ``cv_button``, ``cancel_button``, ``classify_button``, ``explain_button``,
    ``progress``, ``summary``, ``canvas``, ``model``, ``cv``, ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.model = self.cv = self.worker = self.predictions = None
        self.data_edit = QLineEdit(_LAYERS)
        self.data_edit.setToolTip("A folder of class folders, a CSV file,class[,group], or "
                                  f"{_LAYERS}: image layers with a class (label them below)")
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("class name, e.g. fibre")
        self.class_edit.setToolTip("Class given to the selected image layers")
        self.representation = QComboBox()
        self.representation.addItems([r for r in REPRESENTATIONS if r != "hypercolumn"])
        self.representation.setCurrentText("vlad")
        self.representation.setToolTip("vlad: filter bank + visual words + VLAD + boosting; "
                                       "texture: filter statistics + boosting; cnn: a CNN from "
                                       "scratch; pretrained: the CNN after autoencoder "
                                       "pretraining on the images")
        self.balance = QCheckBox("balance classes")
        self.balance.setChecked(True)
        self.balance.setToolTip("Weigh (or sample) every class equally")
        self.augment = QCheckBox("rotate/flip rare classes")
        self.augment.setChecked(True)
        self.augment.setToolTip("Add 90° rotations and flips of the rarer classes' images")
        self.train_button = _button("Train", "Train on the data in the background", self.train)
        self.cv_button = _button("Cross-validate", "5-fold grouped cross-validation: report, "
                                 "confusion matrix, t-SNE", self.cross_validate)
        self.cancel_button = _button("Cancel", "Stop the running job; nothing is kept",
                                     self.cancel)
        self.cancel_button.setEnabled(False)
        self.classify_button = _button("Classify layer (tiles)", "Class map of the selected "
                                       "image layer, tile by tile", self.classify_layer)
        self.predict_button = _button("Predict folder…", "Classify every image of a folder "
                                      "(or CSV) in the background; writes predictions.csv "
                                      "beside them", self._choose_predict)
        self.explain_button = _button("Explain layer", "What the classifier looked at: Grad-CAM "
                                      "(networks) or occlusion (boosted trees)", self.explain_layer)
        self.progress = QProgressBar()
        self.progress.setToolTip("Progress of the running job")
        self.summary = QLabel("no model")
        self.summary.setWordWrap(True)
        self.canvas = ResultCanvas()
        self._layout()

    def _layout(self) -> None:
        form = QFormLayout()
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_edit)
        data_row.addWidget(_button("Data…", "Pick a folder of class folders (or Cancel, then "
                                   "a CSV)", self._choose_data))
        form.addRow("data", data_row)
        label_row = QHBoxLayout()
        label_row.addWidget(self.class_edit)
        label_row.addWidget(_button("Label selected", "Give the selected image layers this "
                                    "class", self.label_selected))
        form.addRow("class", label_row)
        form.addRow("representation", self.representation)
        checks = QHBoxLayout()
        checks.addWidget(self.balance)
        checks.addWidget(self.augment)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(checks)
        for row in ((self.train_button, self.cv_button, self.cancel_button),
                    (self.classify_button, self.explain_button, self.predict_button),
                    (_button("Load model…", "Open a classifier (.sciseg)", self._load),
                     _button("Save model…", "Save the classifier (.sciseg)", self._save))):
            box = QHBoxLayout()
            for w in row:
                box.addWidget(w)
            layout.addLayout(box)
        for w in (self.progress, self.summary, self.canvas):
            layout.addWidget(w)
        layout.addStretch(1)

    # ------------------------------------------------------------------ data
    def _choose_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of class folders")
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Data set CSV", "", "CSV (*.csv)")
        if path:
            self.data_edit.setText(path)

    def label_selected(self) -> int:
        """Give the selected image layers the class typed in ``class_edit``; return how many."""
        name = self.class_edit.text().strip()
        chosen = [lay for lay in self.viewer.layers.selection if layer_kind(lay) == "image"]
        if not name or not chosen:
            show_error("Select image layers and type a class name first.")
            return 0
        for lay in chosen:
            lay.metadata[CLASS_KEY] = name
        show_info(f"{len(chosen)} layer(s) labelled '{name}'.")
        return len(chosen)

    def _options(self) -> dict:
        return {"representation": self.representation.currentText(),
                "balance": self.balance.isChecked(), "augment": self.augment.isChecked()}

    def _layer_set(self):
        layers = [lay for lay in self.viewer.layers
                  if layer_kind(lay) == "image" and lay.metadata.get(CLASS_KEY)]
        names = tuple(sorted({lay.metadata[CLASS_KEY] for lay in layers}))
        if len(names) < 2:
            raise ValueError("Label image layers of at least two classes ('Label selected'), "
                             "or pick a data folder.")
        images = [np.asarray(lay.data, np.float32) for lay in layers]
        labels = np.array([names.index(lay.metadata[CLASS_KEY]) for lay in layers])
        spacings = [layer_spacing(lay, 2)[-1] if lay.scale[-1] != 1 else None for lay in layers]
        return images, labels, names, spacings

    def _job(self, kind: str):
        """A generator factory for ``kind`` ("train" or "cv") on the chosen data."""
        from ...dl.classify import workflow as wf

        source, opts = self.data_edit.text().strip(), self._options()
        extra = {"n_folds": 5, "embed": True} if kind == "cv" else {}
        if source and source != _LAYERS:
            fn = wf.train_dataset if kind == "train" else wf.cross_validate_dataset
            return lambda: fn(source, **opts, **extra)
        images, labels, names, spacings = self._layer_set()
        fn = wf.iter_train_classifier if kind == "train" else wf.iter_cross_validate
        return lambda: _paired(fn(images, labels, names, spacings=spacings, **opts, **extra))

    # ------------------------------------------------------------------ jobs
    def _start(self, kind: str):
        try:
            make = self._job(kind)
        except (ValueError, OSError) as exc:
            show_error(str(exc))
            return None
        self._running(True)
        self.worker = start_job(make, desc=f"Classify images: {kind}",
                                on_yield=self._progress,
                                on_return=lambda res: self._done(kind, res),
                                on_finish=lambda: self._running(False))
        return self.worker

    def train(self):
        """Train on the chosen data in a worker; the model arrives in ``model``."""
        return self._start("train")

    def cross_validate(self):
        """Cross-validate in a worker; the result arrives in ``cv`` and the canvas."""
        return self._start("cv")

    def cancel(self) -> None:
        """Stop the running job at its next step; nothing is kept."""
        if self.worker is not None:
            self.worker.quit()

    def _progress(self, record) -> None:
        self.progress.setRange(0, max(int(getattr(record, "total", 1)), 1))
        self.progress.setValue(int(getattr(record, "done", 0)))
        self.progress.setFormat(f"{getattr(record, 'stage', '')} %v/%m")

    def _running(self, running: bool) -> None:
        if not running:
            self.worker = None
        for b in (self.train_button, self.cv_button, self.classify_button,
                  self.explain_button, self.predict_button):
            b.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _done(self, kind: str, result) -> None:
        if result is None:
            return
        value, loaded = result
        skipped = getattr(loaded, "skipped", ())
        note = f"<br>skipped unreadable: {len(skipped)}" if skipped else ""
        if kind == "train":
            self.set_model(value)
            self.summary.setText(self.summary.text() + note)
            return
        self.cv = value
        s = value.summary()
        recall = ", ".join(f"{k} {v:.2f}" for k, v in s["recall"].items())
        acc, bal = s["accuracy"], s["balanced_accuracy"]
        self.summary.setText(f"CV accuracy {acc:.3f}, balanced {bal:.3f}<br>recall: "
                             f"{recall}{note}")
        self.canvas.show_cv(value)


def _paired(gen):
    """Wrap a layer-set job so it returns (result, None) like the data-set jobs."""
    return ((yield from gen), None)
