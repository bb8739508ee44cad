"""Errors in the words of the command line: flags named, checked before heavy imports."""

import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from napari_sciseg.cli import build_parser, main
from napari_sciseg.cli._common import collect_inputs, parameter_flags, to_flag_words
from napari_sciseg.io.tiff import write_tiff

#: runs the CLI in a fresh process and reports whether torch was imported before it exited
_PROBE = textwrap.dedent("""
    import sys
    from napari_sciseg.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
    sys.exit(code)
""")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "missing.tif", "labels.tif", "-o", "m.sciseg"],
         "argument image: no such file or folder: missing.tif"),
        (["train", "{img}", "{img}", "-o", "m.sciseg", "--steps", "0"],
         "argument --steps: expected a positive integer (1, 2, ...), got 0"),
        (["train", "{img}", "{img}", "-o", "m.sciseg", "--seed", "-5"],
         "argument --seed: expected a non-negative integer (0, 1, ...), got -5"),
        (["predict", "missing.sciseg", "{img}", "-o", "out"],
         "argument model: no such file or folder: missing.sciseg"),
        (["predict", "{img}", "{img}", "-o", "out", "--tile", "-3"],
         "argument --tile: expected a positive integer (1, 2, ...), got -3"),
        (["particles", "missing.tif", "-o", "out"],
         "argument IMAGE_OR_FOLDER: no such file or folder: missing.tif"),
    ],
)  # fmt: skip
def test_bad_arguments_fail_fast_without_torch(tmp_path, argv, message):
    img = tmp_path / "img.tif"
    write_tiff(img, np.zeros((8, 8), np.uint8))
    argv = [a.replace("{img}", str(img)) for a in argv]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True,
                          cwd=tmp_path)  # fmt: skip
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "torch imported: False" in proc.stderr  # the check ran before any heavy import
    assert elapsed < 20, f"{elapsed:.1f} s to a parse error"  # ~1 s idle; generous under load


def test_train_existing_output_refused_before_torch(tmp_path):
    img = tmp_path / "img.tif"
    write_tiff(img, np.zeros((8, 8), np.uint8))
    (tmp_path / "m.sciseg").write_text("x")
    argv = ["train", str(img), str(img), "-o", str(tmp_path / "m.sciseg")]
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "m.sciseg exists; pass --overwrite to replace it." in proc.stderr
    assert "torch imported: False" in proc.stderr


def test_force_is_a_deprecated_alias_of_overwrite(capsys):
    args = build_parser().parse_args(["train", __file__, __file__, "-o", "m", "--force"])
    assert args.overwrite is True
    assert "--force is deprecated and will be removed; use --overwrite" in capsys.readouterr().err
    assert "--force" not in build_parser()._subparsers._group_actions[0].choices[
        "train"].format_help()  # fmt: skip


def test_every_command_spells_overwrite_the_same():
    choices = build_parser()._subparsers._group_actions[0].choices
    for name, sub in choices.items():
        flags = {s for a in sub._actions for s in a.option_strings}
        assert "--force" not in flags or "--overwrite" in flags, name
        if name in ("train", "predict", "particles", "fibers", "demo"):
            assert "--overwrite" in flags, name


def test_parameter_names_become_flags():
    parser = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = parameter_flags(parser)
    message = (
        "slice_axis=3 is out of range for a 2D image; model_kwargs={'depth': 5} is invalid; "
        "declare them in class_names; pass overwrite=True"
    )
    assert to_flag_words(message, flags) == (
        "--slice-axis 3 is out of range for a 2D image; --model-kwargs '{\"depth\": 5}' is "
        "invalid; declare them in --class-names; pass --overwrite"
    )
    assert to_flag_words("pass spacing=(1.0, 2.0)", {"spacing": "--spacing"}) == (
        "pass --spacing 1.0 2.0"
    )
    assert to_flag_words("the spacing of the file", {"spacing": "--spacing"}) == (
        "the spacing of the file"  # plain prose stays prose
    )


