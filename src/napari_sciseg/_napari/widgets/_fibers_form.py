"""The input form of the Fibers widget: which layer, which class, which filter.

:class:`FiberForm` holds the controls and turns them, with the chosen layer, into
the arguments of :func:`napari_sciseg.measure.fiber_workflow.iter_measure_fibers`
(:meth:`FiberForm.job_kwargs`). Choosing a Labels layer fills "fiber class" from
the layer's class names and picks the class named fiber (see
:func:`._fibers_layers.class_choices`); an Image layer enables polarity and
threshold, both "auto" by default.
"""

from __future__ import annotations

from qtpy import QtWidgets as Qw

from .._layers import layer_kind, layer_spacing
from . import _fibers_layers as fl

__all__ = ["FiberForm"]

AUTO = "auto"


def _spin(kind, lo, hi, value, tip, special=None, decimals=None):
    box = kind()
    box.setRange(lo, hi)
    if decimals is not None:
        box.setDecimals(decimals)
    box.setValue(value)
    box.setToolTip(tip)
    box.setSpecialValueText(special or "")
    return box


def _combo(items, tip):
    box = Qw.QComboBox()
    box.addItems(items)
    box.setToolTip(tip)
    return box


def _check(text, on=True):
    box = Qw.QCheckBox(text)
    box.setChecked(on)
    return box


class FiberForm(Qw.QWidget):
    """Controls: ``source_combo``, ``fiber_class`` (``currentData()``: the class value,
    None = every non-zero voxel or every label), ``polarity``, ``threshold`` (minimum =
    auto), ``min_size`` (0 = relative to the expected fibre volume), ``min_elongation``,
    ``split``, ``connectivity``, ``live``, ``with_shell``, ``radius`` (0 = auto)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.source_combo = _combo([], "a 3D Labels (segmentation) or Image (grey) layer")
        self.fiber_class = _combo([], "the class of the segmentation that holds the fibres")
        self.polarity = _combo([AUTO, "dark", "bright"], "grey volume: fibres darker or "
                               "brighter than the matrix")  # fmt: skip
        self.threshold = _spin(Qw.QDoubleSpinBox, -1e9, 1e9, -1e9, "grey threshold; auto: 3 "
                               "noise spreads from the matrix level", AUTO, 4)  # fmt: skip
        self.min_size = _spin(Qw.QSpinBox, 0, 10**9, 0, "remove objects with fewer voxels; "
                              "auto: a fifth of the expected fibre volume", AUTO)  # fmt: skip
        self.min_elongation = _spin(Qw.QDoubleSpinBox, 1.0, 1e3, 3.0, "remove rounder objects "
                                    "(pores, aggregates); 1 keeps all", decimals=1)  # fmt: skip
        self.split = _check("split touching fibres")
        self.connectivity = _combo(["26", "18", "6"], "voxel neighbourhood of the objects")
        self.live = _check("recount when the filter changes")
        self.with_shell = _check("autocorrelation on a sphere")
        self.radius = _spin(Qw.QDoubleSpinBox, 0, 1e9, 0, "sphere radius in layer units; "
                            "auto: a third of the shortest fibre", AUTO, 3)  # fmt: skip
        form = Qw.QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for name, w in (
            ("input", self.source_combo), ("fiber class", self.fiber_class),
            ("polarity", self.polarity), ("threshold", self.threshold),
            ("min size (voxels)", self.min_size), ("min elongation", self.min_elongation),
            ("", self.split), ("connectivity", self.connectivity), ("", self.live),
            ("", self.with_shell), ("sphere radius", self.radius),
        ):  # fmt: skip
            form.addRow(name, w)

    def filter_signals(self):
        """Signals of the controls whose change means a recount."""
        return (self.min_size.valueChanged, self.min_elongation.valueChanged,
                self.connectivity.currentTextChanged, self.split.toggled)  # fmt: skip

    def set_source(self, layer) -> None:
        """Enable the fields that apply to ``layer``; fill and pick its fibre class."""
        is_image = layer is not None and layer_kind(layer) == "image"
        self.fiber_class.clear()
        if layer is not None and not is_image:
            entries, default = fl.class_choices(layer)
            for text, value in entries:
                self.fiber_class.addItem(text, value)
            self.fiber_class.setCurrentIndex(default)
        self.fiber_class.setEnabled(not is_image)
        for w in (self.polarity, self.threshold):
            w.setEnabled(is_image)

    def job_kwargs(self, viewer, layer) -> dict:
        """Arguments of ``iter_measure_fibers`` for ``layer``.

        Raises ValueError, to be shown to the user, when the fibre class is not known.
        """
        from ...measure.fiber_filter import FiberFilter

        kw = {"spacing": layer_spacing(layer, 3),
              "rule": FiberFilter(min_elongation=float(self.min_elongation.value()),
                                  min_voxels=int(self.min_size.value()) or None),
              "connectivity": int(self.connectivity.currentText()),
              "split": self.split.isChecked(), "orientation": self.with_shell.isChecked(),
              "shell_radius": float(self.radius.value()) or None, "n_directions": 1500}  # fmt: skip
        if layer_kind(layer) == "image":
            t = self.threshold.value()
            kw.update(polarity=self.polarity.currentText(),
                      threshold=None if t <= self.threshold.minimum() else float(t))  # fmt: skip
            return kw
        if self.fiber_class.currentIndex() < 0:
            names = [self.fiber_class.itemText(i) for i in range(self.fiber_class.count())]
            raise ValueError(
                f"Which class holds the fibres? No class of '{layer.name}' is named fiber "
                f"(classes: {', '.join(names)}). Pick it in 'fiber class'."
            )
        cls = self.fiber_class.currentData()
        prob, std = fl.evidence_layers(viewer, layer, cls)
        return {**kw, "fiber_class": cls, "probability": prob, "std": std}
