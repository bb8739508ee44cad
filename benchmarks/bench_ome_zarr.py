"""Benchmark: peak memory of a 512^3 prediction written as OME-Zarr with pyramids.

Run from the repository root::

    python benchmarks/bench_ome_zarr.py              # 512^3
    python benchmarks/bench_ome_zarr.py --size 256   # quicker

A 512^3 uint8 volume stored as zarr (64^3 chunks) is predicted by a tiny 3D
ensemble (2 MSDNets of depth 2: the network's cost is not what this measures)
into a zarr group tile by tile, then :func:`write_prediction_pyramids` adds the
NGFF pyramids and the labels group, exactly as ``sciseg predict --zarr`` does.
The job runs in a subprocess so its peak RSS (``ru_maxrss``) is its own.
Appends its table to ``benchmarks/results/export.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "export.md"


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def job(size: int) -> dict:
    import numpy as np
    import zarr

    from napari_sciseg.dl.config import ModelConfig, TrainedModel
    from napari_sciseg.dl.models import Ensemble, create_model
    from napari_sciseg.dl.prediction import predict
    from napari_sciseg.io.ome_zarr import read_ome_zarr_layers, write_prediction_pyramids

    nets = [create_model("msdnet", ndim=3, in_channels=1, out_channels=2, depth=2, seed=s)
            for s in range(2)]
    cfg = ModelConfig(arch="msdnet", member_configs=[n.config for n in nets], model_ndim=3,
                      dim="3", slice_axis=0, in_channels=1, n_classes=2,
                      class_names=("background", "fiber"), class_colors=(None, None),
                      normalization=((0.0, 255.0),))
    trained = TrainedModel(Ensemble(nets).eval(), cfg)
    with tempfile.TemporaryDirectory() as tmp:
        src = zarr.open_array(f"{tmp}/in.zarr", mode="w", shape=(size,) * 3,
                              chunks=(64, 64, 64), dtype="uint8")
        rng = np.random.default_rng(0)
        for z in range(0, size, 64):
            src[z:z + 64] = rng.integers(0, 255, (min(64, size - z), size, size), np.uint8)
        base = _rss_mb()
        group = zarr.open_group(f"{tmp}/out.zarr", mode="w")
        t0 = time.perf_counter()
        predict(trained, src, out=group, device="cpu")
        t1 = time.perf_counter()
        write_prediction_pyramids(group, spacing=(10.0, 10.0, 10.0), unit="nm",
                                  class_names=cfg.class_names)
        t2 = time.perf_counter()
        levels = [[tuple(lv.shape) for lv in layer.levels]
                  for layer in read_ome_zarr_layers(f"{tmp}/out.zarr")]
    return {"size": size, "predict_s": t1 - t0, "pyramid_s": t2 - t1, "peak_rss_mb": _rss_mb(),
            "rss_before_mb": base, "levels": levels[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.job:
        print(json.dumps(job(args.size)))
        return 0
    out = subprocess.run([sys.executable, __file__, "--job", "--size", str(args.size)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    lines = [
        "",
        f"## OME-Zarr output of a {r['size']}^3 prediction with pyramids",
        "",
        f"Command: `python benchmarks/bench_ome_zarr.py --size {args.size}`. A {r['size']}^3 "
        "uint8 zarr volume (64^3 chunks), a tiny 3D ensemble (2 MSDNets, depth 2), "
        "predicted tile by tile into a zarr group, then NGFF pyramids + labels group "
        "(what `sciseg predict --zarr` does), in one subprocess.",
        "",
        "| peak RSS MB | RSS before predict MB | predict s | pyramids s | levels (probability) |",
        "|---|---|---|---|---|",
        f"| {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} | {r['predict_s']:.1f} | "
        f"{r['pyramid_s']:.1f} | {' / '.join(str(s) for s in r['levels'])} |",
        "",
    ]
    text = "\n".join(lines)
    with open(RESULTS, "a") as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
