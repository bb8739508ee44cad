"""napari reader: calibrated images from TIFF, EM and AFM files.

``get_reader`` returns None for paths it does not handle (napari then asks
other plugins) and never raises to napari: a file it claims but cannot parse
shows an error notification naming the file and the problem.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from napari.utils.notifications import show_error, show_warning

from ..io import UnsupportedFormatError, read_image, supported_suffixes
from ._layers import calibrated_to_layer_data

logger = logging.getLogger(__name__)


def get_reader(path):
    """Return a reader function for ``path``, or None when the format is not ours."""
    if isinstance(path, list):
        if not path or not all(_handles(p) for p in path):
            return None
    elif not _handles(path):
        return None
    return read_layers


def _handles(path) -> bool:
    name = str(path).lower().rstrip("/\\")
    if name.endswith(".zarr"):
        from ..io.ome_zarr import is_ome_zarr

        return is_ome_zarr(path)
    suffix = Path(name).suffix
    if len(suffix) == 4 and suffix[1:].isdigit():  # numbered Bruker files: .000-.999
        from ..io.afm import is_afm_file

        return is_afm_file(path)
    return suffix in supported_suffixes() or name.endswith((".ome.tif", ".ome.tiff"))


def read_layers(path) -> list:
    """Read one path or a list of paths into napari LayerData tuples."""
    paths = path if isinstance(path, list) else [path]
    layers = []
    for p in paths:
        p = Path(p)
        if p.suffix.lower() == ".zarr":
            layers += _ome_zarr_layers(p)
            continue
        try:
            image = read_image(p)
        except (ValueError, ImportError, OSError, UnsupportedFormatError) as exc:
            show_error(f"napari-sciseg could not open {p.name}: {exc}")
            logger.warning("could not open %s: %s", p, exc)
            continue
        name = p.name.split(".")[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layers += calibrated_to_layer_data(image, name)
        for w in caught:
            show_warning(str(w.message))
    return layers


def _ome_zarr_layers(path: Path) -> list:
    """Every image of an OME-Zarr store as a calibrated multiscale layer (lazy, dask)."""
    from ..io.ome_zarr import read_ome_zarr_layers

    try:
        found = read_ome_zarr_layers(path)
    except (ValueError, OSError) as exc:
        show_error(f"napari-sciseg could not open {path.name}: {exc}")
        return []
    layers = []
    stem = path.name[: -len(".zarr")]
    for layer in found:
        img = layer.image
        spatial = img.spatial_axes
        kwargs = {"scale": tuple(img.spacing),
                  "units": tuple("nm" if img.unit == "nm" else "pixel" for _ in spatial),
                  "axis_labels": tuple(a.lower() for a in spatial),
                  "metadata": {"calibration_source": img.source, "calibrated": img.calibrated}}
        ch = img.channel_axis
        if ch is None:
            data = layer.levels if len(layer.levels) > 1 else layer.levels[0]
            layers.append((data, {"name": f"{stem} {layer.name}", **kwargs}, layer.kind))
            continue
        for c in range(img.data.shape[ch]):
            levels = [lv[(slice(None),) * ch + (c,)] for lv in layer.levels]
            data = levels if len(levels) > 1 else levels[0]
            layers.append((data, {"name": f"{stem} {layer.name} {c + 1}", **kwargs}, layer.kind))
    return layers
