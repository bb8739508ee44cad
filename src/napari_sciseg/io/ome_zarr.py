"""OME-Zarr (NGFF): prediction outputs as multiscale pyramids, and lazy calibrated reading.

:func:`write_prediction_pyramids` turns the zarr group that
:func:`~napari_sciseg.dl.prediction.predict` wrote (``mean``, ``std``,
``segmentation``, ``uncertainty`` at full resolution) into an OME-Zarr image:

- the group's ``multiscales`` (NGFF 0.5 on zarr v3 stores, 0.4 on zarr v2) list
  three images, ``probability`` (the mean, channels = classes), ``std`` and
  ``uncertainty``, each a pyramid whose level 0 is the array predict wrote
  and whose coarser levels (2x mean downsampling) live under ``pyramid/``;
- ``labels/segmentation`` holds the confident segmentation as an NGFF label
  image (nearest-neighbour pyramid, class colours, source = the image);
- axes carry the input's calibration (``scale`` and unit, e.g. nanometer).

Pyramids are built chunk by chunk with dask, so memory stays bounded.
:func:`read_ome_zarr` opens any OME-Zarr image lazily (dask) with its scale;
a zarr store without multiscales metadata is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibration import CalibratedImage, length_to_nm, normalise_unit

__all__ = ["write_prediction_pyramids", "read_ome_zarr", "read_ome_zarr_layers",
           "is_ome_zarr", "OmeZarrLayer"]

logger = logging.getLogger(__name__)

#: our unit spellings -> NGFF (UDUNITS-2) length units.
_NGFF_UNITS = {"nm": "nanometer", "µm": "micrometer", "μm": "micrometer", "um": "micrometer",
               "mm": "millimeter", "m": "meter", "å": "angstrom", "Å": "angstrom",
               "a": "angstrom", "pm": "picometer", "cm": "centimeter"}
_SMALLEST = 64  # pyramid levels stop once a spatial axis would fall below this


def _ngff_unit(unit: str | None) -> str | None:
    u = normalise_unit(unit)
    if u is None:
        return None
    return _NGFF_UNITS.get(u, _NGFF_UNITS.get(u.lower(), u))


def _axes(ndim: int, channel: bool, unit: str | None) -> list[dict]:
    axes = [{"name": "c", "type": "channel"}] if channel else []
    for name in ("z", "y", "x")[-ndim:]:
        axes.append({"name": name, "type": "space", **({"unit": unit} if unit else {})})
    return axes


def _pyramid(group, name: str, source, levels: int, channel: bool, labels: bool) -> list[str]:
    """Write levels 1.. of ``source`` under ``group``; return every level's path (0 first)."""
    import dask.array as da

    paths = []
    level = da.from_zarr(source)
    spatial = level.ndim - (1 if channel else 0)
    for i in range(1, levels):
        # halve the axes that stay at least _SMALLEST long (a thin Z stays as it is)
        factors = {d: (2 if (d >= level.ndim - spatial and level.shape[d] >= 2 * _SMALLEST)
                       else 1) for d in range(level.ndim)}
        if all(f == 1 for f in factors.values()):
            break
        if labels:  # nearest neighbour: a class stays a class
            level = level[tuple(slice(0, s // f * f, f) for s, f in
                                zip(level.shape, factors.values()))]
        else:
            level = da.coarsen(np.mean, level, factors, trim_excess=True).astype(level.dtype)
        chunks = ((1,) if channel else ()) + tuple(min(64, s) for s in level.shape[-spatial:])
        level = level.rechunk(tuple(chunks))
        path = f"{name}/{i}"
        target = group.create_array(path, shape=level.shape, chunks=level.chunksize,
                                    dtype=level.dtype, fill_value=0, overwrite=True)
        da.store(level, target, lock=False)
        level = da.from_zarr(target)
        paths.append(path)
    return paths


def _scales(spacing, levels: int, channel: bool, shapes) -> list[list[float]]:
    out = []
    base = shapes[0][-len(spacing):]
    for shape in shapes[:levels]:
        sp = shape[-len(spacing):]
        factor = [b / s for b, s in zip(base, sp)]
        scale = [float(s) * round(f) for s, f in zip(spacing, factor)]
        out.append(([1.0] if channel else []) + scale)
    return out


def _multiscale(name, paths, shapes, spacing, unit, channel, version) -> dict:
    scales = _scales(spacing, len(paths), channel, shapes)
    ms = {"name": name, "axes": _axes(len(spacing), channel, unit),
          "datasets": [{"path": p, "coordinateTransformations": [{"type": "scale", "scale": s}]}
                       for p, s in zip(paths, scales)]}
    if version == "0.4":
        ms["version"] = "0.4"
    return ms


def _put_ome(node, version: str, content: dict) -> None:
    if version == "0.5":
        node.attrs["ome"] = {"version": "0.5", **content}
    else:
        node.attrs.update(content)


def write_prediction_pyramids(group, *, spacing=None, unit: str | None = None,
                              class_names=(), class_colors=()) -> None:
    """Add NGFF metadata, pyramids and the labels group to a predicted zarr group.

    Parameters
    ----------
    group : zarr.Group or path
        Holds ``mean`` and ``std`` ``(K, *spatial)``, ``segmentation`` and
        ``uncertainty`` ``(*spatial)`` (what ``predict(..., out=group)`` writes).
    spacing : tuple of float, optional
        Pixel size per spatial axis in ``unit``; None writes scale 1 and no unit.
    unit : str, optional
        Length unit of ``spacing`` (``"nm"``, ``"µm"``, ...).
    class_names, class_colors : sequence
        Names and RGBA colours (0-1 floats) of classes 1..K, for the label image.
    """
    import zarr

    if isinstance(group, str | Path):
        group = zarr.open_group(str(group), mode="a")
    missing = [n for n in ("mean", "std", "segmentation", "uncertainty") if n not in group]
    if missing:
        raise ValueError(f"the zarr group lacks the prediction arrays {missing}.")
    seg = group["segmentation"]
    ndim = seg.ndim
    spacing = tuple(float(s) for s in spacing[-ndim:]) if spacing else (1.0,) * ndim
    ngff_unit = _ngff_unit(unit) if unit and unit != "pixel" else None
    version = "0.5" if group.metadata.zarr_format == 3 else "0.4"
    levels = 6  # at most; fewer when the image gets small
    multiscales = []
    for name, key, channel in (("probability", "mean", True), ("std", "std", True),
                               ("uncertainty", "uncertainty", False)):
        paths = [key] + _pyramid(group, f"pyramid/{key}", group[key], levels, channel, False)
        shapes = [group[p].shape for p in paths]
        multiscales.append(_multiscale(name, paths, shapes, spacing, ngff_unit, channel, version))
    _put_ome(group, version, {"multiscales": multiscales})
    labels = group.require_group("labels")
    _put_ome(labels, version, {"labels": ["segmentation"]})
    label = labels.require_group("segmentation")
    base = label.create_array("0", shape=seg.shape, chunks=seg.chunks, dtype=seg.dtype,
                              fill_value=0, overwrite=True)
    import dask.array as da

    da.store(da.from_zarr(seg), base, lock=False)
    paths = ["0"] + _pyramid(label, "level", base, levels, False, True)
    shapes = [label[p].shape for p in paths]
    colors = []
    for i, c in enumerate(class_colors or (), start=1):
        if c is not None:
            colors.append({"label-value": i, "rgba": [int(round(255 * float(v))) for v in c]})
    image_label = {"source": {"image": "../../"},
                   "properties": [{"label-value": i, "class": str(n)}
                                  for i, n in enumerate(class_names or (), start=1)],
                   **({"colors": colors} if colors else {})}
    if version == "0.4":
        image_label["version"] = "0.4"
    content = {"multiscales": [_multiscale("segmentation", paths, shapes, spacing, ngff_unit,
                                           False, version)], "image-label": image_label}
    _put_ome(label, version, content)


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class OmeZarrLayer:
    """One multiscale image of an OME-Zarr store.

    Attributes
    ----------
    name : str
    kind : str
        ``"image"`` or ``"labels"``.
    levels : list of dask arrays
        Full resolution first.
    image : CalibratedImage
        Level 0 with its calibration (spacing in nm when the unit is a length).
    """

    name: str
    kind: str
    levels: list
    image: CalibratedImage


def _ome_attrs(node) -> dict:
    attrs = dict(node.attrs)
    return dict(attrs.get("ome", {})) | {k: v for k, v in attrs.items() if k != "ome"}


def is_ome_zarr(path) -> bool:
    """True when ``path`` is a zarr group with NGFF multiscales metadata."""
    try:
        import zarr

        node = zarr.open(str(path), mode="r")
    except Exception:  # noqa: BLE001 - anything unreadable is simply not ours
        return False
    return not hasattr(node, "shape") and "multiscales" in _ome_attrs(node)


def _layer(node, ms: dict, kind: str, path: Path) -> OmeZarrLayer:
    import dask.array as da

    axes = ms.get("axes") or []
    names = [a["name"] if isinstance(a, dict) else str(a) for a in axes]
    datasets = ms.get("datasets") or []
    if not datasets:
        raise ValueError(f"{path.name}: a multiscales entry lists no datasets.")
    levels = [da.from_zarr(node[d["path"]]) for d in datasets]
    if not names:
        names = ["t", "c", "z", "y", "x"][-levels[0].ndim:]
    scale = [1.0] * levels[0].ndim
    for t in datasets[0].get("coordinateTransformations", []) + ms.get(
            "coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [a * b for a, b in zip(scale, t["scale"])]
    letters = "".join({"c": "C", "z": "Z", "y": "Y", "x": "X", "t": "T"}.get(n.lower(), "?")
                      for n in names)
    if "?" in letters or "T" in letters and levels[0].shape[names.index("t")] > 1:
        raise ValueError(f"{path.name}: unsupported OME-Zarr axes {names}; expected c, z, y, x.")
    data = levels[0]
    if "T" in letters:  # a single time point
        t = letters.index("T")
        levels = [lv[(slice(None),) * t + (0,)] for lv in levels]
        data, letters = levels[0], letters.replace("T", "")
        scale = scale[:t] + scale[t + 1:]
        axes = axes[:t] + axes[t + 1:]
    spatial = [i for i, a in enumerate(letters) if a != "C"]
    units = {(a.get("unit") if isinstance(a, dict) else None) for i, a in enumerate(axes)
             if i in spatial}
    unit = units.pop() if len(units) == 1 else None
    spacing = tuple(float(scale[i]) for i in spatial)
    nm = [length_to_nm(s, unit) for s in spacing] if unit else [None]
    if unit and all(v is not None for v in nm):
        image = CalibratedImage(data, tuple(nm), "nm", letters, True, "OME-Zarr")
    else:
        image = CalibratedImage(data, spacing, "pixel", letters, False, "OME-Zarr (no unit)")
    return OmeZarrLayer(str(ms.get("name") or path.name), kind, levels, image)


def read_ome_zarr_layers(path) -> list[OmeZarrLayer]:
    """Every multiscale image of an OME-Zarr store, and its label images.

    Raises
    ------
    ValueError
        The store has no NGFF multiscales metadata, or axes other than c, z, y, x
        (and a single t).
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such OME-Zarr store: {path}")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several types
        raise ValueError(f"{path.name}: not a readable zarr store ({exc}).") from None
    attrs = {} if hasattr(node, "shape") else _ome_attrs(node)
    if "multiscales" not in attrs:
        raise ValueError(
            f"{path.name}: a zarr store without OME-Zarr multiscales metadata (NGFF "
            "'multiscales' in the group attributes), so its axes and scale are unknown. Write "
            "it as OME-Zarr (e.g. sciseg predict --zarr, ome-zarr-py), or convert it to TIFF."
        )
    layers = [_layer(node, ms, "image", path) for ms in attrs["multiscales"]]
    if "labels" in node and not hasattr(node["labels"], "shape"):
        for name in _ome_attrs(node["labels"]).get("labels", []):
            sub = node["labels"][name]
            for ms in _ome_attrs(sub).get("multiscales", []):
                layer = _layer(sub, ms, "labels", path)
                layers.append(OmeZarrLayer(name, "labels", layer.levels, layer.image))
    return layers


def read_ome_zarr(path) -> CalibratedImage:
    """The first image of an OME-Zarr store at full resolution, lazily (dask).

    Parameters
    ----------
    path : str or Path
        An OME-Zarr group (NGFF 0.4 or 0.5).

    Returns
    -------
    CalibratedImage
        ``data`` a dask array; ``spacing`` from the scale (nm for length units).
    """
    return read_ome_zarr_layers(path)[0].image
