"""A fast pixel classifier: a forest of shallow extremely randomised trees on filter features.

Trained on the scribbled pixels in a fraction of a second (scikit-learn's
``ExtraTreesClassifier``), then kept as plain arrays (per tree: children, split
feature, threshold, leaf class probabilities), which is what is saved: a model
file never holds pickled objects. Prediction uses scikit-learn's compiled tree
traversal when a tree can be rebuilt from the arrays, else a vectorised numpy
traversal of the same arrays; both give the same leaves.

The uncertainty is the disagreement of the trees: the standard deviation of the
class probability across trees, the same quantity the deep ensemble reports
across its members.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)).astype(np.float32)
>>> y = np.where(X[:, 0] > 0, 2, 1).astype(np.uint8)
>>> forest = fit_forest(X, y, n_classes=2, trees=4, seed=0)
>>> mean, std = forest.predict_samples(np.array([[2.0, 0, 0], [-2.0, 0, 0]], np.float32))
>>> mean.argmax(axis=1) + 1
array([2, 1])
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from .. import __version__

__all__ = ["ForestConfig", "PixelForest", "fit_forest", "pixel_samples", "ARRAY_NAMES"]

logger = logging.getLogger(__name__)

#: the arrays a forest is made of (all trees' nodes concatenated; ``offsets`` splits them).
ARRAY_NAMES = ("left", "right", "feature", "threshold", "value", "offsets", "depths")


@dataclass(frozen=True)
class ForestConfig:
    """What a saved forest carries besides its arrays.

    Attributes
    ----------
    n_classes, in_channels : int
        Classes K (class k = probability column k - 1) and image channels C.
    dim : str
        "2" (2D image), "2.5" (2D features on slices of a volume), "3" (3D features).
    slice_axis : int
        Axis of the volume along which "2.5" slices are taken.
    sigmas : tuple of float
        Filter-bank scales, in the units of ``spacing`` (pixels when ``spacing`` is None).
    spacing : tuple of float or None
        Pixel size of the training image per spatial axis of the features.
    n_features : int
        Features per pixel the trees split on.
    class_names, class_colors : tuple
    recipe, metrics : dict
        Training settings (trees, max_depth, seed, samples) and results.
    """

    n_classes: int
    in_channels: int
    dim: str
    slice_axis: int
    sigmas: tuple
    spacing: tuple | None
    n_features: int
    class_names: tuple = ()
    class_colors: tuple = ()
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    arch: str = "forest"
    version: str = __version__

    @property
    def model_ndim(self) -> int:
        """Dimensionality of the features (2 for "2" and "2.5", 3 for "3")."""
        return 3 if self.dim == "3" else 2

    @property
    def member_configs(self) -> list:
        """One entry per tree (the forest's members), for code written for ensembles."""
        return [{"tree": i} for i in range(int(self.recipe.get("trees", 0)))]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sigmas"] = [float(s) for s in self.sigmas]
        d["spacing"] = None if self.spacing is None else [float(s) for s in self.spacing]
        d["class_names"] = list(self.class_names)
        d["class_colors"] = [None if c is None else list(c) for c in self.class_colors]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ForestConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown forest config fields {sorted(unknown)}.")
        d = dict(d)
        d["sigmas"] = tuple(d.get("sigmas", ()))
        d["spacing"] = None if d.get("spacing") is None else tuple(d["spacing"])
        d["class_names"] = tuple(d.get("class_names", ()))
        d["class_colors"] = tuple(None if c is None else tuple(c)
                                  for c in d.get("class_colors", ()))
        return cls(**d)


def pixel_samples(features: np.ndarray, scribbles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and class ids of the scribbled pixels.

    Parameters
    ----------
    features : (*spatial, F) ndarray
        Pixel features, channels last.
    scribbles : (*spatial) int ndarray
        0 unlabeled, 1..K classes.

    Returns
    -------
    X : (N, F) float32 ndarray
    y : (N,) int64 ndarray
    """
    scribbles = np.asarray(scribbles)
    if tuple(features.shape[:-1]) != scribbles.shape:
        raise ValueError(f"scribbles shape {scribbles.shape} does not match the features' "
                         f"spatial shape {tuple(features.shape[:-1])}.")
    mask = scribbles > 0
    return np.ascontiguousarray(features[mask], np.float32), scribbles[mask].astype(np.int64)


def _balanced_subsample(y: np.ndarray, per_class: int, rng) -> np.ndarray:
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(idx if idx.size <= per_class else rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(keep))


def check_classes(y: np.ndarray, n_classes: int, class_names=()) -> None:
    """Raise when fewer than two classes are scribbled, naming the missing ones."""
    present = set(np.unique(y).tolist()) if y.size else set()
    if len(present) >= 2:
        return
    names = list(class_names) or [f"class {c}" for c in range(1, n_classes + 1)]
    missing = [names[c - 1] if c - 1 < len(names) else f"class {c}"
               for c in range(1, max(n_classes, 2) + 1) if c not in present]
    had = ", ".join(names[c - 1] if c - 1 < len(names) else f"class {c}" for c in sorted(present))
    raise ValueError(
        f"Scribbles hold {'only ' + had if had else 'no class'}; paint at least two classes. "
        f"Missing: {', '.join(missing)}."
    )


class PixelForest:
    """A trained forest: :class:`ForestConfig` + node arrays (see :data:`ARRAY_NAMES`)."""

    def __init__(self, config: ForestConfig, arrays: dict, *, estimators=None):
        self.config = config
        self.arrays = {k: np.asarray(arrays[k]) for k in ARRAY_NAMES}
        self._trees = estimators  # scikit-learn Tree objects (fast traversal) or None
        if self._trees is None:
            self._trees = _rebuild_trees(self)

    @property
    def n_trees(self) -> int:
        return len(self.arrays["offsets"]) - 1

    def _tree(self, t: int):
        a, o = self.arrays, self.arrays["offsets"]
        s = slice(int(o[t]), int(o[t + 1]))
        return a["left"][s], a["right"][s], a["feature"][s], a["threshold"][s], a["value"][s]

    def apply(self, X: np.ndarray, t: int, *, engine: str = "auto") -> np.ndarray:
        """Leaf index (within tree ``t``) reached by each row of ``X`` (N, F)."""
        if engine != "numpy" and self._trees is not None:
            return np.asarray(self._trees[t].apply(X))
        left, right, feature, threshold, _ = self._tree(t)
        node = np.zeros(len(X), np.int64)
        active = np.arange(len(X))
        for _ in range(int(self.arrays["depths"][t]) + 1):
            cur = node[active]
            inner = left[cur] >= 0
            active, cur = active[inner], cur[inner]
            if active.size == 0:
                break
            go_left = X[active, feature[cur]] <= threshold[cur]
            node[active] = np.where(go_left, left[cur], right[cur])
        return node

    def predict_samples(self, X: np.ndarray, *, engine: str = "auto", threads: int = 2):
        """Mean and across-tree std of the class probabilities of rows ``X`` (N, F).

        Trees run on up to ``threads`` threads (scikit-learn's traversal releases the GIL).

        Returns
        -------
        mean, std : (N, K) float32 ndarray
        """
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.config.n_features:
            raise ValueError(f"expected samples of shape (N, {self.config.n_features}); "
                             f"got {X.shape}.")
        k = self.config.n_classes
        # two classes: p0 = 1 - p1 and both have the same spread, so accumulate one column
        cols = [1] if k == 2 else list(range(k))
        total = np.zeros((len(cols), len(X)), np.float32)
        squares = np.zeros_like(total)

        def one_tree(t):
            leaf = self.apply(X, t, engine=engine)
            value = self._tree(t)[4]
            return [np.take(np.ascontiguousarray(value[:, c]), leaf) for c in cols]

        def add(parts):
            for i, p in enumerate(parts):
                total[i] += p
                squares[i] += p * p

        if threads > 1 and self.n_trees > 1 and engine != "numpy" and self._trees is not None:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                for parts in pool.map(one_tree, range(self.n_trees)):
                    add(parts)
        else:
            for t in range(self.n_trees):
                add(one_tree(t))
        total /= self.n_trees
        std = np.sqrt(np.maximum(squares / self.n_trees - total * total, 0.0))
        if k == 2:
            return np.stack([1 - total[0], total[0]], 1), np.stack([std[0], std[0]], 1)
        return total.T, std.T


def _rebuild_trees(forest: PixelForest):
    """scikit-learn Tree objects from the arrays (None if scikit-learn cannot take them)."""
    try:
        from sklearn.tree._tree import NODE_DTYPE, Tree
    except ImportError:
        return None
    trees = []
    k = forest.config.n_classes
    try:
        for t in range(forest.n_trees):
            left, right, feature, threshold, value = forest._tree(t)
            nodes = np.zeros(len(left), dtype=NODE_DTYPE)
            nodes["left_child"], nodes["right_child"] = left, right
            nodes["feature"] = np.where(left >= 0, feature, -2)
            nodes["threshold"] = np.where(left >= 0, threshold, -2.0)
            nodes["n_node_samples"] = 1
            nodes["weighted_n_node_samples"] = 1.0
            tree = Tree(forest.config.n_features, np.array([k], dtype=np.intp), 1)
            tree.__setstate__({"max_depth": int(forest.arrays["depths"][t]),
                               "node_count": len(left), "nodes": nodes,
                               "values": value.astype(np.float64)[:, None, :]})
            trees.append(tree)
    except (ValueError, TypeError, KeyError) as exc:  # another scikit-learn node layout
        logger.info("forest: numpy traversal (scikit-learn trees not rebuilt: %s)", exc)
        return None
    return trees


def fit_forest(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    trees: int = 16,
    max_depth: int | None = 12,
    max_samples: int = 10_000,
    seed: int = 0,
    threads: int = 2,
    config: dict | None = None,
) -> PixelForest:
    """Fit an extremely randomised forest on feature rows ``X`` with classes ``y`` (1..K).

    Parameters
    ----------
    X : (N, F) float ndarray
    y : (N,) int ndarray
        Class ids 1..K.
    n_classes : int
        K (classes that exist, painted or not).
    trees, max_depth : int
        Forest size; few shallow-ish trees keep training and prediction fast.
    max_samples : int
        At most this many pixels per class (drawn at random) are used.
    seed : int
    threads : int
        Trees built at once (threads).
    config : dict, optional
        Further :class:`ForestConfig` fields (dim, sigmas, spacing, class names...).

    Returns
    -------
    PixelForest
    """
    from sklearn.ensemble import ExtraTreesClassifier

    X = np.asarray(X, np.float32)
    y = np.asarray(y)
    cfg = dict(config or {})
    check_classes(y, n_classes, cfg.get("class_names", ()))
    if int(y.max()) > n_classes:
        raise ValueError(f"scribbles use class {int(y.max())} but only {n_classes} classes "
                         "are declared; add the class or erase those strokes.")
    rng = np.random.default_rng(seed)
    keep = _balanced_subsample(y, max_samples, rng)
    clf = ExtraTreesClassifier(n_estimators=trees, max_depth=max_depth, random_state=seed,
                               n_jobs=threads, max_features="sqrt",
                               min_samples_leaf=2)
    clf.fit(X[keep], y[keep])
    arrays = _to_arrays(clf, n_classes)
    cfg.setdefault("in_channels", 1)
    cfg.setdefault("dim", "2")
    cfg.setdefault("slice_axis", 0)
    cfg.setdefault("sigmas", ())
    cfg.setdefault("spacing", None)
    recipe = {"trees": trees, "max_depth": max_depth, "max_samples": max_samples, "seed": seed,
              **cfg.pop("recipe", {})}
    metrics = {"train_pixels": int(len(y)), "used_pixels": int(len(keep)), **cfg.pop("metrics", {})}
    config = ForestConfig(n_classes=n_classes, n_features=X.shape[1], recipe=recipe,
                          metrics=metrics, **cfg)
    return PixelForest(config, arrays, estimators=[e.tree_ for e in clf.estimators_])


def _to_arrays(clf, n_classes: int) -> dict:
    """Concatenate the trees of a fitted scikit-learn forest into flat arrays."""
    parts = {k: [] for k in ("left", "right", "feature", "threshold", "value")}
    offsets, depths = [0], []
    columns = np.asarray(clf.classes_, dtype=np.int64) - 1
    for est in clf.estimators_:
        tree = est.tree_
        n = tree.node_count
        parts["left"].append(tree.children_left.astype(np.int64))
        parts["right"].append(tree.children_right.astype(np.int64))
        parts["feature"].append(np.maximum(tree.feature, 0).astype(np.int64))
        parts["threshold"].append(tree.threshold.astype(np.float64))
        counts = tree.value[:, 0, :]
        probs = np.zeros((n, n_classes), np.float32)
        probs[:, columns] = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
        parts["value"].append(probs)
        offsets.append(offsets[-1] + n)
        depths.append(tree.max_depth)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays["offsets"] = np.asarray(offsets, np.int64)
    arrays["depths"] = np.asarray(depths, np.int64)
    return arrays
