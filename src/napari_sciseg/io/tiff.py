"""TIFF reading and writing with physical calibration.

Calibration is looked up in this order: OME ``PhysicalSizeX/Y/Z``, ImageJ
``unit``/``spacing`` with the resolution tags, FEI/Thermo Fisher ``PixelWidth``,
then plain resolution tags in centimetres. Resolution tags in inches are print
DPI in practice and are not taken as a calibration.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import tifffile

from .calibration import CalibratedImage, length_to_nm
from .outputs import atomic_path

__all__ = ["read_tiff", "write_tiff", "TIFF_SUFFIXES"]

logger = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".btf", ".tf8")


def _ome_calibration(tif: tifffile.TiffFile):
    xml = tif.ome_metadata
    root = ElementTree.fromstring(xml)
    pixels = next(
        (el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None
    )
    if pixels is None:
        return None
    sizes = {}
    for ax in "XYZ":
        value = pixels.get(f"PhysicalSize{ax}")
        if value is None:
            continue
        nm = length_to_nm(float(value), pixels.get(f"PhysicalSize{ax}Unit", "µm"))
        if nm is not None and nm > 0:
            sizes[ax] = nm
    names = []
    for el in pixels:
        if el.tag.endswith("Channel") and el.get("Name"):
            names.append(el.get("Name"))
    return sizes, names


def _resolution_spacing(page: tifffile.TiffPage, unit: str | None):
    """Pixel size from X/YResolution (pixels per unit) in ``unit``, or None."""
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    xres = tags["XResolution"].value
    yres = tags["YResolution"].value
    xr = xres[0] / xres[1] if isinstance(xres, tuple) else float(xres)
    yr = yres[0] / yres[1] if isinstance(yres, tuple) else float(yres)
    if xr <= 0 or yr <= 0:
        return None
    nx, ny = length_to_nm(1 / xr, unit), length_to_nm(1 / yr, unit)
    if nx is None or ny is None:
        return None
    return {"X": nx, "Y": ny}


def _imagej_calibration(tif: tifffile.TiffFile):
    meta = tif.imagej_metadata or {}
    unit = meta.get("unit")
    sizes = _resolution_spacing(tif.pages[0], unit) or {}
    if "spacing" in meta and sizes:
        z = length_to_nm(float(meta["spacing"]), unit)
        if z:
            sizes["Z"] = z
    return sizes


def _fei_calibration(tif: tifffile.TiffFile):
    meta = tif.fei_metadata or {}
    scan = meta.get("Scan") or meta.get("EScan") or {}
    if "PixelWidth" not in scan:
        return {}
    x = float(scan["PixelWidth"]) * 1e9
    y = float(scan.get("PixelHeight", scan["PixelWidth"])) * 1e9
    return {"X": x, "Y": y} if x > 0 and y > 0 else {}


def _plain_calibration(tif: tifffile.TiffFile):
    page = tif.pages[0]
    if "ResolutionUnit" not in page.tags:
        return {}
    resunit = page.tags["ResolutionUnit"].value
    if resunit == tifffile.RESUNIT.CENTIMETER:
        return _resolution_spacing(page, "cm") or {}
    if resunit == tifffile.RESUNIT.MICROMETER:
        return _resolution_spacing(page, "µm") or {}
    return {}


def _find_calibration(tif: tifffile.TiffFile):
    """Return (sizes by axis letter, source, channel names)."""
    if tif.is_ome:
        found = _ome_calibration(tif)
        if found and found[0]:
            return found[0], "OME PhysicalSize", found[1]
    if tif.is_imagej:
        sizes = _imagej_calibration(tif)
        if sizes:
            return sizes, "ImageJ", []
    if tif.is_fei:
        sizes = _fei_calibration(tif)
        if sizes:
            return sizes, "FEI PixelWidth", []
    sizes = _plain_calibration(tif)
    if sizes:
        return sizes, "TIFF resolution tags", []
    return {}, "none", []


def read_tiff(path: str | Path) -> CalibratedImage:
    """Read a TIFF file and its calibration (spacing in nm).

    Parameters
    ----------
    path : str or Path
        A plain TIFF, an ImageJ hyperstack or an OME-TIFF.

    Returns
    -------
    CalibratedImage
        ``spacing`` is in nm for the spatial axes; an uncalibrated file gets
        spacing 1, ``unit="pixel"`` and ``calibrated=False`` (never a guess).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = tempfile.mkdtemp() + "/a.tif"
    >>> write_tiff(path, np.zeros((4, 5), np.uint8), spacing=(0.2, 0.2))
    >>> read_tiff(path).spacing
    (0.2, 0.2)
    """
    path = Path(path)
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data = series.asarray()
        axes = series.axes.upper()
        sizes, source, names = _find_calibration(tif)
        metadata = {"file": str(path), "tiff_axes": series.axes}
    # tifffile letters: S = samples (RGB), I/Q = unknown planes; keep them as channels
    # only when they are not spatial.
    axes = axes.replace("S", "C") if "C" not in axes else axes
    axes = "".join(a if a in "TCZYX" else ("Z" if "Z" not in axes else "T") for a in axes)
    spatial = [a for a in axes if a in "ZYX"]
    calibrated = bool(sizes) and "X" in sizes and "Y" in sizes
    if calibrated:
        spacing = tuple(float(sizes.get(a, sizes["X"] if a == "Z" else 1.0)) for a in spatial)
        if "Z" in spatial and "Z" not in sizes:
            logger.info("%s: no Z spacing in the file; using the X pixel size for Z.", path.name)
        unit = "nm"
    else:
        spacing = (1.0,) * len(spatial)
        unit = "pixel"
    return CalibratedImage(
        data=data,
        spacing=spacing,
        unit=unit,
        axes=axes,
        calibrated=calibrated,
        source=source,
        channel_names=tuple(names) if "C" in axes else (),
        metadata=metadata,
    )


def write_tiff(
    path: str | Path,
    data: np.ndarray,
    *,
    spacing: tuple[float, ...] | None = None,
    unit: str = "nm",
    axes: str | None = None,
    channel_names: tuple[str, ...] = (),
    overwrite: bool = True,
) -> None:
    """Write ``data`` as an OME-TIFF that keeps its calibration.

    OME-TIFF stores every dtype (labels stay int32) and is read by Fiji,
    tifffile and this package alike. X/Y resolution tags are also written (in
    centimetres) for readers that only know those.

    A numpy array is written as it is (strips). Any other array (zarr, dask,
    a memory map) is written tile by tile (256 x 256 tiles, read one strip of
    tile rows at a time), so the image is never held in memory whole: a
    16k x 16k prediction goes to TIFF with memory of a few strips.

    Parameters
    ----------
    path : str or Path
        Destination; a ``.tif``/``.tiff`` suffix is expected.
    data : array
        (Y, X), (Z, Y, X) or with a leading channel axis (``axes="CYX"``);
        numpy, or a lazy array (``shape``, ``dtype``, slicing) written tile by tile.
    spacing : tuple of float, optional
        Physical pixel size per spatial axis, in ``unit``.
    unit : str
        Unit of ``spacing`` (``"nm"`` by default; ``"pixel"`` for none).
    axes : str, optional
        Axes letters of ``data``; default ``"YX"`` or ``"ZYX"``.
    overwrite : bool
        When False an existing file raises FileExistsError.

    The file is written under a hidden temporary name in the same folder and
    renamed into place when complete (:func:`napari_sciseg.io.outputs.atomic_path`),
    so an interrupted write never leaves a truncated TIFF under ``path``.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    if not _is_lazy(data):
        data = _tiff_dtype(np.asarray(data))
    if axes is None:
        axes = {2: "YX", 3: "ZYX", 4: "CZYX"}.get(data.ndim)
        if axes is None:
            raise ValueError(f"Pass axes= for a {data.ndim}D array of shape {data.shape}.")
    axes = axes.upper()
    if len(axes) != data.ndim:
        raise ValueError(f"axes {axes!r} has {len(axes)} letters for a {data.ndim}D array.")
    spatial = [a for a in axes if a in "ZYX"]
    metadata: dict = {"axes": axes}
    resolution = None
    if spacing is not None and unit not in ("pixel", "px", None):
        if len(spacing) != len(spatial):
            raise ValueError(
                f"spacing has {len(spacing)} values for {len(spatial)} spatial axes ({spatial})."
            )
        for a, s in zip(spatial, spacing):
            metadata[f"PhysicalSize{a}"] = float(s)
            metadata[f"PhysicalSize{a}Unit"] = unit
        nm = {a: length_to_nm(s, unit) for a, s in zip(spatial, spacing)}
        if nm.get("X") and nm.get("Y"):
            resolution = (1e7 / nm["X"], 1e7 / nm["Y"])
    if channel_names:
        metadata["Channel"] = {"Name": list(channel_names)}
    layout = {}
    if _is_lazy(data):
        dtype = _tiff_dtype(np.zeros(0, np.dtype(data.dtype))).dtype
        layout = dict(shape=tuple(int(n) for n in data.shape), dtype=dtype, tile=_TILE)
        data = _iter_tiles(data)
    size = int(np.prod(layout.get("shape", np.shape(data))))
    with warnings.catch_warnings(), atomic_path(path, overwrite=overwrite) as tmp:
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(
            tmp,
            data,
            ome=True,
            photometric="minisblack",
            metadata=metadata,
            resolution=resolution,
            resolutionunit="CENTIMETER" if resolution else None,
            compression="zlib" if size > 1 << 16 else None,
            **layout,
        )


