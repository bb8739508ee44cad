"""Presentation of the "Classify images" widget: figures and overlay layers.

Translates results of :mod:`napari_sciseg.dl.classify.workflow` into a
confusion-matrix / t-SNE canvas, a tile class map (Labels, one label per tile,
coloured by class, with a features table) and a heat map of what the classifier
looked at (Grad-CAM or occlusion), each copying the source layer's scale.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from napari.utils.colormaps import DirectLabelColormap

from .._layers import add_or_update, output_kwargs

__all__ = ["PALETTE", "ResultCanvas", "show_tile_map", "show_heat", "write_predictions"]

PALETTE = ("#4fc3f7", "#e65100", "#66bb6a", "#ab47bc", "#ffee58", "#8d6e63", "#ec407a",
           "#26a69a", "#9e9e9e", "#5c6bc0")


class ResultCanvas(FigureCanvasQTAgg):
    """A canvas that shows the confusion matrix and the embedding side by side."""

    def __init__(self):
        from matplotlib.figure import Figure

        super().__init__(Figure(figsize=(4.0, 2.2), layout="constrained"))
        self.setMinimumHeight(220)
        self.setToolTip("Cross-validated confusion matrix (rows: true class) and a t-SNE of "
                        "the image representations")

    def show_cv(self, cv) -> None:
        """Draw ``cv`` (a :class:`~napari_sciseg.dl.classify.workflow.CrossValidation`)."""
        from napari_sciseg.plot.classify import embed_2d

        fig = self.figure
        fig.clear()
        ax1, ax2 = fig.subplots(1, 2)
        rows = cv.report.confusion / np.maximum(cv.report.confusion.sum(1, keepdims=True), 1)
        ax1.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        k = len(cv.class_names)
        for i in range(k):
            for j in range(k):
                ax1.text(j, i, str(int(cv.report.confusion[i, j])), ha="center", va="center",
                         fontsize=7)
        ax1.set_xticks(range(k), cv.class_names, rotation=60, fontsize=6)
        ax1.set_yticks(range(k), cv.class_names, fontsize=6)
        ax1.set_title("confusion", fontsize=8)
        if cv.embedding is not None:
            pts = embed_2d(cv.embedding)
            for c in range(k):
                m = cv.labels == c
                ax2.scatter(pts[m, 0], pts[m, 1], s=6, color=PALETTE[c % len(PALETTE)],
                            label=cv.class_names[c])
            ax2.legend(fontsize=5, frameon=False)
        ax2.set_xticks([])
        ax2.set_yticks([])
        ax2.set_title("t-SNE", fontsize=8)
        self.draw_idle()


def show_tile_map(viewer, source, grid, step: float, class_names) -> object:
    """Add the tile class map of ``source`` (Labels; label i + 1 = tile i)."""
    shape = np.shape(source.data)[-2:]
    labels = np.zeros(shape, np.int32)
    ny, nx, _ = grid.shape
    size = int(round(step))
    ys = [min(int(round(i * step)), shape[0] - size) for i in range(ny)]
    xs = [min(int(round(j * step)), shape[1] - size) for j in range(nx)]
    flat = grid.reshape(ny * nx, -1)
    # each pixel belongs to the tile whose centre is nearest (the last tiles overlap)
    row = np.abs(np.arange(shape[0])[:, None] - (np.array(ys) + size / 2)[None]).argmin(1)
    col = np.abs(np.arange(shape[1])[:, None] - (np.array(xs) + size / 2)[None]).argmin(1)
    labels[:] = row[:, None] * nx + col[None, :] + 1
    cls = flat.argmax(1)
    colors = {None: "transparent", 0: "transparent"}
    colors.update({t + 1: PALETTE[c % len(PALETTE)] for t, c in enumerate(cls)})
    features = {"index": np.arange(len(cls) + 1),
                "class": ["none"] + [class_names[c] for c in cls]}
    for k, name in enumerate(class_names):
        features[f"p_{name}"] = np.r_[np.nan, flat[:, k]]
    return add_or_update(viewer, labels, "labels", output_kwargs(
        source, f"{source.name} tile classes", opacity=0.45, features=features,
        colormap=DirectLabelColormap(color_dict=colors)))


def show_heat(viewer, source, heat: np.ndarray, class_name: str, method: str) -> object:
    """Add the explanation map of ``source`` (an additive 'inferno' image)."""
    return add_or_update(viewer, heat, "image", output_kwargs(
        source, f"{source.name} {method} ({class_name})", colormap="inferno",
        blending="additive", opacity=0.6, contrast_limits=(0.0, max(float(heat.max()), 1e-6)),
        metadata={"explains": class_name, "method": method}))


def write_predictions(folder, prediction):
    """Write ``predictions.csv`` (file, class, p_<class>...) into ``folder`` atomically."""
    import csv
    from pathlib import Path

    from napari_sciseg.io.outputs import atomic_open

    folder = Path(folder)
    out = (folder.parent if folder.is_file() else folder) / "predictions.csv"
    rows = prediction.rows()
    with atomic_open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out
