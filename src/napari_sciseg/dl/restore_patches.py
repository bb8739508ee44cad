"""Training pairs of the regression tasks, cut from one normalised image (numpy).

Each sampler returns inputs ``x (n, C_in, *crop)`` and packed targets
``y (n, 2 C + 1, *crop)``: the target values (C channels), the weight of every pixel
(1 channel; 0 = not scored) and the base the network's output is added to (C
channels; zeros unless the task predicts a correction of its input):

- :class:`DensePairs`: given targets where they are known (regression, paired
  denoising);
- :class:`GapPairs`: inpainting. Copies of the gap mask are moved onto pixels whose
  values are known (DLSIA's augmentation); the input is the image with the real and
  the artificial gaps filled by biharmonic interpolation plus the mask as a second
  channel; only the artificial gaps over known pixels are scored;
- :class:`BlindSpotPairs`: self-supervised denoising (Noise2Self): a random share of
  the pixels is replaced by the mean of its neighbours and only those are scored, so
  the network cannot learn the identity and learns what the neighbourhood predicts;
  its output corrects the mean of each pixel's neighbours (never the pixel itself).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["DensePairs", "GapPairs", "BlindSpotPairs", "biharmonic_fill", "neighbour_mean"]


def biharmonic_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` (C, *spatial) with the ``mask`` pixels filled by biharmonic inpainting."""
    if not mask.any():
        return np.asarray(image, np.float32)
    from skimage.restoration import inpaint_biharmonic

    if mask.all():
        return np.zeros_like(image, dtype=np.float32)
    filled = inpaint_biharmonic(np.moveaxis(image, 0, -1), mask, channel_axis=-1)
    return np.ascontiguousarray(np.moveaxis(filled, -1, 0), dtype=np.float32)


