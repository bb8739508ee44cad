"""Prediction panel: visible slice / whole image / another layer, and where to annotate next."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..._layer_combo import LayerCombo
from ..._layers import add_or_update, output_kwargs
from ..._workers import start_job
from ._checks import image_problem, is_rgb, model_problem, spatial_shape
from ._outputs import Region, visible_region, write_prediction
from ._scribbles import OUTPUT_SUFFIXES

__all__ = ["PredictionPanel", "TARGETS"]

TARGETS = ("visible slice", "whole image", "another layer")


def prediction_job(trained, image_data, region: Region, *, channel_axis, k, device):
    """Generator run in the worker: predict ``region`` of ``image_data``.

    For a slice (``region.axis`` set) the returned Prediction holds that slice only
    (:func:`napari_sciseg.dl.iter_predict_region`: 2D models see the visible plane,
    3D models a slab of +- their receptive field around it).
    """
    from napari_sciseg.dl import iter_predict, iter_predict_region

    cfg = trained.config
    n_spatial = image_data.ndim - (channel_axis is not None)
    slice_axis = None
    if cfg.model_ndim == 2 and n_spatial == 3:
        # a slice: the plane the user looks at; the whole volume: the model's own axis
        slice_axis = cfg.slice_axis if region.axis is None else region.axis
    if region.axis is None:
        return (yield from iter_predict(trained, image_data, k=k, channel_axis=channel_axis,
                                        slice_axis=slice_axis, device=device))
    where = [slice(None)] * n_spatial
    where[region.axis] = region.index
    return (yield from iter_predict_region(trained, image_data, where, k=k,
                                           channel_axis=channel_axis, slice_axis=slice_axis,
                                           device=device))


def disagreement_text(prediction) -> str:
    """The ensemble's disagreement over the predicted region, in words (rich text)."""
    seg = np.asarray(prediction.segmentation)
    unsure = float((seg == 0).mean()) if seg.size else 0.0
    spread = np.asarray(prediction.uncertainty, dtype=float)
    mean_std = float(spread.mean()) if spread.size else 0.0
    advice = ("the members agree almost everywhere" if unsure < 0.02 else
              "look at those places (std layer, or 'Suggest where to annotate') and paint "
              "strokes there")
    return (f"<b>Unsure on {unsure:.1%} of the image</b> (segmentation 0: no class passes "
            f"mean - k x std > 0.5, the members disagree), mean member std {mean_std:.3f}: "
            f"{advice}.")


