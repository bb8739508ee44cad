"""Compare every AFM crystal-class variant by grouped k-fold cross-validation on synthetic scans.

Run: ``python benchmarks/bench_afm.py [--scans 96] [--samples 12] [--folds 4] [--seeds 0 1 2]``.

Samples (films) are dealt to ``--folds`` folds (``classify.afm.dataset.grouped_kfold``);
each fold trains on the other folds' samples and predicts its own, so every scan
is predicted exactly once by a model that never saw its sample. Metrics are
computed on the pooled out-of-fold predictions of all scans (far less noisy than
one small test set), per training seed; the table gives their median, the
per-seed values, the range of the per-fold F1, and a 90 % bootstrap interval
that resamples whole samples. A paired bootstrap compares early fusion +
metadata with single channel on the same scans.

Recipes are developed on another synthetic data set (``--data-seed 1``: other
films, other scans; written with ``--out``), never on the reported one.
Also times the classification of one 512x512 four-channel scan on the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

VARIANTS = [
    ("single", False),
    ("single", True),
    ("early", False),
    ("early", True),
    ("late", False),
    ("late", True),
    ("hybrid", False),
    ("hybrid", True),
    ("metadata", True),
    ("maddi", True),
    ("vlad", False),
    ("vlad", True),
]
FOUR = ("height", "amplitude", "phase", "z-sensor")


def _name(fusion: str, meta: bool) -> str:
    return fusion + (" + metadata" if meta and fusion not in ("metadata", "maddi") else "")


def _bootstrap(labels, groups, probas, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Macro F1 of each of ``probas`` (same scans) on ``n`` resamplings of whole samples."""
    from napari_sciseg.evaluate.classification import grouped_bootstrap

    return grouped_bootstrap(labels, groups, probas, n=n, seed=seed, n_classes=5)