def test_per_file_errors_name_flags_not_parameters(tmp_path, capsys, tiny_models):
    model = tiny_models[2]
    write_tiff(tmp_path / "vol.tif", np.zeros((4, 24, 24), np.uint8))
    assert main(["predict", str(model), str(tmp_path / "vol.tif"), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "The model is 2D but the image is 3D" in err
    assert "pass --slice-axis (e.g. --slice-axis 0 for Z)" in err and "--channel-axis" in err
    assert "slice_axis" not in err and "channel_axis" not in err
    argv = ["train", str(tmp_path / "vol.tif"), str(tmp_path / "vol.tif"), "-o",
            str(tmp_path / "t.sciseg"), "--model-kwargs", '{"bogus": 1}']  # fmt: skip
    write_tiff(tmp_path / "lab.tif", (np.arange(4 * 24 * 24).reshape(4, 24, 24) % 3).astype(
        np.uint8))  # fmt: skip
    argv[2] = str(tmp_path / "lab.tif")
    assert main([*argv, "--steps", "1", "--members", "1", "--device", "cpu"]) == 2
    assert "--model-kwargs: " in capsys.readouterr().err


def test_stray_label_value_names_class_names_flag(tmp_path, capsys):
    pytest.importorskip("torch")
    image = np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)
    labels = np.zeros((40, 40), np.uint8)
    labels[:8] = 1
    labels[20:28] = 2
    labels[39, :2] = 7
    write_tiff(tmp_path / "img.tif", image)
    write_tiff(tmp_path / "lab.tif", labels)
    argv = [
        "train",
        str(tmp_path / "img.tif"),
        str(tmp_path / "lab.tif"),
        "-o",
        str(tmp_path / "m.sciseg"),
        "--device",
        "cpu",
        "--members",
        "1",
        "--steps",
        "1",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "labels use value 7, which would make a 7-class model, but classes [3, 4, 5, 6]" in err
    assert "values found (value: pixels): 1: 320 px, 2: 320 px, 7: 2 px" in err
    assert "declare them in --class-names (7 names)" in err and "class_names" not in err
    assert not (tmp_path / "m.sciseg").exists()


def test_pickled_weights_are_refused_by_name(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pt = tmp_path / "model.sciseg"
    torch.save({"w": torch.zeros(2)}, pt)  # a zip with data.pkl inside
    legacy = tmp_path / "legacy.sciseg"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    swapped = tmp_path / "swapped.sciseg"  # our container, pickled weights inside
    with zipfile.ZipFile(swapped, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("weights.safetensors", legacy.read_bytes())
    img = tmp_path / "img.tif"
    write_tiff(img, np.zeros((8, 8), np.uint8))
    from napari_sciseg.dl import load_model

    for path in (pt, legacy):
        with pytest.raises(ValueError, match="Pickled weights are refused because unpickling"):
            load_model(path)
        assert main(["predict", str(path), str(img), "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "holds pickled Python objects" in err and "corrupt" not in err


def test_one_input_collector(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"")
    (tmp_path / "b.TIF").write_bytes(b"")
    (tmp_path / "scan.001").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".a.partial-1-0123abcd.tif").write_bytes(b"")
    (tmp_path / "c.zarr").mkdir()
    assert [p.name for p in collect_inputs([tmp_path])] == ["a.tif", "b.TIF"]
    assert [p.name for p in collect_inputs([tmp_path], zarr=True)] == ["a.tif", "b.TIF", "c.zarr"]
    assert "scan.001" in [p.name for p in collect_inputs([tmp_path], numbered=True)]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"Folder .*empty holds no scan file \(\.tif"):
        collect_inputs([empty], what="scan")
    with pytest.raises(FileNotFoundError, match="No such image file or folder: .*nope"):
        collect_inputs([tmp_path / "nope"])


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--headless", "-o", str(tmp_path), "--only", "samples"]) == 2
    err = capsys.readouterr().err
    assert f"Output folder {tmp_path} is not empty (mine.txt); pass --overwrite" in err
    assert not (tmp_path / "samples").exists()
    assert main(["demo", "--headless", "-o", str(tmp_path), "--only", "samples",
                 "--overwrite"]) == 0  # fmt: skip
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert (tmp_path / "samples" / "tem_bf.tif").exists()


def test_demo_out_is_ignored_by_git():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "demo-out/" in (root / ".gitignore").read_text().splitlines()
