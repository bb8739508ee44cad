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
        f"`python benchmarks/bench_fibers.py {' '.join(sys.argv[1:])}`".replace(" `", "`") + " on "
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


# ------------------------------------------------------------ the fibre filter (#15)
SET_NAMES = {
    "sample": "plugin sample (fiber_volume, 96³)",
    "polymer": "fiber_concrete_ct polymer (64×128×128, voxels 20×10×10 µm)",
    "steel": "fiber_concrete_ct steel (64×128×128, voxels 20×10×10 µm)",
}


def load_set(name: str, seed: int):
    """(volume, truth labels, truth lengths, spacing) of one volume of a test set."""
    if name == "sample":
        from napari_sciseg.data.fibers import fiber_volume

        volume, _, truth = fiber_volume(seed=seed, return_truth=True)
        return volume, truth.labels, truth.lengths, (1.0, 1.0, 1.0)
    from napari_sciseg.data.fibers_ct import fiber_concrete_ct

    volume, truth = fiber_concrete_ct(kind=name, seed=seed)
    return volume, truth.labels, truth.lengths, truth.spacing


def match_objects(pred, truth, min_overlap=0.5):
    """One-to-one matches {pred label: truth label}, greedy by overlap, where the overlap
    is at least ``min_overlap`` of the smaller object."""
    p, t = pred.ravel().astype(np.int64), truth.ravel().astype(np.int64)
    n_p, n_t = int(p.max()), int(t.max())
    both = (p > 0) & (t > 0)
    pair = np.bincount(p[both] * (n_t + 1) + t[both], minlength=(n_p + 1) * (n_t + 1))
    pair = pair.reshape(n_p + 1, n_t + 1)
    size_p, size_t = np.bincount(p, minlength=n_p + 1), np.bincount(t, minlength=n_t + 1)
    order = sorted(((pair[i, j], i, j) for i, j in zip(*np.nonzero(pair)) if i and j), reverse=True)
    found, used = {}, set()
    for overlap, i, j in order:
        if i not in found and j not in used and overlap >= min_overlap * min(size_p[i], size_t[j]):
            found[i] = j
            used.add(j)
    return found


def object_scores(labels, lengths, truth_labels, truth_lengths) -> dict:
    found = match_objects(labels, truth_labels)
    n_pred, n_true = int(labels.max()), int(truth_labels.max())
    err = [
        abs(lengths[i - 1] - truth_lengths[j - 1]) / truth_lengths[j - 1] for i, j in found.items()
    ]
    return {
        "n": n_pred,
        "truth": n_true,
        "precision": len(found) / max(n_pred, 1),
        "recall": len(found) / max(n_true, 1),
        "length_err": float(np.median(err)) if err else float("nan"),
    }


def filter_rows(sets=("sample", "polymer", "steel"), seeds=(0, 1, 2)) -> list[dict]:
    """Threshold route (auto polarity) before and after the filter, per set and seed."""
    from napari_sciseg.measure import fibers as old_pipeline
    from napari_sciseg.measure.fiber_workflow import measure_fibers

    rows = []
    for name in sets:
        for seed in seeds:
            volume, t_labels, t_lengths, spacing = load_set(name, seed)
            t0 = time.perf_counter()
            new = measure_fibers(volume, spacing=spacing, orientation=False)
            dt = time.perf_counter() - t0
            old = old_pipeline(new.threshold.apply(volume), spacing=spacing, min_size=50)
            rows.append(
                {
                    "set": name,
                    "seed": seed,
                    "polarity": new.threshold.polarity,
                    "before": object_scores(old.labels, old.table["length"], t_labels, t_lengths),
                    "after": object_scores(new.labels, new.table["length"], t_labels, t_lengths),
                    "removed": new.summary["removed"],
                    "n_split": new.summary["n_split"],
                    "seconds": dt,
                }
            )
            print(rows[-1], flush=True)
    return rows


