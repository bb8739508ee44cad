"""Training checkpoints: resume is bit-identical; mismatches and bad files are refused."""

import json
import threading
import zipfile

import numpy as np
import pytest
import torch

from napari_sciseg._generators import drain
from napari_sciseg.data.scribbles import scribbles_2d
from napari_sciseg.dl import save_model, train
from napari_sciseg.dl.checkpoint import Checkpointer, load_checkpoint
from napari_sciseg.dl.recipe import TrainRecipe
from napari_sciseg.dl.training import iter_train_recipe

TINY = {"crop": 32, "model_kwargs": {"depth": 3, "width": 2}, "val_every": 3,
        "early_stopping": None}


@pytest.fixture(scope="module")
def task():
    return scribbles_2d(shape=(64, 64), seed=3)


class StopAfter:
    """A cancel event that is set once ``n`` steps have started."""

    def __init__(self, n):
        self.n, self.checks = n, 0

    def is_set(self):
        self.checks += 1
        return self.checks > self.n


def interrupted_then_resumed(task, recipe, stop_at, tmp_path, every=4):
    path = tmp_path / "run.ckpt"
    ck = Checkpointer(path, every_steps=every)
    first = drain(iter_train_recipe(*task, recipe, device="cpu", checkpoint=ck,
                                    cancel=StopAfter(stop_at)))
    assert first.config.metrics["stopped"] == "cancelled"
    assert first.config.metrics["steps_done"] == stop_at == load_checkpoint(path).step
    return drain(iter_train_recipe(*task, recipe, device="cpu", resume=path))


def same_weights(a, b) -> bool:
    sa, sb = a.network.state_dict(), b.network.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("arch, kwargs", [
    ("smsnet", {}),                                                   # shared-dilation stack
    ("smsnet", {"shared_dilations": False}),                          # per-edge graph stack
    ("tunet", {"model_kwargs": {"depth": 2, "base_channels": 4}}),    # member after member
])
def test_resume_gives_the_weights_of_an_uninterrupted_run(task, tmp_path, arch, kwargs):
    recipe = TrainRecipe(arch=arch, members=2, steps=10, **{**TINY, **kwargs})
    whole = drain(iter_train_recipe(*task, recipe, device="cpu"))
    resumed = interrupted_then_resumed(task, recipe, 7, tmp_path)
    assert same_weights(whole, resumed)
    assert resumed.config.metrics == whole.config.metrics
    assert resumed.config.metrics["steps_done"] == 10


def test_resume_from_a_periodic_checkpoint_after_a_crash(task, tmp_path):
    """A crash (no clean stop) leaves the last periodic checkpoint; resuming it works."""
    recipe = TrainRecipe(members=2, steps=9, **TINY)
    whole = drain(iter_train_recipe(*task, recipe, device="cpu"))
    path = tmp_path / "crash.ckpt"
    gen = iter_train_recipe(*task, recipe, device="cpu",
                            checkpoint=Checkpointer(path, every_steps=4))
    for p in gen:
        if p.step == 6:
            break  # the process dies here: steps 5 and 6 are lost
    assert load_checkpoint(path).step == 4
    assert [f.name for f in tmp_path.iterdir()] == ["crash.ckpt"]  # no partial files
    resumed = drain(iter_train_recipe(*task, recipe, device="cpu", resume=path))
    assert same_weights(whole, resumed)


def test_checkpoints_by_time_and_elapsed_time_carries_on(task, tmp_path):
    recipe = TrainRecipe(members=1, steps=4, **TINY)
    ck = Checkpointer(tmp_path / "t.ckpt", every_s=0.0)  # every step (but the last)
    records = list(iter_train_recipe(*task, recipe, device="cpu", checkpoint=ck))
    assert ck.saved == 3 and ck.last_step == 3
    header = load_checkpoint(ck.path).header
    assert 0 < header["elapsed_s"] <= records[2].elapsed_s + 1
    resumed = list(iter_train_recipe(*task, recipe, device="cpu", resume=ck.path))
    assert [r.step for r in resumed] == [4] and resumed[0].elapsed_s >= header["elapsed_s"]


# --- bad input --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(task, tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "c.ckpt"
    recipe = TrainRecipe(members=2, steps=6, **TINY)
    drain(iter_train_recipe(*task, recipe, device="cpu", checkpoint=Checkpointer(path),
                            cancel=StopAfter(2)))
    return path, recipe


def resume(task, recipe, path, image=None):
    image = task[0] if image is None else image
    return drain(iter_train_recipe(image, task[1], recipe, device="cpu", resume=path))


def test_other_settings_are_named(task, checkpoint):
    path, recipe = checkpoint
    with pytest.raises(ValueError, match=r"settings differ.*steps: checkpoint 6, now 9"):
        resume(task, recipe.replace(steps=9), path)
    with pytest.raises(ValueError, match=r"arch: checkpoint 'smsnet', now 'msdnet'"):
        resume(task, recipe.replace(arch="msdnet"), path)


def test_other_data_is_refused(task, checkpoint):
    path, recipe = checkpoint
    with pytest.raises(ValueError, match="image or labels differ.*fingerprint mismatch"):
        resume(task, recipe, path, image=task[0] + 0.5)


def rewrite(path, dest, **changes):
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("checkpoint.json"))
        state = zf.read("state.safetensors")
    header.update(changes)
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("checkpoint.json", json.dumps(header))
        zf.writestr("state.safetensors", state)
    return dest


def test_other_version_or_format_is_named(task, checkpoint, tmp_path):
    path, recipe = checkpoint
    old = rewrite(path, tmp_path / "old.ckpt", version="0.0.1")
    with pytest.raises(ValueError, match="written by napari-sciseg 0.0.1, this is"):
        resume(task, recipe, old)
    new = rewrite(path, tmp_path / "new.ckpt", format_version=99)
    with pytest.raises(ValueError, match="checkpoint format 99 is newer"):
        load_checkpoint(new)


def test_a_model_file_or_junk_is_not_a_checkpoint(task, tmp_path):
    model = train(*task, members=1, steps=1, device="cpu", crop=32,
                  model_kwargs={"depth": 2})
    path = save_model(model, tmp_path / "m.sciseg")
    with pytest.raises(ValueError, match="a .sciseg model file, not a training checkpoint"):
        load_checkpoint(path)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_weights_of_another_architecture_are_named(task, checkpoint, tmp_path):
    path, recipe = checkpoint
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("checkpoint.json"))
    bad = tmp_path / "bad.ckpt"
    from safetensors.torch import save as save_tensors

    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("checkpoint.json", json.dumps(header))
        zf.writestr("state.safetensors", save_tensors({"stack.x": torch.zeros(1)}))
    with pytest.raises(ValueError, match="weights do not fit this model"):
        resume(task, recipe, bad)


def test_stop_flag_is_checked_before_every_step(task):
    stop = threading.Event()
    stop.set()
    model = drain(iter_train_recipe(*task, TrainRecipe(members=1, steps=3, **TINY),
                                    device="cpu", cancel=stop))
    assert model.config.metrics["steps_done"] == 0
    assert np.isfinite(model.network(torch.zeros(1, 1, 16, 16))[0].detach()).all()
