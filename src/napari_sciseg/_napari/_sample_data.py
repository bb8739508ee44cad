"""napari sample data: seeded synthetic images generated on the fly (no downloads)."""

from __future__ import annotations

from .. import data
from ..io.calibration import CalibratedImage
from ._layers import calibrated_to_layer_data

TEM_PIXEL_SIZE_NM = 0.2
SCRIBBLE_CLASSES = {0: "unlabeled", 1: "background", 2: "foreground"}
FIBER_CLASSES = {0: "unlabeled", 1: "matrix", 2: "fiber"}


def _tem(mode: str, name: str) -> list:
    image = data.tem_particles(mode, pixel_size=TEM_PIXEL_SIZE_NM, seed=0)
    calibrated = CalibratedImage(
        data=image,
        spacing=(TEM_PIXEL_SIZE_NM, TEM_PIXEL_SIZE_NM),
        unit="nm",
        axes="YX",
        calibrated=True,
        source="synthetic sample",
        metadata={"sample": name},
    )
    return calibrated_to_layer_data(calibrated, name)


def tem_brightfield() -> list:
    """Bright-field TEM: dark nanoparticles on a carbon support, 0.2 nm/px."""
    return _tem("bf", "TEM bright-field particles")


def stem_haadf() -> list:
    """HAADF-STEM: bright nanoparticles on a dark support, 0.2 nm/px."""
    return _tem("haadf", "HAADF-STEM particles")


def scribbles_2d() -> list:
    """A 2D image with a few scribbles (1 background, 2 foreground)."""
    image, scribbles = data.scribbles_2d(seed=0)
    meta = {"class_names": SCRIBBLE_CLASSES}
    return [
        (image, {"name": "disks and lines"}, "image"),
        (scribbles, {"name": "disks and lines scribbles", "metadata": meta}, "labels"),
    ]


def fiber_volume() -> list:
    """A fiber-reinforced-concrete-like volume with scribbles on a few slices."""
    volume, scribbles, truth = data.fiber_volume(seed=0, return_truth=True)
    spacing = tuple(float(s) for s in getattr(truth, "spacing", (1.0,) * volume.ndim))
    units = ("nm",) * volume.ndim if spacing != (1.0,) * volume.ndim else ("pixel",) * 3
    common = {"scale": spacing, "units": units, "axis_labels": ("z", "y", "x")}
    meta = {"class_names": FIBER_CLASSES}
    return [
        (volume, {"name": "fiber volume", **common}, "image"),
        (scribbles, {"name": "fiber volume scribbles", "metadata": meta, **common}, "labels"),
    ]


def afm_scan() -> list:
    """A four-channel tapping-mode AFM scan (height, amplitude, phase, z-sensor)."""
    scan = data.afm_scan(seed=0)
    return calibrated_to_layer_data(scan, "AFM scan")


def scattering_pattern() -> list:
    """A SAXS-like pattern on a detector with module gaps (the gaps as Labels, 1 = missing)."""
    pattern, gaps = data.scattering_pattern((256, 256), seed=0, exposure=30)
    return [
        (pattern, {"name": "scattering pattern", "colormap": "viridis",
                   "contrast_limits": (0.0, float(pattern.max()) / 20)}, "image"),
        (gaps.astype("uint8"), {"name": "detector gaps", "opacity": 0.4}, "labels"),
    ]
