"""Every dock widget of the plugin fits a 1280x800 screen next to napari's layer list.

A first-time user on a laptop must not scroll sideways: no horizontal scrollbar
inside a dock, and no dock asking for more width than napari gives it.
"""

from pathlib import Path

import npe2
import numpy as np
import pytest
from qtpy.QtWidgets import QAbstractScrollArea, QApplication

import napari_sciseg

MANIFEST = npe2.PluginManifest.from_file(Path(napari_sciseg.__file__).parent / "napari.yaml")
WIDGETS = [w.display_name for w in MANIFEST.contributions.widgets]


def _settle(qtbot, ms=200):
    qtbot.wait(ms)
    QApplication.processEvents()


def _sideways(widget) -> list[str]:
    """Names of the visible scroll areas in ``widget`` that scroll horizontally."""
    found = []
    for area in widget.findChildren(QAbstractScrollArea):
        if area.isVisible() and area.horizontalScrollBar().isVisible():
            found.append(f"{type(area).__name__} in {type(area.parent()).__name__}")
    return found


@pytest.mark.parametrize("name", WIDGETS)
def test_dock_fits_1280x800_without_sideways_scrolling(make_napari_viewer, qtbot, name):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    viewer.add_image(np.zeros((64, 64), np.float32), name="image")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-sciseg", name)
    _settle(qtbot)
    assert viewer.window._qt_window.width() <= 1280
    assert widget.minimumSizeHint().width() <= dock.width(), (
        f"{name} asks for {widget.minimumSizeHint().width()} px but its dock is "
        f"{dock.width()} px wide")
    assert _sideways(widget) == []
    tabs = getattr(widget, "tabs", None)
    for i in range(tabs.count() if tabs is not None else 0):
        tabs.setCurrentIndex(i)
        _settle(qtbot, 50)
        assert _sideways(widget) == [], f"{name}, tab {tabs.tabText(i)!r}"


def test_train_tabs_fit_with_advanced_open(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    dock, widget = viewer.window.add_plugin_dock_widget("napari-sciseg", "Train and predict")
    widget.tabs.setCurrentIndex(1)
    widget.options.advanced.expand(animate=False)
    _settle(qtbot)
    assert _sideways(widget) == []
    # the dock title is not mangled by Qt's "&" mnemonic (it read "Train _pr…")
    assert "&" not in dock.windowTitle()
