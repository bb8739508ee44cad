"""Shared input checks with uniform error messages.

Every public function validates its inputs through these helpers so that a user
always reads what was expected, what came, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "check_choice",
    "check_finite",
    "check_ndim",
    "check_spacing",
    "check_same_shape",
    "check_not_rgb",
]


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError listing them.

    Examples
    --------
    >>> check_choice("polarity", "dark", ["auto", "dark", "bright"])
    'dark'
    """
    choices = list(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Unknown {name} {value!r}; expected one of {valid}.")
    return value


def check_ndim(name: str, array: np.ndarray, ndims: Sequence[int], hint: str = "") -> None:
    """Raise a ValueError when ``array.ndim`` is not one of ``ndims``."""
    if array.ndim not in ndims:
        expected = " or ".join(f"{n}D" for n in ndims)
        msg = f"{name} must be {expected}; got a {array.ndim}D array of shape {array.shape}."
        if hint:
            msg += f" {hint}"
        raise ValueError(msg)


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise a ValueError when a floating array holds NaN or infinity."""
    arr = np.asarray(array)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite values; expected finite "
            "numbers. Fill or crop them first (e.g. np.nan_to_num or a median fill)."
        )


def check_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise a ValueError when two arrays differ in shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_b} shape {tuple(b.shape)} does not match {name_a} shape {tuple(a.shape)}; "
            f"they must be the same. Create {name_b} on the same image."
        )


def check_not_rgb(name: str, array: np.ndarray) -> None:
    """Raise a ValueError for an (Y, X, 3|4) array where a gray image was expected."""
    if array.ndim == 3 and array.shape[-1] in (3, 4) and min(array.shape[:2]) > 4:
        raise ValueError(
            f"{name} looks like an RGB(A) image of shape {array.shape}; expected a gray "
            "(Y, X) image. Convert it first, e.g. skimage.color.rgb2gray(image)."
        )


def check_spacing(spacing, ndim: int) -> tuple[float, ...]:
    """Return ``spacing`` as a tuple of ``ndim`` positive floats.

    ``None`` means one unit per pixel. A scalar is broadcast to every axis.

    Examples
    --------
    >>> check_spacing(0.5, 2)
    (0.5, 0.5)
    >>> check_spacing(None, 3)
    (1.0, 1.0, 1.0)
    """
    if spacing is None:
        return (1.0,) * ndim
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.size != ndim:
        raise ValueError(
            f"spacing must have one value per axis ({ndim}); got {values.size}: {tuple(values)}."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(
            f"spacing must be positive and finite (physical size per pixel); got {tuple(values)}."
        )
    return tuple(float(v) for v in values)
