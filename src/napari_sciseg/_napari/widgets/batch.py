"""The "Batch" dock: a folder of images (or open layers) -> particle sizing or a saved model.

Thin translator over :mod:`._batch_job`, which runs the CLI's own per-file
workflow: the outputs are the files ``sciseg particles`` / ``sciseg predict``
write, plus ``summary.csv`` (one row per image) and, for particles,
``all_particles.csv`` (every particle of every image) and the merged size
distribution, shown here. It runs in a worker with progress and Cancel; a file
that fails is skipped and named. Earlier results in the output folder are only
replaced after the user says so, and nothing is ever deleted.

With "open layers" the ticked Image layers go through the same workflow (their
data and scale, nothing read from disk), the outputs named after each layer
(safe characters; a second layer of the same name gets ``_2``).
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
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .._workers import start_job
from ._batch_job import TASKS, batch_job, find_images, planned_outputs
from ._batch_layers import LayerPicker, layer_sources

SOURCES = ("folder", "open layers")

__all__ = ["BatchWidget"]


def _ask_overwrite(parent, outdir: Path, existing: list[Path]) -> bool:
    shown = ", ".join(p.name for p in existing[:3]) + (" …" if len(existing) > 3 else "")
    answer = QMessageBox.question(
        parent, "Replace earlier results?",
        f"{outdir} already holds {len(existing)} result file(s) of these images ({shown}).\n"
        "Replace them? Files of the same names are overwritten; nothing else is deleted.",
    )
    return answer == QMessageBox.StandardButton.Yes


class BatchWidget(QWidget):
    """Run a folder through particle sizing or a saved model.

    Attributes for scripts and tests: ``task_combo``, ``source_combo`` ("folder" or
    "open layers"), ``layer_list`` (checkable Image layers), ``input_edit``, ``output_edit``,
    ``model_edit``, ``run_button``, ``cancel_button``, ``progress``, ``status``,
    ``result`` (the last :class:`~._batch_job.BatchResult`), ``worker``, and
    ``confirm`` (``confirm(outdir, existing) -> bool``, the overwrite question).
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.worker = None
        self.cancel_event: threading.Event | None = None
        self.confirm = lambda outdir, existing: _ask_overwrite(self, outdir, existing)
        self.task_combo = QComboBox()
        self.task_combo.addItems(TASKS)
        self.task_combo.setToolTip("particle sizing: as 'sciseg particles' (defaults); saved "
                                   "model: a .sciseg ensemble, as 'sciseg predict'")
        self._init_layers()
        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("folder with images")
        self.input_edit.setToolTip("Every image the plugin reads in this folder (not "
                                   "sub-folders) is processed")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("folder for the results")
        self.output_edit.setToolTip("Where the per-image files, summary.csv and the merged "
                                    "table go (created if needed)")
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("model.sciseg")
        self.model_edit.setToolTip("The saved model (Train and predict > Save model)")
        browse = {}
        for key, tip in (("input", "Choose the input folder"), ("output", "Choose the output "
                         "folder"), ("model", "Choose the .sciseg model")):
            button = QPushButton("…")
            button.setToolTip(tip)
            button.setMaximumWidth(30)
            browse[key] = button
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Process every image of the input folder in the background")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the image in progress; finished images keep "
                                      "their results")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setToolTip("Images done")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("task", self.task_combo)
        form.addRow("input", self.source_combo)
        form.addRow("layers", self.layer_list)
        for label, edit, key in (("input folder", self.input_edit, "input"),
                                 ("output folder", self.output_edit, "output"),
                                 ("model", self.model_edit, "model")):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(browse[key])
            form.addRow(label, row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

        browse["input"].clicked.connect(lambda: self._browse_folder(self.input_edit))
        browse["output"].clicked.connect(lambda: self._browse_folder(self.output_edit))
        browse["model"].clicked.connect(self._browse_model)
        self.run_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)
        self.task_combo.currentTextChanged.connect(self._task_changed)
        self._task_changed(self.task_combo.currentText())
        self._source_changed(self.source_combo.currentText())

    def _init_layers(self) -> None:
        """The 'input' choice and the checkable list of the viewer's Image layers."""
        self.source_combo = QComboBox()
        self.source_combo.addItems(SOURCES)
        self.source_combo.setToolTip("folder: every image file of a folder; open layers: the "
                                     "Image layers ticked below, with their scale")
        self.layer_list = LayerPicker(self.viewer)
        self.source_combo.currentTextChanged.connect(self._source_changed)

    def checked_layers(self) -> list:
        """The ticked Image layers."""
        return self.layer_list.checked()

    def _source_changed(self, source: str) -> None:
        folder = source == "folder"
        self.input_edit.setEnabled(folder)
        self.layer_list.setEnabled(not folder)

    def _task_changed(self, task: str) -> None:
        self.model_edit.setEnabled(task == "saved model")

    def start(self):
        """Check the fields, ask before replacing results, start the worker (or ``None``)."""
        task = self.task_combo.currentText()
        sources = None
        try:
            if self.source_combo.currentText() == "open layers":
                files, sources = layer_sources(self.checked_layers())
            else:
                files = find_images(self.input_edit.text().strip() or ".")
            if not self.output_edit.text().strip():
                raise ValueError("Choose an 'output folder' for the results.")
            outdir = Path(self.output_edit.text().strip())
            options = {}
            if task == "saved model":
                model = Path(self.model_edit.text().strip())
                if not model.is_file():
                    raise FileNotFoundError(f"'model' {model} is not a file; choose a "
                                            ".sciseg model saved by Train and predict.")
                options = {"model": str(model), "k": 1.0, "device": "auto"}
        except (FileNotFoundError, ValueError) as exc:
            show_error(str(exc))
            return None
        planned = planned_outputs(task, files, outdir)
        existing = [p for outs in planned.values() for p in outs if p.exists()]
        overwrite = bool(existing)
        if existing and not self.confirm(outdir, existing):
            self.status.setText("Not run: the earlier results were kept.")
            return None
        self.cancel_event = threading.Event()
        self.progress.setRange(0, len(files))
        self.progress.setValue(0)
        self._running(True)
        event = self.cancel_event
        self.worker = start_job(
            lambda: batch_job(task, files, outdir, options, overwrite=overwrite, cancel=event,
                              sources=sources),
            desc=f"Batch {task}",
            on_yield=self._step,
            on_return=self._show,
            on_finish=lambda: self._running(False),
            show_progress=False,
        )
        return self.worker

    def cancel(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.status.setText("cancelling after the image in progress…")

    def _running(self, running: bool) -> None:
        if not running:
            self.worker = None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _step(self, step) -> None:
        self.progress.setValue(step.done)
        self.status.setText(f"{step.done}/{step.total}: {step.what}")

    def _show(self, result) -> None:
        self.result = result
        lines = [f"{result.n_ok} of {len(result.rows)} image(s) done -> {result.outdir}"]
        if result.cancelled:
            lines[0] = "Cancelled; " + lines[0]
        if result.failed:
            lines.append("Skipped: " + "; ".join(f"{n} ({why})" for n, why in
                                                 result.failed.items()))
        self.status.setText("\n".join(lines))
        if result.task == "particle sizing" and result.merged:
            lines.append("Merged: summary.csv, all_particles.csv, psd_all.png")
            self.status.setText("\n".join(lines))
        show_info(lines[0] + (f", {len(result.failed)} skipped" if result.failed else ""))

    def _browse_folder(self, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if path:
            edit.setText(path)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Saved model", "", "sciseg model (*.sciseg)")
        if path:
            self.model_edit.setText(path)
