"""Output folders under concurrency, kill -9, Ctrl-C, a failed zarr run and a full disk."""

import errno
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_sciseg.cli import main  # noqa: E402
from napari_sciseg.io.outputs import is_partial, read_manifest  # noqa: E402
from napari_sciseg.io.tiff import read_tiff  # noqa: E402

#: a child that waits for the "go" file, then runs the CLI: the four runs start together
_GATED = textwrap.dedent("""
    import os, sys, time
    from napari_sciseg.cli import main
    go = sys.argv[1]
    while not os.path.exists(go):
        time.sleep(0.005)
    sys.exit(main(sys.argv[2:]))
""")


def _folder_state(out):
    """{n channels of every probability file}, the files, and run.json."""
    probs = sorted(out.glob("*_probability.tif"))
    channels = {read_tiff(p).data.shape[0] for p in probs}
    return channels, sorted(p.name for p in out.iterdir()), read_manifest(out)


def test_four_concurrent_runs_never_mix(tiny_models, images, tmp_path):
    out = tmp_path / "out"
    go = tmp_path / "go"
    procs = []
    for i in range(4):
        model = tiny_models[2 if i % 2 else 7]
        argv = [str(go), "predict", str(model), str(images), "-o", str(out), "--overwrite",
                "--device", "cpu"]  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-c", _GATED, *argv], text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    time.sleep(0.5)
    go.write_text("")
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = [r[0] for r in results]
    assert set(codes) <= {0, 2}, results
    assert 0 in codes
    for code, stdout, stderr in results:
        if code == 2:  # refused: the message names the run that holds the folder
            assert "is in use by another sciseg run (process" in stderr, stderr
        else:
            assert "predicted 4 of 4 file(s)" in stdout
    channels, names, manifest = _folder_state(out)
    assert len(channels) == 1, f"probability files of two models in one folder: {channels}"
    assert manifest["status"] == "complete" and len(manifest["outputs"]) == 4
    model_of = {2: tiny_models[2], 7: tiny_models[7]}[channels.pop()]
    assert manifest["model"]["path"] == str(model_of)
    assert len([n for n in names if n.endswith(".tif")]) == 12
    assert not [n for n in names if is_partial(n)]


