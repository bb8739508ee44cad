"""Fusion networks, training, prediction, save/load and the VLAD classifier."""

import numpy as np
import pytest
import torch

from napari_sciseg.classify.afm.dataset import CLASSES, read_dataset
from napari_sciseg.classify.afm.scans import prepare_dataset
from napari_sciseg.dl.afm import (
    drop_channels,
    load_afm_model,
    predict_scan,
    save_afm_model,
    tile_maps,
    train_afm,
)
from napari_sciseg.dl.afm.nets import NETWORK_FUSIONS, create_afm_net
from napari_sciseg.evaluate.classification import classification_report, grouped_split


@pytest.mark.parametrize("fusion", NETWORK_FUSIONS)
@pytest.mark.parametrize("meta", [False, True])
def test_every_variant_maps_tiles_to_class_logits(fusion, meta):
    net = create_afm_net(fusion, in_channels=4, n_meta=6, use_metadata=meta).eval()
    out = net(torch.randn(3, 4, 64, 64), torch.randn(3, 6))
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_unknown_fusion_and_missing_metadata():
    with pytest.raises(ValueError, match="Unknown fusion 'mid'.*'early'"):
        create_afm_net("mid", in_channels=4, n_meta=0)
    with pytest.raises(ValueError, match="needs metadata columns"):
        create_afm_net("maddi", in_channels=4, n_meta=0)


@pytest.fixture(scope="module")
def split(afm_csv):
    data = read_dataset(afm_csv)
    tr, te = grouped_split(data.groups, data.labels, test_fraction=0.3, seed=0)
    return data.subset(tr), data.subset(te)


def test_vlad_beats_chance_on_held_out_samples(split, tmp_path):
    train, test = split
    assert not set(train.groups) & set(test.groups)
    model = train_afm(
        train,
        fusion="vlad",
        use_metadata=False,
        vlad_options={"k": 8, "n_estimators": 40, "pixels_per_scan": 800},
    )
    cfg = model.config
    assert cfg.normalization == "scan"  # VLAD's default
    scans, _ = prepare_dataset(test, cfg.channels, cfg.target_spacing, normalize=cfg.normalization)
    proba = np.stack([predict_scan(model, s, prepared=True).probabilities for s in scans])
    report = classification_report(test.labels, proba, n_classes=5)
    # 12 training scans, one of some classes (films favour their classes): beat
    # chance (macro F1 ~0.2) and always answering the commonest class (accuracy 3/8)
    assert report.macro_f1 > 0.3 and report.accuracy > 0.5
    loaded = load_afm_model(save_afm_model(model, tmp_path / "vlad.sciseg"))
    again = predict_scan(loaded, scans[0], prepared=True).probabilities
    np.testing.assert_allclose(again, proba[0], atol=1e-6)


def test_cnn_training_smoke_save_load_and_tile_maps(split, tmp_path):
    train, _ = split
    losses = []
    from napari_sciseg.dl.afm.train import iter_train_afm

    gen = iter_train_afm(train, fusion="early", use_metadata=True, steps=12, batch=4, tile=64)
    while True:
        try:
            losses.append(next(gen).loss)
        except StopIteration as stop:
            model = stop.value
            break
    assert len(losses) == 12 and np.isfinite(losses).all()
    raw = np.random.default_rng(0).normal(size=(4, 128, 128)).astype(np.float32)
    pred = predict_scan(
        model, raw, spacing=model.config.target_spacing, metadata=train.metadata[0]
    )
    assert pred.probabilities.shape == (5,) and abs(pred.probabilities.sum() - 1) < 1e-5
    assert pred.label in CLASSES
    loaded = load_afm_model(save_afm_model(model, tmp_path / "early.sciseg"))
    again = predict_scan(
        loaded, raw, spacing=model.config.target_spacing, metadata=train.metadata[0]
    )
    np.testing.assert_allclose(again.tile_probabilities, pred.tile_probabilities, atol=1e-5)
    # the per-channel scales fitted on the training scans travel with the model
    assert loaded.config.normalization == "median" and len(loaded.config.channel_scales) == 4
    assert loaded.config.channel_scales == model.config.channel_scales
    assert all(v > 0 for v in model.config.channel_scales)
    classes, probs = tile_maps(pred, (128, 128))
    assert classes.shape == (128, 128) and classes.min() >= 1
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    with pytest.raises(ValueError, match="needs the scan's metadata"):
        predict_scan(model, raw, spacing=78.125)
    # cancel: checked before the tiles and between batches of tiles, raising Cancelled
    from napari_sciseg._generators import Cancelled

    checks = []

    def flag():  # set at the third check: inside the tile passes
        checks.append(1)
        return len(checks) >= 3

    with pytest.raises(Cancelled, match="cancelled before the next tiles"):
        predict_scan(model, raw, spacing=model.config.target_spacing,
                     metadata=train.metadata[0], cancel=flag)
    assert len(checks) == 3


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "x.sciseg"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an AFM model"):
        load_afm_model(path)