#: tile edge of TIFFs written tile by tile (a multiple of 16, as TIFF requires).
_TILE = (256, 256)


def _is_lazy(data) -> bool:
    """True for an array-like that is not numpy (zarr, dask, ...): written tile by tile."""
    return not isinstance(data, np.ndarray) and all(
        hasattr(data, a) for a in ("shape", "dtype", "__getitem__")
    ) and len(data.shape) >= 2


def _tiff_dtype(block: np.ndarray) -> np.ndarray:
    """``block`` in a dtype OME-TIFF stores: bool -> uint8, int64 -> int32 (range checked)."""
    if block.dtype == bool:
        return block.astype(np.uint8)
    if block.dtype == np.int64:
        info = np.iinfo(np.int32)
        if block.size and (block.max() > info.max or block.min() < info.min):
            raise ValueError("int64 data beyond the int32 range cannot be written to OME-TIFF.")
        return block.astype(np.int32)
    return block


def _iter_tiles(data):
    """The tiles of ``data`` in TIFF order: page by page (every leading index), then
    rows of tiles, each read from ``data`` as one strip of ``_TILE[0]`` rows."""
    ny, nx = (int(n) for n in data.shape[-2:])
    th, tw = _TILE
    for page in np.ndindex(*data.shape[:-2]):
        for y in range(0, ny, th):
            strip = _tiff_dtype(np.asarray(data[(*page, slice(y, y + th), slice(None))]))
            for x in range(0, nx, tw):
                yield np.ascontiguousarray(strip[:, x:x + tw])
