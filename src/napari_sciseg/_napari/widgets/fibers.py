"""The "Fibers" dock widget: a 3D segmentation -> fiber instances, directions and plots.

Thin translator: a Labels layer (e.g. the training widget's confident
segmentation; one class or any non-zero voxel) or a thresholded Image layer
becomes a mask and ``spacing``; :func:`napari_sciseg.measure.fibers` and
:func:`napari_sciseg.measure.autocorrelation_shell` run in a worker; the result
becomes an instance Labels layer with a features table, a Vectors layer of the
fiber axes through their centroids, a length histogram and Hammer orientation
maps. Changing the minimum size or the connectivity recounts (live).
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .._layers import add_or_update, layer_kind, layer_spacing, layer_unit, output_kwargs
from .._workers import JobStep, start_job

__all__ = ["FibersWidget"]


def _fiber_job(mask, spacing, kw, radius, with_shell):
    """Generator run in the worker: label + measure, then the autocorrelation shell."""
    from ...measure import autocorrelation_shell, fibers
    from ...measure.orientation import shell_radius

    yield JobStep(0, 2, "labelling and measuring")
    result = fibers(mask, spacing=spacing, **kw)
    yield JobStep(1, 2, "orientation")
    shell = None
    if with_shell and result.count:
        r = radius or shell_radius(result.table["length"], result.table["radius"])
        try:
            shell = autocorrelation_shell(result.labels > 0, r, spacing=spacing, n_directions=1500)
        except ValueError:  # radius too large for a small volume: keep the per-fiber map
            shell = None
    yield JobStep(2, 2, "done")
    return result, shell


class FibersWidget(QWidget):
    """Label and measure the fibers of a 3D segmentation.

    Attributes for scripts and tests: ``source_combo`` (Labels or Image layers),
    ``fiber_class`` (Labels: 0 = any non-zero), ``threshold`` and ``dark`` (Image:
    fiber where value < threshold if dark, else >), ``min_size``, ``connectivity``,
    ``live``, ``with_shell``, ``radius`` (0 = a third of the shortest fiber),
    ``run_button``; ``length_canvas``, ``orientation_canvas``; ``summary``,
    ``selection`` (the row of the selected fiber); ``result``, ``shell``, ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.shell = None
        self.worker = None
        self._source_name = ""
        self._pending = False
        self._hooked: set[int] = set()

        self.source_combo = QComboBox()
        self.source_combo.currentTextChanged.connect(self._source_changed)
        self.fiber_class = QSpinBox()
        self.fiber_class.setRange(0, 255)
        self.fiber_class.setToolTip("class id of fibers in the labels; 0 = any non-zero voxel")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-1e9, 1e9)
        self.threshold.setDecimals(4)
        self.dark = QCheckBox("fibers are darker than the threshold")
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 10**9)
        self.min_size.setValue(50)
        self.min_size.setToolTip("remove components with fewer voxels (dusting)")
        self.connectivity = QComboBox()
        self.connectivity.addItems(["26", "18", "6"])
        self.live = QCheckBox("recount when min size / connectivity change")
        self.live.setChecked(True)
        self.with_shell = QCheckBox("autocorrelation on a sphere")
        self.with_shell.setChecked(True)
        self.radius = QDoubleSpinBox()
        self.radius.setRange(0, 1e9)
        self.radius.setToolTip("sphere radius in layer units; 0 = a third of the shortest fiber")
        self.run_button = QPushButton("Measure fibers")
        self.run_button.clicked.connect(self.run)

        form = QFormLayout()
        for name, w in (
            ("segmentation", self.source_combo), ("fiber class", self.fiber_class),
            ("threshold", self.threshold), ("", self.dark), ("min size (voxels)", self.min_size),
            ("connectivity", self.connectivity), ("", self.live), ("", self.with_shell),
            ("sphere radius", self.radius),
        ):  # fmt: skip
            form.addRow(name, w)

        self.length_figure = Figure(figsize=(3.4, 2.3), layout="constrained")
        self.length_canvas = FigureCanvasQTAgg(self.length_figure)
        self.orientation_figure = Figure(figsize=(3.4, 2.6), layout="constrained")
        self.orientation_canvas = FigureCanvasQTAgg(self.orientation_figure)
        for canvas in (self.length_canvas, self.orientation_canvas):
            canvas.setMinimumHeight(190)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.selection = QLabel("select a fiber (pick a label) to see its row")
        self.selection.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.summary)
        layout.addWidget(self.length_canvas)
        layout.addWidget(self.orientation_canvas)
        layout.addWidget(self.selection)
        layout.addStretch()

        self._recount = QTimer(self)
        self._recount.setSingleShot(True)
        self._recount.setInterval(300)
        self._recount.timeout.connect(self.run)
        self.min_size.valueChanged.connect(self._maybe_recount)
        self.connectivity.currentTextChanged.connect(self._maybe_recount)

        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed, events.moved):
            ev.connect(self.refresh_layers)
        self.refresh_layers()

    # -- inputs ------------------------------------------------------------
    def refresh_layers(self, event=None) -> None:
        """Re-read 3D Labels and Image layers (not our outputs) into the combo box."""
        current = self.source_combo.currentText()
        names = [
            ly.name
            for ly in self.viewer.layers
            if layer_kind(ly) in ("labels", "image")
            and ly.ndim == 3
            and not ly.metadata.get("sciseg_fibers_output", False)
        ]
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        self.source_combo.addItems(names)
        if current in names:
            self.source_combo.setCurrentText(current)
        self.source_combo.blockSignals(False)
        self._source_changed()

    def _layer(self):
        name = self.source_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _source_changed(self, *_):
        layer = self._layer()
        is_image = layer is not None and layer_kind(layer) == "image"
        self.fiber_class.setEnabled(not is_image)
        self.threshold.setEnabled(is_image)
        self.dark.setEnabled(is_image)
        if is_image:  # a start value: Otsu on a subsample
            from skimage.filters import threshold_otsu

            data = np.asarray(layer.data)
            self.threshold.setValue(float(threshold_otsu(data[:: max(1, data.shape[0] // 16)])))

    def mask_of(self, layer) -> np.ndarray:
        """The fiber mask (or instance labels) the widget would measure for ``layer``."""
        data = np.asarray(layer.data)
        if layer_kind(layer) == "image":
            t = float(self.threshold.value())
            return data < t if self.dark.isChecked() else data > t
        cls = int(self.fiber_class.value())
        return data == cls if cls else data

    def _maybe_recount(self, *_):
        if self.live.isChecked() and self.result is not None:
            self._recount.start()

    # -- run ---------------------------------------------------------------
    def run(self) -> None:
        """Measure the fibers of the chosen layer in a worker thread."""
        if self.worker is not None and self.worker.is_running:
            self._pending = True
            return
        layer = self._layer()
        if layer is None:
            show_error("No 3D segmentation: add a Labels or Image volume and pick it.")
            return
        mask = self.mask_of(layer)
        spacing = layer_spacing(layer, 3)
        kw = {"min_size": int(self.min_size.value()),
              "connectivity": int(self.connectivity.currentText())}  # fmt: skip
        radius, with_shell = float(self.radius.value()), self.with_shell.isChecked()
        self._source_name = layer.name
        self.run_button.setEnabled(False)
        self.worker = start_job(
            lambda: _fiber_job(mask, spacing, kw, radius, with_shell),
            desc="Measure fibers",
            on_return=self._show,
            on_finish=self._finished,
        )

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        if self._pending:
            self._pending = False
            self.run()

    def _show(self, returned) -> None:
        result, shell = returned
        self.result, self.shell = result, shell
        source = self.viewer.layers[self._source_name]
        name = self._source_name
        sp = np.asarray(result.stats.spacing)
        features = {"index": result.table["label"], **{k: v for k, v in result.table.items()}}
        labels = add_or_update(
            self.viewer, result.labels, "labels",
            output_kwargs(source, f"{name} fibers", ndim=3, features=features,
                          metadata={"sciseg_fibers_output": True}),
        )  # fmt: skip
        if id(labels) not in self._hooked:
            labels.events.selected_label.connect(self._selected)
            self._hooked.add(id(labels))
        if result.count:
            centers = np.stack([result.table[c] for c in ("z", "y", "x")], 1) / sp
            axes = result.directions * result.table["length"][:, None] / sp
            vectors = np.stack([centers - axes / 2, axes], axis=1)
            vec_kw = output_kwargs(
                source, f"{name} fiber directions", ndim=3, edge_width=0.6, vector_style="line",
                features={"polar": result.table["polar"], "length": result.table["length"]},
                edge_color="polar", edge_colormap="viridis",
                metadata={"sciseg_fibers_output": True},
            )  # fmt: skip
            if vec_kw["name"] in self.viewer.layers:
                self.viewer.layers.remove(vec_kw["name"])
            self.viewer.add_vectors(vectors, **vec_kw)
        self.plot()
        self._selected()
        unit = layer_unit(source)
        med = np.median(result.table["length"]) if result.count else float("nan")
        self.summary.setText(
            f"{result.count} fibers (dusted {result.stats.n_dusted}), volume fraction "
            f"{result.stats.volume_fraction:.4f}, median length {med:.4g} {unit}"
        )

    def _selected(self, event=None) -> None:
        layer_name = f"{self._source_name} fibers"
        if self.result is None or layer_name not in self.viewer.layers:
            return
        label = int(self.viewer.layers[layer_name].selected_label)
        if not 1 <= label <= self.result.count:
            self.selection.setText(f"label {label}: not a fiber")
            return
        row = self.result.row(label)
        self.selection.setText(
            ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            )
        )

    # -- outputs -------------------------------------------------------------
    def plot(self) -> None:
        """Redraw the length histogram and the orientation maps of the last result."""
        from ...plot.fibers import length_histogram, orientation_figure

        if self.result is None:
            return
        unit = "voxel"
        if self._source_name in self.viewer.layers:
            unit = layer_unit(self.viewer.layers[self._source_name])
        length_histogram(self.result.table["length"], unit=unit, fig=self.length_figure)
        self.orientation_figure.clear()
        if self.result.count:
            orientation_figure(
                shell=self.shell, directions=self.result.directions, fig=self.orientation_figure
            )
        self.length_canvas.draw_idle()
        self.orientation_canvas.draw_idle()