@pytest.mark.parametrize("fusion", ["single", "early", "late", "hybrid"])
def test_metadata_enter_as_added_logits(fusion):
    # late merge: changing the metadata shifts the logits by the same amount whatever the image
    net = create_afm_net(fusion, in_channels=4, n_meta=3, use_metadata=True).eval()
    x = torch.randn(2, 4, 32, 32)
    m1, m2 = torch.zeros(2, 3), torch.tensor([[1.0, -2.0, 0.5]] * 2)
    with torch.no_grad():
        shift = net(x, m2) - net(x, m1)
    torch.testing.assert_close(shift[0], shift[1])
    assert shift.abs().max() > 0


def test_metadata_term_is_fitted_apart_from_the_image_network(split):
    from napari_sciseg.classify.afm.dataset import MetadataEncoder
    from napari_sciseg.classify.afm.meta_model import fit_metadata_logits

    train, _ = split
    model = train_afm(train, fusion="single", use_metadata=True, steps=3, batch=2, tile=64)
    # the term is the logistic model of the training scans' metadata, nothing else
    meta = MetadataEncoder.fit(train.metadata).transform(train.metadata)
    expected = fit_metadata_logits(meta, train.labels, train.groups)
    linear = model.net.meta_head[-1]
    np.testing.assert_allclose(linear.weight.detach().numpy(), expected.weight, atol=1e-6)
    np.testing.assert_allclose(linear.bias.detach().numpy(), expected.bias, atol=1e-6)
    ridge = model.config.recipe["metadata_ridge"]
    assert ridge == expected.ridge or (ridge is None and expected.ridge == np.inf)
    # and the image path trains exactly as if the term were absent
    with torch.no_grad():
        x = torch.randn(2, 1, 64, 64)
        m = torch.from_numpy(meta[:2])
        image_only = model.net(x, m) - model.net.meta_head(m)
        zero = model.net(x, torch.zeros_like(m)) - model.net.meta_head(torch.zeros_like(m))
    torch.testing.assert_close(image_only, zero)


def test_scan_probabilities_are_the_geometric_mean_of_tiles():
    from napari_sciseg.dl.afm.predict import _aggregate

    tiles = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    p = _aggregate(tiles)
    np.testing.assert_allclose(p, np.sqrt(tiles.prod(0)) / np.sqrt(tiles.prod(0)).sum())
    np.testing.assert_allclose(_aggregate(tiles[:1]), tiles[0], rtol=1e-6)


def test_network_of_an_older_format_asks_for_retraining(tmp_path):
    import json
    import zipfile

    from napari_sciseg.dl.afm.io import AfmConfig, AfmModel

    net = create_afm_net("single", in_channels=1, n_meta=0)
    cfg = AfmConfig("single", False, ("height",), 32, 78.0, {}, {}, net=net.config)
    path = save_afm_model(AfmModel(cfg, net=net), tmp_path / "new.sciseg")
    assert load_afm_model(path).config.fusion == "single"
    old = tmp_path / "old.sciseg"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        config = json.loads(src.read("config.json"))
        config["format_version"] = 1
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("weights.safetensors", src.read("weights.safetensors"))
    with pytest.raises(ValueError, match="model format 1.*retrain"):
        load_afm_model(old)
    # format 2 (before per-channel scales; a flat config marked by "kind"): still
    # rebuilt, with per-scan normalisation
    v2 = tmp_path / "v2.sciseg"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(v2, "w") as dst:
        config = json.loads(src.read("config.json"))["config"]
        config["format_version"] = 2
        config["kind"] = "napari-sciseg afm classifier"
        config["target_nm_per_px"] = config.pop("target_spacing")
        del config["normalization"], config["channel_scales"], config["selection"]
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("weights.safetensors", src.read("weights.safetensors"))
    loaded = load_afm_model(v2)
    assert loaded.config.normalization == "scan" and loaded.config.channel_scales == ()


