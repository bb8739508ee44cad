"""ONNX Runtime as the CPU engine of saved models: exported once, cached by hash, torch fallback."""

import logging

import numpy as np
import pytest
import tifffile

from napari_sciseg.cli import main
from napari_sciseg.dl.export import engine as eng
from napari_sciseg.dl.prediction import predict
from napari_sciseg.dl.serialization import save_model

from .conftest import make_model


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.sciseg"
    save_model(make_model("smsnet", 2), path)
    return path


@pytest.fixture(autouse=True)
def _fresh_messages(monkeypatch):
    monkeypatch.setattr(eng, "_said", set())


def test_auto_on_cpu_exports_once_then_reuses_the_cache(saved, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = eng.load_for_prediction(saved, device="cpu", cache_dir=cache)
    assert getattr(first.network, "runs_numpy", False)  # ONNX Runtime
    files = list(cache.glob("*.onnx"))
    assert [f.name for f in files] == [f"{eng.onnx_cache_key(saved)}.onnx"]

    def no_export(*a, **k):
        raise AssertionError("exported again despite a cached export")

    monkeypatch.setattr("napari_sciseg.dl.export.onnx.export_onnx", no_export)
    second = eng.load_for_prediction(saved, device="cpu", cache_dir=cache)
    assert getattr(second.network, "runs_numpy", False)
    torch_model = eng.load_for_prediction(saved, engine="torch", cache_dir=cache)
    assert not getattr(torch_model.network, "runs_numpy", False)
    image = np.random.default_rng(1).random((70, 90)).astype(np.float32)
    a = predict(torch_model, image, tile=48, device="cpu")
    b = predict(second, image, tile=48, device="cpu")
    np.testing.assert_allclose(b.mean, a.mean, atol=1e-4)
    np.testing.assert_allclose(b.std, a.std, atol=1e-4)
    assert second.config.class_names == torch_model.config.class_names


def test_the_key_follows_the_weights_and_the_versions(saved, tmp_path, monkeypatch):
    key = eng.onnx_cache_key(saved)
    other = tmp_path / "other.sciseg"
    save_model(make_model("smsnet", 2, members=3), other)
    assert eng.onnx_cache_key(other) != key
    real = eng._package_version
    monkeypatch.setattr(eng, "_package_version",
                        lambda name: "0.0.0-other" if name == "onnx" else real(name))
    assert eng.onnx_cache_key(saved) != key


def test_missing_onnxruntime_falls_back_to_torch_and_says_so_once(saved, tmp_path, monkeypatch,
                                                                  caplog, capsys):
    monkeypatch.setattr(eng, "_onnx_missing", lambda: "onnxruntime is not installed")
    with caplog.at_level(logging.WARNING, logger=eng.__name__):
        for _ in range(2):
            m = eng.load_for_prediction(saved, device="cpu", cache_dir=tmp_path / "c")
            assert not getattr(m.network, "runs_numpy", False)
    said = [r.getMessage() for r in caplog.records if r.name == eng.__name__]
    assert said == ["predicting with torch: onnxruntime is not installed."]
    with pytest.raises(ImportError, match="engine 'onnx' needs ONNX Runtime"):
        eng.load_for_prediction(saved, engine="onnx", device="cpu", cache_dir=tmp_path / "c")
    image = tmp_path / "im.tif"
    tifffile.imwrite(image, np.zeros((32, 32), np.uint8))
    caplog.clear()
    assert main(["predict", str(saved), str(image), "-o", str(tmp_path / "o"), "--engine",
                 "onnx", "--device", "cpu"]) == 2  # an error message, not a traceback
    assert "sciseg predict: error: engine 'onnx' needs ONNX Runtime" in capsys.readouterr().err


def test_failed_export_falls_back_to_torch_and_leaves_no_cache_file(saved, tmp_path,
                                                                   monkeypatch, caplog):
    from napari_sciseg.dl.export.onnx import OnnxExportError

    def fail(*a, **k):
        raise OnnxExportError("ONNX cannot export this model: node 3 (Weird: no symbolic)")

    monkeypatch.setattr("napari_sciseg.dl.export.onnx.export_onnx", fail)
    cache = tmp_path / "c"
    with caplog.at_level(logging.WARNING, logger=eng.__name__):
        m = eng.load_for_prediction(saved, device="cpu", cache_dir=cache)
    assert not getattr(m.network, "runs_numpy", False)
    assert any("ONNX export failed" in r.getMessage() and "Weird" in r.getMessage()
               for r in caplog.records)
    assert not list(cache.glob("*.onnx")) if cache.exists() else True
    with pytest.raises(OnnxExportError, match="Weird"):
        eng.load_for_prediction(saved, engine="onnx", device="cpu", cache_dir=cache)


def test_unknown_engine_lists_the_choices(saved):
    with pytest.raises(ValueError, match="Unknown engine 'tensorrt'; expected one of 'auto'"):
        eng.load_for_prediction(saved, engine="tensorrt")


def test_cli_engines_agree_within_1e4(saved, tmp_path, capsys):
    image = np.random.default_rng(2).integers(0, 255, (64, 80)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "im.tif", image)
    out = {}
    for engine in ("torch", "onnx"):
        assert main(["predict", str(saved), str(tmp_path / "im.tif"), "-o",
                     str(tmp_path / engine), "--engine", engine, "--device", "cpu"]) == 0
        out[engine] = tifffile.imread(tmp_path / engine / "im_probability.tif")
    np.testing.assert_allclose(out["onnx"], out["torch"], atol=1e-4)
    with pytest.raises(SystemExit):
        main(["predict", str(saved), str(tmp_path / "im.tif"), "-o", str(tmp_path / "x"),
              "--engine", "tensorrt"])
    assert "--engine: invalid choice: 'tensorrt'" in capsys.readouterr().err


def test_models_that_are_not_segmentation_ensembles_stay_with_torch(saved, tmp_path,
                                                                    monkeypatch):
    """A restoration model's ONNX graph would not say what it predicts: never exported."""
    from types import SimpleNamespace

    denoiser = SimpleNamespace(config=SimpleNamespace(arch="tunet", task="denoise"))
    monkeypatch.setattr("napari_sciseg.dl.serialization.load_model", lambda path: denoiser)
    cache = tmp_path / "c"
    assert eng.load_for_prediction(saved, device="cpu", cache_dir=cache) is denoiser
    assert not cache.exists() or not list(cache.glob("*.onnx"))
