"""``sciseg embed``: latent table, scatter, model; loading it again; refusals."""

import csv

import numpy as np
import pytest

from napari_sciseg.cli import main
from napari_sciseg.data.shapes import shapes_mosaic
from napari_sciseg.io.tiff import write_tiff

TINY = ["--tile", "16", "--latent", "3", "--depth", "2", "--base-channels", "2",
        "--steps", "3", "--batch", "8", "--clusters", "2"]


@pytest.fixture
def mosaic(tmp_path):
    image, grid = shapes_mosaic(3, 4, size=16, seed=0)
    write_tiff(tmp_path / "shapes.tif", (image * 200).astype(np.uint8))
    return tmp_path / "shapes.tif", grid


def _rows(path):
    return list(csv.DictReader(path.read_text().splitlines()))


def test_embed_trains_writes_and_reuses_the_model(tmp_path, mosaic, capsys):
    out = tmp_path / "emb"
    assert main(["embed", str(mosaic[0]), "-o", str(out), "--no-umap", *TINY]) == 0
    rows = _rows(out / "latents.csv")
    assert len(rows) == 12
    assert [(int(r["y"]), int(r["x"])) for r in rows[:5]] == [(0, 0), (0, 16), (0, 32),
                                                              (0, 48), (16, 0)]
    assert {r["image"] for r in rows} == {"shapes.tif"}
    assert {r["cluster"] for r in rows} == {"1", "2"}
    assert [k for k in rows[0] if k.startswith("latent_")] == ["latent_0", "latent_1",
                                                                "latent_2"]
    assert (out / "embedding.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "autoencoder.sciseg").is_file()
    # the saved model gives the same latent vectors
    again = tmp_path / "again"
    assert main(["embed", str(mosaic[0]), "-o", str(again), "--no-umap", "--cluster", "none",
                 "--model", str(out / "autoencoder.sciseg")]) == 0
    rows2 = _rows(again / "latents.csv")
    assert [r["latent_1"] for r in rows2] == [r["latent_1"] for r in rows]
    assert "cluster" not in rows2[0] and not (again / "autoencoder.sciseg").exists()
    # outputs are not replaced without --overwrite
    capsys.readouterr()
    assert main(["embed", str(mosaic[0]), "-o", str(out), *TINY]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


@pytest.mark.slow  # umap-learn compiles its numba code on first use (~30 s here)
def test_embed_with_umap(tmp_path, mosaic):
    pytest.importorskip("umap")
    out = tmp_path / "emb"
    assert main(["embed", str(mosaic[0]), "-o", str(out), *TINY]) == 0
    rows = _rows(out / "latents.csv")
    xy = np.array([[float(r["umap_x"]), float(r["umap_y"])] for r in rows])
    assert xy.shape == (12, 2) and np.isfinite(xy).all() and xy.std(0).min() > 0
    assert "kmeans clusters of the UMAP" in (out / "notes.txt").read_text()


def test_umap_missing_is_skipped_with_the_extra_named(tmp_path, mosaic, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_umap(name, *args, **kwargs):
        if name == "umap" or name.startswith("umap."):
            raise ImportError("No module named 'umap'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_umap)
    out = tmp_path / "emb"
    assert main(["embed", str(mosaic[0]), "-o", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "UMAP skipped" in text and "pip install 'napari-sciseg[umap]'" in text
    rows = _rows(out / "latents.csv")
    assert "umap_x" not in rows[0] and len(rows) == 12
    assert "kmeans clusters of the latent vectors" in text


def test_a_segmentation_model_is_refused(tmp_path, mosaic, tiny_models, capsys):
    out = tmp_path / "emb"
    rc = main(["embed", str(mosaic[0]), "-o", str(out), "--model", str(tiny_models[2])])
    assert rc == 2
    assert "a segmentation model, which has no encoder" in capsys.readouterr().err
    assert not out.exists()


def test_tile_larger_than_the_image_and_latent_too_large(tmp_path, mosaic, capsys):
    rc = main(["embed", str(mosaic[0]), "-o", str(tmp_path / "a"), "--tile", "128"])
    assert rc == 2
    assert "smaller than one tile" in capsys.readouterr().err
    rc = main(["embed", str(mosaic[0]), "-o", str(tmp_path / "b"), "--tile", "4",
               "--latent", "16", "--depth", "2"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--latent must be between 1 and" in err and "must compress" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_hdbscan_clusters_separate_groups(tmp_path):
    from napari_sciseg.classify.latent import cluster_vectors

    rng = np.random.default_rng(0)
    pts = np.r_[rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))]
    ids = cluster_vectors(pts, method="hdbscan")
    assert len(set(ids[:30])) == 1 and len(set(ids[30:])) == 1 and ids[0] != ids[-1]
    with pytest.raises(ValueError, match="Unknown cluster method 'dbscan'.*'kmeans', 'hdbscan'"):
        cluster_vectors(pts, method="dbscan")