def test_scan_prediction_with_all_8_symmetries_ignores_the_scan_orientation():
    from napari_sciseg.dl.afm.io import AfmConfig, AfmModel

    torch.manual_seed(0)
    net = create_afm_net("early", in_channels=4, n_meta=0, width=8).eval()
    cfg = AfmConfig("early", False, ("a", "b", "c", "d"), 32, 78.0, {}, {}, net=net.config)
    model = AfmModel(cfg, net=net)
    scan = np.random.default_rng(0).normal(size=(4, 48, 48)).astype(np.float32)
    turned = np.ascontiguousarray(np.rot90(scan, 1, axes=(1, 2))[:, :, ::-1])
    p = predict_scan(model, scan, prepared=True, symmetries=8).probabilities
    q = predict_scan(model, turned, prepared=True, symmetries=8).probabilities
    np.testing.assert_allclose(p, q, atol=1e-5)
    one = predict_scan(model, turned, prepared=True).probabilities
    assert np.abs(one - p).max() > 1e-4  # a single pass does depend on it
    with pytest.raises(ValueError, match="symmetries must be 1, 2, 4 or 8; got 3"):
        predict_scan(model, scan, prepared=True, symmetries=3)


def test_channel_dropout_zeroes_only_non_height_channels_of_some_tiles():
    x = np.random.default_rng(1).normal(size=(1000, 4, 3, 3)).astype(np.float32) + 5
    before = x.copy()
    out = drop_channels(x, 0.4, np.random.default_rng(0), keep=0)
    np.testing.assert_array_equal(x, before)  # input untouched
    np.testing.assert_array_equal(out[:, 0], x[:, 0])  # the height is never dropped
    zeroed = (out == 0).all(axis=(2, 3))  # (B, C) whole channels set to 0
    kept = (out == x).all(axis=(2, 3))
    assert (zeroed | kept).all()  # a channel is either dropped whole or left alone
    n_dropped = zeroed.sum(1)
    assert 0.35 < (n_dropped > 0).mean() < 0.45
    assert n_dropped.max() == 3 and set(np.unique(n_dropped)) == {0, 1, 2, 3}
    again = drop_channels(x, 0.4, np.random.default_rng(0), keep=0)
    np.testing.assert_array_equal(out, again)  # deterministic with a seeded generator
    np.testing.assert_array_equal(drop_channels(x, 0.0, np.random.default_rng(0)), x)
    one = drop_channels(x[:, :1], 0.9, np.random.default_rng(0))  # nothing to drop
    np.testing.assert_array_equal(one, x[:, :1])
    swapped = drop_channels(x, 1.0 - 1e-9, np.random.default_rng(0), keep=2)
    np.testing.assert_array_equal(swapped[:, 2], x[:, 2])


def test_channel_dropout_is_a_training_option_saved_in_the_recipe(split, tmp_path):
    train, _ = split
    kw = dict(fusion="early", use_metadata=False, steps=3, batch=4, tile=64)
    plain = train_afm(train, channel_dropout=0.0, **kw)
    assert "channel_dropout" not in plain.config.recipe  # off: recipe as before
    assert "channel_dropout" not in train_afm(train, **kw).config.recipe  # off by default
    model = train_afm(train, channel_dropout=0.5, **kw)
    loaded = load_afm_model(save_afm_model(model, tmp_path / "drop.sciseg"))
    assert loaded.config.recipe["channel_dropout"] == 0.5
    raw = np.random.default_rng(0).normal(size=(4, 96, 96)).astype(np.float32)
    nm = model.config.target_spacing
    # prediction uses every channel and is deterministic (no dropout outside training)
    a = predict_scan(loaded, raw, spacing=nm).probabilities
    np.testing.assert_allclose(predict_scan(loaded, raw, spacing=nm).probabilities, a)
    raw[1] += np.random.default_rng(1).normal(size=(96, 96)).astype(np.float32)
    assert np.abs(predict_scan(loaded, raw, spacing=nm).probabilities - a).max() > 0
    with pytest.raises(ValueError, match=r"channel_dropout must be in \[0, 1\)"):
        train_afm(train, channel_dropout=1.0, **kw)


@pytest.mark.parametrize("fusion", ["single", "early"])
def test_with_the_metadata_term_off_a_variant_equals_its_image_only_twin(split, fusion):
    # the image network trains the same way with and without metadata (same seed)
    train, _ = split
    kw = dict(fusion=fusion, steps=4, batch=2, tile=64, seed=3)
    plain = train_afm(train, use_metadata=False, **kw)
    with_meta = train_afm(train, use_metadata=True, **kw)
    image = {k: v for k, v in with_meta.net.state_dict().items() if not k.startswith("meta_")}
    for key, value in plain.net.state_dict().items():
        torch.testing.assert_close(image[key], value)