def _ct_scribbles(volume, truth_labels, seed=0):
    """Scribbles a user would draw on three z-slices: fibre cores (2); matrix strokes and a
    few pores (1), away from the fibres."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    scrib = np.zeros(volume.shape, np.uint8)
    fibre = truth_labels > 0
    near = ndimage.binary_dilation(fibre, iterations=3)
    matrix_level = np.median(volume)
    for z in (volume.shape[0] // 4, volume.shape[0] // 2, 3 * volume.shape[0] // 4):
        scrib[z][ndimage.binary_erosion(fibre[z])] = 2
        scrib[z][fibre[z] & (scrib[z] == 0) & (rng.random(fibre[z].shape) < 0.5)] = 2
        for _ in range(12):  # short straight matrix strokes
            y, x = rng.integers(4, np.array(volume.shape[1:]) - 24)
            dy, dx = rng.integers(-1, 2, 2)
            for k in range(20):
                yy, xx = y + k * dy if dy else y, x + k
                if not near[z, yy, xx]:
                    scrib[z, yy, xx] = 1
        pores = (volume[z] < matrix_level - 0.3) & ~near[z]
        lab, n = ndimage.label(pores)
        for i in rng.permutation(np.arange(1, n + 1))[: max(1, n // 3)]:
            scrib[z][ndimage.binary_erosion(lab == i)] = 1
    return scrib


def trained_route(name: str, seed: int, workdir: Path, steps=150, members=3, depth=10) -> dict:
    """The demo's route: scribbles on 3 slices -> ``sciseg train`` (CLI) -> the model's
    confident segmentation, measured before (old pipeline) and after the filter exactly as
    ``sciseg fibers --model`` does (one prediction for both)."""
    from napari_sciseg.dl import load_model, predict
    from napari_sciseg.io.tiff import write_tiff
    from napari_sciseg.measure import fibers as old_pipeline
    from napari_sciseg.measure.fiber_workflow import measure_fibers

    volume, t_labels, t_lengths, spacing = load_set(name, seed)
    workdir.mkdir(parents=True, exist_ok=True)
    write_tiff(workdir / "vol.tif", volume, spacing=spacing, unit="pixel")
    write_tiff(workdir / "scribbles.tif", _ct_scribbles(volume, t_labels, seed), unit="pixel")
    train = ["train", str(workdir / "vol.tif"), str(workdir / "scribbles.tif"),
             "-o", str(workdir / "m.sciseg"), "--members", str(members), "--steps", str(steps),
             "--dim", "2.5", "--slice-axis", "0", "--model-kwargs", json.dumps({"depth": depth}),
             "--class-names", "matrix", "fiber", "--seed", "0", "--force"]  # fmt: skip
    fibres = ["fibers", str(workdir / "vol.tif"), "--model", str(workdir / "m.sciseg"),
              "--spacing", *map(str, spacing), "-o", str(workdir / "out")]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "napari_sciseg.cli", *train], check=True)
    row = {"set": name, "seed": seed, "train_s": time.perf_counter() - t0,
           "commands": {"train": " ".join(train), "fibers": " ".join(fibres)}}  # fmt: skip
    t0 = time.perf_counter()
    pred = predict(load_model(workdir / "m.sciseg"), volume, k=1.0)
    row["predict_s"] = time.perf_counter() - t0
    old = old_pipeline(pred.segmentation == 2, spacing=spacing, min_size=50)
    new = measure_fibers(pred.segmentation, fiber_class=2, probability=pred.mean[1],
                         std=pred.std[1], spacing=spacing, orientation=False)  # fmt: skip
    row["before"] = object_scores(old.labels, old.table["length"], t_labels, t_lengths)
    row["after"] = object_scores(new.labels, new.table["length"], t_labels, t_lengths)
    row["removed"] = new.summary["removed"]
    print(row, flush=True)
    return row


def write_filter_markdown(rows, trained, path: Path) -> None:
    def cell(s):
        err = 100 * s["length_err"]
        return f"{s['n']}/{s['truth']} | {s['precision']:.2f} | {s['recall']:.2f} | {err:.1f} %"

    lines = [
        "# Fibre filter: is this object a fibre?",
        "",
        "`python benchmarks/bench_fibers.py --filter` (threshold route) and "
        "`--filter --trained` (scribbles -> `sciseg train` -> `sciseg fibers --model`), "
        "2 CPU cores shared with other jobs (load 8-12). Objects are matched one to one "
        "when their overlap is at least half of the smaller one; length error = median "
        "|measured - true| / true over matched fibres. *Before* = the old pipeline "
        "(threshold/segmentation, dust < 50 voxels, no shape filter, no split); *after* = "
        "`measure_fibers` defaults (dust relative to the expected fibre volume, "
        "elongation >= 3, split).",
        "",
        "## Threshold route (grey volume, polarity detected)",
        "",
        "| set | seed | polarity | before: found/true | precision | recall | length err | "
        "after: found/true | precision | recall | length err | removed | split | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        removed = ", ".join(f"{k} {v}" for k, v in r["removed"].items() if v)
        lines.append(
            f"| {r['set']} | {r['seed']} | {r['polarity']} | {cell(r['before'])} | "
            f"{cell(r['after'])} | {removed} | {r['n_split']} | {r['seconds']:.1f} |"
        )
    if trained:
        lines += [
            "",
            "## Trained route (the demo's: scribbles on 3 slices, small ensemble)",
            "",
            "| set | seed | before: found/true | precision | recall | length err | "
            "after: found/true | precision | recall | length err | train s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in trained:
            lines.append(
                f"| {r['set']} | {r['seed']} | {cell(r['before'])} | {cell(r['after'])} "
                f"| {r['train_s']:.0f} |"
            )
        lines += [
            "",
            "Commands (first row; the benchmark predicts once in Python and measures "
            "the segmentation before and after the filter as `sciseg fibers --model` "
            "does):",
            "",
            "```",
        ]
        lines += [f"sciseg {c}" for c in trained[0]["commands"].values()] + ["```"]
    lines += ["", "Sets: " + "; ".join(f"{k}: {v}" for k, v in SET_NAMES.items()) + ".", ""]
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
    p.add_argument("--filter", action="store_true", help="the fibre filter on both generators")
    p.add_argument(
        "--trained",
        nargs="*",
        metavar="SET:SEED",
        help="with --filter: also the trained route for these, e.g. polymer:0",
    )
    args = p.parse_args()
    if args.filter:
        trained = [
            trained_route(
                x.split(":")[0], int(x.split(":")[1]), CACHE / f"trained_{x.replace(':', '_')}"
            )
            for x in (args.trained or [])
        ]
        rows = filter_rows()
        write_filter_markdown(rows, trained, HERE / "results" / "fibers_filter.md")
        return
    speed_rows = [] if args.skip_speed else speed(args.size, repeats=args.repeats)
    truth_rows = accuracy_from_truth()
    e2e_row = None
    if args.e2e_mask:
        e2e_row = end_to_end_from_mask(
            args.e2e_mask,
            members=args.members,
            steps=args.steps,
            depth=args.depth,
            train_s=args.e2e_times[0],
            predict_s=args.e2e_times[1],
        )
    elif args.e2e:
        e2e_row = end_to_end(members=args.members, steps=args.steps, depth=args.depth)
    write_markdown(speed_rows, truth_rows, e2e_row, args.out)


if __name__ == "__main__":
    main()
