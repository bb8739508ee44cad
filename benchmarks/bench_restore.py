"""Inpainting and denoising with regression ensembles vs their classical baselines (CPU).

    OMP_NUM_THREADS=1 python benchmarks/bench_restore.py [--task inpaint|denoise|both]
        [--steps N] [--quick] [--out benchmarks/results/restore.md]

Inpainting: seeded synthetic SAXS patterns (``data.scattering_pattern``: power-law
background, rings, Bragg peaks, beam stop, Poisson counts, a Pilatus-like module-gap
grid). The network trains on a mosaic of ``--train-seeds`` patterns (the gaps of each
pattern are unknown to it; copies of the gap grid moved onto known pixels are its
training targets) and fills the gaps of other, held-out patterns. Scores on the gap
pixels: Pearson r and L1 against the expected counts (noise-free truth) and against
the Poisson counts the detector would have measured there, beside biharmonic
inpainting (``skimage.restoration.inpaint_biharmonic`` on log counts).

Denoising: seeded Poisson images (disks and lines, peak ``--peak`` counts). The
network trains self-supervised (Noise2Self blind spots, no clean image) on one noisy
image and denoises held-out ones; PSNR / SSIM against the clean truth beside a
Gaussian filter and non-local means, each with its strength tuned on the truth (the
best either can do), and beside the same network trained with clean targets (paired).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _mosaic(seeds, shape, exposure, gap):
    from napari_sciseg.data.scattering import scattering_pattern

    parts = [scattering_pattern(shape, seed=s, exposure=exposure, gap=gap) for s in seeds]
    return np.concatenate([p for p, _ in parts], 1), np.concatenate([g for _, g in parts], 1)


def bench_inpaint(args) -> dict:
    from napari_sciseg.data.scattering import scattering_pattern
    from napari_sciseg.dl import inpaint, train_inpainting
    from napari_sciseg.evaluate.restoration import inpaint_classical, restoration_scores

    shape, gap = (args.size, args.size), tuple(args.gap)
    image, gaps = _mosaic(args.train_seeds, shape, args.exposure, gap)
    t0 = time.perf_counter()
    model = train_inpainting(image, gaps, steps=args.steps, members=args.members,
                             transform="log1p", seed=0, device="cpu", lr=args.lr,
                             early_stopping=None, val_every=max(50, args.steps // 5))
    train_s = time.perf_counter() - t0
    rows = []
    for seed in args.test_seeds:
        pattern, mask, truth = scattering_pattern(shape, seed=seed, exposure=args.exposure,
                                                  gap=gap, return_truth=True)
        t0 = time.perf_counter()
        net = inpaint(model, pattern, mask, device="cpu").values
        net_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        bih = inpaint_classical(pattern, mask, log=True)
        bih_s = time.perf_counter() - t0
        for name, filled, sec in (("network", net, net_s), ("biharmonic", bih, bih_s)):
            clean = restoration_scores(filled, truth["intensity"], mask=mask)
            noisy = restoration_scores(filled, truth["counts"], mask=mask)
            rows.append({"seed": seed, "method": name, "r_clean": clean.pearson_r,
                         "r_counts": noisy.pearson_r, "l1_clean": clean.l1,
                         "l1_counts": noisy.l1, "seconds": sec,
                         "unchanged_outside": bool((filled[~mask] == pattern[~mask]).all())})
        oracle = restoration_scores(truth["intensity"], truth["counts"], mask=mask)
        rows.append({"seed": seed, "method": "noise-free truth", "r_clean": 1.0,
                     "r_counts": oracle.pearson_r, "l1_clean": 0.0, "l1_counts": oracle.l1,
                     "seconds": 0.0, "unchanged_outside": True})
    return {"rows": rows, "train_s": train_s, "metrics": model.config.metrics}


def poisson_image(seed: int, size: int, peak: float):
    """A clean image of disks and lines (counts, peak ``peak``) and its Poisson draw."""
    from napari_sciseg.data.scribbles import disks_and_lines

    clean, _ = disks_and_lines((size, size), seed=seed, noise=0.0)
    clean = np.clip(clean, 0, None)
    clean = (clean / clean.max() * peak).astype(np.float32)
    noisy = np.random.default_rng(seed + 1000).poisson(clean).astype(np.float32)
    return clean, noisy


def bench_denoise(args) -> dict:
    from napari_sciseg.dl import denoise, train_denoising
    from napari_sciseg.evaluate.restoration import denoise_classical, restoration_scores

    clean, noisy = poisson_image(args.train_seeds[0], args.size, args.peak)
    models, train_s = {}, {}
    for name, target in (("network (Noise2Self)", None), ("network (paired)", clean)):
        t0 = time.perf_counter()
        models[name] = train_denoising(noisy, target, steps=args.steps, members=args.members,
                                       seed=0, device="cpu", lr=args.lr, early_stopping=None,
                                       val_every=max(50, args.steps // 5))
        train_s[name] = time.perf_counter() - t0
    rows = []
    for seed in args.test_seeds:
        truth, image = poisson_image(seed, args.size, args.peak)
        span = float(truth.max() - truth.min())
        outputs = {"noisy input": (image, 0.0)}
        for name, model in models.items():
            t0 = time.perf_counter()
            outputs[name] = (denoise(model, image, device="cpu").values,
                             time.perf_counter() - t0)
        strengths = {}
        for method, label in (("gaussian", "Gaussian (tuned sigma)"),
                              ("nlm", "non-local means (tuned h)")):
            t0 = time.perf_counter()
            out, strengths[label] = denoise_classical(image, truth, method=method)
            outputs[label] = (out, time.perf_counter() - t0)
        base = restoration_scores(image, truth, data_range=span).psnr
        for name, (out, sec) in outputs.items():
            s = restoration_scores(out, truth, data_range=span)
            rows.append({"seed": seed, "method": name, "psnr": s.psnr, "gain": s.psnr - base,
                         "ssim": s.ssim, "seconds": sec,
                         "strength": f"{strengths[name]:.2f}" if name in strengths else ""})
    return {"rows": rows, "train_s": train_s}


def _table(rows, cols) -> list[str]:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mean(rows, method, key):
    vals = [r[key] for r in rows if r["method"] == method]
    return float(np.mean(vals)) if vals else float("nan")


def report(args, inp, den) -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    out = ["# Restoration: inpainting and denoising (synthetic, CPU)", "",
           f"`{args.command}` on {platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}, "
           f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average at the end "
           f"{load} on {os.cpu_count()} cores.", ""]
    if inp:
        out += ["## Inpainting detector gaps", "",
                f"{args.size}x{args.size} SAXS patterns, exposure {args.exposure}, gaps "
                f"{tuple(args.gap)} px (rows, columns) between {60}x{90} px modules; training "
                f"mosaic of seeds {args.train_seeds}, {args.steps} steps, {args.members} "
                f"member(s) (TUNet depth 3, 16 base channels, correction of a biharmonic "
                f"fill, L1 on log counts), {inp['train_s']:.0f} s; held-out seeds "
                f"{args.test_seeds}. r and L1 on the gap pixels only.", ""]
        out += _table(inp["rows"], ["seed", "method", "r_clean", "r_counts", "l1_clean",
                                    "l1_counts", "seconds", "unchanged_outside"])
        for key in ("r_clean", "r_counts", "l1_clean", "l1_counts"):
            out.append(f"\nmean {key}: network {_mean(inp['rows'], 'network', key):.4f}, "
                       f"biharmonic {_mean(inp['rows'], 'biharmonic', key):.4f}")
        out.append("")
    if den:
        out += ["## Denoising (Poisson)", "",
                f"{args.size}x{args.size} disks and lines, peak {args.peak} counts; trained on "
                f"seed {args.train_seeds[0]} ({args.steps} steps, {args.members} member(s); "
                "seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in den["train_s"].items())
                + f"), tested on seeds {args.test_seeds}. PSNR/SSIM against the clean "
                "image with its value range; gain = PSNR - PSNR of the noisy input.", ""]
        out += _table(den["rows"], ["seed", "method", "psnr", "gain", "ssim", "strength",
                                    "seconds"])
        methods = list(dict.fromkeys(r["method"] for r in den["rows"]))
        out.append("")
        out += [f"- mean gain {m}: {_mean(den['rows'], m, 'gain'):+.2f} dB" for m in methods]
        out.append("")
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("inpaint", "denoise", "both"), default="both")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--exposure", type=float, default=30.0)
    parser.add_argument("--gap", type=int, nargs=2, default=(6, 3))
    parser.add_argument("--peak", type=float, default=20.0)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[100, 101, 102])
    parser.add_argument("--quick", action="store_true", help="128 px, 100 steps")
    parser.add_argument("--out", default=None, help="write the report here (markdown)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.steps = 128, 100
    args.command = "python benchmarks/bench_restore.py " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    inp = bench_inpaint(args) if args.task in ("inpaint", "both") else None
    den = bench_denoise(args) if args.task in ("denoise", "both") else None
    text = report(args, inp, den)
    print(text)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
