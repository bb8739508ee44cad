"""The "advanced" training options: one editor per keyword parameter of the engine.

The editors are built from the signature of ``napari_sciseg.dl.iter_train``, so
every engine parameter is reachable and its default is the engine's own; each
parameter gets plain words (label, tooltip, what ``None`` reads as).
"""

from __future__ import annotations

import ast
import inspect

from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

__all__ = ["Field", "engine_defaults", "plain_words"]

# Parameters set by the main controls or by the widget itself, not in "advanced".
_MAIN = {"image", "labels", "arch", "members", "steps", "dim", "device", "cancel", "init",
         "channel_axis", "class_names", "class_colors"}
_FALLBACK = {"slice_axis": 0, "loss": "ce", "seed": 0, "model_kwargs": None, "crop": 64,
             "batch": 2, "lr": 1e-3, "val_fraction": 0.2}


def engine_defaults() -> dict:
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


class Field:
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
