"""The thread chooser: forced counts, affinity masks, the load; results independent of threads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_sciseg.dl.threads import available_cores, choose_threads

SRC = str(Path(__file__).resolve().parents[2] / "src")
has_affinity = hasattr(os, "sched_setaffinity")


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.0, 2), (2, 0.2, 2), (2, 0.8, 1), (2, 1.0, 1), (2, 7.0, 1),
    (8, 0.0, 8), (8, 2.0, 6), (8, 2.8, 5), (1, 0.0, 1),
])  # fmt: skip
def test_free_cores_by_load(cores, load, expected):
    assert choose_threads(cores=cores, load=load) == expected


def test_forced_threads_win_and_bad_values_are_refused():
    assert choose_threads(3, cores=1, load=9.0) == 3
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="threads must be a whole number of at least 1"):
            choose_threads(bad)


def _child(code: str, cpus: set[int] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (pinned to ``cpus``); it prints one JSON line."""
    pin = f"import os; os.sched_setaffinity(0, {sorted(cpus)!r})\n" if cpus else ""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["PYTHONPATH"] = SRC
    proc = subprocess.run([sys.executable, "-c", pin + code], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not has_affinity, reason="no os.sched_setaffinity on this system")
def test_affinity_mask_limits_the_choice():
    first = min(os.sched_getaffinity(0))
    got = _child(
        "import json; from napari_sciseg.dl.threads import available_cores, choose_threads\n"
        "print(json.dumps([available_cores(), choose_threads(load=0.0), choose_threads(4)]))",
        cpus={first},
    )
    assert got == [1, 1, 4]  # one allowed core -> one thread, unless forced


def _tiny_model(path):
    from napari_sciseg.dl import Ensemble, ModelConfig, TrainedModel, create_model, save_model

    net = create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=2, seed=0)
    config = ModelConfig(arch="smsnet", member_configs=[net.config], model_ndim=2, dim="2",
                         slice_axis=0, in_channels=1, n_classes=2, class_names=("a", "b"),
                         normalization=((0.0, 255.0),), recipe={})  # fmt: skip
    save_model(TrainedModel(network=Ensemble([net]).eval(), config=config), path)
    return path


@pytest.mark.skipif(not has_affinity, reason="no os.sched_setaffinity on this system")
def test_cli_threads_flag_and_affinity(tmp_path):
    """`sciseg predict` on one allowed core uses 1 thread; --threads 2 forces 2; OpenMP
    threads wait passively and there is one inter-op thread."""
    pytest.importorskip("torch")
    from napari_sciseg.io.tiff import write_tiff

    write_tiff(tmp_path / "a.tif", np.zeros((20, 20), np.uint8), unit="pixel")
    model = _tiny_model(tmp_path / "m.sciseg")
    first = min(os.sched_getaffinity(0))
    run = (f"main(['predict', {str(model)!r}, {str(tmp_path / 'a.tif')!r}, '-o', "
           f"{str(tmp_path)!r} + '/out%d', '--device', 'cpu'] + %s)")
    code = (
        "import json, os; from napari_sciseg.cli import main\n"
        f"rc = [{run % (1, '[]')}]\n"
        "import torch\n"
        "seen = [torch.get_num_threads()]\n"
        f"rc.append({run % (2, repr(['--threads', '2']))})\n"
        "seen.append(torch.get_num_threads())\n"
        "print(json.dumps([rc, seen, torch.get_num_interop_threads(), "
        "os.environ.get('OMP_WAIT_POLICY')]))"
    )
    # one allowed core -> 1 thread; --threads 2 forces 2
    assert _child(code, cpus={first}) == [[0, 0], [1, 2], 1, "PASSIVE"]


def test_thread_count_does_not_change_predictions():
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from napari_sciseg.dl import Ensemble, create_model
    from napari_sciseg.dl.prediction import predict

    nets = [create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=6, seed=s,
                         width=4) for s in range(2)]  # fmt: skip
    cfg = SimpleNamespace(in_channels=1, n_classes=2, model_ndim=2, dim="2", slice_axis=0,
                          normalize=lambda x: np.asarray(x, np.float32))
    trained = SimpleNamespace(network=Ensemble(nets).eval(), config=cfg)
    image = np.random.default_rng(0).random((200, 180)).astype(np.float32)
    before = torch.get_num_threads()
    try:
        results = []
        for n in (1, max(2, available_cores())):
            torch.set_num_threads(n)
            results.append(predict(trained, image, device="cpu"))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(results[0].mean, results[1].mean, atol=1e-6)
    np.testing.assert_allclose(results[0].std, results[1].std, atol=1e-6)
