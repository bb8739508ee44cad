"""Training throughput and quality: napari-sciseg's SMSNet ensemble vs DLSIA 0.3.4.

    python benchmarks/bench_training.py [--steps 200] [--repeats 1] [--threads 2]

Task (SCIENCE.md section 1): a 512x512 image of disks and lines on a noisy
uneven background, 2% of the pixels labeled at random from the dense truth,
5 SMSNets with DLSIA's ensemble hyperparameters (depth 5, dilations 1-4,
alpha = gamma = 0, IL = LO = 0.995), crop 64, batch 2, 200 steps each. F1 is
the foreground F1 of the ensemble's mean probability against the dense truth on
the whole image.

DLSIA runs in its own virtual environment (``.venv-dlsia``: ``pip install
dlsia==0.3.4`` plus the CPU torch 2.13 wheel) as a subprocess of this script,
with a stand-in ``torchvision`` package on its path (DLSIA imports torchvision at
import time; none of the SMSNet code needs it). The two runs alternate so they
see the same machine load. Results go to ``benchmarks/results/training.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DLSIA_PYTHON = ROOT / ".venv-dlsia" / "bin" / "python"
STUB = {
    "torchvision/__init__.py": "from . import transforms, utils, datasets\n",
    "torchvision/transforms/__init__.py": "from . import functional\n",
    "torchvision/transforms/functional.py": "",
    "torchvision/utils.py": "def save_image(*args, **kwargs):\n    raise NotImplementedError\n",
    "torchvision/datasets.py": "",
}


def make_task(seed: int = 0, fraction: float = 0.02):
    from napari_sciseg.data.scribbles import disks_and_lines

    image, truth = disks_and_lines((512, 512), seed=seed)
    rng = np.random.default_rng(seed)
    picked = rng.random(truth.shape) < fraction
    labels = np.where(picked, truth.astype(np.uint8) + 1, 0).astype(np.uint8)
    return image, labels, truth


def f1(pred, truth) -> float:
    return float(2 * np.sum(pred & truth) / (pred.sum() + truth.sum()))


def run_ours(image, labels, truth, *, steps, seed, threads, members=5, depth=5, width=5,
             val_fraction=0.2, lr=None, shared_dilations=True, batch_norm=True):
    import torch

    from napari_sciseg.dl import train

    torch.set_num_threads(threads)
    # one-off: the first torch optimizer imports torch._dynamo (seconds); DLSIA's timing
    # starts after its optimizers exist, so ours should too.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    kwargs = {"depth": depth, "width": width, "dilations": (1, 2, 3, 4), "gamma": 0.0,
              "alpha": 0.0, "k_max": depth, "p_il": 0.995, "p_lo": 0.995}
    t0, c0 = time.perf_counter(), time.process_time()
    model = train(image, labels, members=members, steps=steps, crop=64, batch=2, seed=seed,
                  device="cpu", model_kwargs=kwargs, early_stopping=None, class_weights=None,
                  val_fraction=val_fraction, lr=lr,
                  shared_dilations=shared_dilations, batch_norm=batch_norm)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    x = torch.from_numpy(model.normalize(image[None]))[None]
    with torch.no_grad():
        mean, _ = model.network(x)
    pred = mean[0].argmax(0).numpy() == 1
    return {"seconds": seconds, "cpu_s": cpu, "f1": f1(pred, truth),
            "params": [m.n_parameters() for m in model.network.members]}


def run_dlsia(image, labels, truth, *, steps, seed, threads, lr, members=5, depth=5):
    if not DLSIA_PYTHON.exists():
        raise FileNotFoundError(f"{DLSIA_PYTHON} missing; create it (see the module docstring).")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for rel, text in STUB.items():
            (work / "stub" / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / "stub" / rel).write_text(text)
        np.savez(work / "task.npz", image=image, labels=labels, truth=truth)
        cfg = {"members": members, "depth": depth, "steps": steps, "crop": 64, "batch": 2,
               "lr": lr, "seed": seed, "threads": threads}
        (work / "config.json").write_text(json.dumps(cfg))
        env = {**os.environ, "PYTHONPATH": str(work / "stub")}
        subprocess.run([str(DLSIA_PYTHON), str(Path(__file__).with_name("_dlsia_training.py")),
                        str(work)], check=True, env=env)
        out = json.loads((work / "dlsia.json").read_text())
    out["seconds"] = float(sum(out["seconds"]))
    out["cpu_s"] = float(sum(out.get("cpu", [float("nan")])))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5,
                   help="runs per side; run r uses seed r for graphs, weights and crops "
                        "(F1 varies ~0.03 between seeds on both sides)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads for both (the issue's setting: 2 CPU cores; use 1 "
                        "when other jobs share the machine)")
    p.add_argument("--dlsia-lr", type=float, default=1e-2)
    p.add_argument("--skip-dlsia", action="store_true")
    p.add_argument("--width", type=int, default=5, help="channels per SMSNet node (ours)")
    p.add_argument("--per-edge-dilations", action="store_true",
                   help="ours: a dilation per edge as in DLSIA (default: one per node, faster)")
    p.add_argument("--no-batch-norm", action="store_true",
                   help="ours: train without the (folded) batch norm of the hidden nodes")
    p.add_argument("--lr", type=float, default=None, help="ours (default: the engine's)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="labeled pixels held out for validation (ours; DLSIA trains on all)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "training.md")
    args = p.parse_args(argv)
    image, labels, truth = make_task()
    rows = {"napari-sciseg": [], "DLSIA 0.3.4": []}
    for r in range(args.repeats):
        if not args.skip_dlsia:
            rows["DLSIA 0.3.4"].append(run_dlsia(image, labels, truth, steps=args.steps,
                                                 seed=r, threads=args.threads,
                                                 lr=args.dlsia_lr))
            print("DLSIA", rows["DLSIA 0.3.4"][-1], flush=True)
        rows["napari-sciseg"].append(run_ours(image, labels, truth, steps=args.steps, seed=r,
                                              threads=args.threads, width=args.width,
                                              val_fraction=args.val_fraction,
                                              lr=args.lr,
                                              shared_dilations=not args.per_edge_dilations,
                                              batch_norm=not args.no_batch_norm))
        print("ours", rows["napari-sciseg"][-1], flush=True)
    member_steps = 5 * args.steps
    lines = ["| implementation | s per 100 steps per member | member-steps/s | "
             "CPU s per 100 steps per member | F1 vs truth | params per member |",
             "|---|---|---|---|---|---|"]
    summary = {}
    for name, runs in rows.items():
        if not runs:
            continue
        sec = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        score = statistics.median(r["f1"] for r in runs)
        summary[name] = (member_steps / sec, score, member_steps / cpu)
        lines.append(f"| {name} | {100 * sec / member_steps:.2f} | {member_steps / sec:.1f} | "
                     f"{100 * cpu / member_steps:.2f} | {score:.3f} | "
                     f"{min(runs[0]['params'])}-{max(runs[0]['params'])} |")
    if len(summary) == 2:
        speedup = summary["napari-sciseg"][0] / summary["DLSIA 0.3.4"][0]
        cpu_speedup = summary["napari-sciseg"][2] / summary["DLSIA 0.3.4"][2]
        ours_f1, their_f1 = summary["napari-sciseg"][1], summary["DLSIA 0.3.4"][1]
        lines.append(f"\nThroughput ratio (ours / DLSIA): **{speedup:.1f}x** in wall time, "
                     f"**{cpu_speedup:.1f}x** in CPU time (less sensitive to other jobs on the "
                     f"machine), F1 {ours_f1:.3f} vs {their_f1:.3f}.")
        lines.append("\nPer run (wall s, CPU s, F1): " + "; ".join(
            f"{name} " + ", ".join(f"{r['seconds']:.1f}/{r['cpu_s']:.1f}/{r['f1']:.3f}"
                                   for r in runs) for name, runs in rows.items()))
    table = "\n".join(lines)
    print(table)
    cmd = "python benchmarks/bench_training.py " + " ".join(argv or sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Training: SMSNet ensemble, napari-sciseg vs DLSIA 0.3.4 (CPU)\n\n"
        f"Command: `{cmd.strip()}`  \n"
        f"Machine: {os.cpu_count()} CPU cores (shared), torch threads {args.threads}; medians "
        f"of {args.repeats} run(s), runs alternate.\n\n"
        "Task: 512x512 disks and lines, 2% of pixels labeled at random, 5 members, depth 5, "
        "crop 64, batch 2, " f"{args.steps} steps per member. DLSIA: members one after another "
        f"(Adam lr {args.dlsia_lr}, only model/loss/optimizer timed). napari-sciseg: all members "
        "in every step (one grouped convolution per node for the members of each torch "
        "thread), whole `train()` timed (sampling, augmentation, "
        "validation included; 20% of the labels held out for validation; unweighted "
        "cross-entropy like DLSIA, since random labels are not class-biased; hidden nodes "
        "batch-normalised while training like DLSIA's, folded into the saved weights)."
        "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
