"""How the "Size particles" widget presents a sizing result: layers, PSD plot, exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton

from .._layers import add_or_update, output_kwargs

__all__ = ["PsdOutputs", "build_outputs", "result_layers"]


def result_layers(viewer, source, result) -> list:
    """Callables that each add one result layer for image layer ``source``.

    The semantic mask, the isolated particles and the rejected ones (with their
    rows of the particle table as features, so napari shows the reason on hover).
    """
    parts = result.particles
    table = parts.table
    name = source.name

    def features(rows):
        feats = {"index": table["label"][rows]}
        feats.update({k: v[rows] for k, v in table.items() if k not in ("label",)})
        return feats

    def labels(suffix, data, **extra):
        return lambda: add_or_update(viewer, data, "labels",
                                     output_kwargs(source, f"{name} {suffix}", ndim=2, **extra))

    return [
        labels("particle mask", result.mask.astype(np.uint8), opacity=0.3),
        labels("isolated particles", parts.isolated_labels(), features=features(parts.isolated)),
        labels("rejected particles", parts.rejected_labels(),
               features=features(~parts.isolated)),
    ]


def build_outputs(w) -> QHBoxLayout:
    """Give widget ``w`` its PSD ``figure``/``canvas``, ``summary`` and export buttons;
    returns the row of export buttons."""
    w.figure = Figure(figsize=(3.4, 2.4), layout="constrained")
    w.canvas = FigureCanvasQTAgg(w.figure)
    w.canvas.setMinimumHeight(200)
    w.summary = QLabel("")
    w.summary.setWordWrap(True)
    w.csv_button = QPushButton("Export CSV…")
    w.png_button = QPushButton("Export PNG…")
    w.csv_button.clicked.connect(lambda: w.export_csv())
    w.png_button.clicked.connect(lambda: w.export_png())
    exports = QHBoxLayout()
    exports.addWidget(w.csv_button)
    exports.addWidget(w.png_button)
    w._set_exports(False)
    return exports


class PsdOutputs:
    """The plot and exports of the last ``result`` (a SizingResult) of ``_source_name``."""

    def plot(self) -> None:
        """Redraw the histogram and log-normal fit of the last result."""
        from ...plot.particles import draw_psd

        self.figure.clear()
        ax = self.figure.add_subplot()
        if self.result is not None:
            parts = self.result.particles
            draw_psd(ax, parts.diameters, parts.psd, title=self._source_name)
        self.canvas.draw_idle()

    def _set_exports(self, enabled: bool) -> None:
        self.csv_button.setEnabled(enabled)
        self.png_button.setEnabled(enabled)

    def _ask(self, title: str, suffix: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, f"{self._source_name}{suffix}")
        return path

    def export_csv(self, path: str | Path | None = None) -> Path | None:
        """Write one row per particle (isolated and rejected, with reasons) to ``path``."""
        if self.result is None:
            return None
        path = path or self._ask("Export particles CSV", "_particles.csv")
        return self.result.particles.to_csv(path) if path else None

    def export_png(self, path: str | Path | None = None) -> Path | None:
        """Save the PSD figure to ``path``."""
        if self.result is None:
            return None
        path = path or self._ask("Export PSD figure", "_psd.png")
        if not path:
            return None
        self.figure.savefig(path, dpi=150)
        return Path(path)
