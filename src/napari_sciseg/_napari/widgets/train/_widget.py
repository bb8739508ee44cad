"""The "Train & predict" dock widget: annotate -> train -> inspect, without freezing the viewer."""

from __future__ import annotations

from napari.utils.notifications import (
    Notification,
    NotificationSeverity,
    notification_manager,
    show_info,
)
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ._instant import InstantMode
from ._live import LiveMode
from ._loss_plot import LossPlot
from ._model_files import ModelFiles
from ._options import TrainingOptions
from ._prediction import PredictionPanel
from ._scribbles import ScribblesPanel
from ._training import TrainingRun

__all__ = ["TrainPredictWidget"]


def _page(*widgets) -> QScrollArea:
    """A tab's content: ``widgets`` stacked at the top, scrolling vertically when short of room."""
    body = QWidget()
    layout = QVBoxLayout(body)
    for w in widgets:
        # no taller than needed: spare height goes to the stretch below, not between rows
        w.setSizePolicy(w.sizePolicy().horizontalPolicy(), QSizePolicy.Policy.Maximum)
        layout.addWidget(w)
    layout.addStretch()
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(body)
    return scroll


class TrainPredictWidget(ModelFiles, QWidget):
    """Scribble classes, train an ensemble in the background, predict with uncertainty.

    Sub-widgets are attributes so scripts and tests can drive them:
    ``scribbles`` (annotation), ``options`` (training options), ``run`` (Train,
    Continue, Cancel), ``plot`` (live loss), ``live`` (live mode), ``prediction``
    (Predict, suggestions), ``save_button``/``load_button``, ``tabs`` (Annotate,
    Train, Predict, Loss plot: each fits a 1280x800 screen next to the layer list).
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.model = None  # the current TrainedModel
        self.model_path: str | None = None
        self.scribbles = ScribblesPanel(napari_viewer)
        self.rgb_check = QCheckBox("RGB as channels")
        self.rgb_check.setToolTip("Use the colour channels of an RGB image as input channels")
        self.options = TrainingOptions()
        self.run = TrainingRun(self)
        self.plot = LossPlot()
        self.prediction = PredictionPanel(napari_viewer, self)
        self.live = LiveMode(self)
        self.instant = InstantMode(self)
        self.save_button = QPushButton("Save model…")
        self.save_button.setToolTip("Write the trained ensemble to a .sciseg file (for "
                                    "'sciseg predict', the Batch dock, or later sessions)")
        self.load_button = QPushButton("Load model…")
        self.load_button.setToolTip("Open a .sciseg model; its class names and colours go "
                                    "onto the scribbles")
        self.save_button.setEnabled(False)
        files = QWidget()
        row = QHBoxLayout(files)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(_page(self.scribbles, self.rgb_check, self.instant.panel), "Annotate")
        self.tabs.addTab(_page(self.options, self.run, self.live.panel, files), "Train")
        self.tabs.addTab(_page(self.prediction), "Predict")
        self.tabs.addTab(_page(self.plot), "Loss plot")
        for i, tip in enumerate((
            "1. Pick the image, make a scribbles layer, paint a few strokes per class "
            "('instant' shows a fast forest's result after each stroke)",
            "2. Train an ensemble on the scribbles (in the background; Cancel keeps what is "
            "trained)",
            "3. Predict: segmentation, probability and member disagreement (std)",
            "Training and held-out loss while training runs",
        )):
            self.tabs.setTabToolTip(i, tip)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.tabs)

        self.save_button.clicked.connect(self._save_dialog)
        self.load_button.clicked.connect(self._load_dialog)
        self.scribbles.image_combo.currentIndexChanged.connect(self._image_changed)
        self._image_changed()
        self._inputs: tuple = ()  # the image and scribbles layers of the running training
        napari_viewer.layers.events.removed.connect(self._layer_removed)

    def event(self, event) -> bool:
        # napari's dock "x" (and ``remove_dock_widget``) takes the widget out of its dock:
        # a training nobody can see or cancel any more must not go on using the CPU
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.stop_jobs()
        return super().event(event)

    def _layer_removed(self, event) -> None:
        """The image or scribbles of a running training went away: stop it, say why."""
        if self.busy and any(event.value is layer for layer in self._inputs):
            self.run.cancel()
            show_info(f"Training stopped: its layer '{event.value.name}' was removed; the "
                      "members trained so far are kept.")

    def stop_jobs(self) -> None:
        """Cancel training (members so far are kept), live updates and prediction."""
        self.live.check.setChecked(False)
        self.live.timer.stop()
        self.instant.check.setChecked(False)
        self.instant.timer.stop()
        self.run.cancel()
        for worker in (self.live.worker, self.prediction.worker, self.instant.worker):
            if worker is not None:
                worker.quit()

    # -- state shared by the panels --------------------------------------------------------
    @property
    def rgb_as_channels(self) -> bool:
        return self.rgb_check.isChecked()

    @property
    def busy(self) -> bool:
        """Whether a training run (not a live update) is going."""
        return self.run.worker is not None

    def set_model(self, trained) -> None:
        self.model = trained
        self.save_button.setEnabled(trained is not None)
        self.run.continue_button.setEnabled(trained is not None and not self.busy)

    def training_args(self, *, init=None, **overrides):
        return self.run.inputs(init=init, **overrides)

    def record_progress(self, record) -> None:
        """Worker progress -> loss plot and status line (GUI thread)."""
        if not hasattr(record, "loss"):
            return
        self.plot.add(record)
        self.run.show_progress(record)

    def model_metadata(self, image, **extra) -> dict:
        """What output layers record about the model that made them."""
        cfg = self.model.config
        recipe = dict(getattr(cfg, "recipe", {}) or {})
        return {
            "model": cfg.arch,
            "members": len(cfg.member_configs),
            "seed": recipe.get("seed"),
            "params": recipe,
            "classes": list(cfg.class_names or []),
            "model_file": self.model_path,
            "source": image.name,
            **extra,
        }

    def offer_rgb_as_channels(self, message: str) -> None:
        """Show ``message`` with an action that ticks "RGB as channels"."""
        note = Notification(
            message,
            severity=NotificationSeverity.ERROR,
            actions=[("Treat as channels", lambda *_: self.rgb_check.setChecked(True))],
        )
        notification_manager.dispatch(note)

    def _image_changed(self, *_):
        image = self.scribbles.image
        if image is not None:
            ndim = image.ndim
            self.options.set_image_ndim(3 if ndim >= 3 else 2)
