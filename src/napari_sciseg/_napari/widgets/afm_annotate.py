"""The "AFM crystal counts" dock widget: click crystals of two kinds, get the class, build a CSV.

A Points layer with a ``kind`` feature (spherulite or lamellar) holds one point
per crystal; the counts S and L give the spherulite fraction and the class
(:func:`napari_sciseg.classify.afm.dataset.class_from_counts`), and "Add to
data set" appends a row (file, sample, spherulite_count, lamellar_count) to a
training CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...classify.afm.dataset import class_from_counts
from .._layer_combo import LayerCombo
from .._layers import output_kwargs

__all__ = ["CrystalCountWidget", "KINDS"]

KINDS = ("spherulite", "lamellar")
_COLORS = {"spherulite": "#4fc3f7", "lamellar": "#ff7043"}
#: marker diameter in screen pixels, whatever the zoom and the scan's pixel size: a
#: marker in data units (a 12 px disc on a 19.5 nm/px scan) hid the crystals it counted
MARKER_PX = 9
CSV_FIELDS = ("file", "sample", "spherulite_count", "lamellar_count")


class CrystalCountWidget(QWidget):
    """Count crystals by clicking; the counts give the class.

    Attributes for tests: ``image_combo``, ``kind_combo``, ``new_button``,
    ``counts_label``, ``sample_edit``, ``csv_edit``, ``add_button``, ``points``
    (the current Points layer). :meth:`counts` returns (S, L).
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.points = None
        form = QFormLayout()
        self.image_combo = LayerCombo(napari_viewer, "image")
        form.addRow("scan layer", self.image_combo)
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(KINDS)
        self.kind_combo.currentTextChanged.connect(self._set_kind)
        form.addRow("next crystal", self.kind_combo)
        self.sample_edit = QLineEdit()
        form.addRow("sample", self.sample_edit)
        self.csv_edit = QLineEdit()
        self.csv_edit.setPlaceholderText("dataset.csv")
        form.addRow("training CSV", self.csv_edit)
        self.new_button = QPushButton("New crystal points layer")
        self.new_button.clicked.connect(self.new_layer)
        self.counts_label = QLabel("S = 0, L = 0")
        self.legend = QLabel("  ".join(
            f'<span style="color:{_COLORS[k]}">&#9679;</span>&nbsp;{k}' for k in KINDS))
        self.legend.setToolTip("Marker colours of the two crystal kinds")
        self.add_button = QPushButton("Add to data set")
        self.add_button.clicked.connect(self.add_to_csv)
        browse = QPushButton("Choose CSV…")
        self.image_combo.setToolTip("The scan to count crystals on")
        self.kind_combo.setToolTip("The kind the next clicked point gets")
        self.sample_edit.setToolTip("Sample (film) name: scans of one sample stay together "
                                    "when the data set is split for testing")
        self.csv_edit.setToolTip("The training CSV rows are appended to (AFM crystal classes "
                                 "> Train reads it)")
        self.new_button.setToolTip("Add a Points layer on the scan and start clicking crystals")
        self.add_button.setToolTip("Append this scan's counts (file, sample, S, L) to the CSV")
        browse.setToolTip("Choose where the training CSV is")
        browse.clicked.connect(self._browse)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for w in (browse, self.new_button, self.legend, self.counts_label, self.add_button):
            layout.addWidget(w)
        layout.addStretch(1)

    def new_layer(self):
        """Add (or reuse) the crystal Points layer aligned with the chosen scan layer."""
        name = self.image_combo.currentText()
        if not name:
            raise ValueError("Open a scan first: no image layer to annotate.")
        source = self.viewer.layers[name]
        layer_name = f"{name} crystals"
        if layer_name in self.viewer.layers:
            self.points = self.viewer.layers[layer_name]
        else:
            kwargs = output_kwargs(source, layer_name, ndim=2)
            self.points = self.viewer.add_points(
                np.zeros((0, 2)),
                **kwargs,
                size=MARKER_PX,
                features={"kind": np.array([], dtype=object)},
                border_color="white",
                border_width=0.15,
                canvas_size_limits=(MARKER_PX, MARKER_PX),  # constant on screen
            )
            self.points.feature_defaults = {"kind": self.kind_combo.currentText()}
            self.points.events.data.connect(self._update_counts)
        self.points.mode = "add"
        self._update_counts()
        return self.points

    def _set_kind(self, kind: str) -> None:
        if self.points is not None:
            self.points.feature_defaults = {"kind": kind}
            self.points.selected_data = set()

    def counts(self) -> tuple[int, int]:
        """(spherulites, lamellae) in the current Points layer."""
        if self.points is None or len(self.points.data) == 0:
            return 0, 0
        kinds = np.asarray(self.points.features["kind"], dtype=object)
        return int((kinds == "spherulite").sum()), int((kinds == "lamellar").sum())

    def _update_counts(self, event=None) -> None:
        if self.points is not None and len(self.points.data):
            kinds = np.asarray(self.points.features["kind"], dtype=object)
            self.points.face_color = [_COLORS.get(k, "#ffffff") for k in kinds]
        s, n_l = self.counts()
        text = f"S = {s}, L = {n_l}"
        if s + n_l:
            text += f", f = {s / (s + n_l):.2f} -> {class_from_counts(s, n_l)}"
        self.counts_label.setText(text)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Training CSV", "", "CSV (*.csv)")
        if path:
            self.csv_edit.setText(path)

    def add_to_csv(self) -> Path:
        """Append (file, sample, S, L) of the annotated scan to the training CSV."""
        path = Path(self.csv_edit.text() or "dataset.csv")
        s, n_l = self.counts()
        if s + n_l == 0:
            raise ValueError("No crystals marked yet; add points of both kinds first.")
        source = self.viewer.layers[self.image_combo.currentText()]
        file = getattr(source.source, "path", None) or source.metadata.get("file") or source.name
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(
                {
                    "file": str(file),
                    "sample": self.sample_edit.text() or "unknown",
                    "spherulite_count": s,
                    "lamellar_count": n_l,
                }
            )
        self.counts_label.setText(self.counts_label.text() + f" (added to {path.name})")
        return path
