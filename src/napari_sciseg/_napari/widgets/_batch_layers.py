"""The Batch dock's "open layers" input: a checkable list of the viewer's Image layers.

Each ticked layer becomes what the CLI's per-image workflow takes: a ``CalibratedImage``
(the layer's pixels and scale) and a file name ``<stem>.tif`` that only names the
outputs (:func:`._batch_job.layer_stems`: file-safe and unique).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QListWidget, QListWidgetItem

from .._layers import layer_spacing, layer_unit
from ._batch_job import layer_stems

__all__ = ["LayerPicker", "layer_sources"]

_ID = Qt.ItemDataRole.UserRole


def _layer_image(layer):
    """A layer's pixels and scale as a ``CalibratedImage`` (a copy: the layer may change
    while the job runs)."""
    from ...io.calibration import CalibratedImage

    rgb = bool(getattr(layer, "rgb", False))
    ndim = layer.ndim - (1 if rgb else 0)
    spatial = "ZYX"[-ndim:] if ndim <= 3 else "T" * (ndim - 3) + "ZYX"
    unit = layer_unit(layer)
    return CalibratedImage(
        np.asarray(layer.data).copy(), spacing=layer_spacing(layer, ndim), unit=unit,
        axes=spatial + ("C" if rgb else ""), calibrated=unit != "pixel",
        source=(layer.metadata or {}).get("calibration_source", "layer scale"))


def layer_sources(layers) -> tuple[list[Path], dict]:
    """``files`` (``<stem>.tif`` names) and ``{file: (layer name, CalibratedImage)}``."""
    if not layers:
        raise ValueError("Tick at least one Image layer in 'layers' (or set 'input' to "
                         "folder).")
    files = [Path(f"{stem}.tif") for stem in layer_stems([lay.name for lay in layers])]
    return files, {f: (lay.name, _layer_image(lay)) for f, lay in zip(files, layers)}


class LayerPicker(QListWidget):
    """The viewer's Image layers, each with a tick box; follows adds, removals, renames."""

    def __init__(self, viewer):
        super().__init__()
        self.viewer = viewer
        self.setToolTip("Tick the Image layers to process; outputs are named after each layer")
        self.setMaximumHeight(120)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(lambda *_: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """List the Image layers again, keeping the ticks of those still there."""
        from napari.layers import Image

        ticked = {id(lay) for lay in self.checked()}
        self.clear()
        for layer in self.viewer.layers:
            if isinstance(layer, Image):
                item = QListWidgetItem(layer.name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if id(layer) in ticked
                                   else Qt.CheckState.Unchecked)
                item.setData(_ID, id(layer))
                self.addItem(item)
                layer.events.name.connect(self._renamed)

    def _renamed(self, event=None) -> None:
        names = {id(lay): lay.name for lay in self.viewer.layers}
        for i in range(self.count()):
            self.item(i).setText(names.get(self.item(i).data(_ID), self.item(i).text()))

    def checked(self) -> list:
        """The ticked Image layers, in the list's order."""
        by_id = {id(lay): lay for lay in self.viewer.layers}
        items = [self.item(i) for i in range(self.count())]
        return [by_id[it.data(_ID)] for it in items
                if it.checkState() == Qt.CheckState.Checked and it.data(_ID) in by_id]
