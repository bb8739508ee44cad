"""The "Evaluate" dock widget: a predicted class map against a ground-truth Labels layer.

Thin translator: the two Labels layers (and the layer scale, as ``spacing``)
become arguments of :func:`napari_sciseg.evaluate.evaluate_segmentation`, the
function behind ``sciseg evaluate``, run in a worker (progress in the activity
dock, Cancel). Its report is shown as a per-class table (IoU, Dice, precision,
recall, boundary F, instance F1), the summary lines ``sciseg evaluate`` prints,
and for particles the two size distributions over each other.
"""

from __future__ import annotations

import threading

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy import QtWidgets as Qw
from qtpy.QtCore import Qt

from .._layer_combo import LayerCombo
from .._layers import layer_spacing, layer_unit
from .._workers import job_kwargs_or_none, start_job, wait_for_call

__all__ = ["EvaluateWidget"]


def _calibration(layer, ndim: int):
    """``(spacing or None, unit)`` of a layer, as ``sciseg evaluate`` reads a file's."""
    unit = layer_unit(layer)
    return (layer_spacing(layer, ndim), unit) if unit != "pixel" else (None, "pixel")


class EvaluateWidget(Qw.QWidget):
    """Score a prediction layer against a ground-truth layer.

    Attributes for scripts and tests: ``pred_combo``, ``truth_combo`` (Labels
    layers), ``background``, ``ignore`` (-1 = none), ``tolerance`` (0 = 2 pixels),
    ``foreground`` (-1 = every class but background), ``particles``, ``fibers``
    (check boxes), ``run_button``, ``cancel_button``, ``table``, ``summary``,
    ``psd_canvas``; ``result`` (the last
    :class:`~napari_sciseg.evaluate.EvaluationReport`), ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.worker = None
        self._cancel = threading.Event()

        self.pred_combo = LayerCombo(napari_viewer, "labels")
        self.truth_combo = LayerCombo(napari_viewer, "labels")
        labels = self.pred_combo._layers()
        if len(labels) > 1:  # a sensible start: the last two Labels layers, truth first
            self.truth_combo.setCurrentText(labels[-2].name)
            self.pred_combo.setCurrentText(labels[-1].name)
        self.background = Qw.QSpinBox(minimum=0, maximum=65535, value=0)
        self.ignore = Qw.QSpinBox(minimum=-1, maximum=65535, value=-1)
        self.ignore.setSpecialValueText("none")
        self.tolerance = Qw.QDoubleSpinBox(minimum=0.0, maximum=1e6, value=0.0, decimals=2)
        self.tolerance.setSpecialValueText("2 pixels")
        self.foreground = Qw.QSpinBox(minimum=-1, maximum=65535, value=-1)
        self.foreground.setSpecialValueText("all but background")
        self.particles = Qw.QCheckBox("particle sizes (2D)")
        self.fibers = Qw.QCheckBox("fibre matching (3D)")
        for w, tip in ((self.background, "class id that is not objects (no instance F1)"),
                       (self.ignore, "truth value of unlabeled pixels (sparse truth)"),
                       (self.tolerance, "boundary match distance in the layers' unit"),
                       (self.foreground, "class id of the particles / fibres")):
            w.setToolTip(tip)
        form = Qw.QFormLayout()
        for label, w in (("prediction", self.pred_combo), ("ground truth", self.truth_combo),
                         ("background class", self.background), ("unlabeled value", self.ignore),
                         ("boundary tolerance", self.tolerance),
                         ("objects class", self.foreground), ("also", self.particles),
                         ("", self.fibers)):
            form.addRow(label, w)
        self.run_button = Qw.QPushButton("Evaluate")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = Qw.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = Qw.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)

        from ...evaluate.report import TABLE_HEADERS

        self.table = Qw.QTableWidget(0, len(TABLE_HEADERS))
        self.table.setHorizontalHeaderLabels([h.replace(" ", "\n") for h in TABLE_HEADERS])
        self.table.horizontalHeader().setSectionResizeMode(Qw.QHeaderView.Stretch)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(Qw.QAbstractItemView.NoEditTriggers)
        self.table.setMinimumHeight(110)
        self.summary = Qw.QLabel("pick the prediction and the ground truth, then Evaluate")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.psd_figure = Figure(figsize=(3.4, 2.4), layout="constrained")
        self.psd_canvas = FigureCanvasQTAgg(self.psd_figure)
        self.psd_canvas.setMinimumHeight(200)
        self.psd_canvas.setVisible(False)
        layout = Qw.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        for w in (self.table, self.summary, self.psd_canvas):
            layout.addWidget(w)
        layout.addStretch()
        self.pred_combo.currentTextChanged.connect(self._update_choices)
        self._update_choices()

    def _update_choices(self, *_):
        layer = self.pred_combo.value
        ndim = None if layer is None else layer.ndim
        self.particles.setEnabled(ndim == 2)
        self.fibers.setEnabled(ndim == 3)

    # -- run -----------------------------------------------------------------
    def job_kwargs(self) -> dict:
        """Arguments of ``evaluate_segmentation`` from the fields (ValueError if unusable)."""
        from ...evaluate import check_same_grid

        pred, truth = self.pred_combo.value, self.truth_combo.value
        if pred is None or truth is None:
            raise ValueError("Pick a Labels layer as 'prediction' and one as 'ground truth' "
                             "(paint or open the truth as a Labels layer).")
        if pred is truth:
            raise ValueError(f"'prediction' and 'ground truth' are the same layer "
                             f"('{pred.name}'); pick the truth layer as 'ground truth'.")
        p_spacing, p_unit = _calibration(pred, pred.ndim)
        t_spacing, t_unit = _calibration(truth, truth.ndim)
        if p_spacing and t_spacing and p_unit != t_unit:
            raise ValueError(f"'{pred.name}' is in {p_unit} and '{truth.name}' in {t_unit}; "
                             "give both layers the same units.")
        check_same_grid(pred.data.shape, truth.data.shape, p_spacing, t_spacing)
        spacing, unit = (p_spacing, p_unit) if p_spacing else (t_spacing, t_unit)
        return dict(
            spacing=spacing, unit=unit, background=self.background.value(),
            ignore=None if self.ignore.value() < 0 else self.ignore.value(),
            tolerance=self.tolerance.value() or None,
            foreground=None if self.foreground.value() < 0 else self.foreground.value(),
            particles=self.particles.isChecked() and pred.ndim == 2,
            fibers=self.fibers.isChecked() and pred.ndim == 3,
            title=f"{pred.name} vs {truth.name}",
        )

    def run(self) -> None:
        """Score the chosen layers in a worker thread."""
        from ...evaluate import evaluate_segmentation

        kw = job_kwargs_or_none(self, self.summary)
        if kw is None:
            return
        pred = np.asarray(self.pred_combo.value.data)
        truth = np.asarray(self.truth_combo.value.data)
        self.result = None
        self._cancel = cancel = threading.Event()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.summary.setText("scoring ...")
        self.worker = start_job(
            lambda: wait_for_call(lambda: evaluate_segmentation(pred, truth, **kw),
                                  cancel=cancel, what="scoring"),
            desc="Evaluate", on_return=self._show, on_finish=self._finished)

    def cancel(self) -> None:
        """Drop the running evaluation (its result is not shown)."""
        self._cancel.set()
        self.summary.setText("cancelled")

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self.result is None and not self._cancel.is_set():
            self.summary.setText("evaluation failed (see the notification)")

    # -- outputs -------------------------------------------------------------
    def _show(self, report) -> None:
        from ...evaluate.report import TABLE_COLUMNS

        if report is None or self._cancel.is_set():
            return
        self.result = report
        rows = report.scores.table
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, key in enumerate(TABLE_COLUMNS):
                v = row[key]
                text = f"{v:.4f}" if isinstance(v, float) else str(v)
                self.table.setItem(i, j, Qw.QTableWidgetItem(text))
        table_end = report.text.index("\n\n", report.text.index("|---"))
        self.summary.setText(report.text[table_end:].strip())
        self.plot()

    def plot(self) -> None:
        """Draw the predicted and true particle size distributions of the last result."""
        from ...plot.particles import draw_psd_comparison

        r = self.result
        show = r is not None and r.particles is not None
        self.psd_canvas.setVisible(show)
        if not show:
            return
        self.psd_figure.clear()
        draw_psd_comparison(self.psd_figure.add_subplot(), r.pred_diameters, r.true_diameters,
                            unit=r.particles.unit, ks=r.particles.ks)
        self.psd_canvas.draw_idle()
