"""Atomic writes, the folder lock and run.json: the guarantees other writers rely on."""

import errno
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_sciseg.io.outputs import (
    DiskFullError,
    FolderBusyError,
    RunManifest,
    atomic_open,
    atomic_path,
    is_partial,
    lock_folder,
    read_manifest,
    write_text,
)
from napari_sciseg.io.tiff import read_tiff, write_tiff


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_file_appears_only_when_complete(tmp_path):
    dest = tmp_path / "a_psd.png"
    with atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and is_partial(tmp)
        tmp.write_bytes(b"x" * 10)
        assert not dest.exists()
    assert dest.read_bytes() == b"x" * 10
    assert _hidden(tmp_path) == []


def test_failed_block_leaves_old_file_and_no_partial(tmp_path):
    dest = tmp_path / "t.csv"
    write_text(dest, "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(dest, "w") as fh:
        fh.write("half of the new")
        raise RuntimeError("boom")
    assert dest.read_text() == "old"
    assert _hidden(tmp_path) == []


def test_no_overwrite_refuses_and_keeps(tmp_path):
    dest = tmp_path / "t.txt"
    write_text(dest, "first")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_text(dest, "second", overwrite=False)
    assert dest.read_text() == "first"


def test_staged_directory_replaces_old_store(tmp_path):
    dest = tmp_path / "a.zarr"
    for value in ("one", "two"):
        with atomic_path(dest) as tmp:
            tmp.mkdir()
            (tmp / "data").write_text(value)
    assert (dest / "data").read_text() == "two"
    assert _hidden(tmp_path) == []


def test_disk_full_names_the_disk_and_removes_partial(tmp_path, monkeypatch):
    def full(path, data, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"II*\x00" + b"\0" * 100)  # the half that fit on the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    import tifffile

    monkeypatch.setattr(tifffile, "imwrite", full)
    with pytest.raises(
        DiskFullError, match=rf"No space left on the disk holding {tmp_path}.*MB free"
    ):
        write_tiff(tmp_path / "img.tif", np.zeros((8, 8), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_tiff_write_is_atomic_under_kill(tmp_path):
    # a child process killed while it writes leaves no file under the final name
    code = textwrap.dedent(f"""
        import os, signal, numpy as np, tifffile
        from napari_sciseg.io.tiff import write_tiff
        real = tifffile.imwrite
        def slow(path, data, **kw):
            with open(path, "wb") as fh:
                fh.write(b"II*\\x00partial")
                fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        tifffile.imwrite = slow
        write_tiff({str(tmp_path / "x.tif")!r}, np.zeros((4, 4), np.uint8))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    assert not (tmp_path / "x.tif").exists()
    leftovers = [p for p in tmp_path.iterdir() if is_partial(p)]
    assert len(leftovers) == 1  # only a hidden partial name: nothing reads as complete
    with lock_folder(tmp_path) as lock:  # the next run in the folder cleans it up
        assert lock.removed_partials == [leftovers[0].name]
    assert not leftovers[0].exists()
    write_tiff(tmp_path / "x.tif", np.ones((4, 4), np.uint8))
    assert read_tiff(tmp_path / "x.tif").data.sum() == 16


def test_second_lock_is_refused_with_the_holder(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from napari_sciseg.io.outputs import lock_folder
        with lock_folder({str(tmp_path)!r}, command="sciseg predict"):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(
            FolderBusyError,
            match=rf"in use by another sciseg run \(process "
            rf"{child.pid} running 'sciseg predict' since",
        ):
            with lock_folder(tmp_path, command="test"):
                pass
    finally:
        child.communicate("\n", timeout=60)
    with lock_folder(tmp_path) as lock:  # released cleanly: no takeover message
        assert lock.took_over is None


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    code = textwrap.dedent(f"""
        import os, signal
        from napari_sciseg.io.outputs import lock_folder
        with lock_folder({str(tmp_path)!r}, command="sciseg particles"):
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    info = json.loads((tmp_path / ".sciseg.lock").read_text())
    assert info["command"] == "sciseg particles"  # the lock file names the dead run
    with lock_folder(tmp_path, command="again") as lock:
        assert lock.took_over is not None
        assert "left by a run that stopped without finishing" in lock.took_over
        assert "sciseg particles" in lock.took_over and "no longer running" in lock.took_over
        assert str(info["pid"]) in lock.took_over


def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores permission bits: report the folder as read-only
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(ro) else real(p, m))
    try:
        with pytest.raises(PermissionError, match="is not writable .read-only.*another output"):
            with lock_folder(ro):
                pass
    finally:
        ro.chmod(0o755)


def test_manifest_running_then_complete(tmp_path):
    model = tmp_path / "m.bin"
    model.write_bytes(b"weights")
    m = RunManifest(tmp_path / "out", "predict", options={"k": 1.0}, model=model)
    (tmp_path / "out").mkdir()
    m.start(["a.tif", "b.tif"])
    assert read_manifest(tmp_path / "out")["status"] == "running"
    m.add("a.tif", [tmp_path / "out" / "a_seg.tif"])
    m.add("b.tif", [], error="ValueError: bad")
    m.finish()
    data = read_manifest(tmp_path / "out")
    assert data["status"] == "complete" and data["outputs"] == {"a.tif": ["a_seg.tif"]}
    assert data["failed"] == {"b.tif": "ValueError: bad"}
    assert len(data["model"]["sha256"]) == 64 and data["finished"]
    again = RunManifest(tmp_path / "out", "predict", options={"k": 1.0}, model=model)
    assert again.same_run(data) is None
    other = RunManifest(tmp_path / "out", "predict", options={"k": 2.0}, model=model)
    assert "options differ" in other.same_run(data)
