"""Texture classifiers for small data sets: per-pixel features -> a descriptor -> boosting.

The engine shared by the AFM crystal classes (:mod:`napari_sciseg.classify.afm`) and
the general image classifier (:mod:`napari_sciseg.classify.images`): the per-pixel
features are the filter bank below, or hypercolumns of a network passed in as
``features`` (:func:`fit_vlad`).

Two descriptors of a scan's per-pixel features: ``"vlad"`` (a k-means
dictionary and VLAD, below) and ``"texture"`` (per-feature mean, standard
deviation and 10th/50th/90th percentiles over the scan's pixels: texture
statistics, the classical baseline of image classification).

After Luo, Holm & Wang (2021), who encoded per-pixel CNN hypercolumns with VLAD
against a k-means dictionary and classified with gradient boosting. No
pretrained network can be downloaded here, so the per-pixel features are a
multi-scale filter bank (Gaussian, gradient magnitude, Laplacian of Gaussian
and the two Hessian eigenvalues at several scales, per channel): the same
idea of stacked multi-scale convolution responses.

The fitted model is stored as plain arrays (centroids, feature scaling and the
boosted trees' nodes) so that loading never unpickles code; prediction runs in
numpy. scikit-learn (the ``ml`` extra) is only needed for fitting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "pixel_features",
    "vlad_encode",
    "word_fractions",
    "texture_statistics",
    "VladModel",
    "fit_vlad",
    "DESCRIPTORS",
]

logger = logging.getLogger(__name__)

SIGMAS = (1.0, 2.0, 4.0)
_SETTINGS = ("learning_rate", "n_classes", "descriptor")
DESCRIPTORS = ("vlad", "texture")
_PERCENTILES = (10.0, 50.0, 90.0)


def pixel_features(scan: np.ndarray, *, sigmas=SIGMAS) -> np.ndarray:
    """Per-pixel multi-scale filter responses.

    Parameters
    ----------
    scan : (C, Y, X) ndarray
        Levelled, normalised channels.

    Returns
    -------
    (Y, X, C * 5 * len(sigmas)) float32 ndarray

    Examples
    --------
    >>> pixel_features(np.zeros((2, 16, 16))).shape
    (16, 16, 30)
    """
    feats = []
    for channel in np.asarray(scan, dtype=np.float32):
        for s in sigmas:
            g = ndi.gaussian_filter(channel, s)
            gy, gx = np.gradient(g)
            hyy, hyx = np.gradient(gy)
            _, hxx = np.gradient(gx)
            tr, det = hyy + hxx, hyy * hxx - hyx**2
            disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
            feats += [
                g,
                np.hypot(gy, gx) * s,
                tr * s**2,
                (tr / 2 + disc) * s**2,
                (tr / 2 - disc) * s**2,
            ]
    return np.stack(feats, axis=-1).astype(np.float32)


def _nearest(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    # nearest centroid by |c|^2 - 2 f.c (|f|^2 is the same for every centroid)
    return ((centroids**2).sum(1)[None] - 2.0 * features @ centroids.T).argmin(1)


def vlad_encode(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """VLAD: per centroid, the sum of residuals of the features assigned to it.

    Signed square root then L2 normalisation (the usual power normalisation).

    Parameters
    ----------
    features : (N, D) ndarray
    centroids : (K, D) ndarray

    Returns
    -------
    (K * D,) float32 ndarray

    Examples
    --------
    >>> v = vlad_encode(np.array([[1.0, 0.0], [3.0, 0.0]]), np.array([[0.0, 0.0], [3.0, 0.0]]))
    >>> v.round(3).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    features = np.asarray(features, dtype=np.float64)
    centroids = np.asarray(centroids, dtype=np.float64)
    nearest = _nearest(features, centroids)
    onehot = np.zeros((len(centroids), len(features)))
    onehot[nearest, np.arange(len(features))] = 1.0
    out = onehot @ features - onehot.sum(1)[:, None] * centroids
    out = np.sign(out) * np.sqrt(np.abs(out))
    norm = np.linalg.norm(out)
    return (out.ravel() / norm if norm > 0 else out.ravel()).astype(np.float32)


