"""``sciseg train`` end to end on a tiny TIFF pair."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from napari_sciseg.cli import _train, main
from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import load_model
from napari_sciseg.io.tiff import write_tiff

pytestmark = pytest.mark.usefixtures("few_torch_threads")


@pytest.fixture
def files(tmp_path):
    image, scribbles = scribbles_2d(shape=(48, 48), seed=4)
    write_tiff(tmp_path / "image.tif", image)
    write_tiff(tmp_path / "labels.tif", scribbles)
    return tmp_path


def test_train_writes_model_and_reports_validation(files, capsys):
    out = files / "model.sciseg"
    argv = [str(files / "image.tif"), str(files / "labels.tif"), "-o", str(out),
            "--members", "2", "--steps", "3", "--crop", "32", "--device", "cpu",
            "--model-kwargs", '{"depth": 3, "width": 2}', "--loss", "ce+dice"]
    assert main(["train", *argv]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "CPU" in lines[0]
    assert lines[-1].startswith("validation F1 ") and str(out) in lines[-1]
    model = load_model(out)
    assert len(model.network.members) == 2 and model.config.recipe["loss"] == "ce+dice"
    assert main(["train", *argv]) == 2  # exists: refuses without --overwrite
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["train", *argv, "--force"]) == 0  # the old spelling still works, and says so
    assert "--force is deprecated" in capsys.readouterr().err


def test_train_bad_labels_is_a_clean_error(files, capsys):
    write_tiff(files / "empty.tif", (scribbles_2d(shape=(48, 48))[1] * 0))
    code = main(["train", str(files / "image.tif"), str(files / "empty.tif"),
                 "-o", str(files / "m.sciseg"), "--device", "cpu"])
    assert code == 2
    assert "no labeled pixels" in capsys.readouterr().err


# --- interruptions, checkpoints, resume (issue 17) ---------------------------------------
FAST = ["--members", "2", "--crop", "32", "--device", "cpu",
        "--model-kwargs", '{"depth": 3, "width": 2}']


class StopAfter:
    """Stands in for the SIGINT event: 'set' once ``n`` steps have started."""

    n = 0

    def __init__(self):
        self.checks = 0

    def is_set(self):
        self.checks += 1
        return self.checks > self.n

    def set(self):
        pass


def test_interrupt_saves_members_and_resume_matches_uninterrupted(files, capsys, monkeypatch):
    inputs = [str(files / "image.tif"), str(files / "labels.tif")]
    whole = files / "whole.sciseg"
    assert main(["train", *inputs, "-o", str(whole), "--steps", "9", *FAST]) == 0
    part = files / "part.sciseg"
    StopAfter.n = 5
    monkeypatch.setattr(_train._Interrupts, "event_factory", StopAfter)
    argv = ["train", *inputs, "-o", str(part), "--steps", "9", *FAST]
    assert main([*argv, "--checkpoint-every", "2"]) == 130
    err = capsys.readouterr().err
    ckpt = Path(str(part) + ".ckpt")
    assert f"interrupted at step 5 of 9: saved the 2 members trained so far to {part}" in err
    assert f"--resume {ckpt}" in err
    partial = load_model(part)
    assert partial.config.metrics["stopped"] == "cancelled"
    assert partial.config.metrics["steps_done"] == 5
    monkeypatch.undo()
    # resume: the settings come from the checkpoint; the partial model may be replaced
    assert main(["train", *inputs, "-o", str(part), "--resume", str(ckpt)]) == 0
    assert not ckpt.exists()  # spent
    a, b = load_model(whole).network.state_dict(), load_model(part).network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_interrupt_before_the_first_step_saves_nothing(files, capsys, monkeypatch):
    StopAfter.n = 0
    monkeypatch.setattr(_train._Interrupts, "event_factory", StopAfter)
    out = files / "none.sciseg"
    code = main(["train", str(files / "image.tif"), str(files / "labels.tif"), "-o", str(out),
                 "--steps", "5", *FAST])
    assert code == 130 and not out.exists()
    assert "interrupted before the first training step; nothing was saved" in (
        capsys.readouterr().err)


def test_resume_with_other_settings_or_files_is_named(files, capsys, monkeypatch):
    inputs = [str(files / "image.tif"), str(files / "labels.tif")]
    out = files / "m.sciseg"
    StopAfter.n = 2
    monkeypatch.setattr(_train._Interrupts, "event_factory", StopAfter)
    assert main(["train", *inputs, "-o", str(out), "--steps", "6", *FAST]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    ckpt = str(out) + ".ckpt"
    assert main(["train", *inputs, "-o", str(out), "--resume", ckpt, "--steps", "9"]) == 2
    assert "--steps 9 differs from the checkpoint's 6" in capsys.readouterr().err
    assert main(["train", str(files / "labels.tif"), inputs[1], "-o", str(out),
                 "--resume", ckpt]) == 2
    assert "image or labels differ" in capsys.readouterr().err
    assert main(["train", *inputs, "-o", str(out), "--resume", str(out)]) == 2
    assert "a .sciseg model file, not a training checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, words", [
    ("--steps", "0", "expected a positive integer"),
    ("--seed", "-5", "expected a non-negative integer"),
])
def test_bad_numbers_name_the_flag_before_heavy_imports(files, capsys, flag, value, words):
    with pytest.raises(SystemExit):
        main(["train", str(files / "image.tif"), str(files / "labels.tif"), "-o",
              str(files / "x.sciseg"), flag, value])
    err = capsys.readouterr().err
    assert flag in err and words in err


def test_sigterm_stops_like_ctrl_c_and_a_second_signal_aborts(capsys):
    with _train._Interrupts() as interrupts:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs in the main thread between bytecodes
        assert interrupts.event.is_set() and interrupts.exit_code == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert "SIGTERM: stopping after this step" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) != interrupts._handle  # restored


def test_sigint_to_a_training_process_leaves_a_loadable_model(files):
    sig, code = signal.SIGINT, 130
    out = files / f"sig{code}.sciseg"
    ckpt = Path(str(out) + ".ckpt")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(_train.__file__).parents[2]),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "napari_sciseg.cli", "train", str(files / "image.tif"),
         str(files / "labels.tif"), "-o", str(out), "--steps", "100000",
         "--checkpoint-every", "3", *FAST],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "saved the 2 members trained so far" in err and "--resume" in err
    model = load_model(out)
    done = model.config.metrics["steps_done"]
    assert done >= 3 and model.config.metrics["stopped"] == "cancelled"
    from napari_sciseg.dl.checkpoint import load_checkpoint

    assert load_checkpoint(ckpt).step == done


def test_train_tunet3plus_with_7x7_kernels(files, capsys):
    out = files / "unet7.sciseg"
    assert main(["train", str(files / "image.tif"), str(files / "labels.tif"), "-o", str(out),
                 "--arch", "tunet3plus", "--kernel-size", "7", "--members", "1", "--steps",
                 "2", "--crop", "32", "--device", "cpu", "--model-kwargs",
                 '{"depth": 2, "base_channels": 2}']) == 0
    member = load_model(out).network.members[0]
    assert member.arch == "tunet3plus" and member.config["kwargs"]["kernel_size"] == 7
    assert tuple(member.down[0][0].weight.shape[2:]) == (7, 7)
    capsys.readouterr()
    assert main(["train", str(files / "image.tif"), str(files / "labels.tif"), "-o",
                 str(files / "x.sciseg"), "--arch", "smsnet", "--kernel-size", "7"]) == 2
    assert "--kernel-size applies to --arch tunet and tunet3plus" in capsys.readouterr().err
    assert not (files / "x.sciseg").exists()


def test_3d_defaults_are_sized_for_a_cpu_and_flags_still_win(tmp_path):
    """`--dim 3` without flags: 3 members of depth 10 on 32^3 crops (dl.recipe.DEFAULTS_3D);
    2D keeps 5 members on 64^2 crops; explicit flags override either."""
    from napari_sciseg.cli import build_parser
    from napari_sciseg.cli._train import _recipe

    def recipe(*flags, n_spatial=3):
        args = build_parser().parse_args(["train", str(tmp_path), str(tmp_path), "-o",
                                          str(tmp_path / "m.sciseg"), *flags])
        return _recipe(args, n_spatial)[0]

    r3 = recipe("--dim", "3")
    assert (r3.members, r3.crop, r3.model_kwargs) == (3, 32, {"depth": 10})
    r2 = recipe(n_spatial=2)
    assert (r2.members, r2.crop, r2.model_kwargs) == (5, 64, {})
    r = recipe("--dim", "3", "--members", "4", "--crop", "40", "--model-kwargs", '{"depth": 6}')
    assert (r.members, r.crop, r.model_kwargs) == (4, 40, {"depth": 6})
    assert recipe("--dim", "3", "--model-kwargs", '{"width": 2}').model_kwargs == {
        "depth": 10, "width": 2}
