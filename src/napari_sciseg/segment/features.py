"""A multi-scale filter bank for pixel classification (pure numpy/scipy).

Per scale σ the bank holds eight features, the ones ilastik's pixel classification
made standard: Gaussian smoothing, gradient magnitude, Laplacian of Gaussian,
difference of Gaussians, the Hessian's eigenvalues (2 in 2D, 3 in 3D) and the
structure tensor's eigenvalues; the raw intensity comes first. In 3D there are
ten features per scale (one more eigenvalue of each tensor).

Cost is one Gaussian per scale for the smoothed image (derivatives are central
differences of it) plus one per structure-tensor component, so a 1024² image with
the default four scales takes well under a second per core.

σ is in the physical units of ``spacing`` (pixels when ``spacing`` is None), so a
calibrated image gets the same physical scales whatever its pixel size, and an
anisotropic volume gets per-axis σ in pixels. The default scales are in pixels of
the finest axis.

Tiled computation (``tile=``) reads the image window by window with a halo of
:func:`feature_halo` pixels, so numpy, dask and zarr inputs work with bounded
memory and the result equals the untiled one.

Examples
--------
>>> import numpy as np
>>> image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
>>> feats = filter_bank(image, sigmas=(1.0, 2.0))
>>> feats.shape, feats.dtype
((17, 64, 64), dtype('float32'))
>>> feature_names(2, sigmas=(1.0, 2.0))[:3]
['intensity', 'gaussian σ=1', 'gradient σ=1']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from .._validation import check_spacing
from ..tiling import tile_grid

__all__ = [
    "DEFAULT_SIGMAS",
    "filter_bank",
    "feature_names",
    "feature_halo",
    "n_features",
    "FeatureCache",
]

#: default scales in pixels of the finest axis.
DEFAULT_SIGMAS = (0.5, 1.0, 2.0, 4.0, 8.0)
_TRUNCATE = 4.0
_PER_SIGMA = ("gaussian", "gradient", "LoG", "DoG")


def _sigmas_px(sigmas, spacing) -> list[tuple[float, ...]]:
    return [tuple(float(s) / sp for sp in spacing) for s in sigmas]


def _resolve(ndim: int, sigmas, spacing) -> tuple[tuple[float, ...], tuple[float, ...]]:
    spacing = check_spacing(spacing, ndim)
    if sigmas is None:
        sigmas = tuple(s * min(spacing) for s in DEFAULT_SIGMAS)
    sigmas = tuple(float(s) for s in np.atleast_1d(sigmas))
    if not sigmas or any(not np.isfinite(s) or s <= 0 for s in sigmas):
        raise ValueError(f"sigmas must be positive scales (in the units of spacing); got {sigmas}.")
    return tuple(sorted(sigmas)), spacing


def n_features(ndim: int, n_sigmas: int) -> int:
    """Number of features per pixel: 1 + (4 + 2 * ndim) per scale."""
    return 1 + n_sigmas * (len(_PER_SIGMA) + 2 * ndim)


def feature_names(ndim: int, *, sigmas: Sequence[float] | None = None, spacing=None) -> list[str]:
    """Names of the features :func:`filter_bank` returns, in order."""
    sigmas, _ = _resolve(ndim, sigmas, spacing)
    names = ["intensity"]
    for s in sigmas:
        tag = f"σ={s:g}"
        names += [f"{n} {tag}" for n in _PER_SIGMA]
        names += [f"hessian λ{i + 1} {tag}" for i in range(ndim)]
        names += [f"structure λ{i + 1} {tag}" for i in range(ndim)]
    return names


def _radius(sigma_px: float) -> int:
    return int(_TRUNCATE * sigma_px + 0.5)


def feature_halo(ndim: int, *, sigmas: Sequence[float] | None = None, spacing=None) -> tuple:
    """Context (pixels per axis) a tile needs for exact tiled features."""
    sigmas, spacing = _resolve(ndim, sigmas, spacing)
    px = _sigmas_px(sigmas, spacing)
    # structure tensor: gaussian(σ) -> difference (1 px) -> gaussian(σ); hessian: σ + 2
    return tuple(max(2 * _radius(p[a]) + 2 for p in px) for a in range(ndim))


def _eig_sym_2d(a, b, c):
    """Eigenvalues (descending) of [[a, b], [b, c]] per pixel."""
    half_trace = 0.5 * (a + c)
    root = np.sqrt(0.25 * (a - c) ** 2 + b * b)
    return half_trace + root, half_trace - root


def _eig_sym(tensor: list, ndim: int) -> list[np.ndarray]:
    """Eigenvalues (descending) of a symmetric tensor given by its upper triangle."""
    if ndim == 2:
        return list(_eig_sym_2d(*tensor))
    (xx, xy, xz, yy, yz, zz) = tensor
    m = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1),
                  np.stack([xz, yz, zz], -1)], -2)
    ev = np.linalg.eigvalsh(m)  # ascending
    return [ev[..., 2], ev[..., 1], ev[..., 0]]


def _bank(image: np.ndarray, sigmas_px, spacing, out: np.ndarray) -> None:
    """Fill ``out`` (F, *spatial) with the features of ``image`` (float32)."""
    ndim = image.ndim
    out[0] = image
    previous = image
    f = 1
    pairs = [(i, j) for i in range(ndim) for j in range(i, ndim)]
    for px in sigmas_px:
        g = ndi.gaussian_filter(image, px, truncate=_TRUNCATE, mode="reflect")
        grads = np.gradient(g, *spacing)
        if ndim == 1:  # pragma: no cover - not offered
            grads = [grads]
        hess = [np.gradient(grads[i], spacing[j], axis=j) for i, j in pairs]
        out[f] = g
        out[f + 1] = np.sqrt(sum(d * d for d in grads))
        out[f + 2] = sum(hess[pairs.index((i, i))] for i in range(ndim))
        out[f + 3] = g - previous
        f += 4
        for ev in _eig_sym(hess, ndim):
            out[f] = ev
            f += 1
        st = [ndi.gaussian_filter(grads[i] * grads[j], px, truncate=_TRUNCATE, mode="reflect")
              for i, j in pairs]
        for ev in _eig_sym(st, ndim):
            out[f] = ev
            f += 1
        previous = g


def _as_float(window) -> np.ndarray:
    image = np.asarray(window, dtype=np.float32)
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        n_bad = int((~np.isfinite(image)).sum())
        raise ValueError(
            f"the image holds {n_bad} NaN or infinite pixels; expected finite values. Fill them "
            "first (e.g. np.nan_to_num, or crop them away)."
        )
    return image


def filter_bank(
    image,
    *,
    sigmas: Sequence[float] | None = None,
    spacing: Sequence[float] | float | None = None,
    tile: int | Sequence[int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel multi-scale features of a 2D or 3D gray image.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) array-like
        Gray image (numpy, dask or zarr; read window by window with ``tile``).
    sigmas : sequence of float, optional
        Scales in the units of ``spacing`` (pixels when ``spacing`` is None).
        Default :data:`DEFAULT_SIGMAS` pixels of the finest axis.
    spacing : float or sequence of float, optional
        Physical pixel size per axis (e.g. nm per pixel).
    tile : int or sequence of int, optional
        Compute window by window, each ``tile`` pixels plus :func:`feature_halo`
        on each side; the result equals the untiled one.
    out : (F, *spatial) float32 array, optional
        Where to write (e.g. a zarr array); returned.

    Returns
    -------
    (F, *spatial) float32 ndarray
        ``F = n_features(ndim, len(sigmas))``, named by :func:`feature_names`.

    Raises
    ------
    ValueError
        For an image that is not 2D or 3D, holds NaN, or for invalid ``sigmas``/``spacing``.

    Examples
    --------
    >>> import numpy as np
    >>> volume = np.zeros((8, 16, 16), np.float32)
    >>> filter_bank(volume, sigmas=(1,), spacing=(2.0, 0.5, 0.5)).shape
    (11, 8, 16, 16)
    """
    shape = tuple(image.shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"image must be 2D (Y, X) or 3D (Z, Y, X); got shape {shape}. Pass one channel or "
            "convert an RGB image to gray first."
        )
    ndim = len(shape)
    sigmas, spacing = _resolve(ndim, sigmas, spacing)
    px = _sigmas_px(sigmas, spacing)
    nf = n_features(ndim, len(sigmas))
    if out is None:
        out = np.empty((nf, *shape), np.float32)
    elif tuple(out.shape) != (nf, *shape):
        raise ValueError(f"out has shape {tuple(out.shape)}; expected {(nf, *shape)}.")
    if tile is None:
        image = _as_float(image)
        if isinstance(out, np.ndarray):
            _bank(image, px, spacing, out)
        else:
            buf = np.empty((nf, *shape), np.float32)
            _bank(image, px, spacing, buf)
            out[...] = buf
        return out
    halo = feature_halo(ndim, sigmas=sigmas, spacing=spacing)
    tiles = np.broadcast_to(np.asarray(tile), (ndim,))
    grid = tile_grid(shape, tile=tuple(int(t) + 2 * h for t, h in zip(tiles, halo)), halo=halo)
    for t in grid:
        window = _as_float(image[t.window])
        buf = np.empty((nf, *window.shape), np.float32)
        _bank(window, px, spacing, buf)
        out[(slice(None), *t.core)] = buf[(slice(None), *t.core_in_window)]
    return out


class FeatureCache:
    """Features computed once per image (or slice) and kept; least recently used out first.

    Keys are whatever identifies the input and the settings (e.g. ``(layer id,
    axis, index, sigmas, spacing)``); ``compute`` runs on the first request only.

    Parameters
    ----------
    max_bytes : int
        Memory the cached features may hold; older entries are dropped beyond it.

    Examples
    --------
    >>> import numpy as np
    >>> cache = FeatureCache()
    >>> image = np.zeros((32, 32), np.float32)
    >>> a = cache.get(("img", 1.0), lambda: filter_bank(image, sigmas=(1.0,)))
    >>> b = cache.get(("img", 1.0), lambda: filter_bank(image, sigmas=(1.0,)))
    >>> a is b, cache.misses
    (True, 1)
    """

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict = OrderedDict()
        self.misses = 0

    def get(self, key, compute) -> np.ndarray:
        """The array stored under ``key``; ``compute()`` makes it on the first request."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = compute()
        self._items[key] = value
        while sum(v.nbytes for v in self._items.values()) > self.max_bytes and len(self._items) > 1:
            self._items.popitem(last=False)
        return value

    def __contains__(self, key) -> bool:
        return key in self._items

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
