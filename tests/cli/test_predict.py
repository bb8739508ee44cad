"""``sciseg predict`` end to end on a tmp folder, one corrupt file included; bad input."""

import os

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_sciseg.cli import main  # noqa: E402
from napari_sciseg.dl import Ensemble, ModelConfig, TrainedModel, create_model, save_model  # noqa: E402
from napari_sciseg.io.tiff import read_tiff, write_tiff  # noqa: E402


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    nets = [
        create_model(
            "smsnet", ndim=2, in_channels=1, out_channels=2, depth=3, seed=s, dilations=(1, 2)
        )
        for s in range(2)
    ]
    ensemble = Ensemble(nets).eval()
    config = ModelConfig(
        arch="smsnet",
        member_configs=[n.config for n in nets],
        model_ndim=2,
        dim="2",
        slice_axis=0,
        in_channels=1,
        n_classes=2,
        class_names=("background", "fiber"),
        normalization=((0.0, 255.0),),
        recipe={"val_fraction": 0.2, "split_seed": 0},
    )
    path = tmp_path_factory.mktemp("model") / "tiny.sciseg"
    save_model(TrainedModel(network=ensemble, config=config), path)
    return path


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    write_tiff(src / "a.tif", rng.integers(0, 255, (40, 50), dtype=np.uint8), spacing=(2.5, 2.5))
    write_tiff(
        src / "b.ome.tif",
        rng.integers(0, 255, (6, 30, 30), dtype=np.uint8),
        spacing=(4.0, 2.0, 2.0),
    )
    (src / "broken.tif").write_bytes(b"II*\x00 this is not a tiff")
    return src


def test_folder_end_to_end_with_corrupt_file(model_path, folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(model_path),
            str(folder),
            "-o",
            str(out),
            "--slice-axis",
            "0",
            "--workers",
            "2",
            "--tile",
            "24",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # one file failed
    assert "broken.tif failed" in captured.err
    assert "predicted 2 of 3 file(s)" in captured.out
    prob = read_tiff(out / "a_probability.tif")
    assert prob.data.shape == (2, 40, 50) and prob.spacing == (2.5, 2.5)
    np.testing.assert_allclose(prob.data.sum(0), 1.0, atol=1e-5)
    seg = read_tiff(out / "a_segmentation.tif")
    assert seg.data.dtype == np.uint8 and set(np.unique(seg.data)) <= {0, 1, 2}
    std = read_tiff(out / "b_std.tif")
    assert std.data.shape == (2, 6, 30, 30) and std.spacing == (4.0, 2.0, 2.0)
    assert not (out / "broken_probability.tif").exists()
    # existing outputs are kept unless --overwrite
    code = main(["predict", str(model_path), str(folder / "a.tif"), "-o", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "exist" in err and "--overwrite" in err
    with pytest.raises(FileExistsError, match="output.*exist.*pass --overwrite.*--resume"):
        from napari_sciseg.cli import build_parser
        from napari_sciseg.cli._predict import run

        run(
            build_parser().parse_args(
                ["predict", str(model_path), str(folder / "a.tif"), "-o", str(out)]
            )
        )
    assert (
        main(
            [
                "predict",
                str(model_path),
                str(folder / "a.tif"),
                "-o",
                str(out),
                "--overwrite",
                "--k",
                "0",
            ]
        )
        == 0
    )


def test_zarr_output_and_same_values(model_path, folder, tmp_path):
    zarr = pytest.importorskip("zarr")
    out = tmp_path / "z"
    assert main(["predict", str(model_path), str(folder / "a.tif"), "-o", str(out), "--zarr"]) == 0
    group = zarr.open_group(str(out / "a.zarr"), mode="r")
    tif = tmp_path / "t"
    assert main(["predict", str(model_path), str(folder / "a.tif"), "-o", str(tif)]) == 0
    np.testing.assert_allclose(group["mean"][:], read_tiff(tif / "a_probability.tif").data)
    assert group.attrs["spacing"] == [2.5, 2.5]



def test_tiff_outputs_streamed_equal_in_memory_prediction(model_path, tmp_path):
    """The TIFFs are written tile by tile from a staging store: same values as predict()."""
    from napari_sciseg.dl import load_model
    from napari_sciseg.dl.prediction import predict

    image = np.random.default_rng(3).integers(0, 255, (300, 280), dtype=np.uint8)
    write_tiff(tmp_path / "big.tif", image, spacing=(2.0, 2.0))
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(tmp_path / "big.tif"), "-o", str(out),
                 "--tile", "64", "--engine", "torch"]) == 0  # the same engine: equal values
    expected = predict(load_model(model_path), image, tile=64)
    np.testing.assert_array_equal(read_tiff(out / "big_probability.tif").data, expected.mean)
    np.testing.assert_array_equal(read_tiff(out / "big_std.tif").data, expected.std)
    np.testing.assert_array_equal(read_tiff(out / "big_segmentation.tif").data,
                                  expected.segmentation)  # fmt: skip
    assert not [p.name for p in out.iterdir() if "staging" in p.name]  # the store is removed

def test_bad_output_dir_and_inputs(model_path, folder, tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["predict", str(model_path), str(folder / "a.tif"), "-o", str(a_file / "sub")]) == 2
    assert "Cannot create output folder" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m: False if str(p) == str(locked) else real_access(p, m)
    )
    assert main(["predict", str(model_path), str(folder / "a.tif"), "-o", str(locked)]) == 2
    err = capsys.readouterr().err
    assert "is not writable (read-only?); choose another output folder (-o)" in err
    # missing inputs are argparse errors naming the argument, raised before any import
    for argv in ([model_path, tmp_path / "nope.tif"], [tmp_path / "none.sciseg", folder]):
        with pytest.raises(SystemExit) as exit_:
            main(["predict", *map(str, argv), "-o", str(tmp_path / "o")])
        assert exit_.value.code == 2
        assert "no such file or folder" in capsys.readouterr().err


def test_distributed_scheduler(model_path, folder, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        code = main(
            [
                "predict",
                str(model_path),
                str(folder / "a.tif"),
                "-o",
                str(tmp_path / "d"),
                "--scheduler",
                cluster.scheduler_address,
            ]
        )
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "d" / "a_segmentation.tif").exists()
