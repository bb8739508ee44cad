"""The "Restore" dock widget: inpaint masked pixels or denoise an image with a network.

Thin translator: an Image layer, a Labels layer (inpainting: non-zero = missing) or a
clean Image layer (paired denoising; none = self-supervised), and a few settings
become arguments of :func:`napari_sciseg.dl.restore.iter_train_and_restore`, the
function behind ``sciseg train --task inpainting|denoising``. It runs in a worker
(progress in the activity dock, Cancel). Outputs are new layers aligned with the
image: the restored image, the member spread (std) and, for inpainting, the
biharmonic baseline beside it.

A dock of its own rather than a task choice in "Train and predict": that widget is
built around scribbles, classes and uncertainty thresholds, none of which apply here,
while restoration needs a mask or a clean image instead.
"""

from __future__ import annotations

import threading

import numpy as np
from qtpy import QtWidgets as Qw

from .._layer_combo import LayerCombo
from .._layers import add_or_update, output_kwargs
from .._workers import job_kwargs_or_none, start_job

__all__ = ["RestoreWidget", "TASKS"]

#: task shown in the widget -> task of the engine
TASKS = {"inpainting": "inpaint", "denoising": "denoise"}
_SELF_SUPERVISED = "none (self-supervised)"


class RestoreWidget(Qw.QWidget):
    """Train a restoration network on one image and apply it.

    Attributes for scripts and tests: ``task`` (combo: inpainting, denoising),
    ``image_combo``, ``mask_combo`` (Labels), ``clean_combo`` (Image or none),
    ``steps``, ``members``, ``log_counts`` (check box), ``run_button``,
    ``cancel_button``, ``status``; ``result`` (the last
    :class:`~napari_sciseg.dl.restore.RestoreRun`), ``worker``.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.result = None
        self.worker = None
        self._cancel = threading.Event()
        self.task = Qw.QComboBox()
        self.task.addItems(list(TASKS))
        self.image_combo = LayerCombo(napari_viewer, "image",
                                      exclude_suffixes=(" inpainted", " denoised", " std",
                                                        " biharmonic"))
        self.mask_combo = LayerCombo(napari_viewer, "labels")
        self.clean_combo = Qw.QComboBox()
        self.steps = Qw.QSpinBox(minimum=1, maximum=100_000, value=300)
        self.members = Qw.QSpinBox(minimum=1, maximum=10, value=1)
        self.log_counts = Qw.QCheckBox("log counts (data spanning decades)")
        self.log_counts.setChecked(True)
        self.mask_combo.setToolTip("non-zero = missing pixels (e.g. detector gaps); only "
                                   "those change")
        self.clean_combo.setToolTip("a clean version of the image (paired training); "
                                    "none = self-supervised (Noise2Self)")
        form = Qw.QFormLayout()
        for label, w in (("task", self.task), ("image", self.image_combo),
                         ("missing pixels", self.mask_combo), ("clean image", self.clean_combo),
                         ("steps", self.steps), ("members", self.members),
                         ("", self.log_counts)):
            form.addRow(label, w)
        self.run_button = Qw.QPushButton("Train and apply")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = Qw.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = Qw.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.status = Qw.QLabel("pick the image and the missing pixels, then Train and apply")
        self.status.setWordWrap(True)
        layout = Qw.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch()
        self.task.currentTextChanged.connect(self._task_changed)
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed):
            ev.connect(self._refresh_clean)
        self._refresh_clean()
        self._task_changed()

    def _refresh_clean(self, *_):
        current = self.clean_combo.currentText()
        names = [_SELF_SUPERVISED] + [layer.name for layer in self.image_combo._layers()]
        self.clean_combo.clear()
        self.clean_combo.addItems(names)
        self.clean_combo.setCurrentText(current if current in names else _SELF_SUPERVISED)

    def _task_changed(self, *_):
        inpainting = self.task.currentText() == "inpainting"
        self.mask_combo.setEnabled(inpainting)
        self.clean_combo.setEnabled(not inpainting)
        self.log_counts.setChecked(inpainting)

    # -- run -----------------------------------------------------------------
    def job_kwargs(self) -> dict:
        """Arguments of ``iter_train_and_restore`` from the fields (ValueError if unusable)."""
        layer = self.image_combo.value
        if layer is None:
            raise ValueError("Pick an Image layer as 'image'.")
        if layer.rgb:
            raise ValueError(f"'{layer.name}' is an RGB layer; restore a gray image.")
        task = TASKS[self.task.currentText()]
        image = np.asarray(layer.data, np.float32)
        kw = dict(task=task, image=image, steps=self.steps.value(),
                  members=self.members.value(),
                  transform="log1p" if self.log_counts.isChecked() else "none")
        if task == "inpaint":
            mask_layer = self.mask_combo.value
            if mask_layer is None:
                raise ValueError("Pick a Labels layer as 'missing pixels' (paint the gaps, or "
                                 "open the detector's gap mask as Labels).")
            mask = np.asarray(mask_layer.data) != 0
            if mask.shape != image.shape:
                raise ValueError(f"'missing pixels' ({mask_layer.name}, shape {mask.shape}) "
                                 f"does not match 'image' ({layer.name}, shape {image.shape}).")
            kw["mask"] = mask
        elif self.clean_combo.currentText() != _SELF_SUPERVISED:
            clean = self.viewer.layers[self.clean_combo.currentText()]
            if clean is layer:
                raise ValueError("'clean image' is the image itself; pick its clean version "
                                 "or 'none (self-supervised)'.")
            kw["clean"] = np.asarray(clean.data, np.float32)
        return kw

    def run(self) -> None:
        """Train and apply in a worker thread."""
        from ...dl.restore import iter_train_and_restore

        kw = job_kwargs_or_none(self, self.status)
        if kw is None:
            return
        self.result = None
        self._source = self.image_combo.value
        self._cancel = cancel = threading.Event()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("training ...")
        task = kw.pop("task")
        image = kw.pop("image")
        self.worker = start_job(
            lambda: iter_train_and_restore(task, image, cancel=cancel, **kw),
            desc="Restore", on_yield=self._progress, on_return=self._show,
            on_finish=self._finished)

    def cancel(self) -> None:
        """Stop training; nothing is added."""
        self._cancel.set()
        self.status.setText("cancelling ...")

    def _progress(self, record) -> None:
        if hasattr(record, "total_steps"):
            r = "" if record.val_score is None else f", validation r {record.val_score:.4f}"
            self.status.setText(f"training: step {record.step}/{record.total_steps}, "
                                f"loss {record.loss:.4f}{r}")
        else:
            self.status.setText(f"applying: {getattr(record, 'message', '')}")

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._cancel.is_set():
            self.status.setText("cancelled: nothing added")
        elif self.result is None:
            self.status.setText("failed (see the notification)")

    # -- outputs -------------------------------------------------------------
    def _show(self, run) -> None:
        if run is None or self._cancel.is_set():
            return
        self.result = run
        src = self._source
        word = "inpainted" if run.result.task == "inpaint" else "denoised"
        add_or_update(self.viewer, run.result.values, "image",
                      output_kwargs(src, f"{src.name} {word}", colormap=src.colormap.name,
                                    contrast_limits=src.contrast_limits))
        add_or_update(self.viewer, run.result.std, "image",
                      output_kwargs(src, f"{src.name} {word} std", colormap="magma",
                                    visible=False))
        if run.baseline is not None:
            add_or_update(self.viewer, run.baseline, "image",
                          output_kwargs(src, f"{src.name} biharmonic", visible=False,
                                        colormap=src.colormap.name,
                                        contrast_limits=src.contrast_limits))
        m = run.model.config.metrics
        r = m.get("val_r")
        self.status.setText(f"done: {m.get('steps_done')} steps; validation r "
                            f"{r:.4f}" if r is not None else "done")
