"""GPU check: the default 2D and 3D ensembles trained and run on CUDA, checked against the CPU.

One command, about 5 minutes on one GPU (run it whenever a CUDA GPU is at hand)::

    python benchmarks/gpu_check.py            # writes benchmarks/results/gpu.md
    python benchmarks/gpu_check.py --quick    # a smoke test in well under a minute

Without CUDA it prints why and exits 0 without touching the results (a no-op).
``--device cpu --quick --out FILE`` runs the same code on the CPU (CPU against itself,
autocast in bfloat16): a dry run of the script, used by the tests.

What it does, with the configuration ``sciseg train`` makes by default (``TrainRecipe()``
defaults: 5 SMSNet members of depth 20 / width 4, 200 steps, crop 64, batch 2; ``--dim 3``
for the volume, whose defaults are 3 members of depth 10 on 32^3 crops, ``dl.recipe.DEFAULTS_3D``):

1. **2D**: trains on a 1024^2 disks-and-lines image with 2 % of its pixels labelled, on
   CUDA (the trainer uses mixed precision, AMP, whenever the device is CUDA); predicts a
   2048^2 image; scores F1 against the dense truth.
2. **3D**: trains on a 160^3 synthetic fiber tomogram from its scribbles; predicts it.
3. **CUDA vs CPU**: the trained ensembles predict the same crop (2D 384^2, 3D 48^3 plus
   halo) on the CPU (float32) and on CUDA, in float32 (cuDNN may use TF32) and under
   ``torch.autocast(float16)`` (AMP inference).

Tolerance (probabilities in [0, 1]): **max |CUDA - CPU| <= 2e-2** and **median <= 1e-3**, and
the confident segmentations agree on >= 99.9 % of the pixels whose margin to the 0.5
threshold is above 0.05. Why: float16 and TF32 keep 11 significant bits (unit roundoff
2^-11 = 4.9e-4). A depth-20 SMSNet sums up to ~5 convolutions of 9 (2D) or 27 (3D) taps per
node over 20 nodes: rounding errors of ~5e-4 relative add up like a random walk to ~1e-2
relative in logits of magnitude <= ~5, and the softmax damps a logit error by at most 1/4
(2 classes), so |dp| rarely exceeds ~1e-2; 2e-2 leaves a factor 2. Pixels near the threshold
may flip class, hence the margin. Float32 on both sides would agree to ~1e-5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gpu.md"
TOL_MAX, TOL_MEDIAN, AGREE, MARGIN = 2e-2, 1e-3, 0.999, 0.05


def _no_cuda_reason() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (a CPU-only build)"
        return f"no CUDA device is visible to torch {torch.__version__} (CUDA build: {build})"
    return None


DEVICE = "cuda"


def _sync():
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _timed(fn):
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    return out, time.perf_counter() - t0


def _compare(trained, crop) -> dict:
    """The same crop on CPU, CUDA float32 and CUDA autocast float16."""
    import torch

    from napari_sciseg.dl.prediction import predict

    big = 1 << 20  # one window: no tiling differences between the devices
    cpu = predict(trained, crop, device="cpu", tile=big)
    gpu32 = predict(trained, crop, device=DEVICE, tile=big)
    half = torch.float16 if DEVICE == "cuda" else torch.bfloat16
    with torch.autocast(DEVICE, dtype=half):
        gpu16 = predict(trained, crop, device=DEVICE, tile=big)
    margin = np.abs(cpu.mean - 0.5).min(axis=0) > MARGIN
    rows = {}
    for name, res in (("cuda float32/TF32", gpu32), ("cuda autocast float16", gpu16)):
        diff = np.abs(res.mean - cpu.mean)
        agree = float((res.segmentation == cpu.segmentation)[margin].mean())
        rows[name] = {"max": float(diff.max()), "median": float(np.median(diff)),
                      "agree": agree,
                      "ok": bool(diff.max() <= TOL_MAX and np.median(diff) <= TOL_MEDIAN
                                 and agree >= AGREE)}
    return rows


def _f1(pred_fg: np.ndarray, truth: np.ndarray) -> float:
    tp = np.logical_and(pred_fg, truth).sum()
    return float(2 * tp / max(1, pred_fg.sum() + truth.sum()))


def check_2d(quick: bool) -> dict:
    from napari_sciseg.data.scribbles import disks_and_lines
    from napari_sciseg.dl import predict, train

    n = 256 if quick else 1024
    image, truth = disks_and_lines((n, n), seed=0)
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(truth.shape) < 0.02, truth.astype(np.uint8) + 1, 0)
    kwargs = {"steps": 10, "members": 2, "model_kwargs": {"depth": 4}} if quick else {}
    trained, t_train = _timed(lambda: train(image, labels, device=DEVICE, **kwargs))
    steps = trained.config.recipe.get("steps", 200)
    members = len(trained.config.member_configs)
    big = np.tile(image, (2, 2))
    predict(trained, image[:256, :256], device=DEVICE)  # warm-up (cuDNN autotuning)
    result, t_pred = _timed(lambda: predict(trained, big, device=DEVICE))
    f1 = _f1(result.mean[1, :n, :n] > 0.5, truth)
    crop = image[: min(n, 384), : min(n, 384)]
    return {"train_s": t_train, "steps": steps, "members": members,
            "member_steps_per_s": steps * members / t_train,
            "predict_s": t_pred, "predict_mpix_per_s": big.size / t_pred / 1e6,
            "predict_shape": list(big.shape), "shape": [n, n], "f1": f1,
            "compare": _compare(trained, crop)}


def check_3d(quick: bool) -> dict:
    from napari_sciseg.data.fibers import fiber_volume
    from napari_sciseg.dl import predict, train

    n = 64 if quick else 160
    volume, scribbles, truth = fiber_volume(shape=(n, n, n), seed=0, return_truth=True)
    from napari_sciseg.dl.recipe import defaults_for

    kwargs = ({"steps": 3, "members": 2, "crop": 24, "model_kwargs": {"depth": 3}}
              if quick else defaults_for("3"))  # what `sciseg train --dim 3` uses
    trained, t_train = _timed(lambda: train(volume, scribbles, dim="3", device=DEVICE,
                                            **kwargs))
    steps = trained.config.recipe.get("steps", 200)
    members = len(trained.config.member_configs)
    predict(trained, volume[:32, :32, :32], device=DEVICE)  # warm-up
    result, t_pred = _timed(lambda: predict(trained, volume, device=DEVICE))
    f1 = _f1(result.mean[-1] > 0.5, truth.mask)
    edge = min(n, (16 if quick else 48) + 2 * int(trained.network.receptive_field))
    crop = volume[:edge, :edge, :edge]
    return {"train_s": t_train, "steps": steps, "members": members,
            "s_per_step": t_train / steps, "predict_s": t_pred,
            "predict_mvox_per_s": volume.size / t_pred / 1e6, "shape": [n] * 3,
            "f1_fiber": f1, "compare": _compare(trained, crop)}


def _report(res: dict, command: str) -> str:
    import torch

    name = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "CPU dry run (no GPU)"
    d2, d3 = res["2d"], res["3d"]
    ok = all(r["ok"] for part in (d2, d3) for r in part["compare"].values())
    lines = [
        "# GPU check (`python benchmarks/gpu_check.py`)", "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {name}; "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}; {platform.machine()}, "
        f"{os.cpu_count()} CPU cores. Command: `{command}`", "",
        "Default configuration of `sciseg train` (5 SMSNet members, depth 20, width 4, 200 "
        "steps, crop 64, batch 2; 3D: 3 members of depth 10, crop 32), trained on CUDA with AMP"
        + (" (`--quick`: 2 small members, a few steps)." if res.get("quick") else "."), "",
        "| | train (s) | throughput | predict | F1 vs truth |", "|---|---:|---|---|---:|",
        f"| 2D, {d2['shape'][0]}^2, 2 % labelled | {d2['train_s']:.1f} | "
        f"{d2['member_steps_per_s']:.0f} "
        f"member-steps/s | {d2['predict_shape'][0]}^2 in {d2['predict_s']:.2f} s = "
        f"{d2['predict_mpix_per_s']:.1f} MPix/s | {d2['f1']:.3f} |",
        f"| 3D, {d3['shape'][0]}^3 fibers, scribbles | {d3['train_s']:.1f} | "
        f"{d3['s_per_step']:.3f} s/step | {d3['predict_s']:.2f} s = "
        f"{d3['predict_mvox_per_s']:.1f} MVox/s | {d3['f1_fiber']:.3f} |", "",
        f"CUDA vs CPU on the same crop (tolerance: max <= {TOL_MAX}, median <= {TOL_MEDIAN}, "
        f"segmentation agreement >= {AGREE:.1%} where the margin to 0.5 > {MARGIN}; see the "
        "script's docstring for why):", "",
        "| model | CUDA mode | max abs diff | median abs diff | agreement | ok |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, part in (("2D", d2), ("3D", d3)):
        for mode, r in part["compare"].items():
            lines.append(f"| {name} | {mode} | {r['max']:.2e} | {r['median']:.2e} | "
                         f"{r['agree']:.4%} | {'yes' if r['ok'] else 'NO'} |")
    verdict = "All within tolerance." if ok else "OUT OF TOLERANCE: see the rows marked NO."
    lines += ["", f"**{verdict}**",
              "", f"Raw: `{json.dumps(res)}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results file (Markdown)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu: a dry run of this script without a GPU")
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    reason = None if DEVICE == "cpu" else _no_cuda_reason()
    if reason:
        print(f"gpu_check: nothing to check: {reason}. Run this script on a machine with an "
              f"NVIDIA GPU and a CUDA build of torch; {args.out} was left as it was.")
        return 0
    res = {"2d": check_2d(args.quick), "3d": check_3d(args.quick), "quick": args.quick}
    text = _report(res, "python benchmarks/gpu_check.py " + " ".join(argv or sys.argv[1:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    ok = all(r["ok"] for part in (res["2d"], res["3d"]) for r in part["compare"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
