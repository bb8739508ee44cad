"""Fiber benchmark: speed and memory at 512³, accuracy from the true mask, end to end.

    python benchmarks/bench_fibers.py                 # 512³ timing + truth accuracy
    python benchmarks/bench_fibers.py --e2e           # + scribbles -> SMSNet -> fibers (slow)
    python benchmarks/bench_fibers.py --size 256      # a smaller volume

1. **Speed/memory** (each variant in a fresh process, 2 threads): label + dust +
   measure the true mask of a seeded 512³ phantom. Dust variants: ours
   (``cc3d.connected_components`` + slab-wise ``np.bincount`` + a lookup table),
   ``cc3d.dust`` then labelling, and ``scipy.ndimage.label`` + bincount. Peak
   memory is the process's peak RSS minus its RSS with the mask loaded,
   compared with the float32 CT volume (4 bytes/voxel).
2. **Accuracy from the true mask** (160³, three seeds): recall and median
   length error in voxels.
3. **End to end** (``--e2e``, 160³): scribbles on three slices -> a small SMSNet
   ensemble (``napari_sciseg.dl.train``, 2.5D) -> ``predict`` (mean - std > 0.5)
   -> fibers; recall, median relative length error, median direction error.

Writes ``benchmarks/results/fibers.md``.
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

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = Path(tempfile.gettempdir()) / "sciseg-bench"

CHILD = r"""
import json, sys, time
import numpy as np
path, variant, min_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
mask = np.load(path)
from napari_sciseg.measure.fibers import label_fibers, measure_labels
import cc3d, scipy.ndimage as ndi
import re
def status(key):  # VmHWM (peak) is reset at exec, unlike ru_maxrss, which a child inherits
    with open("/proc/self/status") as fh:
        return int(re.search(key + r":\s+(\d+)", fh.read()).group(1))
now = status("VmRSS")
t0 = time.perf_counter()
if variant == "ours":
    labels, n_dusted = label_fibers(mask, connectivity=26, min_size=min_size)
elif variant == "cc3d.dust":
    clean = cc3d.dust(mask, threshold=min_size, connectivity=26)
    labels = cc3d.connected_components(clean, connectivity=26)
    n_dusted = -1
else:  # scipy
    lab, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
    counts = np.bincount(lab.ravel())
    keep = counts >= min_size; keep[0] = False
    lut = np.zeros(n + 1, np.uint32); lut[keep] = np.arange(1, keep.sum() + 1)
    labels = lut[lab]; del lab
    n_dusted = int(n - keep.sum())
t1 = time.perf_counter()
res = measure_labels(labels, n_dusted=max(n_dusted, 0))
t2 = time.perf_counter()
peak = status("VmHWM")
print(json.dumps({"label_dust_s": t1 - t0, "measure_s": t2 - t1, "total_s": t2 - t0,
                  "count": res.count, "peak_extra_mb": (peak - now) / 1024,
                  "peak_mb": peak / 1024, "lengths": res.table["length"].tolist()}))
