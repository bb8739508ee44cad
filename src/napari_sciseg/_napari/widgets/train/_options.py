"""Training options: architecture, presets, members, steps, dimensionality, device, advanced.

The "advanced" section's editors (:mod:`._fields`) are built from the signature of
``napari_sciseg.dl.iter_train``, so every engine parameter is reachable and its
default is the engine's own.
"""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from napari_sciseg.dl.threads import available_cores

from ._fields import Field, engine_defaults

__all__ = ["TrainingOptions", "PRESETS", "ARCHITECTURES", "DIMS", "detect_devices"]

ARCHITECTURES = {"SMSNet ensemble": "smsnet", "TUNet": "tunet", "MSDNet": "msdnet",
                 "TUNet3+": "tunet3plus"}
DIMS = {"2D": "2", "2D on slices": "2.5", "3D": "3"}
PRESETS = {
    "fast": {"members": 3, "steps": 100},
    "balanced": {"members": 5, "steps": 300},
    "accurate": {"members": 8, "steps": 1000},
}
def detect_devices() -> tuple[list[tuple[str, str]], str]:
    """Devices torch can use here as ``(label, value)`` pairs, and a note for the user."""
    import torch

    devices = [("auto", "auto")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            devices.append((f"cuda:{i} ({torch.cuda.get_device_name(i)})", f"cuda:{i}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(("mps (Apple GPU)", "mps"))
    devices.append((f"cpu ({available_cores()} cores)", "cpu"))
    note = "" if len(devices) > 2 else (
        "Only a CPU was found: training works but is slower; use the 'fast' preset or few steps."
    )
    return devices, note


class TrainingOptions(QWidget):
    """The training controls; :meth:`train_kwargs` turns them into ``iter_train`` kwargs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.arch_combo = QComboBox()
        self.arch_combo.addItems(list(ARCHITECTURES))
        self.preset_combo = QComboBox()
        self.preset_combo.addItems([*PRESETS, "custom"])
        self.members_spin = QSpinBox()
        self.members_spin.setRange(1, 64)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1_000_000)
        self.dim_combo = QComboBox()
        self.dim_combo.addItems(list(DIMS))
        self.device_combo = QComboBox()
        devices, note = detect_devices()
        for label, value in devices:
            self.device_combo.addItem(label, value)
        self.device_note = QLabel(note)
        self.device_note.setWordWrap(True)
        self.device_note.setVisible(bool(note))
        self.threads_spin = QSpinBox()
        cores = available_cores()  # this process's affinity mask, not the machine's total
        self.threads_spin.setRange(1, cores)
        self.threads_spin.setValue(max(1, cores - 1))
        self.threads_spin.setToolTip("CPU threads for torch; one core stays free for the viewer")

        self.advanced = QCollapsible("advanced")
        adv = QWidget()
        adv_form = QFormLayout(adv)
        adv_form.setContentsMargins(0, 0, 0, 0)
        # a narrow dock puts the editor under its label instead of scrolling sideways
        adv_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.fields: dict[str, Field] = {}
        for name, (default, optional) in engine_defaults().items():
            field = Field(name, default, optional)
            self.fields[name] = field
            adv_form.addRow(field.label, field.widget)
        adv_form.addRow("CPU threads", self.threads_spin)
        self.advanced.addWidget(adv)

        tips = {
            self.arch_combo: "Network of each ensemble member. SMSNet: small, trains fast from "
                             "few scribbles; TUNet: a U-Net, needs more steps; MSDNet: dense "
                             "multi-scale network",
            self.preset_combo: "fast / balanced / accurate set members and steps; changing "
                               "either makes it 'custom'",
            self.members_spin: "Networks trained side by side; their disagreement is the "
                               "uncertainty (std) shown after Predict",
            self.steps_spin: "Optimiser steps (each on a few patches around the scribbles)",
            self.dim_combo: "2D image; a 2D model run slice by slice over a volume; or a 3D "
                            "model",
            self.device_combo: "Where training and prediction run; auto picks a GPU when "
                               "there is one",
        }
        for control, tip in tips.items():
            control.setToolTip(tip)
        for w in (self.advanced, *self.advanced.findChildren(QPushButton)):  # its toggle
            w.setToolTip("Engine settings in plain words; the defaults suit most images")
        self.device_note.setToolTip(tips[self.device_combo])
        form = QFormLayout()
        form.addRow("architecture", self.arch_combo)
        form.addRow("preset", self.preset_combo)
        form.addRow("members", self.members_spin)
        form.addRow("steps", self.steps_spin)
        form.addRow("dimensions", self.dim_combo)
        form.addRow("device", self.device_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.device_note)
        layout.addWidget(self.advanced)

        self.preset_combo.currentTextChanged.connect(self.apply_preset)
        self.members_spin.valueChanged.connect(self._mark_custom)
        self.steps_spin.valueChanged.connect(self._mark_custom)
        self.apply_preset("fast")

    def apply_preset(self, name: str) -> None:
        if name not in PRESETS:
            return
        for spin, key in ((self.members_spin, "members"), (self.steps_spin, "steps")):
            spin.blockSignals(True)
            spin.setValue(PRESETS[name][key])
            spin.blockSignals(False)
        self.preset_combo.setCurrentText(name)

    def _mark_custom(self, *_):
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentText("custom")
        self.preset_combo.blockSignals(False)

    def set_image_ndim(self, ndim: int) -> None:
        """Offer only the dimensionalities that make sense for a 2D or 3D image."""
        model = self.dim_combo.model()
        for i, label in enumerate(DIMS):
            model.item(i).setEnabled(label == "2D" if ndim == 2 else label != "2D")
        if ndim == 2:
            self.dim_combo.setCurrentText("2D")
        elif self.dim_combo.currentText() == "2D":
            self.dim_combo.setCurrentText("2D on slices")

    @property
    def dim(self) -> str:
        return DIMS[self.dim_combo.currentText()]

    @property
    def device(self) -> str:
        return self.device_combo.currentData()

    def train_kwargs(self) -> dict:
        """Keyword arguments for ``iter_train`` (advanced values only where changed)."""
        kwargs = {
            "arch": ARCHITECTURES[self.arch_combo.currentText()],
            "members": self.members_spin.value(),
            "steps": self.steps_spin.value(),
            "dim": self.dim,
            "device": self.device,
        }
        for name, field in self.fields.items():
            value = field.value()
            if value != field.default:
                kwargs[name] = value
        return kwargs

    def set_advanced(self, **values) -> None:
        """Set advanced parameters by name (used by tests and scripts)."""
        for name, value in values.items():
            self.fields[name].set(value)
