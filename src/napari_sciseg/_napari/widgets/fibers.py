"""The "Fibers" dock widget: a 3D segmentation or grey volume -> fibres, rejects, plots.

Thin translator: the chosen layer becomes arguments of
:func:`napari_sciseg.measure.fiber_workflow.iter_measure_fibers`, run in a
worker (progress in the activity dock, Cancel); its
:class:`~napari_sciseg.measure.fiber_workflow.FiberAnalysis` becomes layers
(fibres with their table, removed objects with their reasons, axes as vectors),
a length histogram and orientation maps. The fibre class of a Train & predict
segmentation is picked from its class names; a grey volume's polarity and
threshold are detected. Results are cleared when the input layer changes.
"""

from __future__ import annotations

import threading

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy import QtWidgets as Qw
from qtpy.QtCore import QTimer

from .._layers import layer_kind, layer_unit
from .._workers import start_job
from . import _fibers_layers as fl
from ._fibers_form import FiberForm

__all__ = ["FibersWidget"]

class FibersWidget(Qw.QWidget):
    """Find, filter and measure the fibres of a 3D volume.

    Attributes for scripts and tests: ``form`` (:class:`FiberForm`: the input layer,
    fibre class, threshold and filter controls); ``run_button``, ``cancel_button``;
    ``summary``, ``selection``, ``plots`` (tabs of ``length_canvas`` and
    ``orientation_canvas``);
    ``result`` (the last FiberAnalysis), ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.worker = None
        self._cancel = threading.Event()
        self._source_name = ""
        self._watched = None
        self._pending = False
        self._hooked: set[int] = set()

        self.form = FiberForm()
        self.form.source_combo.currentTextChanged.connect(self._source_changed)
        self.run_button = Qw.QPushButton("Measure fibers")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = Qw.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)

        buttons = Qw.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.length_figure = Figure(figsize=(3.4, 2.6), layout="constrained")
        self.orientation_figure = Figure(figsize=(3.4, 2.6), layout="constrained")
        self.length_canvas, self.orientation_canvas = (
            FigureCanvasQTAgg(f) for f in (self.length_figure, self.orientation_figure)
        )
        self.plots = Qw.QTabWidget()  # one plot at a time: the dock fits 1280x800
        self.plots.addTab(self.length_canvas, "lengths")
        self.plots.addTab(self.orientation_canvas, "orientation")
        self.plots.setMinimumHeight(250)
        self.summary, self.selection = Qw.QLabel(""), Qw.QLabel("pick a fiber label to see its row")
        for w in (self.summary, self.selection):
            w.setWordWrap(True)
        layout = Qw.QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addLayout(buttons)
        for w in (self.summary, self.plots, self.selection):
            layout.addWidget(w)
        layout.addStretch()
        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(300)
        self._recount.timeout.connect(self.run)
        for signal in self.form.filter_signals():
            signal.connect(self._maybe_recount)
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed, events.moved):
            ev.connect(self.refresh_layers)
        self.refresh_layers()

    # -- inputs ------------------------------------------------------------
    def refresh_layers(self, event=None) -> None:
        """Re-read 3D Labels and Image layers (not our outputs) into the input box."""
        combo = self.form.source_combo
        current = combo.currentText()
        names = [ly.name for ly in self.viewer.layers
                 if layer_kind(ly) in ("labels", "image") and ly.ndim == 3
                 and not ly.metadata.get(fl.OUTPUT_KEY, False)]  # fmt: skip
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(names)
        if current in names:
            combo.setCurrentText(current)
        combo.blockSignals(False)
        if combo.currentText() != current or self._watched is None:
            self._source_changed()

    def _layer(self):
        name = self.form.source_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _source_changed(self, *_):
        layer = self._layer()
        if self._watched is not None:
            self._watched.events.data.disconnect(self._input_changed)
        self._watched = layer
        if layer is not None:
            layer.events.data.connect(self._input_changed)
        self.form.set_source(layer)

    def _input_changed(self, event=None) -> None:
        """The input layer's data changed: the results no longer describe it."""
        if self.result is None:
            return
        removed = fl.remove_outputs(self.viewer, self._source_name)
        self.result = None
        for fig in (self.length_figure, self.orientation_figure):
            fig.clear()
            fig.canvas.draw_idle()
        self.summary.setText(f"'{self._source_name}' changed: results cleared ({removed} "
                             "layers removed); press Measure fibers again.")  # fmt: skip

    def _maybe_recount(self, *_):
        if self.form.live.isChecked() and self.result is not None:
            self._recount.start()

    # -- run ---------------------------------------------------------------
    def run(self) -> None:
        """Measure the fibres of the chosen layer in a worker thread."""
        from ...measure.fiber_workflow import iter_measure_fibers

        if self.worker is not None and self.worker.is_running:
            self._pending = True
            return
        layer = self._layer()
        if layer is None:
            show_error("No 3D volume: add a Labels or Image volume and pick it as 'input'.")
            return
        try:
            kw = self.form.job_kwargs(self.viewer, layer)
        except ValueError as err:
            self.summary.setText(str(err))
            show_warning(str(err))
            return
        data = np.asarray(layer.data)
        self._source_name = layer.name
        self._cancel = cancel = threading.Event()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.summary.setText("measuring fibres ...")
        self.worker = start_job(lambda: iter_measure_fibers(data, cancel=cancel, **kw),
                                desc="Measure fibers", on_return=self._show,
                                on_finish=self._finished)  # fmt: skip

    def cancel(self) -> None:
        """Stop the running job at its next stage (its result is dropped)."""
        self._cancel.set()
        self._pending = False
        if self.worker is not None:
            self.worker.quit()
        self.summary.setText("cancelled")

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._pending:
            self._pending = False
            self.run()

    def _show(self, analysis) -> None:
        from ...measure.fiber_workflow import describe_summary

        if analysis is None or self._cancel.is_set():
            return
        if self._source_name not in self.viewer.layers:
            show_info(f"'{self._source_name}' was removed while its fibres were measured; "
                      "the result is dropped.")  # fmt: skip
            return
        self.result = analysis
        source = self.viewer.layers[self._source_name]
        # one layer per turn of the event loop: each costs napari ~0.2-1 s on the GUI thread
        steps = [lambda: self._hook(fl.show_fibres(self.viewer, source, analysis)),
                 lambda: fl.show_directions(self.viewer, source, analysis), self.plot,
                 lambda: fl.show_removed(self.viewer, source, analysis)]  # fmt: skip
        self.summary.setText(describe_summary(analysis.summary, layer_unit(source)))

        def step():
            if steps and self.result is analysis and source.name in self.viewer.layers:
                steps.pop(0)()
                QTimer.singleShot(0, step)

        step()

    def _hook(self, labels) -> None:
        if id(labels) not in self._hooked:
            labels.events.selected_label.connect(self._selected)
            self._hooked.add(id(labels))
        self._selected()

    def _selected(self, event=None) -> None:
        layer_name = f"{self._source_name} fibers"
        if self.result is None or layer_name not in self.viewer.layers:
            return
        label = int(self.viewer.layers[layer_name].selected_label)
        if not 1 <= label <= self.result.count:
            self.selection.setText(f"label {label}: not a fiber")
            return
        row = self.result.row(label)
        cells = (f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
        self.selection.setText(", ".join(cells))

    # -- outputs -------------------------------------------------------------
    def plot(self) -> None:
        """Redraw the length histogram and the orientation maps of the last result."""
        from ...plot.fibers import length_histogram, orientation_figure

        if self.result is None:
            return
        source = (
            self.viewer.layers[self._source_name]
            if self._source_name in self.viewer.layers
            else None
        )
        unit = "voxel" if source is None else layer_unit(source)
        length_histogram(self.result.table["length"], unit=unit, fig=self.length_figure)
        orientation_figure(shell=self.result.orientation, fig=self.orientation_figure,
                           directions=self.result.directions if self.result.count else None,
                           note="no fibres", vertical=True)  # fmt: skip
        self.length_canvas.draw_idle()
        self.orientation_canvas.draw_idle()
