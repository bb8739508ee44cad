"""The training run: inputs copied on the GUI thread, ``iter_train`` in a worker, Cancel."""

from __future__ import annotations

import threading

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..._workers import start_job
from ._checks import image_problem, model_problem, scribbles_problem
from ._scribbles import hex_to_rgb

__all__ = ["TrainingRun", "training_job"]


def training_job(image, labels, kwargs: dict, threads: int):
    """Generator run in the worker: ``iter_train`` with ``threads`` torch CPU threads.

    ``torch.set_num_threads`` is process-wide; leaving one core to the GUI thread keeps
    the viewer responsive on small machines.
    """
    from napari_sciseg.dl import iter_train
    from napari_sciseg.dl.threads import configure_threads

    configure_threads(threads)
    return (yield from iter_train(image, labels, **kwargs))


class TrainingRun(QWidget):
    """Train / Continue / Cancel buttons and the status line; ``host`` is the main widget."""

    def __init__(self, host, parent=None):
        super().__init__(parent)
        self._host = host
        self.worker = None
        self.cancel_event: threading.Event | None = None
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train a new ensemble on the scribbles (runs in the "
                                     "background; keep painting)")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Train the current model further, e.g. after adding "
                                        "strokes")
        self.continue_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop within one step; the members trained so far are kept")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setToolTip("Training steps done, and the time left (the only ETA)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.quality = QLabel("")
        self.quality.setWordWrap(True)
        self.quality.setToolTip(
            "How the model does on scribbles it was not trained on (whole strokes held out, "
            "away from the training strokes). Scattered scribble pixels would score near 1 "
            "by construction and say little about the rest of the image.")
        buttons = QHBoxLayout()
        for b in (self.train_button, self.continue_button, self.cancel_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.quality)
        self.train_button.clicked.connect(lambda: self.start())
        self.continue_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button.clicked.connect(self.cancel)

    def inputs(self, *, init=None, **overrides):
        """``(image, labels copy, kwargs, threads)`` for ``training_job``, or ``None``.

        Shows a notification (and changes nothing) when the input is bad.
        """
        host = self._host
        panel = host.scribbles
        image, scribbles = panel.image, panel.scribbles
        rgb = host.rgb_as_channels
        names = panel.class_names()
        problem = image_problem(image, rgb_as_channels=rgb) or scribbles_problem(
            image, scribbles, len(names), rgb_as_channels=rgb
        )
        kwargs = host.options.train_kwargs()
        if problem is None and kwargs["dim"] == "2" and scribbles.data.ndim == 3:
            problem = (f"'{image.name}' is 3D but dimensions is '2D'; choose '2D on slices' "
                       "or '3D'.")
        if problem is None and kwargs["dim"] != "2" and scribbles.data.ndim == 2:
            problem = f"'{image.name}' is 2D; choose dimensions '2D'."
        if problem is None and init is not None:
            problem = model_problem(init.config, image, rgb_as_channels=rgb, whole=True)
        if problem is not None:
            if image is not None and image.rgb and not rgb:
                host.offer_rgb_as_channels(problem)
            else:
                show_error(problem)
            return None
        data = np.asarray(image.data[0] if image.multiscale else image.data)
        kwargs.update(overrides)
        colors = [hex_to_rgb(c) for c in panel.class_colors()]
        kwargs.update(class_names=names, class_colors=colors, init=init)
        if rgb and image.rgb:
            kwargs["channel_axis"] = data.ndim - 1
        labels = np.array(scribbles.data, copy=True)  # painting during training is safe
        return data, labels, kwargs, host.options.threads_spin.value()

    def start(self, *, resume: bool = False):
        """Start training (``resume``: continue from the current model); returns the worker."""
        host = self._host
        if host.busy:
            show_error("A training run is already going; Cancel it or wait for it to finish.")
            return None
        init = host.model if resume else None
        args = self.inputs(init=init)
        if args is None:
            return None
        self.cancel_event = threading.Event()
        args[2]["cancel"] = self.cancel_event
        host._inputs = (host.scribbles.image, host.scribbles.scribbles)
        if resume:
            host.plot.new_run()
        else:
            host.plot.clear()
        self._set_running(True)
        self.progress.setRange(0, args[2]["steps"])
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.quality.setText("")
        self.status.setText(f"training {args[2]['members']} member(s), {args[2]['steps']} steps…")
        self.worker = start_job(
            lambda: training_job(*args),
            desc="Training",
            on_yield=host.record_progress,
            on_return=self._done,
            on_finish=lambda: self._set_running(False),
            min_interval=0.2,  # <= 5 plot redraws a second keep the GUI thread free
            show_progress=False,  # the widget's own bar: one progress, one ETA
        )
        return self.worker

    def show_progress(self, record) -> None:
        """One training record -> the bar (steps, ETA) and the status line."""
        total = int(record.total_steps)
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(int(record.step))
        eta = getattr(record, "eta_s", None)
        left = f", {_duration(eta)} left" if eta is not None else ""
        self.progress.setFormat(f"step %v/%m{left}")
        text = f"training loss {record.loss:.3f}"
        if getattr(record, "val_score", None) is not None:
            text += f", held-out F1 {record.val_score:.2f}"
        device = getattr(record, "device", "")
        self.status.setText(text + (f"  ({device})" if device else ""))

    def cancel(self) -> None:
        """Stop within one step; the members trained so far are kept."""
        if self.cancel_event is not None and self.worker is not None:
            self.cancel_event.set()
            self.status.setText("cancelling…")

    def _done(self, trained) -> None:
        if trained is None:
            show_error("Training stopped before any member was trained; the model is unchanged.")
            return
        self._host.set_model(trained)
        metrics = dict(getattr(trained.config, "metrics", {}) or {})
        recipe = dict(getattr(trained.config, "recipe", {}) or {})
        text = f"trained {metrics.get('steps_done', '?')} steps"
        if self.cancel_event is not None and self.cancel_event.is_set():
            text = "cancelled; the members trained so far are kept"
            show_info("Training cancelled; the members trained so far are kept.")
        self.status.setText(text)
        self.progress.setFormat(text)
        self.quality.setText(quality_text(metrics, recipe))

    def _set_running(self, running: bool) -> None:
        if not running and self.progress.format() == "starting…":
            self.progress.setFormat("")
        if not running:
            self.worker = None
            self._host.plot.flush()
        self.train_button.setEnabled(not running)
        self.continue_button.setEnabled(not running and self._host.model is not None)
        self.cancel_button.setEnabled(running)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def quality_text(metrics: dict, recipe: dict) -> str:
    """The trained model's quality, in words (rich text for a QLabel)."""
    held = metrics.get("val_f1")
    fit = metrics.get("train_f1")
    on = recipe.get("val_split", "pixels")
    if held is None:
        return ("<b>No held-out check</b>: all scribbles went into training. Judge the "
                "prediction by eye, and where members disagree (Predict tab).")
    what = ("whole strokes the model never saw" if on == "strokes"
            else "scattered scribble pixels next to the training ones (easy)")
    lines = [f"<b>Held-out F1 {held:.2f}</b> on {what}; 1 = all right, "
             f"1/classes = guessing."]
    if fit is not None:
        lines.append(f"On its training strokes: {fit:.2f}.")
        if fit - held > 0.1:
            lines.append("The gap means the model does worse away from what you painted: "
                         "add strokes where the prediction is wrong.")
    return " ".join(lines)
