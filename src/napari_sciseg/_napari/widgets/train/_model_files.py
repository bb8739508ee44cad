"""The "Train & predict" widget's model files: save the ensemble, load any model kind."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog

__all__ = ["ModelFiles"]


class ModelFiles:
    """Save and load for the widget: ``model``, ``model_path``, ``set_model``, ``instant``,
    ``scribbles`` and ``run`` are the host widget's."""

    def save_model(self, path) -> Path | None:
        """Write the current model to ``path`` (a ``.sciseg`` file)."""
        from napari_sciseg.dl import save_model

        if self.model is None:
            show_error("No model to save: train one first.")
            return None
        path = Path(path)
        if path.suffix != ".sciseg":
            path = path.with_suffix(".sciseg")
        save_model(self.model, path)
        self.model_path = str(path)
        show_info(f"Model saved to {path}")
        return path

    def load_model(self, path):
        """Load a model (``.sciseg``, ``.onnx`` or a bioimage.io package) for prediction.

        Its class names and colours go onto the scribbles.
        """
        from napari_sciseg.dl.export import load_any_model

        try:
            trained = load_any_model(path)
        except (OSError, ValueError, ImportError) as exc:
            show_error(f"Could not load model {path}: {exc}")
            return None
        if trained.config.arch == "forest":  # a fast model: it goes to instant mode
            self.instant.set_model(trained, path)
            if trained.config.class_names:
                self.scribbles.set_classes(trained.config.class_names,
                                           trained.config.class_colors or None)
            return trained
        self.set_model(trained)
        self.model_path = str(path)
        cfg = trained.config
        if cfg.class_names:
            self.scribbles.set_classes(cfg.class_names, cfg.class_colors)
        self.run.status.setText(f"loaded {Path(path).name}: {cfg.arch}, "
                                f"{len(cfg.member_configs)} member(s), {cfg.n_classes} classes")
        return trained

    def _save_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save model", "model.sciseg",
                                              "sciseg model (*.sciseg)")
        if path:
            self.save_model(path)

    def _load_dialog(self):
        path, _ = QFileDialog.getOpenFileName(
            self, "Load model", "",
            "models (*.sciseg *.onnx *.zip *.yaml);;sciseg model (*.sciseg);;ONNX (*.onnx);;"
            "bioimage.io package (*.zip rdf.yaml bioimageio.yaml)")
        if path:
            self.load_model(path)
