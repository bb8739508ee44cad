"""Training options: architecture, presets, members, steps, dimensionality, device, advanced.

The "advanced" section is built from the signature of ``napari_sciseg.dl.iter_train``,
so every engine parameter is reachable and its default is the engine's own.
"""

from __future__ import annotations

import ast
import inspect
import os

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

__all__ = ["TrainingOptions", "PRESETS", "ARCHITECTURES", "DIMS", "detect_devices"]

ARCHITECTURES = {"SMSNet ensemble": "smsnet", "TUNet": "tunet", "MSDNet": "msdnet"}
DIMS = {"2D": "2", "2D on slices": "2.5", "3D": "3"}
PRESETS = {
    "fast": {"members": 3, "steps": 100},
    "balanced": {"members": 5, "steps": 300},
    "accurate": {"members": 8, "steps": 1000},
}
# Parameters set by the main controls or by the widget itself, not in "advanced".
_MAIN = {"image", "labels", "arch", "members", "steps", "dim", "device", "cancel", "init",
         "channel_axis", "class_names", "class_colors"}
_FALLBACK = {"slice_axis": 0, "loss": "ce", "seed": 0, "model_kwargs": None, "crop": 64,
             "batch": 2, "lr": 1e-3, "val_fraction": 0.2}


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
    devices.append((f"cpu ({os.cpu_count()} cores)", "cpu"))
    note = "" if len(devices) > 2 else (
        "Only a CPU was found: training works but is slower; use the 'fast' preset or few steps."
    )
    return devices, note


def _engine_defaults() -> dict:
    try:
        from napari_sciseg.dl import iter_train
    except (ImportError, AttributeError):
        return {name: (value, value is None) for name, value in _FALLBACK.items()}
    params = inspect.signature(iter_train).parameters.values()
    return {
        p.name: (p.default, "None" in str(p.annotation))
        for p in params
        if p.kind == p.KEYWORD_ONLY and p.name not in _MAIN and p.default is not p.empty
    }


class _Field:
    """One editor for one engine parameter, typed after its default.

    An optional integer (``int | None``) shows "none" below 0.
    """

    def __init__(self, default, optional: bool = False):
        self.default = default
        self.optional = optional
        if isinstance(default, bool):
            self.widget = QCheckBox()
            self.widget.setChecked(default)
        elif isinstance(default, int):
            self.widget = QSpinBox()
            self.widget.setRange(-1 if optional else 0, 1_000_000)
            if optional:
                self.widget.setSpecialValueText("none")
            self.widget.setValue(default)
        elif isinstance(default, float) and default >= 0.01:
            self.widget = QDoubleSpinBox()
            self.widget.setRange(0.0, 1e6)
            self.widget.setDecimals(3)
            self.widget.setValue(default)
        else:  # small floats (learning rates), strings, None, dicts: a Python literal
            self.widget = QLineEdit(default if isinstance(default, str) else repr(default))

    def value(self):
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox) and self.optional and w.value() < 0:
            return None
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
            return w.value()
        text = w.text().strip()
        try:  # numbers, None, lists, dicts; a plain word stays a string ("balanced")
            return ast.literal_eval(text) if text else None
        except (ValueError, SyntaxError) as exc:
            if isinstance(self.default, str):
                return text
            raise ValueError(
                f"{text!r} is not a valid value (expected e.g. {self.default!r})"
            ) from exc


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
        self.threads_spin.setRange(1, os.cpu_count() or 1)
        self.threads_spin.setValue(max(1, (os.cpu_count() or 2) - 1))
        self.threads_spin.setToolTip("CPU threads for torch; one core stays free for the viewer")

        self.advanced = QCollapsible("advanced")
        adv = QWidget()
        adv_form = QFormLayout(adv)
        self.fields: dict[str, _Field] = {}
        for name, (default, optional) in _engine_defaults().items():
            field = _Field(default, optional)
            self.fields[name] = field
            adv_form.addRow(name.replace("_", " "), field.widget)
        adv_form.addRow("CPU threads", self.threads_spin)
        self.advanced.addWidget(adv)

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
            w = self.fields[name].widget
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                w.setValue(-1 if value is None else value)
            else:
                w.setText(value if isinstance(value, str) else repr(value))
