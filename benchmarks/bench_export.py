"""Benchmark: ONNX Runtime vs our torch path for the same tiled ensemble prediction.

Run from the repository root::

    python benchmarks/bench_export.py               # 1024^2, 5 repeats each
    python benchmarks/bench_export.py --size 512 --repeat 3

A 5-member SMSNet ensemble of the prediction benchmark's size (depth 5,
dilations 1-4, 2 classes, 3 x classes channels per edge; random weights:
timing does not depend on training) is exported with
:func:`napari_sciseg.dl.export.export_onnx`; both models then predict the same
1024^2 image through :func:`napari_sciseg.dl.prediction.predict` (same tiles,
same normalisation), alternating torch and ONNX runs so machine load hits both
alike. Both use the same number of threads (torch's default). Reports medians of
wall and CPU time, and the largest difference of the outputs.

Results go to ``benchmarks/results/export.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "export.md"
MEMBERS, DEPTH, CLASSES = 5, 5, 2


def trained_ensemble(members: int = MEMBERS, depth: int = DEPTH):
    from napari_sciseg.dl.config import ModelConfig, TrainedModel
    from napari_sciseg.dl.models import Ensemble, create_model

    nets = [create_model("smsnet", ndim=2, in_channels=1, out_channels=CLASSES, depth=depth,
                         seed=s, dilations=(1, 2, 3, 4), width=3 * CLASSES)
            for s in range(members)]
    config = ModelConfig(arch="smsnet", member_configs=[n.config for n in nets], model_ndim=2,
                         dim="2", slice_axis=0, in_channels=1, n_classes=CLASSES,
                         class_names=("background", "foreground"), class_colors=(None, None),
                         normalization=((0.0, 255.0),))
    return TrainedModel(network=Ensemble(nets).eval(), config=config)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from napari_sciseg.dl.export.onnx import export_onnx, load_onnx
    from napari_sciseg.dl.prediction import predict

    trained = trained_ensemble()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_onnx(trained, Path(tmp) / "ensemble.onnx")
        export_s = time.perf_counter() - t0
        onnx_model = load_onnx(path)
        image = np.random.default_rng(0).integers(0, 255, (args.size,) * 2).astype(np.uint8)
        for m in (trained, onnx_model):  # warm-up
            predict(m, image[:256, :256], device="cpu")
        times = {"torch": [], "onnx": []}
        cpu = {"torch": [], "onnx": []}
        results = {}
        for _ in range(args.repeat):
            for name, m in (("torch", trained), ("onnx", onnx_model)):
                t0, c0 = time.perf_counter(), time.process_time()
                results[name] = predict(m, image, device="cpu")
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                print(name, f"{times[name][-1]:.2f} s", flush=True)
    diff_mean = float(np.abs(results["onnx"].mean - results["torch"].mean).max())
    diff_std = float(np.abs(results["onnx"].std - results["torch"].std).max())
    seg_diff = float((results["onnx"].segmentation != results["torch"].segmentation).mean())
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    import onnxruntime

    lines = [
        "# ONNX Runtime vs torch: tiled prediction of a 5-member SMSNet ensemble",
        "",
        f"Command: `python benchmarks/bench_export.py {' '.join(sys.argv[1:])}`".rstrip() + " ",
        "",
        f"{args.size}^2 uint8 image, {MEMBERS} SMSNets (depth {DEPTH}, dilations 1-4, "
        f"{CLASSES} classes, random weights), CPU, {torch.get_num_threads()} threads for both, "
        f"default tiling; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{platform.processor() or platform.machine()}; {args.repeat} runs each, alternating.",
        "",
        "| path | median wall s | median CPU s | runs (wall s) |",
        "|---|---|---|---|",
    ]
    for k in ("torch", "onnx"):
        lines.append(f"| {k} | {med[k]:.2f} | {med_cpu[k]:.2f} | "
                     f"{', '.join(f'{t:.2f}' for t in times[k])} |")
    ratio = med["torch"] / med["onnx"]
    lines += [
        "",
        f"ONNX / torch speed: **{ratio:.2f}x** (torch median / ONNX median; >1 = ONNX faster).",
        f"Largest difference: mean {diff_mean:.2g}, std {diff_std:.2g}; segmentation differs "
        f"on {seg_diff:.2%} of pixels. Export (incl. the 1e-4 check): {export_s:.1f} s.",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
