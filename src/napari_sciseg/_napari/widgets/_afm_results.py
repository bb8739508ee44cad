"""How the "AFM crystal classes" widget presents a scan's classification in the viewer.

The whole-scan class and probabilities go into the scan layer's metadata and a
summary text; the tile-wise class map (:func:`napari_sciseg.dl.afm.predict.tile_labels`
and :func:`~napari_sciseg.dl.afm.predict.tile_table`) becomes a Labels layer coloured
by class, and each class's probability map an image layer. The maps are a
tile-wise extrapolation of per-scan labels, not per-region ground truth.
"""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer

from ...classify.afm.dataset import CLASSES
from .._layers import add_or_update, output_kwargs
from .._workers import wait_for_call

__all__ = ["CLASS_COLORS", "class_legend", "one_per_turn", "predict_job", "scan_maps",
           "show_scan_prediction"]

#: one colour per class, in the order of CLASSES.
CLASS_COLORS = ("#9e9e9e", "#4fc3f7", "#ffb74d", "#0277bd", "#e65100")


def class_legend(names, colors) -> str:
    """Rich text: a coloured square and the name of each class."""
    return "  ".join(f'<span style="color:{c}">&#9632;</span>&nbsp;{n}'
                     for n, c in zip(names, colors))


def predict_job(model, data, spacing, metadata, cancel, shape):
    """Classify in the worker, and paint the tile maps there too: ``(result, maps)``."""
    from ...dl.afm.predict import predict_scan

    def call():
        result = predict_scan(model, data, spacing=spacing, metadata=metadata, cancel=cancel)
        return result, scan_maps(result, shape)

    return (yield from wait_for_call(call, cancel=cancel, what="classifying"))


def one_per_turn(steps: list, viewer, source) -> None:
    """Run ``steps`` one per event-loop turn while ``source`` is in ``viewer``."""
    if steps and source in viewer.layers:
        steps[0]()
        QTimer.singleShot(0, lambda: one_per_turn(steps[1:], viewer, source))


def scan_maps(result, shape) -> tuple[np.ndarray, np.ndarray]:
    """The tile labels and the per-class probability maps of ``result`` on a ``shape`` grid
    (pure numpy: computed in the worker, not on the GUI thread)."""
    from ...dl.afm.predict import tile_labels, tile_maps

    return tile_labels(result, shape), tile_maps(result, shape)[1]


def show_scan_prediction(viewer, result, source, maps=None, *, later=None) -> str:
    """Add the tile class map and probability layers of ``result`` for layer ``source``.

    ``maps`` is :func:`scan_maps`'s result (computed here when None). ``later``, when
    given, is called with the list of layer-adding steps instead of running them, so
    the caller can run one per event-loop turn (napari takes a while per layer).
    Returns the summary (rich text) of the whole-scan class and probabilities, which
    are also put in ``source.metadata`` (``afm_class``, ``afm_probabilities``).
    """
    from ...dl.afm.predict import tile_table

    probs = {c: float(p) for c, p in zip(CLASSES, result.probabilities)}
    source.metadata["afm_class"] = result.label
    source.metadata["afm_probabilities"] = probs
    labels, prob_maps = maps if maps is not None else scan_maps(
        result, np.shape(source.data)[-2:])
    table = tile_table(result)
    colors = {None: "transparent", 0: "transparent"}
    colors.update({i: CLASS_COLORS[CLASSES.index(c)]
                   for i, c in enumerate(table["class"]) if i})  # fmt: skip
    meta = {"afm_class": result.label, "afm_probabilities": probs,
            "note": "tile-wise extrapolation of per-scan labels"}  # fmt: skip
    steps = [lambda: add_or_update(viewer, labels, "labels", output_kwargs(
        source, "AFM tile classes (extrapolated)", opacity=0.45, features=table,
        colormap=DirectLabelColormap(color_dict=colors), metadata=meta))]  # fmt: skip
    for k, c in enumerate(CLASSES):
        steps.append(lambda k=k, c=c: add_or_update(viewer, prob_maps[k], "image", output_kwargs(
            source, f"AFM p({c})", colormap="magma", contrast_limits=(0.0, 1.0),
            blending="additive", visible=False, metadata=meta)))  # fmt: skip
    if later is None:
        for step in steps:
            step()
    else:
        later(steps)
    lines = [f"<b>{result.label}</b>"] + [f"{c}: {p:.2f}" for c, p in probs.items()]
    return "<br>".join(lines) + "<br><i>Maps: tile-wise extrapolation of per-scan labels.</i>"
