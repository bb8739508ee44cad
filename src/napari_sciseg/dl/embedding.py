"""Tiles -> latent vectors -> 2-D UMAP -> clusters: the workflow of ``sciseg embed``
and of the latent-space viewer.

:func:`iter_embed_tiles` cuts tiles from one image or several, trains an autoencoder
on them (or takes a trained one), encodes every tile, maps the latent vectors to 2-D
with UMAP (the ``umap`` extra; skipped with a note naming it when missing) and
optionally clusters them. The result carries the table written by the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from .._generators import drain
from ..classify.latent import ClusterMethod, cluster_vectors, cut_tiles, umap_embedding
from .autoencoder import (
    AutoencoderProgress,
    TrainedAutoencoder,
    encode_tiles,
    iter_train_autoencoder,
)

__all__ = ["Embedding", "iter_embed_tiles", "embed_tiles"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embedding:
    """Latent vectors of tiles with where they came from.

    Attributes
    ----------
    vectors : (N, L) float32 ndarray
        Latent vector of each tile.
    origins : (N, ndim) int ndarray
        First pixel of each tile in its image.
    sources : (N,) int ndarray
        Index of each tile's image in the input list.
    tile_shape : tuple of int
    umap : (N, 2) ndarray or None
        None when the UMAP step was skipped (see ``notes``).
    clusters : (N,) int ndarray or None
        1..K (0: HDBSCAN noise); None without clustering.
    model : TrainedAutoencoder
    notes : tuple of str
        What was skipped or assumed, for the user.
    """

    vectors: np.ndarray
    origins: np.ndarray
    sources: np.ndarray
    tile_shape: tuple
    umap: np.ndarray | None
    clusters: np.ndarray | None
    model: TrainedAutoencoder
    notes: tuple = ()

    def table(self, names: Sequence[str] | None = None) -> dict:
        """Columns for a CSV: image, tile origin, cluster, UMAP x/y, latent values."""
        axes = "zyx"[3 - self.origins.shape[1]:]
        src = [names[i] for i in self.sources] if names is not None else list(self.sources)
        table = {"image": src}
        for i, ax in enumerate(axes):
            table[ax] = self.origins[:, i]
        if self.clusters is not None:
            table["cluster"] = self.clusters
        if self.umap is not None:
            table["umap_x"], table["umap_y"] = self.umap[:, 0], self.umap[:, 1]
        for j in range(self.vectors.shape[1]):
            table[f"latent_{j}"] = self.vectors[:, j]
        return table


def _tiles_of(images, tile_shape, stride, channel_axis):
    if isinstance(images, np.ndarray):
        images = [images]
    tiles, origins, sources = [], [], []
    for i, image in enumerate(images):
        image = np.asarray(image)
        if channel_axis is not None:
            image = np.moveaxis(image, channel_axis, 0)
        elif image.ndim != len(tile_shape):
            raise ValueError(f"image {i} has shape {image.shape}; with tiles of {tile_shape} "
                             f"expected {len(tile_shape)} axes (give channel_axis for a "
                             "multi-channel image).")
        t, o = cut_tiles(image, tile_shape, stride=stride)
        tiles.append(t)
        origins.append(o)
        sources.append(np.full(len(o), i))
    return np.concatenate(tiles), np.concatenate(origins), np.concatenate(sources)


def _tile_shape(tile, ndim, model) -> tuple:
    if model is not None:
        if tile is not None and tuple(np.broadcast_to(tile, model.network.ndim)) \
                != model.tile_shape:
            raise ValueError(f"tile {tile} differs from the model's tiles {model.tile_shape}; "
                             "leave tile out to use the model's.")
        return model.tile_shape
    tile = 64 if tile is None else tile
    return tuple(int(t) for t in np.broadcast_to(tile, ndim))


def _map_and_cluster(vectors, *, umap, cluster, n_clusters, cluster_on, seed, notes):
    xy = None
    if umap:
        try:
            xy = umap_embedding(vectors, seed=seed)
        except ImportError as exc:
            notes.append(f"UMAP skipped: {exc}")
            logger.warning("UMAP skipped: %s", exc)
    if cluster == ClusterMethod.NONE:
        return xy, None
    use_umap = cluster_on == "umap" or (cluster_on == "auto" and xy is not None)
    if use_umap and xy is None:
        raise ValueError("cluster_on='umap' needs the UMAP step (umap=True and umap-learn "
                         "installed); use cluster_on='latent'.")
    data = xy if use_umap else vectors
    notes.append(f"{cluster} clusters of the {'UMAP' if use_umap else 'latent vectors'}")
    return xy, cluster_vectors(data, method=cluster, n_clusters=n_clusters, seed=seed)


def iter_embed_tiles(
        images, *, tile=None, stride=None, ndim: int = 2, channel_axis: int | None = None,
        model: TrainedAutoencoder | None = None, train_kwargs: dict | None = None,
        umap: bool = True, cluster: str = "kmeans", n_clusters: int = 4,
        cluster_on: str = "auto", seed: int = 0, cancel=None,
) -> Generator[AutoencoderProgress, None, Embedding | None]:
    """Embed the tiles of images in an autoencoder's latent space; yield progress.

    Parameters
    ----------
    images : ndarray or sequence of ndarray
        (Y, X) or (Z, Y, X) images (a channel axis at ``channel_axis``); a stack of
        ready tiles is a list of them.
    tile : int or tuple of int, optional
        Tile size (default 64, or the model's tiles).
    stride : tuple of int, optional
        Step between tiles (default: the tile size, no overlap).
    ndim : {2, 3}
        Spatial axes (when ``tile`` is one number).
    model : TrainedAutoencoder, optional
        Encode with this model; None trains one on the tiles (``train_kwargs`` go to
        :func:`~.autoencoder.iter_train_autoencoder`; its seed defaults to ``seed``).
    umap : bool
        Compute the 2-D UMAP (skipped with a note when umap-learn is missing).
    cluster : {"kmeans", "hdbscan", "none"}
    n_clusters : int
        For k-means.
    cluster_on : {"auto", "umap", "latent"}
        Cluster the UMAP points ("auto": when there is a UMAP) or the latent vectors.
    seed : int
    cancel : threading.Event, optional
        Checked during training; when set, the generator returns None.

    Yields
    ------
    AutoencoderProgress

    Returns
    -------
    Embedding or None
        None when cancelled.

    Examples
    --------
    >>> from napari_sciseg.data.shapes import shapes_mosaic
    >>> image, _ = shapes_mosaic(2, 2, size=16)
    >>> emb = embed_tiles(image, tile=16, umap=False, n_clusters=2,
    ...                   train_kwargs={"depth": 2, "base_channels": 2, "latent_size": 3,
    ...                                 "steps": 2})
    >>> emb.vectors.shape, emb.origins.tolist()
    ((4, 3), [[0, 0], [0, 16], [16, 0], [16, 16]])
    """
    check = [m.value for m in ClusterMethod]
    if cluster not in check:
        raise ValueError(f"Unknown cluster method {cluster!r}; expected one of {check}.")
    if cluster_on not in ("auto", "umap", "latent"):
        raise ValueError(f"cluster_on must be 'auto', 'umap' or 'latent'; got {cluster_on!r}.")
    tile_shape = _tile_shape(tile, ndim, model)
    tiles, origins, sources = _tiles_of(images, tile_shape, stride, channel_axis)
    notes: list[str] = []
    if model is None:
        kwargs = {"seed": seed, **(train_kwargs or {})}
        model = yield from iter_train_autoencoder(tiles, ndim=len(tile_shape), cancel=cancel,
                                                  **kwargs)
        if model.metrics.get("stopped") == "cancelled":
            return None
        notes.append(f"autoencoder trained on {len(tiles)} tiles: reconstruction r = "
                     f"{model.metrics['val_pearson_r']:.3f} on held-out tiles")
    vectors = encode_tiles(model, tiles)
    done = model.recipe.get("steps", 0)
    yield AutoencoderProgress(done, done, float("nan"), None, 0.0, 0.0,
                              f"encoded {len(tiles)} tiles; mapping")
    xy, clusters = _map_and_cluster(vectors, umap=umap, cluster=cluster, n_clusters=n_clusters,
                                    cluster_on=cluster_on, seed=seed, notes=notes)
    return Embedding(vectors=vectors, origins=origins, sources=sources, tile_shape=tile_shape,
                     umap=xy, clusters=clusters, model=model, notes=tuple(notes))


def embed_tiles(images, **kwargs) -> Embedding | None:
    """Run :func:`iter_embed_tiles` to the end.

    Parameters
    ----------
    images : ndarray or sequence of ndarray
    **kwargs
        As for :func:`iter_embed_tiles`.

    Returns
    -------
    Embedding or None
        None when cancelled.
    """
    return drain(iter_embed_tiles(images, **kwargs))
