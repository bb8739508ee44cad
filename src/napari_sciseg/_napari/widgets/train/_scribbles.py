"""Annotation panel: pick the image, create a scribbles Labels layer, name and colour classes.

The classes live on the scribbles layer itself (``metadata["sciseg_classes"]`` and its
colormap), so switching layers, saving a project or loading a model keeps them together.
"""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QColorDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..._layer_combo import LayerCombo
from ..._layers import output_kwargs

__all__ = ["ScribblesPanel", "DEFAULT_CLASSES", "PALETTE", "class_colormap", "hex_to_rgb", "to_hex"]

PALETTE = ("#3d85c6", "#e69138", "#6aa84f", "#cc0000", "#8e7cc3", "#f1c232", "#45818e", "#c27ba0")
DEFAULT_CLASSES = (("background", PALETTE[0]), ("foreground", PALETTE[1]))
META_KEY = "sciseg_classes"
OUTPUT_SUFFIXES = (" probability", " std", " segmentation", " suggestions")


def class_colormap(colors) -> DirectLabelColormap:
    """Labels colormap: class ``i + 1`` gets ``colors[i]``, 0 and unknown ids transparent."""
    mapping = {None: "transparent", 0: "transparent"}
    mapping.update({i + 1: c for i, c in enumerate(colors)})
    return DirectLabelColormap(color_dict=mapping)


