"""The "Latent space" dock: worker, scatter, brushing both ways, cluster -> scribbles, Cancel."""

import numpy as np
import pytest

from napari_sciseg.data.shapes import shapes_mosaic


@pytest.fixture(scope="module")
def mosaic():
    return shapes_mosaic(3, 4, size=16, seed=0)


def _widget(viewer, qtbot, image):
    from napari_sciseg._napari.widgets.latent import LatentSpaceWidget

    viewer.add_image(image, name="shapes", scale=(0.5, 0.5))
    w = LatentSpaceWidget(viewer)
    qtbot.addWidget(w)
    w.tile.setValue(16)
    w.latent.setValue(3)
    w.depth.setValue(2)
    w.base_channels.setValue(2)
    w.steps.setValue(3)
    w.n_clusters.setValue(2)
    return w


def _embed(w, qtbot):
    w.run()
    qtbot.waitUntil(lambda: w.embedding is not None and w.run_button.isEnabled(),
                    timeout=120_000)


@pytest.fixture
def embedded(make_napari_viewer, qtbot, mosaic, monkeypatch):
    import napari_sciseg.dl.embedding as embedding

    # the UMAP itself is tested with the CLI; here the viewer shows the latent vectors
    monkeypatch.setattr(embedding, "umap_embedding", _no_umap)
    viewer = make_napari_viewer()
    w = _widget(viewer, qtbot, mosaic[0])
    _embed(w, qtbot)
    return viewer, w


def _no_umap(*args, **kwargs):
    raise ImportError("the UMAP step needs umap-learn: pip install 'napari-sciseg[umap]'")


def test_embedding_shows_points_and_tiles(embedded):
    viewer, w = embedded
    emb = w.embedding
    assert emb.vectors.shape == (12, 3) and w.scatter.xy.shape == (12, 2)
    np.testing.assert_array_equal(w.scatter.xy, emb.vectors[:, :2])
    assert "UMAP skipped" in w.status.text() and "napari-sciseg[umap]" in w.status.text()
    tiles = viewer.layers["shapes latent tiles"]
    assert tiles.scale[0] == 0.5  # aligned with the image
    # every tile's pixels carry its cluster id
    assert set(np.unique(tiles.data)) == set(np.unique(emb.clusters))
    assert tiles.data[16 + 3, 32 + 5] == emb.clusters[6]  # tile (1, 2) is the 7th


def test_brushing_points_outlines_their_tiles_and_clicking_a_tile_marks_its_point(embedded):
    viewer, w = embedded
    xy = w.scatter.xy
    lo, hi = xy.min(0) - 1, xy.max(0) + 1
    mid = np.median(xy[:, 0])
    chosen = w.scatter.select_in_box((lo[0], lo[1]), (mid, hi[1]))
    np.testing.assert_array_equal(np.sort(chosen), np.flatnonzero(xy[:, 0] <= mid))
    sel = viewer.layers["shapes selected tiles"].data
    for i, (y, x) in enumerate(w.embedding.origins):
        assert sel[y + 8, x + 8] == (1 if i in chosen else 0)
    # a lasso around everything selects everything
    w.scatter.select_in_polygon([(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]),
                                 (lo[0], hi[1])])
    assert w.selected.all()
    # clicking the image (data coordinates) selects the one tile there and its point
    assert w.select_at((40, 20)) == 2 * 4 + 1
    assert np.flatnonzero(w.scatter.selected).tolist() == [9]
    assert w.select_at((100, 100)) is None


def test_cluster_and_selection_become_scribbles(embedded):
    viewer, w = embedded
    emb = w.embedding
    n = w.cluster_to_scribbles(cluster=1, class_id=2)
    assert n == int((emb.clusters == 1).sum()) > 0
    scrib = viewer.layers["shapes scribbles"].data
    assert scrib.shape == (48, 64)
    for i, (y, x) in enumerate(emb.origins):
        assert (scrib[y:y + 16, x:x + 16] == (2 if emb.clusters[i] == 1 else 0)).all()
    # existing scribbles are kept: the selection writes only where nothing is labeled
    w._points_selected(np.arange(12))
    w.selection_to_scribbles(class_id=5)
    scrib = viewer.layers["shapes scribbles"].data
    assert set(np.unique(scrib)) == {2, 5}
    assert (scrib == 2).sum() == n * 256


def test_reload_saved_model_gives_same_vectors_and_segmentation_model_is_refused(
        embedded, tmp_path, qtbot, notes):
    from napari_sciseg.dl.autoencoder import save_autoencoder

    viewer, w = embedded
    before = w.embedding.vectors
    path = save_autoencoder(w.model, tmp_path / "ae.sciseg")
    w.model = None
    w.load(path)
    assert w.run_button.text() == "Embed" and w.tile.value() == 16
    w.embedding = None
    _embed(w, qtbot)
    np.testing.assert_allclose(w.embedding.vectors, before, rtol=1e-5, atol=1e-6)

    w.load(_segmentation_model(tmp_path / "seg.sciseg"))
    assert "segmentation model, which has no encoder" in w.status.text()


def _segmentation_model(path):
    from napari_sciseg.dl import Ensemble, ModelConfig, TrainedModel, create_model, save_model

    net = create_model("tunet", ndim=2, in_channels=1, out_channels=2, depth=2,
                       base_channels=2)
    config = ModelConfig(arch="tunet", member_configs=[net.config], model_ndim=2, dim="2",
                         slice_axis=0, in_channels=1, n_classes=2,
                         normalization=((0.0, 1.0),))
    return save_model(TrainedModel(network=Ensemble([net]).eval(), config=config), path)


def test_cancel_stops_training(make_napari_viewer, qtbot, mosaic):
    viewer = make_napari_viewer()
    w = _widget(viewer, qtbot, mosaic[0])
    w.steps.setValue(100_000)
    w.run()
    qtbot.waitUntil(lambda: "step" in w.status.text(), timeout=60_000)
    w.cancel_button.click()
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=30_000)
    assert w.embedding is None and w.status.text() == "cancelled"


def test_selected_tiles_are_outlined_in_yellow(embedded):
    viewer, w = embedded
    w._points_selected(np.array([0]))
    layer = viewer.layers["shapes selected tiles"]
    assert layer.contour == 2
    np.testing.assert_allclose(layer.colormap.map(np.array([1]))[0], [1, 1, 0, 1])
