"""A small live plot of training loss, validation loss and validation score.

The loss axis is logarithmic: a first held-out loss of 100 and a training loss of
0.5 stay readable on one plot. Before any point it says what will appear.
"""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy

__all__ = ["LossPlot"]


class LossPlot(FigureCanvasQTAgg):
    """Loss curves that grow while training runs; ``continue`` runs extend them.

    The x axis counts training steps across runs: a step counter that restarts
    (a new run, or the next ensemble member when members train one by one) is
    appended after the previous points.

    A matplotlib redraw costs 50-150 ms of GUI-thread time on a busy 2-core machine,
    so points are collected as they come and drawn at most once per ``redraw_ms``.
    """

    def __init__(self, parent=None, *, redraw_ms: int = 1000):
        figure = Figure(figsize=(3.2, 2.0))
        figure.subplots_adjust(left=0.17, right=0.97, bottom=0.2, top=0.88)
        super().__init__(figure)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(redraw_ms)
        self._timer.timeout.connect(self._redraw)
        self.setParent(parent)
        self.setMinimumSize(200, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Loss (log scale) of the training patches and of the held-out "
                        "scribbles; the title shows the latest held-out F1")
        self.ax = figure.add_subplot()
        self.ax.set_xlabel("step", fontsize=8)
        self.ax.set_ylabel("loss (log)", fontsize=8)
        self.ax.set_yscale("log", nonpositive="mask")  # a loss of 0 is left out
        self.ax.tick_params(labelsize=7)
        (self.train_line,) = self.ax.plot([], [], lw=1, label="training")
        (self.val_line,) = self.ax.plot([], [], "o-", ms=2, lw=1, label="held out")
        self.ax.legend(fontsize=7, loc="upper right")
        self.empty_note = self.ax.text(
            0.5, 0.5, "No training yet:\nthe loss appears here\nwhile Train runs.",
            transform=self.ax.transAxes, ha="center", va="center", fontsize=8, color="0.4")
        self.clear()

    def clear(self) -> None:
        """Forget every point (a fresh training run)."""
        self.steps: list[float] = []
        self.losses: list[float] = []
        self.val_steps: list[float] = []
        self.val_losses: list[float] = []
        self.val_scores: list[float] = []
        self._offset = 0
        self._last = -1
        self._redraw()

    def new_run(self) -> None:
        """Continue the x axis after the current points (continue training)."""
        self._offset = self.steps[-1] if self.steps else 0
        self._last = -1

    def add(self, record) -> None:
        """Append one ``TrainProgress``-like record (``step``, ``loss``, ``val_loss``)."""
        step = int(record.step)
        if step < self._last:
            self._offset = self.steps[-1] if self.steps else 0
        self._last = step
        x = self._offset + step
        if record.loss is not None:
            self.steps.append(x)
            self.losses.append(float(record.loss))
        if getattr(record, "val_loss", None) is not None:
            self.val_steps.append(x)
            self.val_losses.append(float(record.val_loss))
            score = getattr(record, "val_score", None)
            self.val_scores.append(float("nan") if score is None else float(score))
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Draw the points collected so far now (end of a run)."""
        self._timer.stop()
        self._redraw()

    def _redraw(self) -> None:
        self.train_line.set_data(self.steps, self.losses)
        self.val_line.set_data(self.val_steps, self.val_losses)
        if self.val_scores and self.val_scores[-1] == self.val_scores[-1]:
            self.ax.set_title(f"held-out F1 {self.val_scores[-1]:.3f}", fontsize=8)
        else:
            self.ax.set_title("", fontsize=8)
        empty = not self.steps and not self.val_steps
        self.empty_note.set_visible(empty)
        self.ax.get_legend().set_visible(not empty)
        if empty:
            self.ax.set_xlim(0, 1)
            self.ax.set_ylim(0.01, 10)
        else:
            self.ax.relim()
            self.ax.autoscale(True)
            self.ax.autoscale_view()
        self.draw_idle()
