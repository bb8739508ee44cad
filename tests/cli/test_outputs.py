"""Output folders under concurrency, kill -9, Ctrl-C, a failed zarr run and a full disk."""

import errno
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_sciseg.cli import main  # noqa: E402
from napari_sciseg.io.outputs import is_partial, read_manifest  # noqa: E402
from napari_sciseg.io.tiff import read_tiff  # noqa: E402

#: One process imports everything a predict run needs, then, round after round, forks four
#: runs that block on a pipe until the parent closes it: they start within microseconds of each
#: other and race over the folder (lock, writes, run.json), not over importing torch (a run
#: itself takes ~0.4 s; the imports ~1.5 s CPU). Copies the folder after each round and prints
#: the exit codes of every round.
_FORKED = textwrap.dedent("""
    import json, os, shutil, sys, traceback
    import tifffile, torch  # noqa: F401 - warm imports: the runs race over the folder
    from napari_sciseg.cli import build_parser, main
    from napari_sciseg.dl import prediction, serialization  # noqa: F401
    from napari_sciseg.io import outputs, tiff  # noqa: F401
    build_parser()  # imports every command's module

    def run(argv, log):
        for fd, name in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{log}.{name}", os.O_WRONLY | os.O_CREAT, 0o644), fd)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)

    logs, rounds = sys.argv[1], json.loads(sys.argv[2])
    codes = []
    for r, runs in enumerate(rounds):
        gate_r, gate_w = os.pipe()
        pids = []
        for i, argv in enumerate(runs):
            pid = os.fork()
            if pid == 0:
                os.close(gate_w)
                os.read(gate_r, 1)  # returns at EOF: when the parent closes its end
                run(argv, f"{logs}/round{r}_run{i}")
            pids.append(pid)
        os.close(gate_r)
        os.close(gate_w)  # go
        codes.append([os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids])
        shutil.copytree(runs[0][runs[0].index("-o") + 1], f"{logs}/after_round{r}")
    print(json.dumps(codes))
""")


def _folder_state(out):
    """{n channels of every probability file}, the files, and run.json."""
    probs = sorted(out.glob("*_probability.tif"))
    channels = {read_tiff(p).data.shape[0] for p in probs}
    return channels, sorted(p.name for p in out.iterdir()), read_manifest(out)


def test_four_concurrent_runs_never_mix(tiny_models, images, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    # three rounds into one folder: the later ones race to replace a complete folder of the
    # other model's results
    rounds = [[["predict", str(tiny_models[2 if (i + r) % 2 else 7]), str(images), "-o",
                str(tmp_path / "out"), "--overwrite", "--device", "cpu", "--engine", "torch"]
               for i in range(4)] for r in range(3)]
    proc = subprocess.run([sys.executable, "-c", _FORKED, str(logs), json.dumps(rounds)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for r, codes in enumerate(json.loads(proc.stdout.strip().splitlines()[-1])):
        results = [(c, (logs / f"round{r}_run{i}.out").read_text(),
                    (logs / f"round{r}_run{i}.err").read_text()) for i, c in enumerate(codes)]
        assert set(codes) <= {0, 2}, results
        assert 0 in codes
        for code, stdout, stderr in results:
            if code == 2:  # refused: the message names the run that holds the folder
                assert "is in use by another sciseg run (process" in stderr, stderr
            else:
                assert "predicted 4 of 4 file(s)" in stdout
        channels, names, manifest = _folder_state(logs / f"after_round{r}")
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
    # the half-written TIFF and (since TIFFs are streamed) its hidden staging store
    partials = re.search(r"removed (\d+) partial file\(s\)", err)
    assert "took over the lock" in err and partials and int(partials.group(1)) >= 1
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
