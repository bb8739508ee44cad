"""A combo box listing the viewer's layers of one type, kept in sync with the layer list."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox

from ._layers import layer_kind

__all__ = ["LayerCombo"]


class LayerCombo(QComboBox):
    """Names of the viewer's layers of ``layer_type`` ("image", "labels", ...).

    ``value`` is the selected layer (or ``None``); setting it selects that layer.
    """

    def __init__(self, viewer, layer_type: str, parent=None, *, exclude_suffixes=()):
        super().__init__(parent)
        self._viewer = viewer
        self._type = layer_type
        self._exclude = tuple(exclude_suffixes)
        events = viewer.layers.events
        for ev in (events.inserted, events.removed, events.moved):
            ev.connect(self.refresh)
        events.inserted.connect(self._watch_name)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _watch_name(self, event=None):
        if event is not None:
            event.value.events.name.connect(self.refresh)

    def _layers(self):
        return [
            layer
            for layer in self._viewer.layers
            if layer_kind(layer) == self._type and not layer.name.endswith(self._exclude)
        ]

    def refresh(self, event=None) -> None:
        """Re-read the layer list, keeping the current choice when it still exists."""
        current = self.currentText()
        names = [layer.name for layer in self._layers()]
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        self.blockSignals(False)
        if current in names:
            self.setCurrentText(current)
        elif names:
            self.setCurrentIndex(0)
            self.currentIndexChanged.emit(0)
        else:
            self.currentIndexChanged.emit(-1)

    @property
    def value(self):
        name = self.currentText()
        return self._viewer.layers[name] if name in self._viewer.layers else None

    @value.setter
    def value(self, layer) -> None:
        self.refresh()
        self.setCurrentText(layer.name)
