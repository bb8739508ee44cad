"""Physically simulated (S)TEM images of metal nanoparticles on amorphous carbon (extra ``sim``).

An independent development set for particle sizing, made with physics rather
than with the drawing rules of :mod:`napari_sciseg.data.particles`:

- **specimen**: faceted (truncated octahedra cut from the fcc lattice in a
  random orientation) and spherical Au, Pd or Pt particles of 2-15 nm, some
  placed touching or overlapping a neighbour, some cut by the border, resting
  on an amorphous carbon film (random atoms at 2 g/cm^3) whose thickness varies
  smoothly across the field;
- **bright field** (``"bf"``): plane-wave multislice through the atoms
  (abTEM, Lobato potentials, 1 nm slices), then the objective lens: aperture,
  defocus, spherical aberration Cs, partial coherence (focal and angular
  spread), camera pixels integrating the intensity and Poisson noise for the
  dose; uneven illumination multiplies the beam;
- **HAADF** (``"haadf"``): incoherent imaging, each atom scattering as
  Z^1.7, convolved with the intensity of an aberrated probe (abTEM) and a
  Gaussian source size, sampled at the scan points, Poisson counting noise and a
  slowly varying detector gain.

The truth is geometric: each particle's footprint is the set of pixel centres
whose beam path crosses the particle's volume (sphere or polyhedron), so a
method is judged on the projected edge, not on where the signal fades.

abTEM and ase are imported only here (``pip install napari-sciseg[sim]``);
tests and benchmarks read the cached images (``load_physics_set``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PhysicsTruth",
    "simulate_particles",
    "simulated_truth",
    "save_case",
    "load_case",
    "load_physics_set",
    "CONTRASTS",
    "ELEMENTS",
]

#: element -> (Z, fcc lattice constant in Angstrom)
ELEMENTS = {"Au": (79, 4.078), "Pd": (46, 3.891), "Pt": (78, 3.924)}
#: contrast level -> (BF dose e/A^2, HAADF counts per probe on 1 nm of Au, film thickness nm)
CONTRASTS = {
    "high": (3000.0, 400.0, (2.0, 4.0)),
    "mid": (400.0, 60.0, (4.0, 8.0)),
    "low": (60.0, 12.0, (8.0, 14.0)),
}
_ENERGY = 200e3  # eV
_CARBON_DENSITY = 0.1  # atoms per A^3 (2.0 g/cm^3)


@dataclass(frozen=True)
class PhysicsTruth:
    """Geometric ground truth of a simulated image.

    Attributes
    ----------
    mask : (Y, X) bool ndarray
        Union of the particle footprints (pixel centres whose beam path hits a particle).
    labels : (Y, X) int32 ndarray
        Footprint of each particle (1..N; where two overlap, the upper one).
    diameters_nm : (N,) float ndarray
        Area-equivalent diameter of each whole footprint (inside the image or not).
    isolated : (N,) bool ndarray
        Inside the image and more than one pixel away from every other footprint.
    elements, shapes : tuple of str
        Per particle: ``"Au"``/``"Pd"``/``"Pt"`` and ``"faceted"``/``"sphere"``.
    pixel_size : float
        nm per pixel.
    """

    mask: np.ndarray
    labels: np.ndarray
    diameters_nm: np.ndarray
    isolated: np.ndarray
    elements: tuple
    shapes: tuple
    pixel_size: float


def _rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a*a + b*b - c*c - d*d, 2 * (b*c - a*d), 2 * (b*d + a*c)],
        [2 * (b*c + a*d), a*a - b*b + c*c - d*d, 2 * (c*d - a*b)],
        [2 * (b*d - a*c), 2 * (c*d + a*b), a*a - b*b - c*c + d*d],
    ])  # fmt: skip


def _planes(shape: str, radius: float, rot: np.ndarray, rng):
    """(normals (K, 3), offsets (K,)) of a truncated octahedron, or None for a sphere."""
    if shape == "sphere":
        return None
    n111 = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)]) / math.sqrt(3)
    n100 = np.concatenate([np.eye(3), -np.eye(3)])
    ratio = rng.uniform(0.82, 0.95)  # {111} closer than {100}: Wulff-like
    normals = np.concatenate([n111, n100]) @ rot.T
    offsets = np.concatenate([np.full(8, radius * ratio), np.full(6, radius)])
    return normals, offsets


def _chord(px, py, radius, planes):
    """Length (A) of the vertical line through (px, py) (relative to the centre) in the solid."""
    if planes is None:
        return 2 * np.sqrt(np.maximum(radius**2 - px**2 - py**2, 0.0))
    normals, offsets = planes
    lo = np.full(px.shape, -np.inf)
    hi = np.full(px.shape, np.inf)
    for (nx, ny, nz), d in zip(normals, offsets):
        rhs = d - nx * px - ny * py
        if abs(nz) < 1e-9:
            hi = np.where(rhs < 0, -np.inf, hi)
        elif nz > 0:
            hi = np.minimum(hi, rhs / nz)
        else:
            lo = np.maximum(lo, rhs / nz)
    return np.maximum(hi - lo, 0.0)


def _atoms_of(p: dict) -> np.ndarray:
    """Positions (A) of the fcc atoms inside one particle, centred on its centre."""
    a = ELEMENTS[p["element"]][1]
    m = int(np.ceil(p["radius"] * 1.8 / a)) + 1
    k = np.arange(-m, m + 1) * a
    grid = np.stack(np.meshgrid(k, k, k, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    pos = (grid[:, None, :] + basis[None]).reshape(-1, 3) @ p["rot"].T
    if p["planes"] is None:
        inside = np.linalg.norm(pos, axis=1) <= p["radius"]
    else:
        normals, offsets = p["planes"]
        inside = np.all(pos @ normals.T <= offsets + 1e-6, axis=1)
    return pos[inside]


def _place(rng, n: int, field: float, size_range) -> list[dict]:
    """Particle centres (A) and shapes; ~1/5 are put against a neighbour (touching/overlap)."""
    out: list[dict] = []
    lo, hi = (10 * s / 2 for s in size_range)  # radii in A
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        r = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        if out and rng.random() < 0.2:  # against an earlier one: touching or overlapping
            other = out[rng.integers(len(out))]
            ang = rng.uniform(0, 2 * np.pi)
            dist = (other["radius"] + r) * rng.uniform(0.8, 1.0)
            xy = other["xy"] + dist * np.array([np.cos(ang), np.sin(ang)])
        else:
            xy = rng.uniform(-0.05 * field, 1.05 * field, 2)  # some cut by the border
            if any(np.hypot(*(xy - q["xy"])) < (r + q["radius"]) * 1.15 for q in out):
                continue
        if not (-r < xy[0] < field + r and -r < xy[1] < field + r):
            continue
        element = str(rng.choice(list(ELEMENTS)))
        shape = "faceted" if rng.random() < 0.6 else "sphere"
        rot = _rotation(rng)
        out.append({"xy": xy, "radius": r, "element": element, "shape": shape, "rot": rot,
                    "planes": _planes(shape, r, rot, rng)})  # fmt: skip
    return out


def _truth(parts: list[dict], shape, pixel_nm: float) -> PhysicsTruth:
    """Footprints on the pixel centres, diameters, isolation."""
    from scipy import ndimage as ndi

    h, w = shape
    px = pixel_nm * 10
    labels = np.zeros(shape, np.int32)
    diam = np.zeros(len(parts))
    cut = np.zeros(len(parts), bool)
    foot = []
    for i, p in enumerate(parts):
        r = p["radius"]
        c0 = int(np.floor((p["xy"][0] - r) / px)) - 1
        r0 = int(np.floor((p["xy"][1] - r) / px)) - 1
        n = int(np.ceil(2 * r / px)) + 3
        yy, xx = np.mgrid[r0 : r0 + n, c0 : c0 + n]
        inside = _chord((xx + 0.5) * px - p["xy"][0], (yy + 0.5) * px - p["xy"][1], r,
                        p["planes"]) > 0  # fmt: skip
        diam[i] = 2 * math.sqrt(inside.sum() / math.pi) * pixel_nm
        # the specimen is periodic (multislice cell): a particle over an edge reappears
        # on the opposite side, and is cut by the border on both
        cut[i] = bool(inside.any() and ((yy[inside].min() <= 0) | (yy[inside].max() >= h - 1)
                                        | (xx[inside].min() <= 0) | (xx[inside].max() >= w - 1)))
        yi, xi = yy[inside] % h, xx[inside] % w
        foot.append((yi, xi))
        labels[yi, xi] = i + 1
    isolated = ~cut
    for i, (yi, xi) in enumerate(foot):
        if yi.size == 0:
            isolated[i] = False
            continue
        own = np.zeros(shape, bool)
        own[yi, xi] = True
        ring = ndi.binary_dilation(own, np.ones((3, 3)), iterations=2) & ~own
        others = [labels[ring] != 0, labels[own] != i + 1]
        isolated[i] &= not (others[0].any() or others[1].any())
    return PhysicsTruth(labels > 0, labels, diam, isolated, tuple(p["element"] for p in parts),
                        tuple(p["shape"] for p in parts), pixel_nm)  # fmt: skip


def _smooth_field(rng, shape, scale_px: float, amplitude: float) -> np.ndarray:
    """1 + a slowly varying random field of relative amplitude ``amplitude``."""
    from scipy import ndimage as ndi

    f = ndi.gaussian_filter(rng.normal(size=shape), scale_px, mode="wrap")
    f /= max(np.abs(f).max(), 1e-12)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] / max(shape)
    tilt = rng.uniform(-1, 1) * (yy - 0.5) + rng.uniform(-1, 1) * (xx - 0.5)
    return 1 + amplitude * (0.6 * f + 0.8 * tilt)


def _carbon(rng, field: float, thickness_nm) -> tuple[np.ndarray, float]:
    """Amorphous carbon atoms (A) under a smoothly varying thickness, and the film top."""
    t_lo, t_hi = (10 * t for t in thickness_nm)
    n = int(field * field * t_hi * _CARBON_DENSITY)
    pos = rng.uniform([0, 0, 0], [field, field, t_hi], (n, 3))
    g = 32
    thick = _smooth_field(rng, (g, g), 4, 1.0)
    thick = t_lo + (t_hi - t_lo) * (thick - thick.min()) / max(np.ptp(thick), 1e-9)
    ix = np.clip((pos[:, :2] / field * g).astype(int), 0, g - 1)
    return pos[pos[:, 2] <= thick[ix[:, 1], ix[:, 0]]], t_hi


def _specimen(parts, carbon: np.ndarray, top: float):
    """(Z (M,), positions (M, 3) A): film plus particles resting on it."""
    zs, pos = [np.full(len(carbon), 6)], [carbon]
    for p in parts:
        atoms = _atoms_of(p)
        lift = top + 2.0 - atoms[:, 2].min()
        pos.append(atoms + np.array([p["xy"][0], p["xy"][1], lift]))
        zs.append(np.full(len(atoms), ELEMENTS[p["element"]][0]))
    return np.concatenate(zs), np.concatenate(pos)


def _bright_field(z, pos, field: float, shape, pixel_nm: float, rng, dose: float) -> np.ndarray:
    import abtem
    import ase

    abtem.config.set({"device": "cpu", "dask.scheduler": "synchronous", "fft": "numpy"})
    over = 3  # simulation pixels per camera pixel
    depth = float(pos[:, 2].max() + 5)
    atoms = ase.Atoms(numbers=z, positions=pos, cell=[field, field, depth], pbc=True)
    gpts = (shape[1] * over, shape[0] * over)
    potential = abtem.Potential(atoms, gpts=gpts, slice_thickness=10.0, projection="infinite",
                                parametrization="lobato")  # fmt: skip
    exit_wave = abtem.PlaneWave(energy=_ENERGY).multislice(potential)
    ctf = abtem.CTF(
        energy=_ENERGY, semiangle_cutoff=float(rng.uniform(4, 9)),  # a contrast aperture
        focal_spread=float(rng.uniform(20, 40)), angular_spread=float(rng.uniform(0.1, 0.4)),
        aberration_coefficients={"C10": float(rng.uniform(-600, -100)), "C30": 1.2e7},
    )  # fmt: skip
    intensity = exit_wave.apply_ctf(ctf).intensity().compute().array  # (x, y)
    img = np.asarray(intensity, float).T
    img = img.reshape(shape[0], over, shape[1], over).mean(axis=(1, 3))  # camera pixels
    img *= _smooth_field(rng, shape, max(shape) / 4, 0.12)  # uneven illumination
    counts = dose * (10 * pixel_nm) ** 2
    return rng.poisson(np.maximum(img, 0) * counts).astype(np.float32)


def _haadf(z, pos, field: float, shape, pixel_nm: float, rng, counts: float) -> np.ndarray:
    import abtem
    from scipy import ndimage as ndi

    abtem.config.set({"device": "cpu", "dask.scheduler": "synchronous", "fft": "numpy"})
    over = 4
    gy, gx = shape[0] * over, shape[1] * over
    step = field / gx
    weight = z.astype(float) ** 1.7
    proj, _, _ = np.histogram2d(pos[:, 1] % field, pos[:, 0] % field, bins=(gy, gx),
                                range=((0, field), (0, field)), weights=weight)  # fmt: skip
    probe = abtem.Probe(
        energy=_ENERGY, semiangle_cutoff=float(rng.uniform(18, 25)), extent=field, gpts=(gx, gy),
        aberrations={"C10": float(rng.uniform(-40, 40)), "C30": float(rng.uniform(0, 2e4))},
    )  # fmt: skip
    p = np.asarray(probe.build().intensity().compute().array, float).T
    p /= p.sum()
    img = np.real(np.fft.ifft2(np.fft.fft2(proj) * np.fft.fft2(np.fft.ifftshift(p))))
    img = ndi.gaussian_filter(img, 0.3 / step)  # source size ~0.07 nm FWHM
    img = img[over // 2 :: over, over // 2 :: over]  # the scan points
    # counts: 1 nm of Au (column of ~3.5 atoms per 0.17 nm^2) gives `counts` electrons
    au = 79.0**1.7 * 10 * 0.059 * (step**2)  # expected weight per fine pixel for 1 nm of Au
    img = img / au * counts
    img *= _smooth_field(rng, shape, max(shape) / 4, 0.10)  # detector gain / scan drift
    return rng.poisson(np.maximum(img, 0) + 0.5).astype(np.float32)


def _count(n_particles, field: float, size_range) -> int:
    if n_particles is not None:
        return int(n_particles)
    mean_area = math.pi * (10 * np.mean(size_range) / 2) ** 2
    return max(4, int(0.25 * field * field / mean_area))


def simulated_truth(
    *, shape=(256, 256), pixel_size=0.15, size_range=(2.0, 15.0), n_particles=None, seed=0
) -> PhysicsTruth:
    """The truth :func:`simulate_particles` gives for these arguments, without simulating."""
    rng = np.random.default_rng(seed)
    field = shape[1] * pixel_size * 10
    parts = _place(rng, _count(n_particles, field, size_range), field, size_range)
    return _truth(parts, shape, pixel_size)


def simulate_particles(
    mode: str = "haadf",
    *,
    shape: tuple[int, int] = (256, 256),
    pixel_size: float = 0.15,
    contrast: str = "mid",
    size_range: tuple[float, float] = (2.0, 15.0),
    n_particles: int | None = None,
    seed: int = 0,
):
    """Simulate one BF-TEM or HAADF-STEM image of supported nanoparticles and its truth.

    Parameters
    ----------
    mode : {"bf", "haadf"}
    shape : (int, int)
        Image size in pixels.
    pixel_size : float
        nm per pixel.
    contrast : {"high", "mid", "low"}
        Dose and carbon film thickness (see :data:`CONTRASTS`).
    size_range : (float, float)
        Particle diameters in nm (log-uniform).
    n_particles : int, optional
        Default: about 25 % of the field covered.
    seed : int

    Returns
    -------
    image : (Y, X) float32 ndarray
        Counts per pixel.
    truth : PhysicsTruth
    """
    if mode not in ("bf", "haadf"):
        raise ValueError(f"mode must be 'bf' or 'haadf'; got {mode!r}.")
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {sorted(CONTRASTS)}; got {contrast!r}.")
    try:
        import abtem  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "simulate_particles needs abTEM and ase: pip install 'napari-sciseg[sim]'."
        ) from exc
    if shape[0] != shape[1]:
        raise ValueError(f"shape must be square; got {shape}.")
    rng = np.random.default_rng(seed)
    field = shape[1] * pixel_size * 10  # A
    parts = _place(rng, _count(n_particles, field, size_range), field, size_range)
    dose_bf, counts_haadf, film = CONTRASTS[contrast]
    carbon, top = _carbon(rng, field, film)
    z, pos = _specimen(parts, carbon, top)
    if mode == "bf":
        image = _bright_field(z, pos, field, shape, pixel_size, rng, dose_bf)
    else:
        image = _haadf(z, pos, field, shape, pixel_size, rng, counts_haadf)
    return image, _truth(parts, shape, pixel_size)


def save_case(path, image: np.ndarray, truth: PhysicsTruth, **meta) -> None:
    """Write one simulated image and its truth to a compressed ``.npz`` (no pickle)."""
    np.savez_compressed(
        path, image=np.clip(np.round(image), 0, 65535).astype(np.uint16),
        labels=truth.labels.astype(np.uint16), diameters_nm=truth.diameters_nm,
        isolated=truth.isolated, elements=np.array(truth.elements, dtype="U2"),
        shapes=np.array(truth.shapes, dtype="U7"), pixel_size=truth.pixel_size,
        **{k: np.asarray(v) for k, v in meta.items()},
    )  # fmt: skip


def load_case(path) -> tuple[np.ndarray, PhysicsTruth, dict]:
    """Read a case written by :func:`save_case`: (image float32, truth, metadata)."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    labels = data.pop("labels").astype(np.int32)
    truth = PhysicsTruth(
        mask=labels > 0, labels=labels, diameters_nm=data.pop("diameters_nm"),
        isolated=data.pop("isolated").astype(bool), elements=tuple(data.pop("elements")),
        shapes=tuple(data.pop("shapes")), pixel_size=float(data.pop("pixel_size")),
    )  # fmt: skip
    image = data.pop("image").astype(np.float32)
    return image, truth, {k: v.item() if v.ndim == 0 else v for k, v in data.items()}


def load_physics_set(folder) -> list[tuple[str, np.ndarray, PhysicsTruth, dict]]:
    """Every cached case of ``folder`` (sorted): (name, image, truth, metadata)."""
    from pathlib import Path

    return [(p.stem, *load_case(p)) for p in sorted(Path(folder).glob("*.npz"))]
