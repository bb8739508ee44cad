"""The fast pixel forest: texture separation, save/load, both traversals, bad input."""

import json
import zipfile

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_sciseg.classify.forest_engine import (
    image_features,
    predict_features,
    predict_forest,
    train_forest,
)
from napari_sciseg.classify.forest_io import load_forest, save_forest

pytest.importorskip("sklearn")


def two_textures(shape=(160, 160), seed=0):
    """Fine-grained vs smooth noise with the same mean and spread, and scribbles."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 < (shape[0] / 3.0) ** 2
    fine = rng.normal(size=shape)
    smooth = ndi.gaussian_filter(rng.normal(size=shape), 3.0)
    smooth = smooth / smooth.std()
    image = np.where(truth, smooth, fine).astype(np.float32)
    scribbles = np.zeros(shape, np.uint8)
    scribbles[8:11, 8:-8] = 1  # strokes in the background, a cross in the disk
    scribbles[8:-8, 8:11] = 1
    c, h = shape[0] // 2, shape[0] // 5
    scribbles[c - 2 : c + 2, c - h : c + h] = 2
    scribbles[c - h : c + h, c - 2 : c + 2] = 2
    return image, scribbles, truth


def f1(pred, truth):
    return 2 * np.sum(pred & truth) / (pred.sum() + truth.sum())


def test_separates_textures_one_threshold_cannot():
    image, scribbles, truth = two_textures()
    best_threshold = max(max(f1(image > t, truth), f1(image < t, truth))
                         for t in np.quantile(image, np.linspace(0.01, 0.99, 99)))
    assert best_threshold < 0.6
    forest = train_forest(image, scribbles, trees=8, seed=0)
    result = predict_forest(forest, image)
    assert f1(result.mean.argmax(0) == 1, truth) >= 0.9
    assert result.std.shape == result.mean.shape == (2, *image.shape)
    # the trees disagree more near the texture border than deep inside either texture
    border = ndi.binary_dilation(truth, iterations=3) & ~ndi.binary_erosion(truth, iterations=3)
    assert result.uncertainty[border].mean() > result.uncertainty[~border].mean()


def test_save_load_gives_identical_output_and_holds_no_pickle(tmp_path):
    image, scribbles, _ = two_textures((64, 64))
    forest = train_forest(image, scribbles, trees=4, sigmas=(1.0, 3.0), spacing=(0.5, 0.5),
                          class_names=("matrix", "grain"))
    before = predict_forest(forest, image)
    path = save_forest(forest, tmp_path / "fast.sciseg")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "weights.safetensors"]
        header = json.loads(zf.read("config.json"))
        blob = zf.read("weights.safetensors")
    assert header["format"] == "napari-sciseg pixel forest"
    assert header["config"]["class_names"] == ["matrix", "grain"]
    assert header["config"]["spacing"] == [0.5, 0.5]
    assert b"sklearn" not in blob and not blob.startswith(b"\x80")  # no pickle stream
    loaded = load_forest(path)
    after = predict_forest(loaded, image)
    for name in ("mean", "std", "segmentation", "uncertainty"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name))
    folder = save_forest(forest, tmp_path / "folder/")
    np.testing.assert_array_equal(predict_forest(load_forest(folder), image).mean, before.mean)


def test_numpy_traversal_equals_scikit_learn():
    image, scribbles, _ = two_textures((64, 64))
    forest = train_forest(image, scribbles, trees=3, sigmas=(1.0, 2.0))
    feats = image_features(image, sigmas=forest.config.sigmas, spacing=None)
    X = feats.reshape(-1, feats.shape[-1])
    fast = forest.predict_samples(X)
    slow = forest.predict_samples(X, engine="numpy")
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


def test_volume_on_slices_and_in_3d():
    rng = np.random.default_rng(1)
    volume = rng.normal(size=(6, 40, 40)).astype(np.float32)
    volume[:, 10:30, 10:30] += 4.0
    scribbles = np.zeros(volume.shape, np.uint8)
    scribbles[2, 2:5, 2:38] = 1
    scribbles[2, 18:21, 12:28] = 2
    on_slices = train_forest(volume, scribbles, trees=4, sigmas=(1.0, 2.0))
    assert on_slices.config.dim == "2.5"
    result = predict_forest(on_slices, volume)
    assert result.segmentation.shape == volume.shape
    assert (result.mean.argmax(0)[4, 15:25, 15:25] == 1).mean() > 0.8
    in_3d = train_forest(volume, scribbles, dim="3", trees=4, sigmas=(1.0,))
    assert in_3d.config.model_ndim == 3
    assert predict_forest(in_3d, volume).mean.shape == (2, *volume.shape)


def test_one_class_scribbled_names_the_missing_class():
    image, scribbles, _ = two_textures((48, 48))
    scribbles[scribbles == 2] = 0
    with pytest.raises(ValueError, match="only matrix.*Missing: grain"):
        train_forest(image, scribbles, class_names=("matrix", "grain"))
    with pytest.raises(ValueError, match="Missing: class 2"):
        train_forest(image, scribbles)


def test_2d_forest_on_a_volume_and_mismatched_features():
    image, scribbles, _ = two_textures((48, 48))
    forest = train_forest(image, scribbles, trees=2, sigmas=(1.0,))
    with pytest.raises(ValueError, match="forest is 2D .* slice_axis="):
        predict_forest(forest, np.zeros((3, 48, 48), np.float32))
    assert predict_forest(forest, np.zeros((3, 48, 48), np.float32),
                          slice_axis=0).mean.shape == (2, 3, 48, 48)
    with pytest.raises(ValueError, match="trained on 9"):
        predict_features(forest, image_features(image, sigmas=(1.0, 2.0), spacing=None))


def test_nan_image_is_refused():
    image, scribbles, _ = two_textures((48, 48))
    image[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        train_forest(image, scribbles)


def test_newer_or_foreign_file_is_refused(tmp_path):
    image, scribbles, _ = two_textures((48, 48))
    path = save_forest(train_forest(image, scribbles, trees=2, sigmas=(1.0,)),
                       tmp_path / "f.sciseg")
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("config.json"))
        blob = zf.read("weights.safetensors")
    header["format_version"] = 99
    newer = tmp_path / "newer.sciseg"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("config.json", json.dumps(header))
        zf.writestr("weights.safetensors", blob)
    with pytest.raises(ValueError, match="newer napari-sciseg .*forest format 99"):
        load_forest(newer)
    (tmp_path / "junk.sciseg").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a napari-sciseg model file"):
        load_forest(tmp_path / "junk.sciseg")


def test_strided_prediction_is_exact_on_its_grid_and_close_between():
    from napari_sciseg.classify.forest_engine import _finish

    image, scribbles, truth = two_textures()
    feats = image_features(image, sigmas=None, spacing=None)
    forest = train_forest(image, scribbles, trees=8, max_samples=2000,
                          features_of=lambda _: feats)
    full = predict_features(forest, feats)
    quick = predict_features(forest, feats, stride=2)
    assert quick.mean.shape == full.mean.shape and quick.segmentation.shape == truth.shape
    np.testing.assert_allclose(quick.mean[:, ::2, ::2], full.mean[:, ::2, ::2], atol=1e-6)
    np.testing.assert_allclose(quick.std[:, ::2, ::2], full.std[:, ::2, ::2], atol=1e-6)
    np.testing.assert_allclose(quick.mean.sum(0), 1, atol=1e-5)
    assert f1(quick.mean.argmax(0) == 1, truth) > f1(full.mean.argmax(0) == 1, truth) - 0.02
    # the two-class shortcut of _finish gives what the K-class rule gives
    margin = full.mean - full.std
    best = margin.argmax(0)
    ok = np.take_along_axis(margin, best[None], 0)[0] > 0.5
    np.testing.assert_array_equal(np.where(ok, best + 1, 0), full.segmentation)
    np.testing.assert_array_equal(full.uncertainty, full.std[1])
    three = _finish(np.stack([full.mean[0], full.mean[1] * 0.5, full.mean[1] * 0.5]),
                    np.stack([full.std[0]] * 3), 1.0)  # K > 2: the general rule
    assert set(np.unique(three.segmentation)) <= {0, 1, 2, 3}


def test_fit_draws_at_most_max_samples_per_class():
    image, scribbles, _ = two_textures()
    forest = train_forest(image, scribbles, trees=2, max_samples=300)
    assert forest.config.metrics["used_pixels"] == 600
    assert forest.config.metrics["train_pixels"] == int((scribbles > 0).sum())