def word_fractions(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Fraction of the features nearest to each centroid (a bag-of-words histogram).

    Examples
    --------
    >>> word_fractions(np.array([[0.0], [0.1], [2.9]]), np.array([[0.0], [3.0]])) * 3
    array([2., 1.], dtype=float32)
    """
    features = np.asarray(features, dtype=np.float64)
    centroids = np.asarray(centroids, dtype=np.float64)
    counts = np.bincount(_nearest(features, centroids), minlength=len(centroids))
    return (counts / max(len(features), 1)).astype(np.float32)


def texture_statistics(features: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and 10th/50th/90th percentiles of each feature.

    Parameters
    ----------
    features : (N, D) ndarray
        Standardised per-pixel features.

    Returns
    -------
    (5 * D,) float32 ndarray

    Examples
    --------
    >>> texture_statistics(np.arange(11.0)[:, None]).tolist()
    [5.0, 3.1622776985168457, 1.0, 5.0, 9.0]
    """
    features = np.asarray(features, dtype=np.float64)
    pct = np.percentile(features, _PERCENTILES, axis=0)
    return np.concatenate([features.mean(0), features.std(0), *pct]).astype(np.float32)


@dataclass(frozen=True)
class VladModel:
    """A fitted VLAD + gradient-boosting classifier, as arrays.

    Tree arrays are concatenated over all trees; ``tree_offsets[t]`` is the
    first node of tree t, trees ordered stage-major then class. ``descriptor``
    is ``"vlad"`` (``centroids`` the dictionary) or ``"texture"`` (no centroids).
    """

    centroids: np.ndarray
    feat_mean: np.ndarray
    feat_std: np.ndarray
    init_raw: np.ndarray
    learning_rate: float
    n_classes: int
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    tree_offsets: np.ndarray
    descriptor: str = "vlad"

    def arrays(self) -> dict:
        """The arrays to save (everything but :meth:`settings`)."""
        return {k: np.asarray(v) for k, v in self.__dict__.items() if k not in _SETTINGS}

    def settings(self) -> dict:
        """The scalar settings to save beside the arrays (JSON)."""
        return {k: getattr(self, k) for k in _SETTINGS}

    @classmethod
    def from_arrays(
        cls, arrays: dict, *, learning_rate: float, n_classes: int, descriptor: str = "vlad"
    ) -> VladModel:
        return cls(
            learning_rate=learning_rate,
            n_classes=n_classes,
            descriptor=descriptor,
            **{k: np.asarray(v) for k, v in arrays.items()},
        )

    def encode(
        self,
        scan: np.ndarray,
        *,
        n_pixels: int | None = None,
        seed: int = 0,
        features: np.ndarray | None = None,
    ) -> np.ndarray:
        """The descriptor of a prepared (C, Y, X) scan (all pixels or a sample).

        The VLAD vector (K * D) followed by the fraction of pixels assigned to
        each visual word (K): VLAD is L2-normalised, so on its own it says how
        pixels differ from the words but hardly how many there are, and a
        class defined by crystal counts needs the areas.
        """
        feats = pixel_features(scan) if features is None else features
        flat = feats.reshape(-1, feats.shape[-1])
        if n_pixels and n_pixels < len(flat):
            flat = flat[np.random.default_rng(seed).choice(len(flat), n_pixels, replace=False)]
        flat = (flat - self.feat_mean) / self.feat_std
        if self.descriptor == "texture":
            return texture_statistics(flat)
        return np.concatenate(
            [vlad_encode(flat, self.centroids), word_fractions(flat, self.centroids)]
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K) of encoded vectors (N, F) (+ metadata columns)."""
        # trees compare float32 features, as scikit-learn does
        x = np.atleast_2d(np.asarray(x, dtype=np.float32)).astype(np.float64)
        raw = np.tile(self.init_raw, (len(x), 1)).astype(np.float64)
        n_trees = len(self.tree_offsets)
        for t in range(n_trees):
            node = np.full(len(x), self.tree_offsets[t])
            while True:
                leaf = self.left[node] < 0
                if leaf.all():
                    break
                go_left = (
                    x[np.arange(len(x)), np.maximum(self.feature[node], 0)] <= self.threshold[node]
                )
                nxt = np.where(go_left, self.left[node], self.right[node]) + self.tree_offsets[t]
                node = np.where(leaf, node, nxt)
            raw[:, t % self.n_classes] += self.learning_rate * self.value[node]
        raw -= raw.max(1, keepdims=True)
        p = np.exp(raw)
        return (p / p.sum(1, keepdims=True)).astype(np.float32)


def fit_vlad(
    scans: list[np.ndarray],
    labels: np.ndarray,
    *,
    extra: np.ndarray | None = None,
    n_classes: int = 5,
    k: int = 16,
    pixels_per_scan: int = 1000,
    n_estimators: int = 60,
    seed: int = 0,
    descriptor: str = "vlad",
    features: list[np.ndarray] | None = None,
    sample_weight: np.ndarray | None = None,
    max_depth: int = 3,
) -> VladModel:
    """Fit the dictionary and the boosted trees on prepared scans.

    Parameters
    ----------
    scans : list of (C, Y, X) ndarrays
        Prepared scans (see ``classify.afm.scans.prepare_scan``).
    labels : (N,) int ndarray
    extra : (N, M) ndarray, optional
        Metadata vectors appended to the VLAD vectors.
    k : int
        Dictionary size (``descriptor="vlad"``).
    pixels_per_scan, n_estimators, seed : int
        Pixels per scan sampled for the dictionary and feature scaling, boosting
        stages, seed.
    descriptor : {"vlad", "texture"}
        The scan descriptor (see the module docstring).
    features : list of (Y, X, D) ndarrays, optional
        Per-pixel features of each scan (network hypercolumns); default the
        filter bank :func:`pixel_features`.
    sample_weight : (N,) ndarray, optional
        Weights of the scans; default class-balanced (every class weighs the same).
    max_depth : int
        Depth of the boosted trees.

    Returns
    -------
    VladModel
    """
    from .._validation import check_choice

    check_choice("descriptor", descriptor, DESCRIPTORS)
    try:
        from sklearn.cluster import MiniBatchKMeans
        from sklearn.ensemble import GradientBoostingClassifier
    except ImportError as exc:
        raise ImportError(
            "The texture classifiers need scikit-learn: pip install 'napari-sciseg[ml]'."
        ) from exc
    rng = np.random.default_rng(seed)
    feats = [pixel_features(s) for s in scans] if features is None else list(features)
    sample = np.concatenate(
        [
            f.reshape(-1, f.shape[-1])[
                rng.choice(
                    f.shape[0] * f.shape[1],
                    min(pixels_per_scan, f.shape[0] * f.shape[1]),
                    replace=False,
                )
            ]
            for f in feats
        ]
    )
    mean, std = sample.mean(0), sample.std(0) + 1e-6
    if descriptor == "vlad":
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048)
        km.fit((sample - mean) / std)
        centroids = km.cluster_centers_.astype(np.float32)
    else:
        centroids = np.zeros((0, sample.shape[1]), np.float32)
    partial = VladModel(
        centroids, mean, std, np.zeros(n_classes), 0.1, n_classes, *(np.zeros(1),) * 6, descriptor
    )
    x = np.stack(
        [
            partial.encode(s, features=f, n_pixels=4 * pixels_per_scan, seed=i)
            for i, (s, f) in enumerate(zip(scans, feats))
        ]
    )
    if extra is not None and extra.size:
        x = np.concatenate([x, extra], axis=1)
    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) == 1:  # nothing to boost: always that class (a fold of one class)
        return _constant(partial, int(present[0]))
    gbm = GradientBoostingClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        learning_rate=0.1,
        subsample=0.8,
        random_state=seed,
    )
    if sample_weight is None:
        # class-balanced, like the networks: macro F1 weighs every class the same
        counts = np.bincount(labels, minlength=n_classes).astype(float)
        sample_weight = len(labels) / (len(present) * counts[labels])
    gbm.fit(x, labels, sample_weight=sample_weight)
    return _export(partial, gbm, present, n_classes)


def _constant(partial: VladModel, cls: int) -> VladModel:
    """A classifier without trees that always answers ``cls``."""
    init = np.full(partial.n_classes, -30.0)
    init[cls] = 0.0
    ints, floats = np.zeros(0, np.int64), np.zeros(0)
    return VladModel(
        partial.centroids,
        partial.feat_mean.astype(np.float32),
        partial.feat_std.astype(np.float32),
        init,
        0.1,
        partial.n_classes,
        ints,
        ints,
        ints,
        floats,
        floats,
        ints,
        partial.descriptor,
    )


def _export(partial: VladModel, gbm, present, n_classes: int) -> VladModel:
    """Trees of a fitted GradientBoostingClassifier -> flat arrays (classes by index)."""
    init = np.full(n_classes, -30.0)
    raw0 = gbm._raw_predict_init(np.zeros((1, gbm.n_features_in_)))[0]
    if len(present) == 2:  # binary: one tree per stage on the positive-class logit
        init[present[1]] = raw0[0]
        init[present[0]] = 0.0
    else:
        init[present] = raw0
    left, right, feature, threshold, value, offsets = [], [], [], [], [], []
    offset = 0
    for stage in gbm.estimators_:
        for j in range(n_classes):
            cls_pos = np.flatnonzero(present == j)
            if len(present) == 2:
                tree = stage[0].tree_ if j == present[1] else None
            else:
                tree = stage[cls_pos[0]].tree_ if len(cls_pos) else None
            if tree is None:  # a class absent from training: a constant zero tree
                for arr, v in zip((left, right, feature, threshold, value), (-1, -1, 0, 0.0, 0.0)):
                    arr.append([v])
                n = 1
            else:
                left.append(tree.children_left)
                right.append(tree.children_right)
                feature.append(tree.feature)
                threshold.append(tree.threshold)
                value.append(tree.value[:, 0, 0])
                n = tree.node_count
            offsets.append(offset)
            offset += n
    return VladModel(
        partial.centroids,
        partial.feat_mean.astype(np.float32),
        partial.feat_std.astype(np.float32),
        init.astype(np.float64),
        float(gbm.learning_rate),
        n_classes,
        np.concatenate(left).astype(np.int64),
        np.concatenate(right).astype(np.int64),
        np.concatenate(feature).astype(np.int64),
        np.concatenate(threshold).astype(np.float64),
        np.concatenate(value).astype(np.float64),
        np.array(offsets, np.int64),
        partial.descriptor,
    )
