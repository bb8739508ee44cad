"""Ctrl-C a 3D ``sciseg train`` at 60 %, resume it, compare with an uninterrupted run.

    python benchmarks/bench_resume.py [--steps 120] [--shape 64] [--out benchmarks/results]

Both runs go through the real CLI in subprocesses (one torch thread each, so the resumed
run can be bit-identical). The interrupted run writes a checkpoint at 60 % of the steps;
SIGINT is sent as soon as it appears, so the run stops one step later and saves its
members and a checkpoint; ``--resume`` then finishes it. Reported: validation F1/loss
of both final models, dense F1 of their predictions against the generator's truth, whether
the weights are identical, and the wall time (process start included) and training time.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _cli(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "napari_sciseg.cli", "train", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def _finish(proc) -> tuple[int, str]:
    out, err = proc.communicate()
    return proc.returncode, out + err


def _scores(model_path, volume, truth):
    from napari_sciseg.dl import load_model, predict

    model = load_model(model_path)
    pred = predict(model, volume, device="cpu").segmentation == 2
    dense = 2 * np.sum(pred & truth) / max(1, pred.sum() + truth.sum())
    m = model.config.metrics
    state = {k: v.clone() for k, v in model.network.state_dict().items()}
    return m.get("val_f1"), m.get("val_loss"), float(dense), state, m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--shape", type=int, default=64)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = p.parse_args()

    from napari_sciseg.data.fibers import fiber_volume
    from napari_sciseg.io.tiff import write_tiff

    volume, scribbles, truth = fiber_volume(shape=(a.shape,) * 3, seed=1, return_truth=True)
    fiber = truth.labels > 0
    work = Path(tempfile.mkdtemp(prefix="bench_resume_"))
    write_tiff(work / "image.tif", volume)
    write_tiff(work / "labels.tif", scribbles)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    common = [str(work / "image.tif"), str(work / "labels.tif"), "--dim", "3", "--members", "2",
              "--steps", str(a.steps), "--crop", "24", "--model-kwargs", '{"depth": 5}',
              "--device", "cpu", "--seed", "0"]
    at = round(0.6 * a.steps)

    t0 = time.perf_counter()
    code, log_a = _finish(_cli([*common, "-o", str(work / "whole.sciseg")], env))
    wall_whole = time.perf_counter() - t0
    assert code == 0, log_a

    part, ckpt = work / "part.sciseg", work / "part.sciseg.ckpt"
    t0 = time.perf_counter()
    proc = _cli([*common, "-o", str(part), "--checkpoint-every", str(at)], env)
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code, log_b = _finish(proc)
    wall_first = time.perf_counter() - t0
    assert code == 130, log_b
    t0 = time.perf_counter()
    code, log_c = _finish(_cli([*common[:2], "-o", str(part), "--resume", str(ckpt)], env))
    wall_resumed = time.perf_counter() - t0
    assert code == 0, log_c

    f1_a, loss_a, dense_a, state_a, m_a = _scores(work / "whole.sciseg", volume, fiber)
    f1_b, loss_b, dense_b, state_b, m_b = _scores(part, volume, fiber)
    same = all(np.array_equal(state_a[k].numpy(), state_b[k].numpy()) for k in state_a)
    stopped = [line for line in log_b.splitlines() if "interrupted at step" in line]
    total = wall_first + wall_resumed
    lines = [
        "# Interrupt at 60 % and resume (3D sciseg train, CPU, 1 thread)",
        "",
        f"`python benchmarks/bench_resume.py --steps {a.steps} --shape {a.shape}`: "
        f"fiber_volume {a.shape}^3 (seed 1), --dim 3, 2 SMSNet members (depth 5), crop 24, "
        f"{a.steps} steps; SIGINT when the checkpoint of step {at} appears.",
        "",
        f"- interrupted run: {stopped[0].strip() if stopped else '?'}",
        "",
        "| run | val F1 | val loss | dense fiber F1 vs truth | wall s (incl. start) |",
        "|---|---|---|---|---|",
        f"| uninterrupted | {f1_a:.4f} | {loss_a:.4f} | {dense_a:.4f} | {wall_whole:.1f} |",
        f"| interrupted + resumed | {f1_b:.4f} | {loss_b:.4f} | {dense_b:.4f} | "
        f"{wall_first:.1f} + {wall_resumed:.1f} = {total:.1f} |",
        "",
        f"- weights identical: {same}; total time ratio {total / wall_whole:.3f} "
        f"(the extra is one more process start and set-up).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "resume.md").write_text(text)


if __name__ == "__main__":
    main()
