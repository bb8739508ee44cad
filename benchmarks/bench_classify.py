"""Image classification on the synthetic carbon-nanomaterial TEM set (CPU).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_classify.py [--n 120] [--shape 80] [--folds 5]``.

1. The study's grid (Luo, Holm & Wang 2021, Fig. 8): representation x
   (original / augmented) x (balanced or not), 5-fold grouped cross-validation on
   the 4 CNT classes with the study's imbalance (fibres ~8 %), mixed image sizes
   and pixel sizes (the defaults choose one pixel size and tile from the data).
   Reported: accuracy, balanced accuracy (mean recall), the rare class's recall,
   expected calibration error after temperature scaling, seconds.
2. Self-supervised pretraining vs scratch: the CNN trained on 20 labelled images
   per class, from random weights or from an autoencoder pretrained on
   ``--unlabeled`` unlabelled images of the same kind; tested on a separate set.

Writes ``benchmarks/results/classify.md`` (with the command and the load average).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

GRID = [(rep, aug, bal) for rep in ("texture", "vlad") for aug in (False, True)
        for bal in (False, True)] + [("cnn", False, False), ("cnn", True, True)]


def _grid(args, rows):
    from napari_sciseg.data.cnt import cnt_images
    from napari_sciseg.dl.classify.workflow import cross_validate

    data = cnt_images(args.n, shape=(args.shape, args.shape), mixed_sizes=True, seed=args.seed)
    counts = np.bincount(data.labels).tolist()
    print("classes", dict(zip(data.class_names, counts)), flush=True)
    fiber = data.class_names.index("fiber")
    for rep, aug, bal in GRID:
        if args.only and rep not in args.only:
            continue
        t = time.perf_counter()
        cv = cross_validate(data.images, data.labels, data.class_names, spacings=data.spacings,
                            n_folds=args.folds, representation=rep, augment=aug, balance=bal,
                            epochs=args.epochs, seed=args.seed)
        s = cv.summary()
        row = (rep, "augmented" if aug else "original", "yes" if bal else "no",
               s["accuracy"], s["balanced_accuracy"], float(cv.report.recall[fiber]),
               s["ece_after"], time.perf_counter() - t)
        rows.append(row)
        print(row, flush=True)
    return counts


def _ssl(args):
    """Scratch vs pretrained CNN at ``--per-class`` labelled images per class."""
    from napari_sciseg.data.cnt import cnt_images
    from napari_sciseg.dl.classify.workflow import predict_images, train_classifier

    equal = {c: 1.0 for c in ("cluster", "fiber", "matrix", "mixed")}
    shape = (args.ssl_shape, args.ssl_shape)
    labelled = cnt_images(4 * args.per_class, fractions=equal, shape=shape, seed=args.seed + 10)
    unlabeled = cnt_images(args.unlabeled, shape=shape, seed=args.seed + 20).images
    test = cnt_images(args.test, fractions=equal, shape=shape, seed=args.seed + 30)
    out = {}
    for rep in ("cnn", "pretrained"):
        t = time.perf_counter()
        model = train_classifier(labelled.images, labelled.labels, labelled.class_names,
                                 representation=rep, epochs=args.epochs, calibrate=False,
                                 pretrain_epochs=args.pretrain_epochs, unlabeled=unlabeled,
                                 seed=args.seed)
        pred = predict_images(model, test.images).argmax(1)
        recall = [float((pred[test.labels == k] == k).mean()) for k in range(4)]
        out[rep] = (float((pred == test.labels).mean()), float(np.mean(recall)),
                    time.perf_counter() - t)
        print(rep, out[rep], flush=True)
    return out


def _grid_lines(args, rows, counts) -> list:
    return [
        "",
        f"## {args.folds}-fold grouped CV, 4 classes, {sum(counts)} images "
        f"(cluster/fiber/matrix/mixed = {'/'.join(map(str, counts))}; fibres "
        f"{counts[1] / sum(counts):.0%}), mixed sizes ({args.shape} px +-25 %) and pixel "
        "sizes (2 nm +-25 %)",
        "",
        "| representation | images | balanced | accuracy | balanced acc. | fibre recall "
        "| ECE (calibrated) | s |",
        "|---|---|---|---|---|---|---|---|",
    ] + [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.3f} | "
         f"{r[6]:.3f} | {r[7]:.0f} |" for r in rows]


def _ssl_lines(args, ssl) -> list:
    return ["", f"## Self-supervised pretraining vs scratch ({args.per_class} labelled "
            f"images per class, {args.unlabeled} unlabelled, {args.test} test images, "
            f"{args.ssl_shape} px, {args.epochs} epochs, autoencoder "
            f"{args.pretrain_epochs} epochs)", "",
            "| CNN start | test accuracy | balanced acc. | s |", "|---|---|---|---|"] + [
        f"| {'autoencoder-pretrained' if k == 'pretrained' else 'scratch'} | "
        f"{v[0]:.3f} | {v[1]:.3f} | {v[2]:.0f} |" for k, v in ssl.items()]


def _write(args, rows, counts, ssl, load0):
    lines = [
        "# Image classification on synthetic carbon-nanomaterial TEM (bench_classify.py)",
        "",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python "
        f"benchmarks/bench_classify.py {' '.join(sys.argv[1:])}`",
        f"Load average before / after: {load0} / {os.getloadavg()[0]:.1f} (a shared 2-core "
        "machine: the seconds are only comparable within this table).",
    ]
    if rows:
        lines += _grid_lines(args, rows, counts)
    if ssl:
        lines += _ssl_lines(args, ssl)
    args.out.write_text("\n".join(lines) + "\n")
    print("wrote", args.out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=120, help="images of the CV set")
    ap.add_argument("--shape", type=int, default=80)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--only", nargs="*", help="representations of the grid to run")
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--unlabeled", type=int, default=200)
    ap.add_argument("--test", type=int, default=120)
    ap.add_argument("--ssl-shape", type=int, default=64)
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--no-ssl", action="store_true")
    ap.add_argument("--no-grid", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "classify.md")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    load0 = f"{os.getloadavg()[0]:.1f}"
    rows: list = []
    counts = [0, 0, 0, 0] if args.no_grid else _grid(args, rows)
    ssl = None if args.no_ssl else _ssl(args)
    _write(args, rows, counts, ssl, load0)


if __name__ == "__main__":
    main()
