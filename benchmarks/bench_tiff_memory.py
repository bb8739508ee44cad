"""Benchmark: peak memory of ``sciseg predict`` writing TIFFs (no ``--zarr``) as images grow.

Run from the repository root::

    python benchmarks/bench_tiff_memory.py                      # 2048^2, 4096^2, 16384^2
    python benchmarks/bench_tiff_memory.py --sizes 2048 4096    # quicker

Each size is one ``sciseg predict`` in its own process, measured by a small wrapper
process through ``resource.getrusage(RUSAGE_CHILDREN)`` (peak RSS of that one
command, its CPU time, user + system). The model is a tiny 1-member SMSNet (depth 2,
width 2) so the run measures the I/O pipeline, not the network; the input is an
8-bit image (a 16384^2 input is 256 MB of the peak, read whole by the TIFF reader).
``--baseline SRC`` runs the same command with another checkout's ``src`` (e.g. the
code before tile-by-tile writing) for the sizes given by ``--baseline-sizes``.

Results go to ``benchmarks/results/tiff_memory.md`` with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tiff_memory.md"

_WRAPPER = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "cpu_s": r.ru_utime + r.ru_stime,
                  "peak_rss_mb": r.ru_maxrss / 1024}))
"""


def _model(folder: Path) -> Path:
    from napari_sciseg.dl import Ensemble, ModelConfig, TrainedModel, create_model, save_model

    net = create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=2, width=2,
                       dilations=(1, 2), seed=0)
    config = ModelConfig(arch="smsnet", member_configs=[net.config], model_ndim=2, dim="2",
                         slice_axis=0, in_channels=1, n_classes=2,
                         class_names=("background", "object"),
                         normalization=((0.0, 255.0),), recipe={})
    path = folder / "tiny.sciseg"
    save_model(TrainedModel(network=Ensemble([net]).eval(), config=config), path)
    return path


def _image(folder: Path, size: int) -> Path:
    """A smooth 8-bit pattern with noise, written strip by strip (never whole as float)."""
    import numpy as np

    from napari_sciseg.io.tiff import write_tiff

    rng = np.random.default_rng(size)
    image = np.empty((size, size), np.uint8)
    x = np.arange(size, dtype=np.float32)
    for y in range(0, size, 1024):
        rows = np.arange(y, min(y + 1024, size), dtype=np.float32)[:, None]
        block = 127 + 60 * np.sin(rows / 37.0) * np.cos(x / 53.0)
        image[y:y + len(rows)] = np.clip(block + rng.normal(0, 10, block.shape), 0, 255)
    path = folder / f"im{size}.tif"
    write_tiff(path, image, spacing=(1.0, 1.0))
    return path


def _measure(src: Path, model: Path, image: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "napari_sciseg.cli",
           "predict", str(model), str(image), "-o", str(out), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"sciseg predict failed on {image.name} with {src}")
    result["load"] = os.getloadavg()[0]
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 16384])
    p.add_argument("--baseline", type=Path, default=None, help="another checkout's src/")
    p.add_argument("--baseline-sizes", type=int, nargs="+", default=[2048, 4096])
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        tmp = Path(tmp)
        model = _model(tmp)
        runs = [("tile by tile", ROOT / "src", s) for s in args.sizes]
        if args.baseline:
            runs += [("before", args.baseline, s) for s in args.baseline_sizes]
        for label, src, size in runs:
            image = _image(tmp, size)
            result = _measure(src, model, image, tmp / f"out-{label[:3]}-{size}")
            rows.append({"code": label, "size": size, **result})
            print(json.dumps(rows[-1]), flush=True)
            for f in (tmp / f"out-{label[:3]}-{size}").glob("*.tif"):
                f.unlink()
            image.unlink()
    lines = [
        "# Peak memory of `sciseg predict` with TIFF outputs "
        "(`python benchmarks/bench_tiff_memory.py`)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 2 CPU cores shared with other "
        "jobs; 1 torch thread; tiny 1-member SMSNet (depth 2, width 2) on an 8-bit image; each "
        "row one `sciseg predict` process (peak RSS and CPU time "
        "from `getrusage(RUSAGE_CHILDREN)`).",
        f"Command: `python benchmarks/bench_tiff_memory.py {' '.join(argv or sys.argv[1:])}`",
        "",
        "| code | image | peak RSS (MB) | wall (s) | CPU (s) | load average (1 min) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['code']} | {r['size']}^2 | {r['peak_rss_mb']:.0f} | {r['wall_s']:.1f} | "
              f"{r['cpu_s']:.1f} | {r['load']:.1f} |" for r in rows]
    lines += ["", f"Raw: `{json.dumps(rows)}`", ""]
    if not args.no_write:
        RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
