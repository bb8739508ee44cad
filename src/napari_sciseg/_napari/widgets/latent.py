"""The "Latent space" dock: tiles of an image in an autoencoder's latent space.

Thin translator over :func:`napari_sciseg.dl.embedding.iter_embed_tiles` (the
function behind ``sciseg embed``), run in a worker with progress and Cancel. The
tiles appear as points of a scatter plot (UMAP, coloured by cluster); brushing
points (lasso or rectangle) outlines their tiles on the image, clicking the image
marks the point of the tile under the mouse, and a cluster (or the selection) can
be written as scribbles of a class into a Labels layer.
"""

from __future__ import annotations

import threading

import numpy as np
from napari.utils.notifications import show_warning
from qtpy import QtWidgets as Qw

from .._layer_combo import LayerCombo
from .._workers import job_kwargs_or_none, start_job
from ._latent_plot import LatentScatter
from ._latent_tiles import LatentTiles

__all__ = ["LatentSpaceWidget"]


def _spin(low: int, high: int, value: int) -> Qw.QSpinBox:
    return Qw.QSpinBox(minimum=low, maximum=high, value=value)


class LatentSpaceWidget(LatentTiles, Qw.QWidget):
    """Train (or load) an autoencoder on an image's tiles and explore its latent space.

    Attributes for scripts and tests: ``image_combo``, ``tile``, ``latent``, ``depth``,
    ``base_channels``, ``kernel``, ``steps``, ``cluster_method``, ``n_clusters``,
    ``run_button``, ``cancel_button``, ``load_button``, ``status``, ``scatter``
    (:class:`LatentScatter`), ``brush`` (lasso / rectangle), ``cluster_pick``,
    ``class_pick``, ``scribbles_combo``, ``to_scribbles_button``; ``model`` (a loaded
    or the last trained autoencoder), ``embedding`` (the last result), ``selected``
    (bool per tile), ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None
        self.embedding = None
        self.source = None  # the image layer of the last embedding
        self.selected = np.zeros(0, bool)
        self.worker = None
        self._cancel = threading.Event()
        self._build_fields()
        self.scatter = LatentScatter(self._points_selected)
        self._build_layout()
        napari_viewer.mouse_drag_callbacks.append(self._on_click)

    # -- layout ---------------------------------------------------------------
    def _build_fields(self) -> None:
        self.image_combo = LayerCombo(self.viewer, "image")
        self.tile = _spin(8, 1024, 64)
        self.latent = _spin(1, 4096, 16)
        self.depth = _spin(1, 8, 4)
        self.base_channels = _spin(1, 256, 16)
        self.kernel = Qw.QComboBox()
        self.kernel.addItems(["3", "5", "7"])
        self.steps = _spin(1, 100_000, 500)
        self.cluster_method = Qw.QComboBox()
        self.cluster_method.addItems(["kmeans", "hdbscan", "none"])
        self.n_clusters = _spin(1, 50, 4)
        self.run_button = Qw.QPushButton("Train && embed")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = Qw.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button = Qw.QPushButton("Load autoencoder...")
        self.load_button.clicked.connect(self._load_dialog)
        self.status = Qw.QLabel("pick an image, then Train & embed")
        self.status.setWordWrap(True)
        self.brush = Qw.QComboBox()
        self.brush.addItems(["lasso", "rectangle"])
        self.brush.currentTextChanged.connect(lambda m: self.scatter.set_mode(m))
        self.cluster_pick = _spin(0, 50, 1)
        self.class_pick = _spin(1, 255, 1)
        self.scribbles_combo = LayerCombo(self.viewer, "labels",
                                          exclude_suffixes=(" latent tiles", " selected tiles"))
        self.to_scribbles_button = Qw.QPushButton("Cluster -> scribbles")
        self.to_scribbles_button.clicked.connect(lambda: self.cluster_to_scribbles())
        self.selection_button = Qw.QPushButton("Selection -> scribbles")
        self.selection_button.clicked.connect(lambda: self.selection_to_scribbles())

    def _build_layout(self) -> None:
        form = Qw.QFormLayout()
        for label, w in (("image", self.image_combo), ("tile (px)", self.tile),
                         ("latent size", self.latent), ("depth", self.depth),
                         ("base channels", self.base_channels), ("kernel", self.kernel),
                         ("steps", self.steps), ("clustering", self.cluster_method),
                         ("clusters (k-means)", self.n_clusters)):
            form.addRow(label, w)
        buttons = Qw.QHBoxLayout()
        for b in (self.run_button, self.cancel_button, self.load_button):
            buttons.addWidget(b)
        labels = Qw.QFormLayout()
        labels.addRow("brush", self.brush)
        labels.addRow("cluster", self.cluster_pick)
        labels.addRow("as class", self.class_pick)
        labels.addRow("scribbles", self.scribbles_combo)
        write = Qw.QHBoxLayout()
        write.addWidget(self.to_scribbles_button)
        write.addWidget(self.selection_button)
        layout = Qw.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.scatter)
        layout.addLayout(labels)
        layout.addLayout(write)
        layout.addStretch()

    # -- model ----------------------------------------------------------------
    def _load_dialog(self) -> None:
        path, _ = Qw.QFileDialog.getOpenFileName(self, "Load autoencoder", "",
                                                 "napari-sciseg models (*.sciseg)")
        if path:
            self.load(path)

    def load(self, path) -> None:
        """Use the autoencoder in ``path`` (a segmentation model is refused, with a warning)."""
        from ...dl.autoencoder import load_autoencoder

        try:
            self.model = load_autoencoder(path)
        except (ValueError, OSError) as err:
            self.status.setText(str(err))
            show_warning(str(err))
            return
        self.tile.setValue(int(self.model.tile_shape[-1]))
        self.run_button.setText("Embed")
        self.status.setText(f"loaded an autoencoder: tiles {self.model.tile_shape}, latent "
                            f"size {self.model.latent_size}")

    # -- run ------------------------------------------------------------------
    def job_kwargs(self) -> dict:
        """Arguments of ``iter_embed_tiles`` from the fields (ValueError if unusable)."""
        layer = self.image_combo.value
        if layer is None:
            raise ValueError("Pick an image layer in 'image' (open one or add a sample).")
        if layer.rgb or np.ndim(layer.data) not in (2, 3):
            raise ValueError(f"'{layer.name}' must be a single-channel 2D image or 3D volume.")
        ndim = np.ndim(layer.data)
        kw = {"ndim": ndim, "cluster": self.cluster_method.currentText(),
              "n_clusters": self.n_clusters.value(), "model": self.model}
        if self.model is None:
            kw["tile"] = (self.tile.value(),) * ndim
            kw["train_kwargs"] = {"latent_size": self.latent.value(),
                                  "depth": self.depth.value(),
                                  "base_channels": self.base_channels.value(),
                                  "kernel_size": int(self.kernel.currentText()),
                                  "steps": self.steps.value()}
        elif len(self.model.tile_shape) != ndim:
            raise ValueError(f"the loaded autoencoder takes {len(self.model.tile_shape)}D "
                             f"tiles; '{layer.name}' is {ndim}D.")
        return kw

    def run(self) -> None:
        """Train (unless a model is loaded) and embed the image's tiles in a worker."""
        from ...dl.embedding import iter_embed_tiles

        kw = job_kwargs_or_none(self, self.status)
        if kw is None:
            return
        layer = self.image_combo.value
        image = np.asarray(layer.data, np.float32)
        self._cancel = cancel = threading.Event()
        self._pending_source = layer
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("training ..." if self.model is None else "embedding ...")
        self.worker = start_job(lambda: iter_embed_tiles(image, cancel=cancel, **kw),
                                desc="Latent space", on_yield=self._progress,
                                on_return=self._show, on_finish=self._finished)

    def cancel(self) -> None:
        """Stop training at the next step; nothing is shown."""
        self._cancel.set()
        self.status.setText("cancelled")

    def _progress(self, record) -> None:
        self.status.setText(record.message)

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _show(self, embedding) -> None:
        if embedding is None or self._cancel.is_set():
            self.status.setText("cancelled")
            return
        self.embedding, self.source = embedding, self._pending_source
        self.model = embedding.model
        self.run_button.setText("Embed")
        if embedding.umap is not None:
            xy, names = embedding.umap, ("UMAP 1", "UMAP 2")
        else:
            xy, names = embedding.vectors[:, :2], ("latent 0", "latent 1")
        self.selected = np.zeros(len(xy), bool)
        self.scatter.set_points(xy, embedding.clusters, names)
        self._draw_tiles()
        self.status.setText("; ".join(embedding.notes) or f"{len(xy)} tiles")
