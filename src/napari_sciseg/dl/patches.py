"""Training patches sampled around labeled pixels, with augmentation (numpy)."""

from __future__ import annotations

import numpy as np

__all__ = ["PatchSampler"]


class PatchSampler:
    """Crops of a channels-first image around labeled pixels.

    Parameters
    ----------
    image : (C, *spatial) float32 ndarray
        Normalised image; for 2D training on slices, spatial is (Z, Y, X) with the
        slice axis first.
    labels : (*spatial) integer ndarray
        0 = unlabeled, 1..K classes.
    crop : int
        Patch size per model axis (clipped to the image size).
    model_ndim : int
        2 or 3. With a 3D image and ``model_ndim=2`` patches are 2D slices (axis 0).
    rng : numpy Generator
        Source of randomness (crops, flips, intensity changes).

    Notes
    -----
    Each patch is centred near a labeled pixel of a class chosen uniformly, so
    rare classes are seen as often as common ones.
    """

    def __init__(self, image: np.ndarray, labels: np.ndarray, *, crop: int, model_ndim: int,
                 rng: np.random.Generator):
        self.image, self.labels = image, labels
        self.rng = rng
        self.slices = image.ndim - 1 > model_ndim
        model_shape = labels.shape[1:] if self.slices else labels.shape
        self.crop = tuple(min(int(crop), s) for s in model_shape)
        flat = labels.ravel()
        self.by_class = [np.flatnonzero(flat == k) for k in np.unique(flat[flat > 0])]

    def _window(self, center: tuple[int, ...]):
        starts = []
        shape = self.labels.shape[1:] if self.slices else self.labels.shape
        coords = center[1:] if self.slices else center
        for c, size, n in zip(coords, shape, self.crop):
            lo = max(0, c - n + 1)
            hi = min(c, size - n)
            starts.append(int(self.rng.integers(lo, hi + 1)))
        window = tuple(slice(s, s + n) for s, n in zip(starts, self.crop))
        return ((center[0],) + window) if self.slices else window

    def sample(self, n: int, *, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``n`` patches: images ``(n, C, *crop)`` float32 and labels ``(n, *crop)`` int64."""
        xs, ys = [], []
        for _ in range(n):
            pool = self.by_class[int(self.rng.integers(len(self.by_class)))]
            flat = int(pool[self.rng.integers(pool.size)])
            window = self._window(np.unravel_index(flat, self.labels.shape))
            x = self.image[(slice(None),) + window]
            y = self.labels[window]
            if augment:
                x, y = self._augment(x, y)
            xs.append(np.ascontiguousarray(x, dtype=np.float32))
            ys.append(np.ascontiguousarray(y, dtype=np.int64))
        return np.stack(xs), np.stack(ys)

    def _augment(self, x: np.ndarray, y: np.ndarray):
        for axis in range(y.ndim):
            if self.rng.random() < 0.5:
                x, y = np.flip(x, axis + 1), np.flip(y, axis)
        if y.shape[-1] == y.shape[-2]:
            k = int(self.rng.integers(4))
            x, y = np.rot90(x, k, axes=(-2, -1)), np.rot90(y, k, axes=(-2, -1))
        gain = self.rng.uniform(0.85, 1.15, size=(x.shape[0],) + (1,) * y.ndim)
        offset = self.rng.uniform(-0.1, 0.1, size=gain.shape)
        return x * gain.astype(np.float32) + offset.astype(np.float32), y

    def fixed_crops(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` un-augmented crops around labeled pixels (validation), reproducible."""
        flat = np.concatenate(self.by_class)
        picks = self.rng.choice(flat, size=min(n, flat.size), replace=False)
        xs, ys = [], []
        for p in picks:
            window = self._window(np.unravel_index(int(p), self.labels.shape))
            xs.append(np.ascontiguousarray(self.image[(slice(None),) + window], np.float32))
            ys.append(np.ascontiguousarray(self.labels[window], np.int64))
        return np.stack(xs), np.stack(ys)
