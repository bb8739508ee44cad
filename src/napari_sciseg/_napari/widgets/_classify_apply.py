"""The "Classify images" widget's model: load, save, and use it on the current image layer
(a tile-wise class map; a heat map of what it looked at)."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QFileDialog

from .._layers import layer_kind, layer_spacing
from .._workers import start_job
from ._classify_show import show_heat, show_tile_map

__all__ = ["ClassifierUse"]


class ClassifierUse:
    """Model methods of the widget: ``viewer``, ``model`` and ``summary`` are the host's."""

    # ------------------------------------------------------------------ model
    def set_model(self, model) -> None:
        self.model = model
        c = model.config
        self.summary.setText(f"{c.representation} classifier: {', '.join(c.class_names)} "
                             f"(pixel {c.target_spacing or 'as is'} nm, tile {c.tile})")

    def _load(self) -> None:
        from ...dl.classify.io import load_classifier

        path, _ = QFileDialog.getOpenFileName(self, "Classifier", "", "Models (*.sciseg)")
        if path:
            self.set_model(load_classifier(path))

    def _save(self) -> None:
        from ...dl.classify.io import save_classifier

        if self.model is None:
            show_error("Train or load a classifier first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save classifier", "", "Models (*.sciseg)")
        if path:
            save_classifier(self.model, path)

    def _current(self):
        if self.model is None:
            raise ValueError("Train or load a classifier first.")
        layer = self.viewer.layers.selection.active
        if layer is None or layer_kind(layer) != "image":  # else the top input image
            images = [lay for lay in self.viewer.layers
                      if layer_kind(lay) == "image" and "explains" not in lay.metadata]
            if not images:
                raise ValueError("Select the image layer to classify.")
            layer = images[-1]
        spacing = layer_spacing(layer, 2)[-1] if layer.scale[-1] != 1 else None
        return layer, np.asarray(layer.data, np.float32), spacing

    def _on_current(self, compute):
        """``(layer, compute(model, data, spacing=...))`` for the current image layer, or
        ``(None, None)`` after showing why it cannot run."""
        try:
            layer, data, spacing = self._current()
            return layer, compute(self.model, data, spacing=spacing)
        except ValueError as exc:
            show_error(str(exc))
            return None, None

    def classify_layer(self):
        """Classify the selected image layer tile by tile; adds the class map overlay."""
        from ...dl.classify.workflow import predict_tiles

        layer, result = self._on_current(predict_tiles)
        if result is None:
            return None
        grid, step = result
        mean = grid.reshape(-1, grid.shape[-1]).mean(0)
        self.summary.setText(f"{layer.name}: {self.model.class_names[int(mean.argmax())]} "
                             f"({mean.max():.2f}, mean over {grid.shape[0] * grid.shape[1]} "
                             "tiles)")
        return show_tile_map(self.viewer, layer, grid, step, self.model.class_names)

    def explain_layer(self):
        """Add a heat map of what the classifier looked at in the selected layer."""
        from ...dl.classify.explain import explain_image

        layer, result = self._on_current(explain_image)
        if result is None:
            return None
        heat, k = result
        method = "Grad-CAM" if self.model.net is not None else "occlusion"
        return show_heat(self.viewer, layer, heat, self.model.class_names[k], method)

    # ------------------------------------------------------------------ folders
    def _choose_predict(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of images to classify")
        if path:
            self.predict_folder(path)

    def predict_folder(self, path):
        """Classify the images of ``path`` in a worker; ``predictions.csv`` is written there."""
        from ...dl.classify.workflow import predict_dataset

        if self.model is None:
            show_error("Train or load a classifier first.")
            return None
        model = self.model
        self._running(True)
        self.worker = start_job(lambda: _paired(predict_dataset(model, path)),
                                desc="Classify images: predict", on_yield=self._progress,
                                on_return=lambda res: self._predicted(path, res),
                                on_finish=lambda: self._running(False))
        return self.worker

    def _predicted(self, path, result) -> None:
        from ._classify_show import write_predictions

        if result is None:
            return
        self.predictions = result[0]
        out = write_predictions(path, self.predictions)
        counts = np.bincount(self.predictions.proba.argmax(1), minlength=len(
            self.predictions.class_names))
        self.summary.setText(f"{len(self.predictions.files)} images: " + ", ".join(
            f"{n} {c}" for n, c in zip(self.predictions.class_names, counts))
            + f"<br>wrote {out}")


def _paired(gen):
    """A prediction job that returns (result, None) like the data-set jobs."""
    return ((yield from gen), None)
