"""Training options: architecture, presets, members, steps, dimensionality, device, advanced.

The "advanced" section is built from the signature of ``napari_sciseg.dl.iter_train``,
so every engine parameter is reachable and its default is the engine's own.
"""

from __future__ import annotations

import ast
import inspect

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from napari_sciseg.dl.threads import available_cores

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
    devices.append((f"cpu ({available_cores()} cores)", "cpu"))
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


# Plain words for the engine's parameters: label, tooltip, and what ``None`` means.
_PLAIN = {
    "slice_axis": ("slice axis", "2D on slices: the axis the 2D model slices the volume along "
                   "(0 = Z)", None),
    "loss": ("loss", "What training minimises: ce (cross-entropy), dice, focal, tversky, or a "
             "sum like ce+dice. Only scribbled pixels count.", None),
    "seed": ("random seed", "Same seed, same data and device: same model", None),
    "model_kwargs": ("network options", "Architecture settings as a Python dict, e.g. "
                     "{'depth': 10, 'width': 4}; auto = the architecture's defaults", "auto"),
    "crop": ("patch size (px)", "Side of the square (or cube) patches cut around scribbles "
             "for each training step, in pixels", None),
    "batch": ("patches per step", "Patches each member sees per training step", None),
    "lr": ("learning rate", "Step size of the optimiser; auto = 0.05 for SMSNet/MSDNet, 0.001 "
           "for TUNet, a fifth of that when continuing", "auto"),
    "weight_decay": ("weight decay", "AdamW weight decay (pulls weights towards 0)", None),
    "class_weights": ("class weights", "balanced: rare classes weigh more in the loss; "
                      "equal: every scribbled pixel counts the same", "equal"),
    "val_fraction": ("held out for validation", "Fraction of the scribbles kept out of training "
                     "to check the model (whole strokes where there are several); 0 = none",
                     None),
    "val_split": ("validate on", "strokes: whole strokes held out (tells how the model does "
                  "away from what it was shown); pixels: scattered scribble pixels (easy, "
                  "near 1 by construction)", None),
    "val_every": ("validate every (steps)", "Check the held-out scribbles every N steps; "
                  "auto = a tenth of the steps", "auto"),
    "early_stopping": ("stop after (checks)", "Stop when the held-out loss has not improved "
                       "for this many checks; never = train all steps", "never"),
    "grad_clip": ("gradient clip", "Largest gradient norm per member and step", None),
    "shared_dilations": ("shared dilations", "SMSNet: members share one dilation per node "
                         "(several times faster on a CPU)", None),
    "batch_norm": ("batch norm", "SMSNet/MSDNet: normalise hidden nodes while training "
                   "(folded into the weights afterwards)", None),
}


def plain_words(name: str) -> tuple[str, str, str | None]:
    """(label, tooltip, what None reads as) for engine parameter ``name``."""
    return _PLAIN.get(name, (name.replace("_", " "), f"engine parameter {name}", "auto"))


class _Field:
    """One editor for one engine parameter, typed after its default.

    ``None`` shows as a word ("auto", "never"): an optional integer below 0, an
    empty text field.
    """

    def __init__(self, name: str, default, optional: bool = False):
        self.default = default
        self.optional = optional
        label, tip, none_text = plain_words(name)
        self.none_text = none_text or "auto"
        self.label = label
        if name == "class_weights" and default in ("balanced", None):
            self.widget = QComboBox()
            self.widget.addItems(["balanced", self.none_text])
            self.widget.setCurrentText(default or self.none_text)
        elif name == "val_split":
            # the widget checks on whole held-out strokes unless told otherwise: scattered
            # pixels score near 1 by construction and tell the user nothing
            self.widget = QComboBox()
            self.widget.addItems(["strokes", "pixels"])
            self.widget.setCurrentText("strokes")
        elif isinstance(default, bool):
            self.widget = QCheckBox()
            self.widget.setChecked(default)
        elif isinstance(default, int) or (optional and default is None and name.endswith(
                ("_every", "_stopping", "axis"))):
            self.widget = QSpinBox()
            self.widget.setRange(-1 if optional else 0, 1_000_000)
            if optional:
                self.widget.setSpecialValueText(self.none_text)
            self.widget.setValue(-1 if default is None else default)
        elif isinstance(default, float) and default >= 0.01:
            self.widget = QDoubleSpinBox()
            self.widget.setRange(0.0, 1e6)
            self.widget.setDecimals(3)
            self.widget.setValue(default)
        else:  # small floats (learning rates), strings, None, dicts: a Python literal
            self.widget = QLineEdit("" if default is None else
                                    default if isinstance(default, str) else repr(default))
            self.widget.setPlaceholderText(self.none_text)
        self.widget.setToolTip(tip)

    def value(self):
        w = self.widget
        if isinstance(w, QComboBox):
            return None if w.currentText() == self.none_text else w.currentText()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox) and self.optional and w.value() < 0:
            return None
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
            return w.value()
        text = w.text().strip()
        if not text or text == self.none_text:
            return None
        try:  # numbers, lists, dicts; a plain word stays a string ("balanced")
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            if isinstance(self.default, str):
                return text
            raise ValueError(
                f"{self.label}: {text!r} is not a valid value (expected e.g. "
                f"{self.default if self.default is not None else self.none_text!r})"
            ) from exc

    def set(self, value) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            w.setCurrentText(self.none_text if value is None else str(value))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setValue(-1 if value is None else value)
        else:
            w.setText("" if value is None else value if isinstance(value, str) else repr(value))


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
        self.fields: dict[str, _Field] = {}
        for name, (default, optional) in _engine_defaults().items():
            field = _Field(name, default, optional)
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
