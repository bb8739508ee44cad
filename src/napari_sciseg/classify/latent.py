"""Latent spaces without torch: cut tiles, a 2-D UMAP, clusters of latent vectors.

The torch side (an autoencoder that turns tiles into vectors) is
:mod:`napari_sciseg.dl.autoencoder`; :func:`napari_sciseg.dl.embedding.embed_tiles`
joins the two.
"""

from __future__ import annotations

import warnings
from enum import StrEnum

import numpy as np

from .._validation import check_choice

__all__ = ["ClusterMethod", "cut_tiles", "umap_embedding", "cluster_vectors", "UMAP_EXTRA",
           "tile_label_image"]

#: the optional extra that installs umap-learn
UMAP_EXTRA = "pip install 'napari-sciseg[umap]'"


class ClusterMethod(StrEnum):
    """How latent vectors are grouped (``"none"`` skips clustering)."""

    NONE = "none"
    KMEANS = "kmeans"
    HDBSCAN = "hdbscan"


def cut_tiles(image: np.ndarray, tile_shape, *, stride=None) -> tuple[np.ndarray, np.ndarray]:
    """Whole tiles of ``tile_shape`` on a regular grid (a partial last row is left out).

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray, or with a leading channel axis (C, ...)
        when ``len(tile_shape)`` is one less than ``image.ndim``.
    tile_shape : tuple of int
    stride : tuple of int, optional
        Step between tile origins (default ``tile_shape``: no overlap).

    Returns
    -------
    tiles : (N, *tile_shape) or (N, C, *tile_shape) ndarray
    origins : (N, len(tile_shape)) int ndarray
        Index of each tile's first pixel.

    Examples
    --------
    >>> tiles, origins = cut_tiles(np.arange(50.0).reshape(5, 10), (2, 4))
    >>> tiles.shape, origins.tolist()
    ((4, 2, 4), [[0, 0], [0, 4], [2, 0], [2, 4]])
    """
    tile = tuple(int(t) for t in tile_shape)
    image = np.asarray(image)
    spatial = image.shape[image.ndim - len(tile):]
    if image.ndim - len(tile) not in (0, 1) or min(tile) < 1:
        raise ValueError(f"tile_shape {tile} does not fit an image of shape {image.shape}; "
                         "give one positive size per spatial axis.")
    step = tile if stride is None else tuple(int(s) for s in stride)
    if len(step) != len(tile) or min(step) < 1:
        raise ValueError(f"stride must have {len(tile)} positive sizes; got {stride!r}.")
    if any(s < t for s, t in zip(spatial, tile)):
        raise ValueError(f"the image ({spatial}) is smaller than one tile ({tile}); use a "
                         "smaller tile size.")
    axes = [np.arange(0, s - t + 1, d) for s, t, d in zip(spatial, tile, step)]
    origins = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(tile))
    lead = (slice(None),) * (image.ndim - len(tile))
    tiles = np.stack([image[lead + tuple(slice(o, o + t) for o, t in zip(org, tile))]
                      for org in origins])
    return tiles, origins


def tile_label_image(shape, origins: np.ndarray, tile_shape, values) -> np.ndarray:
    """An int image where each tile's pixels hold its value (0 elsewhere; later tiles win).

    >>> tile_label_image((2, 4), np.array([[0, 0], [0, 2]]), (2, 2), [1, 3]).tolist()
    [[1, 1, 3, 3], [1, 1, 3, 3]]
    """
    out = np.zeros(tuple(shape), np.int32)
    for org, value in zip(np.asarray(origins), values):
        out[tuple(slice(int(o), int(o) + int(t)) for o, t in zip(org, tile_shape))] = value
    return out


def umap_embedding(vectors: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1,
                   seed: int = 0) -> np.ndarray:
    """A seeded 2-D UMAP of the vectors (needs the ``umap`` extra).

    Parameters
    ----------
    vectors : (N, L) ndarray
    n_neighbors, min_dist
        UMAP's settings (``n_neighbors`` is capped at N - 1).
    seed : int

    Returns
    -------
    (N, 2) float32 ndarray

    Raises
    ------
    ImportError
        umap-learn is not installed; the message names the extra to install.
    """
    try:
        with warnings.catch_warnings():  # umap-learn warns that TensorFlow (ParametricUMAP,
            warnings.simplefilter("ignore", ImportWarning)  # not used here) is missing
            import umap
    except ImportError:
        raise ImportError(f"the UMAP step needs umap-learn: {UMAP_EXTRA}") from None
    vectors = np.asarray(vectors, np.float32)
    if len(vectors) < 3:
        raise ValueError(f"a UMAP needs at least 3 tiles; got {len(vectors)}.")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(int(n_neighbors), len(vectors) - 1),
                        min_dist=float(min_dist), random_state=int(seed), n_jobs=1)
    return reducer.fit_transform(vectors).astype(np.float32)


def cluster_vectors(vectors: np.ndarray, *, method: str = "kmeans", n_clusters: int = 4,
                    min_cluster_size: int | None = None, seed: int = 0) -> np.ndarray:
    """Cluster ids 1..K of latent (or UMAP) vectors; 0 is HDBSCAN's noise.

    Parameters
    ----------
    vectors : (N, L) ndarray
    method : {"kmeans", "hdbscan"}
    n_clusters : int
        k-means only.
    min_cluster_size : int, optional
        HDBSCAN only (default max(5, N // 50)).
    seed : int

    Returns
    -------
    (N,) int ndarray

    Examples
    --------
    >>> pts = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10]
    >>> cluster_vectors(pts, n_clusters=2).tolist() in ([1] * 5 + [2] * 5, [2] * 5 + [1] * 5)
    True
    """
    check_choice("cluster method", method, ["kmeans", "hdbscan"])
    vectors = np.asarray(vectors, np.float64)
    if method == ClusterMethod.KMEANS:
        from sklearn.cluster import KMeans

        if not 1 <= int(n_clusters) <= len(vectors):
            raise ValueError(f"n_clusters must be between 1 and the number of tiles "
                             f"({len(vectors)}); got {n_clusters}.")
        km = KMeans(n_clusters=int(n_clusters), n_init=10, random_state=int(seed))
        return km.fit_predict(vectors).astype(np.int32) + 1
    from sklearn.cluster import HDBSCAN

    size = int(min_cluster_size or max(5, len(vectors) // 50))
    model = HDBSCAN(min_cluster_size=min(size, len(vectors)), copy=True)
    return model.fit_predict(vectors).astype(np.int32) + 1
