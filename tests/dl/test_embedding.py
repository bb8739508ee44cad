"""dl.embedding: tiles of 2D images and 3D volumes -> latent table; refusals."""

import numpy as np
import pytest

from napari_sciseg.dl.embedding import embed_tiles

TINY = {"depth": 2, "base_channels": 2, "latent_size": 3, "steps": 2, "batch": 4}


def test_3d_volume_tiles_and_table():
    volume = np.random.default_rng(0).random((16, 16, 24)).astype(np.float32)
    emb = embed_tiles(volume, tile=8, ndim=3, umap=False, n_clusters=2, train_kwargs=TINY)
    assert emb.vectors.shape == (12, 3) and emb.tile_shape == (8, 8, 8)
    table = emb.table()
    assert list(table)[:4] == ["image", "z", "y", "x"]
    assert (table["z"][-1], table["y"][-1], table["x"][-1]) == (8, 8, 16)
    assert sorted(set(emb.clusters.tolist())) == [1, 2]


def test_several_images_and_refusals():
    a = np.zeros((16, 16), np.float32)
    b = np.ones((16, 32), np.float32)
    b[::2] = 0
    emb = embed_tiles([a, b], tile=16, umap=False, cluster="none", train_kwargs=TINY)
    assert emb.sources.tolist() == [0, 1, 1] and emb.clusters is None
    with pytest.raises(ValueError, match=r"tile 8 differs from the model's tiles \(16, 16\)"):
        embed_tiles(a, tile=8, model=emb.model)
    with pytest.raises(ValueError, match="cluster_on='umap' needs the UMAP step"):
        embed_tiles(a, model=emb.model, umap=False, cluster_on="umap")
    with pytest.raises(ValueError, match="Unknown cluster method 'dbscan'"):
        embed_tiles(a, model=emb.model, cluster="dbscan")