"""


def phantom_mask(size: int, seed: int = 0):
    """The true mask and truth of a seeded phantom, cached on disk (generation is slow)."""
    from napari_sciseg.data.fibers import fiber_volume

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"fibers{size}_seed{seed}.npy"
    meta = CACHE / f"fibers{size}_seed{seed}.json"
    if not (path.exists() and meta.exists()):
        t0 = time.perf_counter()
        _, _, truth = fiber_volume(shape=(size,) * 3, seed=seed, return_truth=True)
        np.save(path, truth.mask)
        meta.write_text(
            json.dumps({"lengths": truth.lengths.tolist(), "seconds": time.perf_counter() - t0})
        )
    return path, json.loads(meta.read_text())


def speed(size: int, min_size: int = 50, repeats: int = 3) -> list[dict]:
    path, meta = phantom_mask(size)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    rows = []
    for variant in ("ours", "cc3d.dust", "scipy"):
        runs = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), variant, str(min_size)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {k: float(np.median([r[k] for r in runs])) for k in runs[0] if k != "lengths"}
        truth = np.sort(meta["lengths"])
        got = np.sort(runs[0]["lengths"])
        med["length_err_vs_truth"] = (
            float(np.median(np.abs(got - truth))) if len(got) == len(truth) else float("nan")
        )
        rows.append(
            {
                "variant": variant,
                "size": size,
                "n_true": len(truth),
                "generate_s": meta["seconds"],
                **med,
            }
        )
        print(
            f"{variant:10s} label+dust {med['label_dust_s']:.2f} s  measure {med['measure_s']:.2f}"
            f" s  total {med['total_s']:.2f} s  peak +{med['peak_extra_mb']:.0f} MB  "
            f"fibers {med['count']:.0f}/{len(truth)}",
            flush=True,
        )
    return rows


def match(res_labels, truth_labels, count):
    """For each measured fiber, the true fiber it overlaps most (0 = none)."""
    m = np.zeros(count, int)
    for i in range(1, count + 1):
        vals = truth_labels[res_labels == i]
        vals = vals[vals > 0]
        if vals.size:
            m[i - 1] = np.bincount(vals).argmax()
    return m


def scores(res, truth):
    m = match(res.labels, truth.labels, res.count)
    ok = m > 0
    idx = m[ok] - 1
    rel = np.abs(res.table["length"][ok] - truth.lengths[idx]) / truth.lengths[idx]
    abs_err = np.abs(res.table["length"][ok] - truth.lengths[idx])
    cos = np.abs((res.directions[ok] * truth.directions[idx]).sum(1))
    return {
        "n_true": truth.n_fibers,
        "n_found": res.count,
        "recall": len(set(idx.tolist())) / max(truth.n_fibers, 1),
        "precision": float(ok.mean()) if res.count else 0.0,
        "median_length_err_vox": float(np.median(abs_err)) if ok.any() else float("nan"),
        "median_length_err_rel": float(np.median(rel)) if ok.any() else float("nan"),
        "median_direction_err_deg": float(np.degrees(np.median(np.arccos(np.clip(cos, 0, 1)))))
        if ok.any()
        else float("nan"),
    }


def accuracy_from_truth(seeds=(0, 1, 2), size=160) -> list[dict]:
    from napari_sciseg.data.fibers import fiber_volume
    from napari_sciseg.measure import fibers

    rows = []
    for seed in seeds:
        _, _, truth = fiber_volume(shape=(size,) * 3, seed=seed, return_truth=True)
        res = fibers(truth.mask, spacing=truth.spacing)
        rows.append({"seed": seed, **scores(res, truth)})
        print("truth mask", rows[-1], flush=True)
    return rows


def end_to_end(size=160, seed=0, members=5, steps=200, depth=10) -> dict:
    import torch

    from napari_sciseg.data.fibers import fiber_volume
    from napari_sciseg.dl import predict, train
    from napari_sciseg.measure import fibers

    torch.set_num_threads(2)
    volume, scribbles, truth = fiber_volume(shape=(size,) * 3, seed=seed, return_truth=True)
    t0 = time.perf_counter()
    model = train(
        volume,
        scribbles,
        arch="smsnet",
        members=members,
        steps=steps,
        dim="2.5",
        slice_axis=0,
        seed=0,
        class_names=["matrix", "fiber"],
        model_kwargs={"depth": depth},
    )
    t1 = time.perf_counter()
    pred = predict(model, volume, k=1.0)
    t2 = time.perf_counter()
    mask = pred.segmentation == 2
    res = fibers(mask, min_size=50)
    t3 = time.perf_counter()
    dice = 2 * float((mask & truth.mask).sum()) / float(mask.sum() + truth.mask.sum())
    row = {
        "size": size,
        "seed": seed,
        "members": members,
        "steps": steps,
        "depth": depth,
        "labeled_voxels": int((scribbles > 0).sum()),
        "voxel_dice": dice,
        "train_s": t1 - t0,
        "predict_s": t2 - t1,
        "measure_s": t3 - t2,
        **scores(res, truth),
    }
    print("end to end", row, flush=True)
    return row


def end_to_end_from_mask(mask_path: Path, size=160, seed=0, **info) -> dict:
    """Score a confident mask saved by an earlier end-to-end run (same phantom)."""
    from napari_sciseg.data.fibers import fiber_volume
    from napari_sciseg.measure import fibers

    volume, scribbles, truth = fiber_volume(shape=(size,) * 3, seed=seed, return_truth=True)
    mask = np.load(mask_path)
    res = fibers(mask, min_size=50)
    dice = 2 * float((mask & truth.mask).sum()) / float(mask.sum() + truth.mask.sum())
    row = {"size": size, "seed": seed, "labeled_voxels": int((scribbles > 0).sum()),
           "voxel_dice": dice, **info, **scores(res, truth)}  # fmt: skip
    print("end to end (saved mask)", row, flush=True)
    return row


def write_markdown(speed_rows, truth_rows, e2e_row, path: Path) -> None:
    lines = [
        "# Fiber benchmark",
        "",
        f"`python benchmarks/bench_fibers.py {' '.join(sys.argv[1:])}`".replace(" `", "`")
        + " on "
        f"{os.cpu_count()} CPU cores (machine shared with other jobs: timings are upper "
        "bounds). Speed: median of the runs, each in a fresh process.",
        "",
    ]
    if speed_rows:
        size = speed_rows[0]["size"]
        vol_mb = size**3 * 4 / 2**20
        lines += [
            f"## Label + dust + measure, {size}³ true mask "
            f"({speed_rows[0]['n_true']} fibers, min_size 50)",
            "",
            f"Float32 volume: {vol_mb:.0f} MB, limit 4× = {4 * vol_mb:.0f} MB; "
            f"the bool mask itself is {vol_mb / 4:.0f} MB.",
            "",
            "| variant | label+dust s | measure s | total s | peak extra MB | fibers | "
            "median length err vs truth (vox) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in speed_rows:
            lines.append(
                f"| {r['variant']} | {r['label_dust_s']:.2f} | {r['measure_s']:.2f} | "
                f"{r['total_s']:.2f} | {r['peak_extra_mb']:.0f} | {r['count']:.0f} | "
                f"{r['length_err_vs_truth']:.3f} |"
            )
        lines += [
            "",
            f"Generating the {size}³ phantom took {speed_rows[0]['generate_s']:.0f} s "
            "(cached afterwards).",
            "",
        ]
    if truth_rows:
        lines += [
            "## From the true mask (160³)",
            "",
            "| seed | fibers | recall | median length err (vox) | median direction err (°) |",
            "|---|---|---|---|---|",
        ]
        for r in truth_rows:
            lines.append(
                f"| {r['seed']} | {r['n_true']} | {r['recall']:.3f} | "
                f"{r['median_length_err_vox']:.3f} | "
                f"{r['median_direction_err_deg']:.2f} |"
            )
        lines.append("")
    if e2e_row:
        r = e2e_row
        lines += [
            "## End to end from scribbles (160³)",
            "",
            f"{r['labeled_voxels']} labeled voxels on three z-slices; {r['members']} SMSNets,"
            f" (depth {r['depth']}), {r['steps']} steps, 2.5D; keep mean − std > 0.5; min_size 50.",
            "",
            "| recall | precision | median length err | median direction err | voxel Dice "
            "| train s | predict s |",
            "|---|---|---|---|---|---|---|",
            f"| {r['recall']:.3f} | {r['precision']:.3f} | "
            f"{100 * r['median_length_err_rel']:.1f} % | "
            f"{r['median_direction_err_deg']:.2f}° | {r['voxel_dice']:.3f} | "
            f"{r['train_s']:.0f} | {r['predict_s']:.0f} |",
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3, help="runs per speed variant (median)")
    p.add_argument("--e2e", action="store_true", help="also train/predict from scribbles")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--depth", type=int, default=10, help="SMSNet hidden nodes")
    p.add_argument("--out", type=Path, default=HERE / "results" / "fibers.md")
    p.add_argument("--e2e-mask", type=Path, help="score a saved confident mask (.npy) instead")
    p.add_argument(
        "--e2e-times",
        type=float,
        nargs=2,
        default=(float("nan"), float("nan")),
        metavar=("TRAIN_S", "PREDICT_S"),
        help="timings of the run that saved it",
    )
    args = p.parse_args()
    speed_rows = [] if args.skip_speed else speed(args.size, repeats=args.repeats)
    truth_rows = accuracy_from_truth()
    e2e_row = None
    if args.e2e_mask:
        e2e_row = end_to_end_from_mask(
            args.e2e_mask, members=args.members, steps=args.steps, depth=args.depth,
            train_s=args.e2e_times[0], predict_s=args.e2e_times[1],
        )  # fmt: skip
    elif args.e2e:
        e2e_row = end_to_end(members=args.members, steps=args.steps, depth=args.depth)
    write_markdown(speed_rows, truth_rows, e2e_row, args.out)


if __name__ == "__main__":
    main()
