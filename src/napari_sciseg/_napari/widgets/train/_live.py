"""Live mode: each finished stroke triggers a short fine-tune and a re-prediction.

Strokes are debounced with a single-shot QTimer (several quick strokes -> one run);
a stroke that lands while a run is going marks the run "pending" and a new run starts
when it ends. Everything heavy runs in a worker, so painting never waits.
"""

from __future__ import annotations

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QCheckBox, QFormLayout, QSpinBox, QWidget

from ..._workers import start_job
from ._checks import image_problem, scribbles_problem, spatial_shape
from ._outputs import visible_region, write_prediction
from ._prediction import prediction_job

__all__ = ["LiveMode"]


def live_job(train_args, predict_args):
    """Fine-tune, then predict the visible region; returns ``(trained, prediction)``."""
    from ._training import training_job

    trained = yield from training_job(*train_args)
    prediction = yield from prediction_job(trained, *predict_args[:2], **predict_args[2])
    return trained, prediction


class LiveMode(QObject):
    """Owns the "live" checkbox, the debounce timer and the live worker."""

    updated = Signal()  # emitted after each live re-prediction

    def __init__(self, host, *, delay_ms: int = 400):
        super().__init__()
        self._host = host
        self._layer = None
        self.worker = None
        self.pending = False
        self.runs = 0
        self.check = QCheckBox("live: retrain after each stroke")
        self.check.setToolTip("After each finished stroke: fine-tune the model for a few steps "
                              "and predict the visible slice again (in the background)")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 10_000)
        self.steps_spin.setValue(20)
        self.steps_spin.setToolTip("Training steps per live update (more: slower, better)")
        self.panel = QWidget()
        form = QFormLayout(self.panel)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.check)
        form.addRow("fine-tune steps", self.steps_spin)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self._fire)
        self.check.toggled.connect(self._rewire)
        host.scribbles.scribbles_combo.currentIndexChanged.connect(self._rewire)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def _rewire(self, *_):
        if self._layer is not None:
            self._layer.events.paint.disconnect(self.stroke_finished)
            self._layer.events.data.disconnect(self.stroke_finished)
            self._layer = None
        layer = self._host.scribbles.scribbles
        if self.check.isChecked() and layer is not None:
            layer.events.paint.connect(self.stroke_finished)
            layer.events.data.connect(self.stroke_finished)
            self._layer = layer

    def stroke_finished(self, event=None) -> None:
        """(Re)start the debounce timer."""
        self.timer.start()

    def _fire(self) -> None:
        if self.busy or self._host.busy:
            self.pending = True
            return
        self.run()

    def run(self):
        """Start one fine-tune + prediction; quietly skips while scribbles cannot train yet."""
        host = self._host
        image, scribbles = host.scribbles.image, host.scribbles.scribbles
        rgb = host.rgb_as_channels
        if image_problem(image, rgb_as_channels=rgb) or scribbles_problem(
            image, scribbles, len(host.scribbles.class_names()), rgb_as_channels=rgb
        ):
            return None
        init = host.model
        overrides = {"steps": self.steps_spin.value()} if init is not None else {}
        train_args = host.training_args(init=init, **overrides)
        if train_args is None:
            return None
        shape = spatial_shape(image, rgb)
        region = visible_region(host.viewer, image, len(shape))
        data = image.data[0] if image.multiscale else image.data
        channel_axis = len(shape) if rgb and image.rgb else None
        predict_args = (data, region, {"channel_axis": channel_axis,
                                       "k": host.prediction.k_spin.value(),
                                       "device": host.options.device})

        def done(result):
            trained, prediction = result
            host.set_model(trained)
            meta = host.model_metadata(image, k=predict_args[2]["k"], target="live")
            write_prediction(host.viewer, image, prediction, trained.config, region, shape, meta)
            self.runs += 1
            self.updated.emit()

        def finished():
            self.worker = None
            if self.pending and self.check.isChecked():
                self.pending = False
                self.timer.start()

        self.worker = start_job(lambda: live_job(train_args, predict_args), desc="Live update",
                                on_yield=host.record_progress, on_return=done, on_finish=finished)
        return self.worker
