"""Benchmark: hybrid vs Otsu vs local thresholding for nanoparticle sizing.

On the seeded synthetic BF-TEM and HAADF-STEM sets (3 contrast levels x 2 size
ranges, uneven background, Poisson noise, touching/overlapping/edge-cut
particles) report per image

- the Jaccard similarity (JSC) of the semantic mask against the truth,
- the error of the isolated-particle mean diameter against the truly isolated
  particles' mean diameter, and the Kolmogorov-Smirnov distance of the PSDs,

plus the time to size a 2048^2 image (segment + measure, median of repeats).
Writes ``benchmarks/results/particles.md``, ``particles.json`` and two plots
(JSC vs contrast, JSC vs particle size).

    python benchmarks/bench_particles.py                  # everything (~2 min on 2 cores)
    taskset -c 0,1 python benchmarks/bench_particles.py --timing-only
    python benchmarks/bench_particles.py --set physics --split dev      # abTEM set, all methods
    python benchmarks/bench_particles.py --set physics --split heldout  # the held-out split
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from napari_sciseg.data import tem_particles
from napari_sciseg.measure import particles
from napari_sciseg.segment import segment_particles

MODES = ("bf", "haadf")
CONTRASTS = ("high", "mid", "low")
SIZES = {"small (2-5 nm)": (2.0, 5.0), "large (5-15 nm)": (5.0, 15.0)}
METHODS = ("hybrid", "otsu", "local", "edge")
PIXEL = 0.2


def jsc(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def evaluate(seeds: int, shape: tuple[int, int], first_seed: int = 100) -> list[dict]:
    from scipy.stats import ks_2samp

    rows = []
    for mode in MODES:
        for contrast in CONTRASTS:
            for size_name, size_range in SIZES.items():
                for seed in range(first_seed, first_seed + seeds):
                    image, truth = tem_particles(
                        mode, shape=shape, pixel_size=PIXEL, contrast=contrast,
                        size_range=size_range, seed=seed, return_truth=True,
                    )  # fmt: skip
                    true_d = truth.diameters_nm[truth.isolated]
                    for method in METHODS:
                        mask = segment_particles(image, method=method)
                        res = particles(mask, image, spacing=PIXEL)
                        d = res.diameters
                        err = float(d.mean() / true_d.mean() - 1) if d.size else float("nan")
                        ks = float(ks_2samp(d, true_d).statistic) if d.size else 1.0
                        rows.append({
                            "mode": mode, "contrast": contrast, "size": size_name, "seed": seed,
                            "method": method, "jsc": jsc(mask, truth.mask), "diam_err": err,
                            "ks": ks, "n_isolated": int(d.size), "n_true_isolated": len(true_d),
                            "mean_true_d_px": float(true_d.mean() / PIXEL),
                        })  # fmt: skip
    return rows


def timing(repeats: int, size: int = 2048, method: str = "hybrid") -> dict:
    image = tem_particles("bf", shape=(size, size), pixel_size=PIXEL, seed=0)
    times, seg_times, cpu = [], [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        mask = segment_particles(image, method=method)
        t1 = time.perf_counter()
        res = particles(mask, image, spacing=PIXEL)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        seg_times.append(t1 - t0)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "shape": [size, size], "median_s": float(np.median(times)),
        "median_segment_s": float(np.median(seg_times)), "all_s": [round(t, 3) for t in times],
        "median_cpu_s": float(np.median(cpu)),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "particles": res.count, "cores": cores, "cpu": platform.processor() or platform.machine(),
    }  # fmt: skip


def group(rows, keys):
    out: dict = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def summarize(rows: list[dict]) -> tuple[list[str], dict]:
    lines = [
        "| mode | contrast | size | method | JSC mean | JSC median | diam. err. mean | KS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ahead, edge_checks = {}, {}
    for (mode, contrast, size), grp in group(rows, ("mode", "contrast", "size")).items():
        means = {}
        for method in METHODS:
            g = [r for r in grp if r["method"] == method]
            j = [r["jsc"] for r in g]
            e = [r["diam_err"] for r in g]
            means[method] = float(np.mean(j))
            lines.append(
                f"| {mode} | {contrast} | {size} | {method} | {np.mean(j):.3f} | "
                f"{np.median(j):.3f} | {100 * np.nanmean(e):+.1f}% | "
                f"{np.mean([r['ks'] for r in g]):.2f} |"
            )
        ahead[(mode, contrast, size)] = means["hybrid"] > max(means["otsu"], means["local"])
        edge_checks.setdefault("edge", []).append(means["edge"])
        edge_checks.setdefault("hybrid", []).append(means["hybrid"])
    hy = [r for r in rows if r["method"] == "hybrid" and r["contrast"] in ("high", "mid")]
    checks = {
        "mean JSC >= 0.8 (hybrid, high+mid)": float(np.mean([r["jsc"] for r in hy])),
        "HAADF JSC >= 0.9 (hybrid, high+mid)": float(
            np.mean([r["jsc"] for r in hy if r["mode"] == "haadf"])
        ),
        "max |mean diameter error| <= 10% (hybrid, high+mid, per group)": float(
            max(
                abs(np.mean([r["diam_err"] for r in g]))
                for g in group(hy, ("mode", "contrast", "size")).values()
            )  # fmt: skip
        ),
        "groups where hybrid beats Otsu and local": f"{sum(ahead.values())}/{len(ahead)}",
        "mean JSC over all groups, hybrid": float(np.mean(edge_checks["hybrid"])),
        "mean JSC over all groups, edge": float(np.mean(edge_checks["edge"])),
    }
    return lines, checks


def plots(rows: list[dict], outdir: Path) -> list[str]:
    from matplotlib.figure import Figure

    colors = {"hybrid": "#c0392b", "otsu": "#2c7fb8", "local": "#7f7f7f", "edge": "#27ae60"}
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    for k, mode in enumerate(MODES):
        ax = fig.add_subplot(1, 2, k + 1)
        for method in METHODS:
            ys = [np.mean([r["jsc"] for r in rows if r["mode"] == mode and r["method"] == method
                           and r["contrast"] == c]) for c in CONTRASTS]  # fmt: skip
            ax.plot(CONTRASTS, ys, "o-", color=colors[method], label=method)
        ax.set_title(f"{mode.upper()}: JSC vs contrast")
        ax.set_ylim(0, 1)
        ax.set_ylabel("JSC")
        ax.legend(fontsize=8)
    fig.savefig(outdir / "particles_jsc_vs_contrast.png", dpi=110)
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    for k, mode in enumerate(MODES):
        ax = fig.add_subplot(1, 2, k + 1)
        for method in METHODS:
            g = [r for r in rows if r["mode"] == mode and r["method"] == method]
            ax.scatter([r["mean_true_d_px"] for r in g], [r["jsc"] for r in g], s=12,
                       color=colors[method], label=method, alpha=0.7)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("mean particle diameter (px)")
        ax.set_ylabel("JSC")
        ax.set_ylim(0, 1)
        ax.set_title(f"{mode.upper()}: JSC vs particle size")
        ax.legend(fontsize=8)
    fig.savefig(outdir / "particles_jsc_vs_size.png", dpi=110)
    return ["particles_jsc_vs_contrast.png", "particles_jsc_vs_size.png"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="images per group")
    p.add_argument("--size", type=int, default=512, help="image side for the accuracy sets")
    p.add_argument(
        "--first-seed", type=int, default=100,
        help="first seed (default 100: held out from the seeds 0-2 used to tune the defaults)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=7, help="timing repeats at 2048^2")
    p.add_argument("--timing-only", action="store_true")
    p.add_argument("--method", default="hybrid", help="method timed at 2048^2")
    p.add_argument("--set", choices=("synthetic", "physics"), default="synthetic")
    p.add_argument("--split", choices=("dev", "heldout"), default="dev", help="physics split")
    p.add_argument("--split-touching", action="store_true", help="physics: split touching")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.set == "physics":
        import sys

        sys.path.insert(0, str(Path(__file__).parent))
        from _bench_particles_physics import run

        run(args.split, args.out, split_touching=args.split_touching)
        return
    t = timing(args.repeats, method=args.method)
    print(f"2048^2 sizing: median {t['median_s']:.3f} s wall, {t['median_cpu_s']:.3f} s CPU "
          f"(segment {t['median_segment_s']:.3f} s) on {t['cores']} cores, load average "
          f"{t['load_average']}, {t['particles']} particles; runs {t['all_s']}")  # fmt: skip
    if args.timing_only:
        return
    rows = evaluate(args.seeds, (args.size, args.size), args.first_seed)
    lines, checks = summarize(rows)
    print("\n".join(lines))
    for k, v in checks.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    figs = plots(rows, args.out)
    (args.out / "particles.json").write_text(
        json.dumps({"rows": rows, "checks": checks, "timing": t}, indent=1)
    )
    md = [
        "# Particle sizing benchmark (`benchmarks/bench_particles.py`)",
        "",
        f"Synthetic BF/HAADF sets, {args.size}x{args.size} px at {PIXEL} nm/px, {args.seeds} "
        f"seeds per group (seeds {args.first_seed}-{args.first_seed + args.seeds - 1}; the "
        "defaults were tuned on seeds 0-2). JSC: semantic mask vs truth. Diameter error: mean "
        "diameter of the particles the method kept as isolated vs the truly isolated ones. KS: "
        "Kolmogorov-Smirnov distance between the two PSDs.",
        "",
        *lines,
        "",
        "## Targets (high and mid contrast)",
        "",
        *[
            f"- {k}: **{v:.3f}**" if isinstance(v, float) else f"- {k}: **{v}**"
            for k, v in checks.items()
        ],  # fmt: skip
        "",
        "## Speed",
        "",
        f"2048x2048 BF image, segment + measure ({t['particles']} particles): median "
        f"**{t['median_s']:.3f} s** (segmentation {t['median_segment_s']:.3f} s) over "
        f"{len(t['all_s'])} runs on {t['cores']} CPU cores; median CPU time (process time, "
        f"the wall time of an otherwise idle machine) **{t['median_cpu_s']:.3f} s**; load "
        f"average during the runs {t['load_average']}.",
        "",
        *[f"![{f}]({f})" for f in figs],
        "",
    ]
    (args.out / "particles.md").write_text("\n".join(md))
    print(f"wrote {args.out / 'particles.md'}")


if __name__ == "__main__":
    main()