class _Windows:
    """Random windows of a crop size over the spatial shape, with flips and rotations."""

    def __init__(self, shape: tuple[int, ...], crop: int, rng: np.random.Generator):
        self.shape = tuple(shape)
        self.crop = tuple(min(int(crop), s) for s in self.shape)
        self.rng = rng

    def window(self) -> tuple[slice, ...]:
        starts = [int(self.rng.integers(0, s - c + 1)) for s, c in zip(self.shape, self.crop)]
        return tuple(slice(a, a + c) for a, c in zip(starts, self.crop))

    def augment(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The same random flips and 90-degree turn of every (K, *crop) array."""
        nd = len(self.crop)
        for axis in range(nd):
            if self.rng.random() < 0.5:
                arrays = [np.flip(a, axis + 1) for a in arrays]
        if self.crop[-1] == self.crop[-2]:
            k = int(self.rng.integers(4))
            arrays = [np.rot90(a, k, axes=(-2, -1)) for a in arrays]
        return arrays


def _pack(target, weight, base) -> np.ndarray:
    return np.concatenate([target, weight[None].astype(np.float32), base]).astype(np.float32)


def _gain(rng, x: np.ndarray) -> np.ndarray:
    """A random gain and offset per channel, applied alike to input and target."""
    gain = rng.uniform(0.85, 1.15, size=(x.shape[0],) + (1,) * (x.ndim - 1))
    offset = rng.uniform(-0.1, 0.1, size=gain.shape)
    return (x * gain + offset).astype(np.float32)


class _Sampler:
    """Shared ``sample``/``fixed_crops`` around a ``_pair(window, augment)`` method."""

    def __init__(self, shape, crop, rng):
        self.windows = _Windows(shape, crop, rng)
        self.rng = rng

    def sample(self, n: int, *, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs: inputs ``(n, C_in, *crop)`` and packed targets (see module)."""
        pairs = [self._pair(augment) for _ in range(n)]
        return (np.stack([p[0] for p in pairs]).astype(np.float32),
                np.stack([p[1] for p in pairs]).astype(np.float32))

    def fixed_crops(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` un-augmented pairs (validation); reproducible for the sampler's seed."""
        return self.sample(n, augment=False)

    def _scored_window(self, known: np.ndarray) -> tuple[slice, ...]:
        """A window holding known pixels (a few tries, else the last one)."""
        for _ in range(20):
            window = self.windows.window()
            if known[window].any():
                return window
        return window


class DensePairs(_Sampler):
    """Input windows and their targets, scored where ``known``.

    Parameters
    ----------
    image : (C_in, *spatial) float32 ndarray
    target : (C, *spatial) float32 ndarray
    known : (*spatial) bool ndarray
        Pixels whose target is known (and scored).
    crop : int
    rng : numpy Generator
    residual : bool
        The network predicts ``target - image`` (denoising): the base is the input.
    """

    def __init__(self, image, target, known, *, crop: int, rng, residual: bool = False):
        super().__init__(known.shape, crop, rng)
        self.image, self.target, self.known, self.residual = image, target, known, residual

    def _pair(self, augment: bool):
        w = self._scored_window(self.known)
        full = (slice(None),) + w
        x, t, k = self.image[full], self.target[full], self.known[w][None]
        if augment:
            x, t, k = self.windows.augment([x, t, k])
        base = x if self.residual else np.zeros_like(t)
        return np.ascontiguousarray(x), _pack(t, k[0], base)


class GapPairs(_Sampler):
    """Inpainting pairs: moved copies of the gap mask over known pixels.

    Parameters
    ----------
    image : (C, *spatial) float32 ndarray
        Normalised image; values inside ``gaps`` are ignored.
    gaps : (*spatial) bool ndarray
        True where the data are missing.
    crop : int
    rng : numpy Generator
    """

    def __init__(self, image, gaps, *, crop: int, rng):
        super().__init__(gaps.shape, crop, rng)
        self.image, self.gaps = image, gaps

    def _moved_gaps(self, shape) -> np.ndarray:
        """The gap mask cut at a random place (wrapping around), maybe flipped."""
        best = None
        for _ in range(10):
            offset = [int(self.rng.integers(0, s)) for s in self.gaps.shape]
            index = np.ix_(*[(o + np.arange(c)) % s
                             for o, c, s in zip(offset, shape, self.gaps.shape)])
            moved = self.gaps[index]
            if moved.any() and not moved.all():
                return moved
            best = moved if best is None else best
        return best

    def _pair(self, augment: bool):
        w = self._scored_window(~self.gaps)
        x = self.image[(slice(None),) + w]
        real = self.gaps[w]
        if augment:
            x = _gain(self.rng, x)
        moved = self._moved_gaps(real.shape)
        scored = moved & ~real
        both = moved | real
        filled = biharmonic_fill(x, both)
        inputs = np.concatenate([filled, both[None].astype(np.float32)])
        packed = _pack(x, scored, filled)
        if augment:
            inputs, packed = self.windows.augment([inputs, packed])
        return np.ascontiguousarray(inputs), np.ascontiguousarray(packed)


def neighbour_mean(x: np.ndarray) -> np.ndarray:
    """Mean of each pixel's neighbours in a 3 x 3 (x 3) box, the pixel itself left out."""
    nd = x.ndim - 1
    kernel = np.ones((3,) * nd, np.float32)
    kernel[(1,) * nd] = 0
    kernel /= kernel.sum()
    return np.stack([ndi.convolve(c, kernel, mode="reflect") for c in x]).astype(np.float32)


class BlindSpotPairs(_Sampler):
    """Noise2Self pairs: a random share of pixels replaced by their neighbours' mean.

    Parameters
    ----------
    image : (C, *spatial) float32 ndarray
        Normalised noisy image (its own target).
    crop : int
    rng : numpy Generator
    fraction : float
        Share of the pixels hidden (and scored) per window.
    """

    def __init__(self, image, *, crop: int, rng, fraction: float):
        super().__init__(image.shape[1:], crop, rng)
        self.image, self.fraction = image, float(fraction)

    def _pair(self, augment: bool):
        w = self.windows.window()
        x = self.image[(slice(None),) + w]
        if augment:
            x = _gain(self.rng, x)
            (x,) = self.windows.augment([x])
        hidden = self.rng.random(x.shape[1:]) < self.fraction
        inputs = np.where(hidden[None], neighbour_mean(x), x).astype(np.float32)
        # the base is the neighbours' mean, which never holds the pixel itself: the same
        # base is used at prediction, where nothing is hidden
        return inputs, _pack(x, hidden, neighbour_mean(inputs))
