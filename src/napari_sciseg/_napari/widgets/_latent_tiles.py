"""The "Latent space" widget's tiles on the image: drawing them, picking them (plot
selection or a click on the image), and writing them as scribbles of a class."""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_info, show_warning

from .._layers import add_or_update, output_kwargs

__all__ = ["LatentTiles"]


class LatentTiles:
    """Tile methods of the widget: ``viewer``, ``embedding``, ``source``, ``selected``,
    ``scatter``, ``cluster_pick``, ``class_pick`` and ``scribbles_combo`` are the host's."""

    # -- tiles on the image -----------------------------------------------------
    def _tile_image(self, values) -> np.ndarray:
        from ...classify.latent import tile_label_image

        emb = self.embedding
        return tile_label_image(np.shape(self.source.data), emb.origins, emb.tile_shape,
                                values)

    def _draw_tiles(self) -> None:
        """A Labels layer of the tiles: cluster colours, selected tiles outlined."""
        emb = self.embedding
        clusters = emb.clusters if emb.clusters is not None else np.ones(len(emb.vectors))
        kw = output_kwargs(self.source, f"{self.source.name} latent tiles", opacity=0.35)
        self.tiles_layer = add_or_update(self.viewer, self._tile_image(clusters), "labels", kw)
        selected = np.where(self.selected, 1, 0)
        kw = output_kwargs(self.source, f"{self.source.name} selected tiles", opacity=1.0)
        self.selection_layer = add_or_update(self.viewer, self._tile_image(selected),
                                             "labels", kw)
        self.selection_layer.contour = 2
        self.selection_layer.colormap = DirectLabelColormap(  # unlike any class colour
            color_dict={None: "transparent", 0: "transparent", 1: "yellow"})
        self.viewer.layers.selection.active = self.source

    def _points_selected(self, indices: np.ndarray) -> None:
        if self.embedding is None:
            return
        self.selected = np.zeros(len(self.embedding.vectors), bool)
        self.selected[indices] = True
        self.scatter.set_selected(self.selected)
        self._draw_tiles()

    def tile_at(self, position) -> int | None:
        """Index of the tile under a data position of the image (None if none)."""
        emb = self.embedding
        if emb is None:
            return None
        pos = np.asarray(position, float)[-emb.origins.shape[1]:]
        inside = np.all((emb.origins <= pos) & (pos < emb.origins + emb.tile_shape), axis=1)
        hits = np.flatnonzero(inside)
        return int(hits[-1]) if hits.size else None

    def select_at(self, position) -> int | None:
        """Select the tile under ``position`` (image data coordinates) and its point."""
        index = self.tile_at(position)
        if index is not None:
            self._points_selected(np.array([index]))
        return index

    def _on_click(self, viewer, event) -> None:
        if self.embedding is None or self.source not in viewer.layers:
            return
        if viewer.layers.selection.active is not self.source:
            return
        self.select_at(self.source.world_to_data(event.position))

    # -- scribbles ---------------------------------------------------------------
    def cluster_to_scribbles(self, cluster: int | None = None,
                             class_id: int | None = None) -> int:
        """Write the tiles of a cluster as scribbles of a class; return the tiles written."""
        emb = self.embedding
        if emb is None or emb.clusters is None:
            show_warning("Embed with clustering first ('clustering' not 'none').")
            return 0
        cluster = self.cluster_pick.value() if cluster is None else cluster
        return self._write(np.flatnonzero(emb.clusters == cluster), class_id,
                           f"cluster {cluster}")

    def selection_to_scribbles(self, class_id: int | None = None) -> int:
        """Write the selected tiles as scribbles of a class; return the tiles written."""
        if self.embedding is None or not self.selected.any():
            show_warning("Select points in the plot (lasso or rectangle) first.")
            return 0
        return self._write(np.flatnonzero(self.selected), class_id, "the selection")

    def _write(self, indices: np.ndarray, class_id: int | None, what: str) -> int:
        """Label the tiles' pixels that are still unlabeled (existing scribbles are kept)."""
        class_id = self.class_pick.value() if class_id is None else int(class_id)
        if indices.size == 0:
            show_warning(f"{what} has no tiles.")
            return 0
        layer = self.scribbles_combo.value
        if layer is None or np.shape(layer.data) != np.shape(self.source.data):
            kw = output_kwargs(self.source, f"{self.source.name} scribbles")
            layer = self.viewer.add_labels(np.zeros(np.shape(self.source.data), np.uint8),
                                           **kw)
            self.scribbles_combo.value = layer
        mask = np.zeros(len(self.embedding.vectors), int)
        mask[indices] = 1
        tiles = self._tile_image(mask).astype(bool)
        data = np.asarray(layer.data)
        data[tiles & (data == 0)] = class_id
        layer.data = data
        show_info(f"{indices.size} tiles of {what} written as class {class_id} into "
                  f"'{layer.name}'.")
        return int(indices.size)