class PredictionPanel(QWidget):
    """Buttons and options for prediction; ``host`` is the Train & predict widget."""

    def __init__(self, viewer, host, parent=None):
        super().__init__(parent)
        self._viewer = viewer
        self._host = host
        self.worker = None
        self.runs = 0  # finished predictions
        self.last = None  # (image layer, Prediction, Region) of the last run
        self.suggestions: np.ndarray = np.zeros((0, 0))
        self._at = -1
        self.target_combo = QComboBox()
        self.target_combo.addItems(list(TARGETS))
        self.target_combo.setToolTip("visible slice: quick look at what is on screen; whole "
                                     "image; or another image layer of the same kind")
        self.other_combo = LayerCombo(viewer, "image", exclude_suffixes=OUTPUT_SUFFIXES)
        self.other_combo.setToolTip("The image to predict on when 'predict on' is 'another "
                                    "layer'")
        self.k_spin = QDoubleSpinBox()
        self.k_spin.setRange(0.0, 10.0)
        self.k_spin.setSingleStep(0.5)
        self.k_spin.setValue(1.0)
        self.k_spin.setToolTip("How sure the segmentation must be: a pixel gets class c where "
                               "mean - k x std of the members > 0.5, else 0 (unsure). 0 = "
                               "most probable class everywhere")
        self.predict_button = QPushButton("Predict")
        self.predict_button.setToolTip("Run the ensemble (in the background): segmentation "
                                       "shown, probability and std layers added hidden")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 100)
        self.n_spin.setValue(5)
        self.n_spin.setToolTip("How many uncertain places to suggest")
        self.suggest_button = QPushButton("Suggest where to annotate")
        self.suggest_button.setToolTip("Mark the places where the members disagree most "
                                       "(a Points layer) and go to the first")
        self.prev_button = QPushButton("◀ previous")
        self.prev_button.setToolTip("Centre the view on the previous suggestion")
        self.next_button = QPushButton("next ▶")
        self.next_button.setToolTip("Centre the view on the next suggestion")
        self.readout = QLabel("")
        self.readout.setWordWrap(True)
        self.readout.setToolTip("Where the ensemble's members disagree on the predicted "
                                "image: a whole-image check that needs no annotation")

        form = QFormLayout()
        form.addRow("predict on", self.target_combo)
        form.addRow("other layer", self.other_combo)
        form.addRow("k (std)", self.k_spin)
        form.addRow("suggestions", self.n_spin)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.predict_button)
        layout.addWidget(self.readout)
        layout.addWidget(self.suggest_button)
        layout.addLayout(nav)

        self.predict_button.clicked.connect(lambda: self.predict())
        self.suggest_button.clicked.connect(self.suggest)
        self.next_button.clicked.connect(lambda: self.go(+1))
        self.prev_button.clicked.connect(lambda: self.go(-1))

    # -- prediction ------------------------------------------------------------------------
    def predict(self, target: str | None = None, *, on_done=None):
        """Start a prediction worker; returns it, or ``None`` after a notification."""
        target = target or self.target_combo.currentText()
        host = self._host
        trained = host.model
        image = self.other_combo.value if target == "another layer" else host.scribbles.image
        rgb = host.rgb_as_channels
        problem = image_problem(image, rgb_as_channels=rgb)
        if problem is None and trained is None:
            problem = "No model yet: paint scribbles and press Train, or Load a model."
        if problem is None:
            problem = model_problem(trained.config, image, rgb_as_channels=rgb,
                                    whole=target != "visible slice")
        if problem is not None:
            show_error(problem)
            return None
        shape = spatial_shape(image, rgb)
        region = Region()
        if target == "visible slice":
            region = visible_region(self._viewer, image, len(shape))
        data = image.data[0] if image.multiscale else image.data
        channel_axis = len(shape) if is_rgb(image) and rgb else None
        meta = host.model_metadata(image, k=self.k_spin.value(), target=target)

        def done(prediction):
            if image not in self._viewer.layers:
                show_info(f"Prediction dropped: its image '{image.name}' was removed.")
                return
            layers = write_prediction(self._viewer, image, prediction, trained.config, region,
                                      shape, meta)
            self.last = (image, prediction, region)
            self.runs += 1
            self.readout.setText(disagreement_text(prediction))
            if on_done is not None:
                on_done(layers)

        self.worker = start_job(
            lambda: prediction_job(trained, data, region, channel_axis=channel_axis,
                                   k=self.k_spin.value(), device=host.options.device),
            desc=f"Predicting {image.name} ({target})",
            on_return=done,
        )
        return self.worker

    # -- where to annotate next ------------------------------------------------------------
    def suggest(self) -> None:
        """Mark the most uncertain regions of the last prediction as a Points layer."""
        if self.last is None:
            show_error("No prediction yet: press Predict first.")
            return
        from napari_sciseg.uncertainty import suggest_regions

        image, prediction, region = self.last
        labels = None
        scribbles = self._host.scribbles.scribbles
        n_spatial = np.ndim(prediction.uncertainty)
        if scribbles is not None and scribbles.data.ndim == n_spatial + (region.axis is not None):
            labels = np.asarray(scribbles.data)
            if region.axis is not None:
                labels = np.take(labels, region.index, axis=region.axis)
        found = suggest_regions(prediction, n=self.n_spin.value(), labels=labels)
        points = np.asarray(found.points, dtype=float).reshape(len(found), n_spatial)
        if region.axis is not None:
            points = np.insert(points, region.axis, region.index, axis=1)
        if not points.size:
            show_info("No uncertain region found.")
            return
        kwargs = output_kwargs(image, f"{image.name} suggestions", ndim=points.shape[1],
                               face_color="transparent", border_color="yellow", size=12,
                               symbol="square")
        add_or_update(self._viewer, points, "points", kwargs)
        self.suggestions = points
        self._at = -1
        self.go(+1)

    def go(self, step: int) -> None:
        """Centre the viewer on the next (``+1``) or previous (``-1``) suggestion."""
        if not len(self.suggestions):
            return
        self._at = (self._at + step) % len(self.suggestions)
        image = self._host.scribbles.image or self.last[0]
        world = np.asarray(image.data_to_world(self.suggestions[self._at]), dtype=float)
        offset = self._viewer.dims.ndim - len(world)
        for axis, value in enumerate(world):
            if axis + offset not in self._viewer.dims.displayed:
                self._viewer.dims.set_point(axis + offset, value)
        displayed = [d - offset for d in self._viewer.dims.displayed if d >= offset]
        scene = getattr(self._viewer, "scene", None)  # napari >= 0.9 moved the camera
        camera = scene.camera if scene is not None else self._viewer.camera
        camera.center = tuple(world[displayed])