def test_killed_mid_file_leaves_nothing_that_reads_complete_and_resume_finishes(
    tiny_models, images, tmp_path, capsys
):
    out = tmp_path / "out"
    killer = textwrap.dedent("""
        import os, signal, sys
        import tifffile
        from napari_sciseg.cli import main
        real, calls = tifffile.imwrite, []
        def dying(path, data, **kw):
            calls.append(path)
            if len(calls) == 5:  # the 2nd image's 2nd file: half written, then kill -9
                with open(path, "wb") as fh:
                    fh.write(b"II*\\x00" + bytes(64))
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, data, **kw)
        tifffile.imwrite = dying
        sys.exit(main(sys.argv[1:]))
    """)
    argv = ["predict", str(tiny_models[2]), str(images), "-o", str(out), "--device", "cpu"]
    proc = subprocess.run([sys.executable, "-c", killer, *argv], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    # every file under its final name is whole; the half-written one only has a hidden name
    tifs = sorted(p for p in out.glob("*.tif") if not p.name.startswith("."))
    for p in tifs:
        assert read_tiff(p).data.shape[-2:] == (32, 40)
    stems = [p.name.split("_")[0] for p in tifs]
    counts = sorted(stems.count(s) for s in set(stems))
    assert counts == [1, 3]  # one image done, the next one's first file done
    done = max(set(stems), key=stems.count)
    assert [p.name for p in out.iterdir() if is_partial(p)]
    manifest = read_manifest(out)
    assert manifest["status"] == "running"
    assert list(manifest["outputs"]) == [str(images / f"{done}.tif")]
    # a plain rerun refuses; --resume takes the dead run's lock over and does the rest
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "took over the lock" in err and "removed 1 partial file(s)" in err
    assert "--resume" in err
    assert main([*argv, "--resume"]) == 0
    captured = capsys.readouterr()
    assert "1 of 4 input(s) already complete" in captured.err
    assert "predicted 3 of 3 file(s), 1 already complete" in captured.out
    manifest = read_manifest(out)
    assert manifest["status"] == "complete" and len(manifest["outputs"]) == 4
    assert len(list(out.glob("[!.]*.tif"))) == 12
    assert not [p for p in out.iterdir() if is_partial(p)]


def test_ctrl_c_says_which_files_finished(tiny_models, images, tmp_path):
    out = tmp_path / "out"
    interrupter = textwrap.dedent("""
        import os, signal, sys, time
        from napari_sciseg.cli import _predict, main
        real, calls = _predict.predict_file, []
        def then_ctrl_c(model, path, *rest):
            calls.append(path)
            if len(calls) == 3:  # two files done: Ctrl-C while the third is predicted
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(2)
            return real(model, path, *rest)
        _predict.predict_file = then_ctrl_c
        sys.exit(main(sys.argv[1:]))
    """)
    argv = ["predict", str(tiny_models[2]), str(images), "-o", str(out), "--device", "cpu"]
    proc = subprocess.run([sys.executable, "-c", interrupter, *argv], capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    manifest = read_manifest(out)
    assert manifest["status"] == "interrupted"
    finished = sorted(s.split("/")[-1] for s in manifest["outputs"])
    assert len(finished) == 2
    assert (
        f"interrupted; {len(finished)} of 4 input(s) finished ({', '.join(finished)}), their "
        "outputs are complete. Rerun the same command with --resume" in proc.stderr
    )
    assert main([*argv, "--resume"]) == 0
    assert read_manifest(out)["status"] == "complete"


def test_failed_zarr_run_does_not_block_the_retry(tiny_models, images, tmp_path, monkeypatch,
                                                   capsys):  # fmt: skip
    pytest.importorskip("zarr")
    from napari_sciseg.dl import prediction

    out = tmp_path / "z"
    argv = ["predict", str(tiny_models[2]), str(images / "im0.tif"), "-o", str(out), "--zarr"]
    real = prediction.predict

    def crash_after_first_tiles(model, data, *, out=None, **kw):
        out.create_array("mean", shape=(2, 4, 4), dtype="f4")  # a stub, as a crash leaves it
        raise MemoryError("simulated crash while writing tiles")

    monkeypatch.setattr(prediction, "predict", crash_after_first_tiles)
    assert main(argv) == 1
    assert "simulated crash" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".sciseg.lock", "run.json"]
    monkeypatch.setattr(prediction, "predict", real)
    assert main(argv) == 0  # no --overwrite needed: the failed run left no store
    import zarr

    group = zarr.open_group(str(out / "im0.zarr"), mode="r")
    assert group["mean"].shape == (2, 32, 40) and group.attrs["spacing"] == [2.0, 2.0]


def test_full_disk_names_the_disk_and_removes_partials(tiny_models, images, tmp_path,
                                                       monkeypatch, capsys):  # fmt: skip
    import tifffile

    def full(path, data, **kwargs):
        with open(path, "wb") as fh:
            fh.write(bytes(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full)
    out = tmp_path / "full"
    assert main(["predict", str(tiny_models[2]), str(images / "im0.tif"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"im0.tif failed: DiskFullError: No space left on the disk holding {out} (" in err
    assert "MB free) while writing im0_probability.tif; the partial file was removed" in err
    assert sorted(p.name for p in out.iterdir()) == [".sciseg.lock", "run.json"]
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_particles_resume_keeps_summary_rows(tmp_path, capsys):
    from napari_sciseg.data import tem_particles
    from napari_sciseg.io.tiff import write_tiff

    folder = tmp_path / "tem"
    folder.mkdir()
    for i in range(2):
        write_tiff(folder / f"t{i}.tif", tem_particles("bf", pixel_size=0.2, seed=i)[:160, :160],
                   spacing=(0.2, 0.2))  # fmt: skip
    out = tmp_path / "p"
    assert main(["particles", str(folder / "t0.tif"), "-o", str(out), "--jobs", "1"]) == 0
    first = (out / "summary.csv").read_text().splitlines()
    assert main(["particles", str(folder), "-o", str(out), "--jobs", "1"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["particles", str(folder), "-o", str(out), "--jobs", "1", "--resume"]) == 0
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1] == first[1]  # t0's row carried over, t1 added
    assert read_manifest(out)["status"] == "complete"
    np.testing.assert_equal(len(list(out.glob("*_psd.png"))), 2)
