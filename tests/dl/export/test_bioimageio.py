"""bioimage.io packages: export -> validate -> bioimageio.core test -> same numbers; import."""

import numpy as np
import pytest
import yaml

from napari_sciseg.cli import main
from napari_sciseg.dl.export import load_any_model
from napari_sciseg.dl.export.bioimageio import export_bioimageio, load_bioimageio
from napari_sciseg.dl.prediction import predict
from napari_sciseg.dl.serialization import save_model

from .conftest import make_model

# bioimageio.spec/core leave the package files they hash open (closed by the garbage
# collector): their ResourceWarnings are not about our code.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.parametrize("arch,ndim,weights", [
    ("smsnet", 2, ("onnx",)),  # every arch x ndim x format: benchmarks/bench_export.py --bioimageio
    ("msdnet", 2, ("torchscript",)),
    ("msdnet", 3, ("onnx",)),
    ("tunet", 3, ("onnx",)),
])
def test_export_passes_bioimageio_core_and_imports_back(tmp_path, arch, ndim, weights):
    trained = make_model(arch, ndim, **({"depth": 2} if arch == "smsnet" and ndim == 3 else {}))
    res = export_bioimageio(trained, tmp_path / "pkg.zip", weights=weights,
                            test_size=48 if ndim == 2 else 24)
    assert res.test_summary == ", ".join(f"{w} passed" for w in weights)
    assert res.max_difference < 1e-4 and res.format_version.startswith("0.5")
    assert "synthetic" in res.test_input_source  # a .sciseg stores no training image
    imported = load_any_model(res.path)
    assert imported.config.class_names == trained.config.class_names
    image = np.random.default_rng(3).random((40, 46) if ndim == 2 else (18, 30, 28))
    tile = 33 if arch != "tunet" else None
    a = predict(trained, image.astype(np.float32), tile=tile, device="cpu")
    b = predict(imported, image.astype(np.float32), tile=tile, device="cpu")
    np.testing.assert_allclose(b.mean, a.mean, atol=1e-4)
    np.testing.assert_allclose(b.std, a.std, atol=1e-4)


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bio") / "pkg"
    export_bioimageio(make_model("msdnet", 2), path, weights=("onnx",), test_size=40,
                      test=False)
    return path


def _edit(package_dir, tmp_path, edit):
    import shutil

    target = tmp_path / "edited"
    shutil.copytree(package_dir, target)
    rdf = yaml.safe_load((target / "rdf.yaml").read_text())
    edit(rdf)
    (target / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    return target


def test_package_folder_describes_the_model(package_dir):
    rdf = yaml.safe_load((package_dir / "rdf.yaml").read_text())
    assert rdf["format_version"].startswith("0.5") and rdf["type"] == "model"
    assert [o["id"] for o in rdf["outputs"]] == ["mean", "std"]
    assert rdf["outputs"][0]["axes"][2]["halo"] == make_model("msdnet", 2).receptive_field
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == ["class 1", "class 2"]
    assert any("Pelt" in c["text"] for c in rdf["cite"]) and rdf["license"]
    assert "recipe" in rdf["description"].lower() and rdf["covers"]
    assert (package_dir / "cover.png").is_file()


def test_classification_package_is_refused(package_dir, tmp_path):
    def classify(rdf):
        for o in rdf["outputs"]:
            o["axes"] = [a for a in o["axes"] if a.get("type") in ("batch", "channel")]
            o.pop("test_tensor", None)

    with pytest.raises(ValueError, match="classification model: no output has the input's space"):
        load_bioimageio(_edit(package_dir, tmp_path, classify))


def test_unsupported_axes_are_refused(package_dir, tmp_path):
    def add_time(rdf):
        rdf["inputs"][0]["axes"].insert(2, {"type": "time", "id": "t", "size": 5})

    with pytest.raises(ValueError, match=r"unsupported input axes .*time"):
        load_bioimageio(_edit(package_dir, tmp_path, add_time))


def test_cli_export_bioimageio_and_predict_with_it(tmp_path, capsys):
    from napari_sciseg.io.tiff import write_tiff

    model = save_model(make_model("smsnet", 2), tmp_path / "m.sciseg")
    out = tmp_path / "pkg.zip"
    assert main(["export", str(model), "--format", "bioimageio", "-o", str(out), "--weights",
                 "onnx", "--test-size", "40", "--author", "A. Tester"]) == 0
    text = capsys.readouterr().out
    assert "bioimageio.core test: onnx passed" in text and "synthetic" in text
    write_tiff(tmp_path / "img.tif", np.random.default_rng(0).random((50, 40)).astype("f4"),
               spacing=(1.0, 1.0), unit="nm")
    assert main(["predict", str(out), str(tmp_path / "img.tif"), "-o", str(tmp_path / "o"),
                 "--device", "cpu"]) == 0
    assert (tmp_path / "o" / "img_probability.tif").is_file()


def test_dlsia_is_cited_by_its_arxiv_preprint_not_an_unverified_doi():
    from bioimageio.spec.model import v0_5 as bio

    from napari_sciseg.dl.export.bioimageio import _CITATIONS, _cite_entry

    entry = _cite_entry(bio, *_CITATIONS["smsnet"])
    assert entry.doi is None and str(entry.url) == "https://arxiv.org/abs/2308.02559"
    assert "DLSIA" in entry.text
    assert str(_cite_entry(bio, *_CITATIONS["msdnet"]).doi) == "10.1073/pnas.1715832114"