class ScribblesPanel(QWidget):
    """Image + scribbles layer choice and the class table (name, colour) of the scribbles."""

    classes_changed = Signal()

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self._viewer = viewer
        self._fallback = list(DEFAULT_CLASSES)
        self.image_combo = LayerCombo(viewer, "image", exclude_suffixes=OUTPUT_SUFFIXES)
        self.scribbles_combo = LayerCombo(viewer, "labels", exclude_suffixes=OUTPUT_SUFFIXES)
        self.new_button = QPushButton("New scribbles")
        self.new_button.setToolTip("Add an empty Labels layer on the image, ready to paint")
        self.class_table = QTableWidget(0, 2)
        self.class_table.setHorizontalHeaderLabels(["class", "colour"])
        self.class_table.horizontalHeader().setStretchLastSection(True)
        self.class_table.setMaximumHeight(130)
        self.add_button = QPushButton("Add class")
        self.remove_button = QPushButton("Remove class")
        self.image_combo.setToolTip("The image to segment (gray, or RGB with 'RGB as channels')")
        self.scribbles_combo.setToolTip("The Labels layer with your strokes: 1 = first class "
                                        "of the table, 2 = second, ...; 0 = not annotated")
        self.class_table.setToolTip("Classes of the scribbles: click a row to paint that "
                                    "class, double-click a name to rename, click a colour to "
                                    "change it")
        self.add_button.setToolTip("Add a class (its strokes get the next label value)")
        self.remove_button.setToolTip("Remove the selected class: its strokes are erased and "
                                      "higher classes move down by one")

        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("scribbles", self.scribbles_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.new_button)
        layout.addWidget(self.class_table)
        layout.addLayout(buttons)

        self.new_button.clicked.connect(self.new_scribbles)
        self.add_button.clicked.connect(lambda: self.add_class())
        self.remove_button.clicked.connect(lambda: self.remove_class(self.class_table.currentRow()))
        self.scribbles_combo.currentIndexChanged.connect(self._adopt)
        self.class_table.itemChanged.connect(self._name_edited)
        self.class_table.cellClicked.connect(self._cell_clicked)
        self._adopt()

    # -- state -----------------------------------------------------------------------------
    @property
    def image(self):
        return self.image_combo.value

    @property
    def scribbles(self):
        return self.scribbles_combo.value

    def class_names(self) -> list[str]:
        return [n for n, _ in self._classes()]

    def class_colors(self) -> list[str]:
        return [c for _, c in self._classes()]

    def _classes(self) -> list[tuple[str, str]]:
        layer = self.scribbles
        if layer is not None and META_KEY in layer.metadata:
            meta = layer.metadata[META_KEY]
            return list(zip(meta["names"], meta["colors"]))
        named = layer.metadata.get("class_names") if layer is not None else None
        if isinstance(named, dict) and len([k for k in named if int(k) > 0]) >= 2:
            ids = sorted(int(k) for k in named if int(k) > 0)  # e.g. the sample data's layers
            by_id = {int(k): str(v) for k, v in named.items()}
            return [(by_id.get(i, f"class {i}"), PALETTE[(i - 1) % len(PALETTE)])
                    for i in range(1, ids[-1] + 1)]
        return list(self._fallback)

    def set_classes(self, names, colors=None) -> None:
        """Store classes on the scribbles layer (colours default to the palette)."""
        names = [str(n) for n in names]
        if colors is None or len(colors) != len(names):
            colors = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
        colors = [to_hex(c, PALETTE[i % len(PALETTE)]) for i, c in enumerate(colors)]
        layer = self.scribbles
        if layer is not None:
            layer.metadata = {**layer.metadata, META_KEY: {"names": names, "colors": colors}}
            layer.colormap = class_colormap(colors)
        else:
            self._fallback = list(zip(names, colors))
        self._load_table()
        self.classes_changed.emit()

    # -- actions ---------------------------------------------------------------------------
    def new_scribbles(self):
        """Add "<image> scribbles": zeros of the image's spatial shape, same calibration."""
        image = self.image
        if image is None:
            return None
        shape = tuple(image.data.shape[:-1] if image.rgb else image.data.shape)
        if image.multiscale:
            shape = tuple(image.data[0].shape[: len(shape)])
        ndim = len(shape)
        names, colors = zip(*self._classes())
        kwargs = output_kwargs(image, f"{image.name} scribbles", ndim=ndim)
        kwargs["metadata"] = {META_KEY: {"names": list(names), "colors": list(colors)}}
        layer = self._viewer.add_labels(np.zeros(shape, dtype=np.uint8), **kwargs)
        layer.colormap = class_colormap(colors)
        layer.brush_size = max(2, min(shape[-2:]) // 50)
        layer.selected_label = 1
        layer.n_edit_dimensions = 2
        layer.mode = "paint"
        self._viewer.layers.selection.active = layer
        self.scribbles_combo.value = layer
        self._load_table()
        return layer

    def add_class(self, name: str | None = None, color: str | None = None) -> None:
        classes = self._classes()
        if len(classes) >= 255:
            return
        name = name or f"class {len(classes) + 1}"
        color = color or PALETTE[len(classes) % len(PALETTE)]
        self.set_classes([n for n, _ in classes] + [name], [c for _, c in classes] + [color])

    def rename_class(self, index: int, name: str) -> None:
        classes = self._classes()
        names = [n for n, _ in classes]
        names[index] = name
        self.set_classes(names, [c for _, c in classes])

    def set_class_color(self, index: int, color: str) -> None:
        classes = self._classes()
        colors = [c for _, c in classes]
        colors[index] = color
        self.set_classes([n for n, _ in classes], colors)

    def remove_class(self, index: int) -> None:
        """Remove class ``index + 1``: its strokes are erased and higher ids move down by one."""
        classes = self._classes()
        if not 0 <= index < len(classes) or len(classes) <= 2:
            return
        layer = self.scribbles
        if layer is not None:
            data = np.asarray(layer.data)
            new = data.copy()
            new[data == index + 1] = 0
            new[data > index + 1] -= 1
            layer.data = new
        del classes[index]
        self.set_classes([n for n, _ in classes], [c for _, c in classes])

    # -- table <-> layer -------------------------------------------------------------------
    def _adopt(self, *_):
        """A picked Labels layer that names its classes (like the samples) gets their colours."""
        layer = self.scribbles
        if layer is not None and META_KEY not in layer.metadata and "class_names" in layer.metadata:
            names, colors = zip(*self._classes())
            self.set_classes(names, colors)
        else:
            self._load_table()

    def _load_table(self, *_):
        table = self.class_table
        table.blockSignals(True)
        table.setRowCount(0)
        for i, (name, color) in enumerate(self._classes()):
            table.insertRow(i)
            table.setItem(i, 0, QTableWidgetItem(name))
            swatch = QTableWidgetItem(color)
            swatch.setBackground(QColor(color))
            swatch.setFlags(swatch.flags() & ~swatch.flags().ItemIsEditable)
            table.setItem(i, 1, swatch)
        table.blockSignals(False)
        self.remove_button.setEnabled(len(self._classes()) > 2)

    def _name_edited(self, item: QTableWidgetItem) -> None:
        if item.column() == 0 and item.text().strip():
            self.rename_class(item.row(), item.text().strip())

    def _cell_clicked(self, row: int, column: int) -> None:
        layer = self.scribbles
        if layer is not None:
            layer.selected_label = row + 1
        if column == 1:
            color = QColorDialog.getColor(QColor(self.class_colors()[row]), self, "Class colour")
            if color.isValid():
                self.set_class_color(row, color.name())


def to_hex(color, default: str = PALETTE[0]) -> str:
    """``"#rrggbb"`` from a colour name/hex string or an RGB(A) sequence in 0..1."""
    if color is None:
        return default
    if not isinstance(color, str) and all(isinstance(c, str) for c in color):
        color = "".join(color)  # a string that went through tuple()
    if isinstance(color, str):
        q = QColor(color)
        return q.name() if q.isValid() else default
    rgb = np.clip(np.asarray(color, dtype=float)[:3], 0, 1)
    return "#" + "".join(f"{int(round(v * 255)):02x}" for v in rgb)


def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """``(r, g, b)`` in 0..1 from ``"#rrggbb"`` (how model files store colours)."""
    q = QColor(color)
    return (q.redF(), q.greenF(), q.blueF())
