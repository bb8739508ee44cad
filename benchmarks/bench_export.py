"""Benchmark: ONNX Runtime vs our torch path for the same tiled ensemble prediction.

Run from the repository root::

    python benchmarks/bench_export.py               # 1024^2, 5 repeats each
    python benchmarks/bench_export.py --size 512 --repeat 3

A 5-member SMSNet ensemble of the prediction benchmark's size (depth 5,
dilations 1-4, 2 classes, 3 x classes channels per edge; random weights:
timing does not depend on training) is saved as ``.sciseg`` and loaded the way
``sciseg predict --engine`` loads it (:func:`napari_sciseg.dl.export.load_for_prediction`):
the first ONNX load (export + check + cache), cached ONNX loads, torch loads;
both models then predict the same
1024^2 image through :func:`napari_sciseg.dl.prediction.predict` (same tiles,
same normalisation), alternating torch and ONNX runs so machine load hits both
alike. Both use the same number of threads (torch's default). Reports medians of
wall and CPU time, and the largest difference of the outputs.

Results go to the first section of ``benchmarks/results/export.md`` (the other
sections, bioimage.io and OME-Zarr, are kept).
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


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - t0, time.process_time() - c0


def load_times(model_path: Path, cache: Path, repeat: int) -> dict:
    """Seconds to load the model: torch, ONNX first (export + cache), ONNX from the cache."""
    from napari_sciseg.dl.export import load_for_prediction

    load = lambda engine: load_for_prediction(model_path, engine=engine,  # noqa: E731
                                              device="cpu", cache_dir=cache)
    onnx_model, first, _ = _timed(lambda: load("auto"))
    assert getattr(onnx_model.network, "runs_numpy", False), "auto did not pick ONNX Runtime"
    cached = [_timed(lambda: load("auto"))[1] for _ in range(repeat)]
    torch_model, _, _ = _timed(lambda: load("torch"))
    torch_s = [_timed(lambda: load("torch"))[1] for _ in range(repeat)]
    return {"models": {"torch": torch_model, "onnx": onnx_model}, "first": first,
            "cached": cached, "torch": torch_s}


def _replace_section(text: str) -> None:
    """Write ``text`` as the first section of the results file, keeping the sections after it."""
    old = RESULTS.read_text() if RESULTS.exists() else ""
    rest = old[old.index("\n## "):] if "\n## " in old else ""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text.rstrip("\n") + "\n" + rest)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)

    import os

    import numpy as np
    import onnxruntime
    import torch

    from napari_sciseg.dl.prediction import predict
    from napari_sciseg.dl.serialization import save_model

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        model_path = save_model(trained_ensemble(), Path(tmp) / "ensemble.sciseg")
        loads = load_times(Path(model_path), Path(tmp) / "cache", args.repeat)
    models = loads.pop("models")
    image = np.random.default_rng(0).integers(0, 255, (args.size,) * 2).astype(np.uint8)
    for m in models.values():  # warm-up
        predict(m, image[:256, :256], device="cpu")
    times, cpu, results = {"torch": [], "onnx": []}, {"torch": [], "onnx": []}, {}
    for _ in range(args.repeat):
        for name, m in models.items():
            results[name], wall, c = _timed(lambda m=m: predict(m, image, device="cpu"))
            times[name].append(wall)
            cpu[name].append(c)
            print(name, f"{wall:.2f} s", flush=True)
    load_after = os.getloadavg()
    diff_mean = float(np.abs(results["onnx"].mean - results["torch"].mean).max())
    diff_std = float(np.abs(results["onnx"].std - results["torch"].std).max())
    seg_diff = float((results["onnx"].segmentation != results["torch"].segmentation).mean())
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    lines = [
        "# ONNX Runtime vs torch: tiled prediction of a 5-member SMSNet ensemble",
        "",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python "
        f"benchmarks/bench_export.py {' '.join(sys.argv[1:])}`".rstrip() + " ",
        "",
        f"{args.size}^2 uint8 image, {MEMBERS} SMSNets (depth {DEPTH}, dilations 1-4, "
        f"{CLASSES} classes, random weights), CPU, {torch.get_num_threads()} threads for both, "
        f"default tiling; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{platform.processor() or platform.machine()}; {args.repeat} runs each, alternating. "
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"after: {', '.join(f'{v:.2f}' for v in load_after)} (a shared 2-core machine).",
        "",
        "Loading the saved `.sciseg` for prediction (`dl.export.load_for_prediction`, what "
        "`sciseg predict --engine` calls):",
        "",
        "| load | seconds |",
        "|---|---|",
        f"| torch (`--engine torch`), median | {statistics.median(loads['torch']):.2f} |",
        f"| ONNX, first load (export + 1e-4 check + cache write) | {loads['first']:.2f} |",
        f"| ONNX, cached export (`--engine auto` on the CPU), median | "
        f"{statistics.median(loads['cached']):.2f} |",
        "",
        "| path | median wall s | median CPU s | runs (wall s) |",
        "|---|---|---|---|",
    ]
    for k in ("torch", "onnx"):
        lines.append(f"| {k} | {med[k]:.2f} | {med_cpu[k]:.2f} | "
                     f"{', '.join(f'{t:.2f}' for t in times[k])} |")
    lines += [
        "",
        f"ONNX / torch speed: **{med['torch'] / med['onnx']:.2f}x** (torch median / ONNX "
        "median; >1 = ONNX faster).",
        f"Largest difference: mean {diff_mean:.2g}, std {diff_std:.2g}; segmentation differs "
        f"on {seg_diff:.2%} of pixels.",
        "",
    ]
    text = "\n".join(lines)
    _replace_section(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
