"""Layers in and out of the Fibers widget: the fibre class of a layer, the result layers.

- :func:`class_choices`: the entries of the widget's "fiber class" box for a
  Labels layer, from the class names the layer carries (written by Train &
  predict in ``metadata["sciseg"]["classes"]``, or ``metadata["class_names"]``
  by the samples), and which one to pick by default: the class named fiber; a
  binary mask's voxels; an instance layer's labels; otherwise none (the widget
  asks instead of guessing).
- :func:`show_fibres`, :func:`show_removed`, :func:`show_directions`,
  :func:`remove_outputs`: the output layers of a
  :class:`~napari_sciseg.measure.fiber_workflow.FiberAnalysis` (one function per
  layer, so the widget can add them in separate turns of the event loop).
"""

from __future__ import annotations

import numpy as np

from .._layers import add_or_update, output_kwargs

__all__ = [
    "OUTPUT_KEY",
    "class_choices",
    "evidence_layers",
    "remove_outputs",
    "show_directions",
    "show_fibres",
    "show_removed",
]

#: metadata flag of the widget's output layers (never offered as input).
OUTPUT_KEY = "sciseg_fibers_output"
ANY = "any non-zero voxel"
EACH = "each label is an object"
_SUFFIXES = (" fibers", " removed objects", " fiber directions")


def layer_class_names(layer) -> list[str]:
    """Class names a Labels layer carries (label value ``i + 1`` is name ``i``)."""
    meta = layer.metadata or {}
    for names in (
        (meta.get("sciseg") or {}).get("classes"),
        meta.get("class_names"),
        (meta.get("sciseg_classes") or {}).get("names"),
    ):
        if names:
            return [str(n) for n in names]
    return []


def class_choices(layer) -> tuple[list[tuple[str, int | None]], int]:
    """Entries ``(text, class value or None)`` of the fiber-class box and the default index.

    The default is -1 (nothing picked) when the layer has several classes and none
    is named fiber: the user must say which.
    """
    from ...measure.fiber_workflow import fiber_class_index

    names = layer_class_names(layer)
    data = np.asarray(layer.data)
    values = np.unique(data[:: max(1, data.shape[0] // 16)])
    values = values[values > 0]
    if names:
        entries = [(f"{i}: {n}", i) for i, n in enumerate(names, start=1)]
        found = fiber_class_index(names)
        return entries, (-1 if found is None else found - 1)
    if values.size <= 1:
        return [(ANY, None)], 0
    if values.size > 16:
        return [(EACH, None)], 0
    entries = [(f"{int(v)}", int(v)) for v in values] + [(EACH, None)]
    return entries, -1


def evidence_layers(viewer, layer, fiber_class: int | None):
    """(fibre probability, std) from the Train & predict layers made with ``layer``, if any."""
    from .train._outputs import output_names

    source = ((layer.metadata or {}).get("sciseg") or {}).get("source")
    if not source or fiber_class is None:
        return None, None
    prob_name, std_name, seg_name = output_names(source)
    if layer.name != seg_name or prob_name not in viewer.layers or std_name not in viewer.layers:
        return None, None
    prob = np.asarray(viewer.layers[prob_name].data)
    std = np.asarray(viewer.layers[std_name].data)
    if prob.ndim != 4 or prob.shape[1:] != layer.data.shape or fiber_class > prob.shape[0]:
        return None, None
    return prob[fiber_class - 1], (std if std.shape == layer.data.shape else None)


def remove_outputs(viewer, source_name: str) -> int:
    """Remove the output layers made from ``source_name``; return how many."""
    names = [source_name + s for s in _SUFFIXES]
    gone = [ly for ly in list(viewer.layers) if ly.name in names and ly.metadata.get(OUTPUT_KEY)]
    for ly in gone:
        viewer.layers.remove(ly)
    return len(gone)


def show_fibres(viewer, source, analysis):
    """Add or refresh the fibres Labels layer (features: the table); return it."""
    features = {"index": analysis.table["label"], **analysis.table}
    return add_or_update(viewer, analysis.labels, "labels",
                         output_kwargs(source, f"{source.name} fibers", ndim=3,
                                       features=features, metadata={OUTPUT_KEY: True}))  # fmt: skip


def show_removed(viewer, source, analysis):
    """Add or refresh the removed objects (hidden; features: evidence and reason)."""
    removed = {"index": analysis.removed["label"], **analysis.removed}
    return add_or_update(viewer, analysis.removed_labels, "labels",
                         output_kwargs(source, f"{source.name} removed objects", ndim=3,
                                       features=removed, metadata={OUTPUT_KEY: True},
                                       visible=False, opacity=0.6))  # fmt: skip


def show_directions(viewer, source, analysis) -> None:
    """Replace the Vectors layer of the fibre axes through their centroids."""
    vec_name = f"{source.name} fiber directions"
    if vec_name in viewer.layers:
        viewer.layers.remove(vec_name)
    if not analysis.count:
        return
    table, sp = analysis.table, np.asarray(analysis.stats.spacing)
    centers = np.stack([table[c] for c in ("z", "y", "x")], 1) / sp
    axes = analysis.directions * table["length"][:, None] / sp
    viewer.add_vectors(
        np.stack([centers - axes / 2, axes], axis=1),
        **output_kwargs(source, vec_name, ndim=3, edge_width=0.6, vector_style="line",
                        features={"polar": table["polar"], "length": table["length"]},
                        edge_color="polar", edge_colormap="viridis",
                        metadata={OUTPUT_KEY: True}),
    )  # fmt: skip
