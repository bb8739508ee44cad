"""Compare every AFM crystal-class variant on a seeded synthetic data set, grouped by sample.

Run: ``python benchmarks/bench_afm.py [--scans 48] [--samples 8] [--steps 300]``.
``--validate`` splits the *training* samples again (grouped) and reports on that
validation part instead: the recipe (learning rate, width, steps) was chosen that
way, never on the held-out samples.
Writes ``benchmarks/results/afm.md`` (accuracy, macro precision/recall/F1, one-vs-rest
ROC AUC, confusion matrices, training time) and the time to classify one 512x512
four-channel scan on the CPU (median of repeats).
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    import torch

    from napari_sciseg.classify.afm_dataset import CLASSES, grouped_split, read_dataset
    from napari_sciseg.classify.afm_metrics import classification_report
    from napari_sciseg.data.afm import afm_dataset, afm_scan
    from napari_sciseg.dl.afm_train import load_prepared, predict_scan, train_afm

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scans", type=int, default=48)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--nm-per-px", type=float, default=78.125)
    ap.add_argument("--tile", type=int, default=96)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="training seeds (medians reported)"
    )
    ap.add_argument(
        "--validate", action="store_true", help="report on a grouped split of the training samples"
    )
    ap.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data set")
    ap.add_argument("--only", nargs="*", help="fusion names to run")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "afm.md")
    args = ap.parse_args()
    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp(prefix="bench_afm_"))
    t0 = time.perf_counter()
    csv_path = afm_dataset(tmp, n_scans=args.scans, n_samples=args.samples, seed=args.data_seed)
    data = read_dataset(csv_path)
    train_idx, test_idx = grouped_split(data.groups, data.labels, test_fraction=0.3, seed=0)
    train, test = data.subset(train_idx), data.subset(test_idx)
    if args.validate:
        inner_tr, inner_val = grouped_split(train.groups, train.labels, test_fraction=0.3, seed=1)
        train, test = train.subset(inner_tr), train.subset(inner_val)
    assert not set(train.groups) & set(test.groups)
    print(
        f"data set: {len(train)} train / {len(test)} test scans, samples "
        f"{sorted(set(test.groups))} held out ({time.perf_counter() - t0:.0f} s)"
    )
    prepared = {}
    for ch in (("height",), ("height", "amplitude", "phase", "z-sensor")):
        prepared[ch] = (
            load_prepared(train, ch, args.nm_per_px)[0],
            load_prepared(test, ch, args.nm_per_px)[0],
        )
    results, timing_model = [], None
    for fusion, meta in VARIANTS:
        if args.only and fusion not in args.only:
            continue
        channels = (
            ("height",)
            if fusion == "single"
            else ()
            if fusion == "metadata"
            else ("height", "amplitude", "phase", "z-sensor")
        )
        tr_scans, te_scans = prepared.get(channels, (None, [None] * len(test)))
        name = fusion + (" + metadata" if meta and fusion not in ("metadata", "maddi") else "")
        reps, secs = [], []
        for seed in args.seeds:
            t1 = time.perf_counter()
            model = train_afm(
                train,
                fusion=fusion,
                use_metadata=meta,
                steps=args.steps,
                batch=args.batch,
                tile=args.tile,
                target_nm_per_px=args.nm_per_px,
                prepared=tr_scans,
                seed=seed,
            )
            secs.append(time.perf_counter() - t1)
            proba = np.stack(
                [
                    predict_scan(model, s, metadata=m, prepared=True).probabilities
                    for s, m in zip(te_scans, test.metadata)
                ]
            )
            rep = classification_report(test.labels, proba, n_classes=len(CLASSES))
            reps.append(rep)
            print(
                f"{name:20s} seed {seed} acc {rep.accuracy:.3f} P {rep.macro_precision:.3f} "
                f"R {rep.macro_recall:.3f} F1 {rep.macro_f1:.3f} AUC {rep.roc_auc:.3f} "
                f"({secs[-1]:.0f} s)",
                flush=True,
            )
            if fusion == "early" and meta and timing_model is None:
                timing_model = model
        results.append((name, reps, float(np.median(secs))))
    timing = ""
    if timing_model is not None:
        scan = afm_scan(shape=(512, 512), seed=123)
        parts = []
        # 19.5 nm/px (block-averaged 4x to the model's pixel size) and at the model's
        # own pixel size (the whole 512x512 levelled and tiled: the worst case)
        for nm in (scan.spacing[1], args.nm_per_px):
            times = []
            for _ in range(7):
                t1 = time.perf_counter()
                predict_scan(timing_model, scan.data, nm_per_px=nm, metadata=scan.metadata)
                times.append(time.perf_counter() - t1)
            parts.append(f"{np.median(times):.3f} s at {nm:g} nm/px")
        timing = (
            "Classifying one 512x512 four-channel scan (early fusion + metadata; resampling, "
            "levelling, scan tiles and the class map included), median of 7 runs on the CPU "
            f"({torch.get_num_threads()} threads): " + "; ".join(parts) + "."
        )
        print(timing)
    _write(args, results, timing, len(train), len(test), CLASSES)


def _write(args, results, timing, n_train, n_test, classes) -> None:
    import os

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    flags = (
        (f" --data-seed {args.data_seed}" if args.data_seed else "")
        + " --seeds "
        + " ".join(map(str, args.seeds))
        + (" --validate" if args.validate else "")
    )
    part = "validation (grouped split of the training samples)" if args.validate else "test"
    lines = [
        "# AFM crystal-class variants (synthetic, grouped by sample)",
        "",
        f"`python benchmarks/bench_afm.py --scans {args.scans} --samples {args.samples} "
        f"--steps {args.steps} --batch {args.batch} --tile {args.tile}{flags}`: {n_train} "
        f"training and {n_test} {part} scans (256x256 px, 10 um, resampled to "
        f"{args.nm_per_px} nm/px), no sample in both sets; CNNs trained from scratch for "
        f"{args.steps} steps of {args.batch} tiles ({args.tile} px) on the CPU (2 threads); "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores "
        "(the machine is shared: training seconds vary between rows).",
        "",
        f"Medians over the training seeds {args.seeds} (same data and split; the seed "
        "changes initialisation, tile sampling and augmentation); confusion matrices are "
        "summed over the seeds.",
        "",
        "| variant | accuracy | macro P | macro R | macro F1 | F1 per seed | ROC AUC | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, reps, s in results:

        def med(attr, reps=reps):
            return float(np.median([getattr(r, attr) for r in reps]))

        per_seed = " ".join(f"{r.macro_f1:.2f}" for r in reps)
        lines.append(
            f"| {name} | {med('accuracy'):.3f} | {med('macro_precision'):.3f} | "
            f"{med('macro_recall'):.3f} | {med('macro_f1'):.3f} | {per_seed} | "
            f"{med('roc_auc'):.3f} | {s:.0f} |"
        )
    lines += [
        "",
        timing,
        "",
        "## Confusion matrices (rows: true, columns: predicted)",
        "",
        "Class order: " + ", ".join(classes) + ".",
        "",
    ]
    for name, reps, _ in results:
        confusion = np.sum([r.confusion for r in reps], axis=0)
        lines += (
            [f"**{name}**", "", "```"]
            + [" ".join(f"{v:3d}" for v in row) for row in confusion]
            + ["```", ""]
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
