"""``sciseg demo``: headless steps write their outputs; the GUI docks every widget."""

import subprocess
import sys

import numpy as np
import pytest

from napari_sciseg.cli import main
from napari_sciseg.cli._demo import HEADLESS_STEPS
from napari_sciseg.io.tiff import read_tiff


def test_every_workflow_has_a_headless_step():
    names = [name for name, _ in HEADLESS_STEPS]
    assert names[0] == "samples"
    assert {"particles", "predict", "fibers", "afm", "embed", "restore"} <= set(names)


def test_headless_samples_and_particles_write_calibrated_outputs(tmp_path, capsys):
    assert main(["demo", "--headless", "-o", str(tmp_path), "--only", "samples", "particles"]) == 0
    out = capsys.readouterr().out
    assert "[samples]" in out and "[particles]" in out
    bf = read_tiff(tmp_path / "samples" / "tem_bf.tif")
    assert bf.spacing == pytest.approx((0.2, 0.2)) and bf.unit == "nm"
    written = {p.name for p in (tmp_path / "particles").rglob("*") if p.is_file()}
    assert any(name.endswith("_particles.csv") for name in written), written


def test_headless_restore_fills_only_the_gaps(tmp_path, capsys):
    assert main(["demo", "--headless", "-o", str(tmp_path), "--only", "restore"]) == 0
    line = capsys.readouterr().out
    r = float(line.split("gaps r ")[1].split()[0])
    assert r > 0.99  # held-out pattern, noise-free truth
    pattern = read_tiff(tmp_path / "restore" / "pattern.tif").data
    filled = read_tiff(tmp_path / "restore" / "pattern_inpainted.tif").data
    gaps = pattern == 0  # the detector reports 0 in its gaps
    assert (filled[~gaps] == pattern[~gaps]).all() and (filled[gaps] > 0).all()
    assert (tmp_path / "restore" / "gaps.sciseg").is_file()


def test_unknown_step_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--headless", "-o", str(tmp_path), "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Unknown demo step(s) ['nope']; valid: samples" in err


def test_headless_needs_an_output_folder(capsys):
    assert main(["demo", "--headless"]) == 2
    assert "sciseg demo --headless -o OUTDIR" in capsys.readouterr().err


def test_gui_demo_docks_every_widget(make_napari_viewer):
    from napari_sciseg._napari._demo import populate, widget_names

    viewer = make_napari_viewer()
    docks = populate(viewer, samples=("scribbles_2d",))
    assert len(docks) == len(widget_names()) >= 5
    assert {"Train and predict", "Size particles", "Fibers"} <= set(widget_names())
    names = [layer.name for layer in viewer.layers]
    assert names == ["disks and lines", "disks and lines scribbles"]
    assert np.asarray(viewer.layers[1].data).max() == 2


def test_unknown_sample_is_a_clear_error_before_any_window():
    # a fresh process: nothing has discovered the plugin's manifest yet
    out = subprocess.run([sys.executable, "-m", "napari_sciseg.cli", "demo", "--sample", "nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Unknown sample(s) ['nope']; valid: tem_bf" in out.stderr


@pytest.mark.slow  # trains an autoencoder for 150 steps and runs a UMAP (~1 min)
def test_headless_embed_step_scores_the_shapes(tmp_path):
    from napari_sciseg.cli._demo_steps import embed

    line = embed(tmp_path)
    assert line.startswith("embed: 48 tiles") and "ARI" in line
    assert (tmp_path / "shapes_latents.csv").read_text().count("\n") == 49
