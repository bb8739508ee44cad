"""AFM training from the widget: the data-set CSV (built by "AFM crystal counts") -> Train.

Runs :func:`napari_sciseg.dl.afm.train.iter_train_afm` (what ``sciseg afm train``
runs) in a worker with a progress bar and Cancel; the trained model is saved next
to the CSV (or where the user says) and handed to the AFM widget to classify with.
"""

from __future__ import annotations

import threading
from pathlib import Path

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .._workers import start_job

__all__ = ["AfmTrainPanel", "afm_training_job"]

#: fusions offered in the widget, plain label -> engine name
FUSION_CHOICES = {"early fusion (CNN, all channels)": "early",
                  "VLAD texture (fast, no network)": "vlad",
                  "height only (CNN)": "single"}


def afm_training_job(csv_path, output, *, fusion: str, steps: int, tile: int, cancel):
    """Generator for the worker: read the data set, train, save; returns (model, path)."""
    from ...classify.afm.dataset import read_dataset
    from ...dl.afm.io import save_afm_model
    from ...dl.afm.train import iter_train_afm

    dataset = read_dataset(csv_path)
    model = yield from iter_train_afm(dataset, fusion=fusion, steps=steps, tile=tile,
                                      cancel=cancel)
    if cancel.is_set():
        return None, None
    return model, save_afm_model(model, output)


class AfmTrainPanel(QWidget):
    """CSV, model kind, steps, tile; Train / Cancel; ``host.set_model`` gets the result."""

    def __init__(self, host, parent=None):
        super().__init__(parent)
        self._host = host
        self.worker = None
        self.cancel_event: threading.Event | None = None
        self.csv_edit = QLineEdit()
        self.csv_edit.setPlaceholderText("dataset.csv")
        self.csv_edit.setToolTip("The training CSV built with 'AFM crystal counts' (file, "
                                 "sample, spherulite_count, lamellar_count)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.setToolTip("Choose the training CSV")
        self.fusion_combo = QComboBox()
        self.fusion_combo.addItems(list(FUSION_CHOICES))
        self.fusion_combo.setToolTip("early fusion: one CNN on every channel (best on the "
                                     "benchmark); VLAD: texture statistics, seconds to train; "
                                     "height only: one CNN on the height channel")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 100_000)
        self.steps_spin.setValue(300)
        self.steps_spin.setToolTip("Optimiser steps of the CNN (ignored by VLAD)")
        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(16, 1024)
        self.tile_spin.setValue(128)
        self.tile_spin.setSuffix(" px")
        self.tile_spin.setToolTip("Side of the square tiles the model looks at, in pixels at "
                                  "the data set's median pixel size")
        self.train_button = QPushButton("Train AFM model")
        self.train_button.setToolTip("Train on the CSV's scans in the background, save the "
                                     "model next to the CSV and use it here")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop training; nothing is saved")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setToolTip("Training steps done")
        row = QHBoxLayout()
        row.addWidget(self.csv_edit, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("training CSV", row)
        form.addRow("model", self.fusion_combo)
        form.addRow("steps", self.steps_spin)
        form.addRow("tile", self.tile_spin)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        browse.clicked.connect(self._browse)
        self.train_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)

    def start(self, output=None):
        """Start training (the model goes to ``output``, default next to the CSV)."""
        csv_path = Path(self.csv_edit.text().strip() or "dataset.csv")
        if not csv_path.is_file():
            show_error(f"'training CSV' {csv_path} does not exist; build one with 'AFM "
                       "crystal counts' (Add to data set) or choose it with '…'.")
            return None
        fusion = FUSION_CHOICES[self.fusion_combo.currentText()]
        output = Path(output) if output else csv_path.with_name(f"afm_{fusion}.sciseg")
        steps = 1 if fusion == "vlad" else self.steps_spin.value()
        self.cancel_event = event = threading.Event()
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self._running(True)
        self.worker = start_job(
            lambda: afm_training_job(csv_path, output, fusion=fusion, steps=steps,
                                     tile=self.tile_spin.value(), cancel=event),
            desc="AFM training", on_yield=self._step, on_return=self._done,
            on_finish=lambda: self._running(False), show_progress=False)
        return self.worker

    def cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()

    def _step(self, record) -> None:
        self.progress.setMaximum(int(record.total_steps))
        self.progress.setValue(int(record.step))

    def _done(self, result) -> None:
        model, path = result
        if model is None:
            show_info("AFM training cancelled; no model saved.")
            return
        self._host.set_model(model)
        show_info(f"AFM model trained and saved to {path}")

    def _running(self, running: bool) -> None:
        if not running:
            self.worker = None
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training CSV", "", "CSV (*.csv)")
        if path:
            self.csv_edit.setText(path)
