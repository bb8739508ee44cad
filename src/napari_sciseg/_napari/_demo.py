"""``sciseg demo``: napari with every sample and every widget of the plugin docked."""

from __future__ import annotations

import napari
from npe2 import PluginManager

PLUGIN = "napari-sciseg"


def _manifest():
    pm = PluginManager.instance()
    if PLUGIN not in pm:  # outside a running napari nothing is discovered yet
        pm.discover()
    return pm.get_manifest(PLUGIN)


def widget_names() -> list[str]:
    """Display names of every widget the plugin's manifest contributes."""
    manifest = _manifest()
    return [w.display_name for w in (manifest.contributions.widgets or [])]


def sample_keys() -> list[str]:
    """Keys of every sample the plugin's manifest contributes."""
    manifest = _manifest()
    return [s.key for s in (manifest.contributions.sample_data or [])]


def populate(viewer: napari.Viewer, *, samples: tuple[str, ...] | None = None) -> list:
    """Open the plugin's samples (all by default) and dock every widget; return the docks."""
    for key in samples if samples is not None else sample_keys():
        viewer.open_sample(PLUGIN, key)
    docks = []
    for name in widget_names():
        dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)
        docks.append(dock)
    if docks:
        docks[0].show()
        docks[0].raise_()  # the interactive-training widget in front of its tabified siblings
    return docks


def open_demo(samples: tuple[str, ...] | None = ("scribbles_2d",)) -> None:  # pragma: no cover
    """Open a viewer with the given samples (None: all) and every widget, then run napari."""
    if samples is not None:
        unknown = set(samples) - set(sample_keys())
        if unknown:
            raise ValueError(
                f"Unknown sample(s) {sorted(unknown)}; valid: {', '.join(sample_keys())} or all."
            )
    viewer = napari.Viewer(title="napari-sciseg demo")
    populate(viewer, samples=samples)
    napari.run()
