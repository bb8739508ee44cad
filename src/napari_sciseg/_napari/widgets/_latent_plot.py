"""The scatter canvas of the latent-space viewer: points of tiles, lasso/rectangle brushing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath
from matplotlib.widgets import LassoSelector, RectangleSelector

__all__ = ["LatentScatter"]


class LatentScatter(FigureCanvasQTAgg):
    """2-D points (UMAP or two latent values), coloured by cluster, with brushing.

    ``on_select(indices)`` is called with the indices of the points inside a lasso
    or rectangle drawn on the plot (``mode``: "lasso" or "rectangle").
    ``select_in_box`` / ``select_in_polygon`` do the same from code (tests, scripts).
    """

    def __init__(self, on_select: Callable[[np.ndarray], None]):
        self.figure = Figure(figsize=(3.4, 3.0), layout="constrained")
        super().__init__(self.figure)
        self.setMinimumHeight(240)
        self.ax = self.figure.add_subplot()
        self.ax.set_axis_off()
        self.xy = np.zeros((0, 2))
        self.clusters = None
        self.selected = np.zeros(0, bool)
        self.axis_names = ("UMAP 1", "UMAP 2")
        self._on_select = on_select
        self._selector = None
        self.mode = "lasso"

    def set_points(self, xy: np.ndarray, clusters, axis_names=("UMAP 1", "UMAP 2")) -> None:
        self.xy = np.asarray(xy, float)
        self.clusters = clusters
        self.axis_names = axis_names
        self.selected = np.zeros(len(self.xy), bool)
        self.set_mode(self.mode)
        self.redraw()

    def set_selected(self, selected: np.ndarray) -> None:
        self.selected = np.asarray(selected, bool)
        self.redraw()

    def redraw(self) -> None:
        from ...plot.latent import draw_embedding

        self.ax.set_axis_on()
        n = int(self.selected.sum())
        title = f"{len(self.xy)} tiles" + (f", {n} selected" if n else "")
        draw_embedding(self.ax, self.xy, clusters=self.clusters, selected=self.selected,
                       title=title, axis_names=self.axis_names)
        self.draw_idle()

    def set_mode(self, mode: str) -> None:
        """Brush with a "lasso" or a "rectangle"."""
        if mode not in ("lasso", "rectangle"):
            raise ValueError(f"mode must be 'lasso' or 'rectangle'; got {mode!r}.")
        self.mode = mode
        if self._selector is not None:
            self._selector.set_active(False)
            self._selector.disconnect_events()
        if mode == "lasso":
            self._selector = LassoSelector(self.ax, self.select_in_polygon)
        else:
            self._selector = RectangleSelector(self.ax, self._rectangle, interactive=False)

    def _rectangle(self, press, release) -> None:
        self.select_in_box((press.xdata, press.ydata), (release.xdata, release.ydata))

    def select_in_box(self, corner_a, corner_b) -> np.ndarray:
        """Select the points inside the box with these two corners (data units)."""
        (x0, x1), (y0, y1) = sorted((corner_a[0], corner_b[0])), sorted((corner_a[1],
                                                                         corner_b[1]))
        inside = ((self.xy[:, 0] >= x0) & (self.xy[:, 0] <= x1)
                  & (self.xy[:, 1] >= y0) & (self.xy[:, 1] <= y1))
        return self._select(np.flatnonzero(inside))

    def select_in_polygon(self, vertices) -> np.ndarray:
        """Select the points inside a polygon (list of (x, y), data units)."""
        if len(vertices) < 3 or len(self.xy) == 0:
            return self._select(np.zeros(0, int))
        return self._select(np.flatnonzero(MplPath(vertices).contains_points(self.xy)))

    def _select(self, indices: np.ndarray) -> np.ndarray:
        self._on_select(indices)
        return indices
