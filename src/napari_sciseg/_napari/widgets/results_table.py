"""The "Results table" dock: any result layer's table, sortable; a click goes to the object.

Particles, fibres and AFM tiles arrive as layers with a ``features`` table whose
``index`` (or ``label``) column is the object's label value. This dock shows that
table; clicking a row centres the viewer on the object (its centroid columns when
the table has them, else the middle of the label's pixels), and "Export CSV" writes
the table, in the order shown, with :func:`napari_sciseg.io.tables.write_table`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._layers import layer_kind

__all__ = ["ResultsTableWidget", "object_centre"]

_ID_COLUMNS = ("index", "label")


def _columns(layer) -> dict:
    """The layer's features as ``{name: numpy column}`` (no pandas from here on)."""
    features = getattr(layer, "features", None)
    if features is None or len(features) == 0:
        return {}
    return {str(name): np.asarray(features[name]) for name in features.columns}


def _centroid_columns(names, ndim: int) -> list[str] | None:
    for pattern in ("centroid-{}", "centroid_{}"):
        cols = [pattern.format(i) for i in range(ndim)]
        if all(c in names for c in cols):
            return cols
    axes = ("z", "y", "x")[-ndim:]
    return list(axes) if all(a in names for a in axes) else None


def object_centre(layer, table: dict, row: int) -> np.ndarray | None:
    """Data coordinates of the object of ``row``: centroid columns, else its label's pixels."""
    ndim = layer.ndim
    cols = _centroid_columns(table, ndim)
    if cols is not None:
        return np.array([float(table[c][row]) for c in cols])
    if layer_kind(layer) == "points":
        return np.asarray(layer.data[row], dtype=float)
    if layer_kind(layer) != "labels":
        return None
    ident = next((c for c in _ID_COLUMNS if c in table), None)
    label = int(table[ident][row]) if ident is not None else row + 1
    if label <= 0:
        return None
    from scipy import ndimage

    data = np.asarray(layer.data)
    where = ndimage.find_objects(data == label, max_label=1)[0]
    if where is None:
        return None
    box = data[where] == label
    offset = np.array([s.start for s in where], dtype=float)
    return offset + np.argwhere(box).mean(axis=0)


class _Item(QTableWidgetItem):
    """A cell that sorts by number when its column is numeric."""

    def __init__(self, value):
        text = f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
        super().__init__(text)
        self.number = float(value) if isinstance(value, (int, float, np.number)) else None
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other):
        if self.number is not None and getattr(other, "number", None) is not None:
            return self.number < other.number
        return super().__lt__(other)


class ResultsTableWidget(QWidget):
    """One result layer's table; click a row to go there, export it as CSV.

    Attributes for scripts and tests: ``layer_combo``, ``table`` (QTableWidget),
    ``export_button``, ``columns`` (the shown layer's table), :meth:`go_to` (row
    as shown), :meth:`export_csv`.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.columns: dict = {}
        self._layer = None
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("A layer with a results table (particles, fibres, AFM "
                                    "tiles, or any layer with features)")
        self.table = QTableWidget(0, 0)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setToolTip("Click a column header to sort; click a row to centre the view "
                              "on that object")
        self.count = QLabel("")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Write the table, in the order shown, to a CSV file")
        self.export_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.count, 1)
        row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.layer_combo)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)

        self.layer_combo.currentTextChanged.connect(self._pick)
        self.table.cellClicked.connect(lambda r, _c: self.go_to(r))
        self.export_button.clicked.connect(self._export_dialog)
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed):
            ev.connect(self.refresh)
        self.refresh()

    # -- layers --------------------------------------------------------------------------
    def refresh(self, event=None) -> None:
        """List the layers that carry a table; keep the choice when it is still there."""
        names = [layer.name for layer in self.viewer.layers if _columns(layer)]
        current = self.layer_combo.currentText()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        self.layer_combo.blockSignals(False)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self._pick(self.layer_combo.currentText())

    def _pick(self, name: str) -> None:
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        if self._layer is not None and self._layer is not layer:
            self._layer.events.data.disconnect(self._reload)
        if layer is not None and layer is not self._layer:
            layer.events.data.connect(self._reload)
        self._layer = layer
        self._reload()

    def _reload(self, event=None) -> None:
        """Show the current layer's table (again: a re-run refreshes its features)."""
        layer = self._layer
        self.columns = _columns(layer) if layer is not None else {}
        names = list(self.columns)
        n = len(next(iter(self.columns.values()))) if names else 0
        table = self.table
        table.setSortingEnabled(False)
        table.clear()
        table.setColumnCount(len(names))
        table.setRowCount(n)
        table.setHorizontalHeaderLabels(names)
        for c, name in enumerate(names):
            for r, value in enumerate(self.columns[name].tolist()):
                item = _Item(value)
                item.setData(Qt.ItemDataRole.UserRole, r)
                table.setItem(r, c, item)
        table.setSortingEnabled(True)
        self.count.setText(f"{n} rows" if layer is not None else "no result layer yet")
        self.export_button.setEnabled(n > 0)

    def source_row(self, shown_row: int) -> int:
        """The table row (in the layer's order) of the row shown at ``shown_row``."""
        return int(self.table.item(shown_row, 0).data(Qt.ItemDataRole.UserRole))

    # -- actions -------------------------------------------------------------------------
    def go_to(self, shown_row: int) -> np.ndarray | None:
        """Centre the viewer on the object of a shown row; returns its world position."""
        layer = self._layer
        if layer is None or not 0 <= shown_row < self.table.rowCount():
            return None
        row = self.source_row(shown_row)
        centre = object_centre(layer, self.columns, row)
        if centre is None:
            show_info("This row has no object to go to (label 0 or not in the layer).")
            return None
        world = np.asarray(layer.data_to_world(centre), dtype=float)
        viewer = self.viewer
        offset = viewer.dims.ndim - len(world)
        for axis, value in enumerate(world):
            if axis + offset not in viewer.dims.displayed:
                viewer.dims.set_point(axis + offset, value)
        displayed = [d - offset for d in viewer.dims.displayed if d >= offset]
        scene = getattr(viewer, "scene", None)  # napari >= 0.9 moved the camera
        camera = scene.camera if scene is not None else viewer.camera
        camera.center = tuple(world[displayed])
        if layer_kind(layer) == "labels":
            ident = next((c for c in _ID_COLUMNS if c in self.columns), None)
            if ident is not None:
                layer.selected_label = int(self.columns[ident][row])
        return world

    def export_csv(self, path) -> Path | None:
        """Write the table, rows in the order shown, to ``path``."""
        from ...io.tables import write_table

        if not self.columns:
            show_error("No table to export: pick a result layer first.")
            return None
        order = [self.source_row(r) for r in range(self.table.rowCount())]
        path = write_table(path, self.columns, rows=order)
        show_info(f"Table written to {path}")
        return path

    def _export_dialog(self) -> None:
        name = f"{self.layer_combo.currentText() or 'results'}.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Export table", name, "CSV (*.csv)")
        if path:
            self.export_csv(path)