def main() -> None:
    import torch

    from napari_sciseg.classify.afm.dataset import CLASSES, read_dataset
    from napari_sciseg.classify.afm.scans import prepare_dataset
    from napari_sciseg.classify.afm.training import channels_for, default_normalization
    from napari_sciseg.data.afm import afm_dataset, afm_scan
    from napari_sciseg.dl.afm import cross_validate, predict_scan
    from napari_sciseg.evaluate.classification import grouped_kfold

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scans", type=int, default=96)
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--nm-per-px", type=float, default=78.125)
    ap.add_argument("--tile", type=int, default=96)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    ap.add_argument("--normalize", choices=("median", "scan"), help="default: each variant's own")
    ap.add_argument(
        "--symmetries", type=int, default=1, help="scan tiles turned/mirrored at prediction"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data set")
    ap.add_argument("--only", nargs="*", help="fusion names to run")
    ap.add_argument(
        "--channel-dropout",
        type=float,
        help="modality dropout of the non-height channels; default: each variant's own",
    )
    ap.add_argument("--no-timing", action="store_true", help="skip the 512x512 timing")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "afm.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_afm_"))
    t0 = time.perf_counter()
    csv_path = afm_dataset(tmp, n_scans=args.scans, n_samples=args.samples, seed=args.data_seed)
    data = read_dataset(csv_path)
    labels, groups = np.asarray(data.labels), np.asarray(data.groups)
    folds = grouped_kfold(groups, labels, n_folds=args.folds, seed=0)
    for test in folds:
        train = np.setdiff1d(np.arange(len(data)), test)
        assert not set(groups[train]) & set(groups[test])
    norms = (
        {args.normalize}
        if args.normalize
        else {default_normalization(f) for f, _ in VARIANTS if not args.only or f in args.only}
    )
    prepared = {
        (ch, norm): prepare_dataset(data, ch, args.nm_per_px, normalize=norm)[0]
        for ch in (("height",), FOUR)
        for norm in norms
    }
    print(
        f"data set: {len(data)} scans from {len(set(groups))} samples in {args.folds} folds "
        f"of {[len(f) for f in folds]} scans ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    results, timing_model = [], None
    for fusion, meta in VARIANTS:
        if args.only and fusion not in args.only:
            continue
        norm = args.normalize or default_normalization(fusion)
        scans = prepared.get((channels_for(fusion), norm))
        result = _run_variant(args, data, folds, fusion, meta, norm, scans, cross_validate)
        results.append(result)
        if fusion == "early" and meta and timing_model is None:
            timing_model = result["last_model"]
    for r in results:  # bootstrap of the seed whose pooled F1 is the median one
        f1s = [rep.macro_f1 for rep, _ in r["seeds"]]
        mid = r["seeds"][int(np.argsort(f1s)[len(f1s) // 2])][1]
        r["ci"] = np.percentile(_bootstrap(labels, groups, [mid])[:, 0], [5, 95])
    paired = _paired(results, labels, groups)
    timing = "" if args.no_timing else _timing(timing_model, afm_scan, predict_scan, args, torch)
    _write(args, results, paired, timing, data, folds, CLASSES)


def _run_variant(args, data, folds, fusion, meta, norm, scans, cross_validate) -> dict:
    """Grouped cross-validation of one variant for every training seed."""
    name = _name(fusion, meta)
    per_seed, fold_f1, secs, ridges, model = [], [], [], [], None
    for seed in args.seeds:
        cv = cross_validate(
            data,
            folds,
            prepared=scans,
            symmetries=args.symmetries,
            fusion=fusion,
            use_metadata=meta,
            steps=args.steps,
            batch=args.batch,
            tile=args.tile,
            target_spacing=args.nm_per_px,
            normalize=norm,
            seed=seed,
            channel_dropout=args.channel_dropout,
        )
        rep, model = cv.report, cv.models[-1]
        per_seed.append((rep, cv.probabilities))
        fold_f1 += cv.fold_f1
        secs += cv.seconds
        ridges += [
            m.config.recipe["metadata_ridge"]
            for m in cv.models
            if "metadata_ridge" in (m.config.recipe or {})
        ]
        print(
            f"{name:20s} seed {seed} acc {rep.accuracy:.3f} F1 {rep.macro_f1:.3f} "
            f"AUC {rep.roc_auc:.3f} folds {' '.join(f'{f:.2f}' for f in cv.fold_f1)}"
            f" ({sum(cv.seconds):.0f} s)"
            + (
                " metadata ridge " + " ".join(f"{r or 'off'}" for r in ridges[-len(folds) :])
                if ridges
                else ""
            ),
            flush=True,
        )
    return {
        "name": name,
        "seeds": per_seed,
        "fold_f1": fold_f1,
        "secs": secs,
        "ridges": ridges,
        "last_model": model,
    }


def _paired(results, labels, groups) -> str:
    by = {r["name"]: r for r in results}
    if "early + metadata" not in by or "single" not in by:
        return ""
    twins = [
        f"{name}: {' '.join(f'{ra.macro_f1 - rb.macro_f1:+.3f}' for (ra, _), (rb, _) in pairs)}"
        for name in ("single", "early", "late", "hybrid", "vlad")
        if name in by and f"{name} + metadata" in by
        for pairs in [list(zip(by[f"{name} + metadata"]["seeds"], by[name]["seeds"]))]
    ]
    twin_line = (
        " The metadata term per variant (with minus without, macro F1 per seed; the image "
        "networks of a pair are identical): " + "; ".join(twins) + "."
        if twins
        else ""
    )
    a, b = by["early + metadata"]["seeds"], by["single"]["seeds"]
    diffs = [ra.macro_f1 - rb.macro_f1 for (ra, _), (rb, _) in zip(a, b)]
    boots = [
        np.diff(_bootstrap(labels, groups, [pb, pa], n=500, seed=i), axis=1)[:, 0]
        for i, ((_, pa), (_, pb)) in enumerate(zip(a, b))
    ]
    boot = np.mean(boots, axis=0)  # difference averaged over the seeds, per resampling
    lo, hi = np.percentile(boot, [5, 95])
    return (
        "Paired comparison on the same scans, early fusion + metadata minus single channel "
        f"(macro F1): per seed {' '.join(f'{d:+.3f}' for d in diffs)}; averaged over seeds "
        f"{np.mean(diffs):+.3f}, 90 % bootstrap interval over samples [{lo:+.3f}, {hi:+.3f}]; "
        f"the difference is >= 0 in {100 * (boot >= 0).mean():.0f} % of resamplings."
        + twin_line
    )


def _timing(model, afm_scan, predict_scan, args, torch) -> str:
    if model is None:
        return ""
    scan = afm_scan(shape=(512, 512), seed=123)
    parts = []
    # 19.5 nm/px (block-averaged 4x to the model's pixel size) and at the model's
    # own pixel size (the whole 512x512 levelled and tiled: the worst case)
    for nm in (scan.spacing[1], args.nm_per_px):
        times = []
        for _ in range(7):
            t1 = time.perf_counter()
            predict_scan(
                model, scan.data, spacing=nm, metadata=scan.metadata, symmetries=args.symmetries
            )
            times.append(time.perf_counter() - t1)
        parts.append(f"{np.median(times):.3f} s at {nm:g} nm/px")
    timing = (
        "Classifying one 512x512 four-channel scan (early fusion + metadata; resampling, "
        "levelling, scan tiles and the class map included), median of 7 runs on the CPU "
        f"({torch.get_num_threads()} thread(s)): " + "; ".join(parts) + "."
    )
    print(timing)
    return timing


def _write(args, results, paired, timing, data, folds, classes) -> None:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    flags = (
        f"--scans {args.scans} --samples {args.samples} --folds {args.folds} "
        f"--steps {args.steps} --batch {args.batch} --tile {args.tile} --seeds "
        + " ".join(map(str, args.seeds))
        + (f" --data-seed {args.data_seed}" if args.data_seed else "")
        + (f" --normalize {args.normalize}" if args.normalize else "")
        + (f" --threads {args.threads}" if args.threads != 1 else "")
        + (f" --symmetries {args.symmetries}" if args.symmetries != 1 else "")
        + (f" --channel-dropout {args.channel_dropout}" if args.channel_dropout is not None else "")
        + (" --only " + " ".join(args.only) if args.only else "")
    )
    counts = np.bincount(np.asarray(data.labels), minlength=len(classes))
    lines = [
        "# AFM crystal-class variants (synthetic, grouped k-fold cross-validation)",
        "",
        f"`python benchmarks/bench_afm.py {flags}`: {len(data)} scans (256x256 px, 10 um, "
        f"resampled to {args.nm_per_px} nm/px) from {len(set(data.groups))} samples, "
        f"data seed {args.data_seed}, class counts {counts.tolist()} "
        f"({', '.join(classes)}); {args.folds} folds of whole samples "
        f"({[len(f) for f in folds]} scans), every scan predicted once by a model that "
        f"never saw its sample. CNNs trained from scratch for {args.steps} steps of "
        f"{args.batch} tiles ({args.tile} px) on the CPU ({args.threads} thread(s)); "
        "channel normalisation "
        + (f"'{args.normalize}'" if args.normalize else "'median' (networks), 'scan' (VLAD)")
        + "; "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load average at the end {load} on {os.cpu_count()} cores.",
        "",
        f"Metrics of the pooled out-of-fold predictions, median over the training seeds "
        f"{args.seeds}; 'F1 per seed' the pooled macro F1 of each seed; 'fold F1' the "
        "range of the per-fold macro F1 (all folds and seeds); '90 % interval' a "
        "bootstrap over samples of the median seed's pooled macro F1. Confusion "
        "matrices are summed over the seeds.",
        "",
        "| variant | accuracy | macro P | macro R | macro F1 | F1 per seed | fold F1 "
        "| 90 % interval | ROC AUC | train s/fold |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reps = [rep for rep, _ in r["seeds"]]

        def med(attr, reps=reps):
            return float(np.median([getattr(x, attr) for x in reps]))

        lines.append(
            f"| {r['name']} | {med('accuracy'):.3f} | {med('macro_precision'):.3f} | "
            f"{med('macro_recall'):.3f} | **{med('macro_f1'):.3f}** | "
            + " ".join(f"{x.macro_f1:.2f}" for x in reps)
            + f" | {min(r['fold_f1']):.2f}-{max(r['fold_f1']):.2f} | "
            f"{r['ci'][0]:.2f}-{r['ci'][1]:.2f} | {med('roc_auc'):.3f} | "
            f"{np.median(r['secs']):.0f} |"
        )
    lines += ["", paired, "", timing, "", "## Confusion matrices (rows: true, columns: predicted)"]
    lines += ["", "Class order: " + ", ".join(classes) + ".", ""]
    for r in results:
        confusion = np.sum([rep.confusion for rep, _ in r["seeds"]], axis=0)
        lines += (
            [f"**{r['name']}**", "", "```"]
            + [" ".join(f"{v:3d}" for v in row) for row in confusion]
            + ["```", ""]
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
