"""Vendor AFM files -> :class:`CalibratedImage` (axes ``"CYX"``, spacing in nm).

Supported formats and how they are read:

========================  ======================  ==========================================
format                    suffixes                reader
========================  ======================  ==========================================
Bruker NanoScope          .spm .000-.999 .di      own parser, :mod:`.bruker`
Park Systems TIFF         .tif .tiff (tag 50432)  own parser, :mod:`.park`
JPK                       .jpk                    own parser, :mod:`.jpk`
Gwyddion                  .gwy                    ``gwyfile`` (``afm`` extra), :mod:`.gwyddion`
Asylum Research / Igor    .ibw                    ``igor2`` (``afm`` extra), :mod:`.igor`
Nanosurf                  .nid                    own parser, :mod:`.nanosurf`
========================  ======================  ==========================================

Each channel keeps its vendor name (``"Height Sensor"``, ``"Amplitude Error"``,
``"Phase"``; retrace/backward channels get a ``" (retrace)"`` suffix) and is converted to
physical values: nm for heights, deg for phase, V (or nm when the file
calibrates it) for amplitude. Images are oriented as the vendor software shows
them: row 0 is the top of the image. Bruker, Park, Igor and Nanosurf files
store the bottom line first and are flipped; JPK rows are kept as stored.

Existing Python readers get several of these wrong (pySPM labels Bruker phase
and amplitude in V with a wrong scale; AFMReader multiplies every channel by
1e9), which is why the binary formats are parsed here.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from ..calibration import CalibratedImage
from .bruker import is_bruker, read_bruker
from .gwyddion import read_gwy
from .jpk import read_jpk
from .park import is_park, read_park

__all__ = ["AFM_SUFFIXES", "SUPPORTED_VENDORS", "is_afm_file", "read_afm"]

#: suffixes handled by :func:`read_afm` (plus Bruker's numbered ``.000``-``.999``).
AFM_SUFFIXES = (".spm", ".di", ".gwy", ".ibw", ".jpk", ".nid", ".tif", ".tiff")
SUPPORTED_VENDORS = (
    "Bruker NanoScope (.spm, .000-.999, .di)",
    "Park Systems (.tiff)",
    "JPK (.jpk)",
    "Gwyddion (.gwy)",
    "Asylum Research / Igor (.ibw)",
    "Nanosurf (.nid)",
)


def is_afm_file(path: str | Path) -> bool:
    """Whether :func:`read_afm` handles ``path`` (by suffix and, where needed, content).

    Numbered Bruker files (``.000``-``.999``) must start with a NanoScope header;
    ``.tif``/``.tiff`` files only count when they carry Park's private tags, so
    plain TIFFs stay with the TIFF reader.

    Examples
    --------
    >>> is_afm_file("scan.txt")
    False
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".spm", ".di", ".gwy", ".ibw", ".jpk", ".nid"):
        return True
    if re.fullmatch(r"\.\d{3}", suffix):
        return is_bruker(path)
    if suffix in (".tif", ".tiff"):
        return path.is_file() and is_park(path)
    return False


def read_afm(path: str | Path) -> CalibratedImage:
    """Read an AFM file: every channel in physical units, spacing in nm.

    Parameters
    ----------
    path : str or Path
        A Bruker, Park, JPK, Gwyddion, Igor or Nanosurf file (see the module
        docstring).
        A plain multi-channel TIFF (C, Y, X) is read with
        :func:`napari_sciseg.io.tiff.read_tiff`.

    Returns
    -------
    CalibratedImage
        ``data`` (C, Y, X) float32, ``axes="CYX"``, ``channel_names`` and
        ``channel_units`` per channel, ``spacing`` (dy, dx) in nm.

    Raises
    ------
    ValueError
        For a file of an unsupported vendor (the message lists the supported
        ones) or one that cannot be parsed (the message names the file).
    ImportError
        When the optional reader package for the format is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such AFM file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".spm", ".di") or re.fullmatch(r"\.\d{3}", suffix):
            return read_bruker(path)
        if suffix == ".jpk":
            return read_jpk(path)
        if suffix == ".gwy":
            return read_gwy(path)
        if suffix == ".ibw":
            from .igor import read_ibw

            return read_ibw(path)
        if suffix == ".nid":
            from .nanosurf import read_nid

            return read_nid(path)
        if suffix in (".tif", ".tiff"):
            if is_park(path):
                return read_park(path)
            from ..tiff import read_tiff

            return read_tiff(path)
    except (ImportError, FileNotFoundError):
        raise
    except (ValueError, KeyError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read AFM file {path.name}: {exc}") from exc
    raise ValueError(
        f"{path.name}: unsupported AFM file type {suffix!r}; supported: "
        + "; ".join(SUPPORTED_VENDORS)
        + "; or a multi-channel TIFF (C, Y, X)."
    )
