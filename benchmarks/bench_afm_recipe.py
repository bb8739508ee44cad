"""The AFM recipe (configuration chosen by grouped inner cross-validation) vs texture + boosting.

Run: ``python benchmarks/bench_afm_recipe.py --generator films [--scans 48] [--samples 8]``.

On each generator (``films``: :mod:`napari_sciseg.data.afm_films`, designed apart
from the recipe; ``degraded``: :func:`napari_sciseg.data.afm.afm_dataset` with
``degrade=True``; ``original``: the generator the networks were developed on),
samples are dealt to ``--outer-folds`` grouped folds. In each outer fold the
recipe (:func:`napari_sciseg.dl.afm.recipe.train_recipe`, its defaults) and the
texture + boosting baseline (the recipe's first candidate, trained alone) are
trained on the other folds' samples and predict the held-out samples; every scan
is predicted once by models that never saw its sample. Reports pooled macro F1
of both, the paired difference with a 90 % bootstrap interval over samples, the
recipe's choice per fold and its train time. Writes ``results/afm_recipe_<generator>.md``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _dataset(generator: str, folder: Path, args) -> Path:
    kw = dict(n_scans=args.scans, n_samples=args.samples, seed=args.data_seed)
    kw["shape"] = (args.shape, args.shape)
    if generator == "films":
        from napari_sciseg.data.afm_films import afm_film_dataset

        return afm_film_dataset(folder, **kw)
    from napari_sciseg.data.afm import afm_dataset

    return afm_dataset(folder, degrade=generator == "degraded", **kw)


def main() -> None:
    import torch

    from napari_sciseg.classify.afm.dataset import read_dataset
    from napari_sciseg.dl.afm import evaluate, train_afm, train_recipe
    from napari_sciseg.evaluate.classification import (
        classification_report,
        grouped_kfold,
    )

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--generator", choices=("films", "degraded", "original"), default="films")
    ap.add_argument("--scans", type=int, default=48)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--outer-folds", type=int, default=4)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--shape", type=int, default=256, help="pixels per scan side")
    ap.add_argument("--steps", type=int, default=200, help="the recipe's network steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = read_dataset(_dataset(args.generator, Path(tempfile.mkdtemp()), args))
    labels, groups = np.asarray(data.labels), np.asarray(data.groups)
    folds = grouped_kfold(groups, labels, n_folds=args.outer_folds, seed=0)
    p_recipe, p_base = np.zeros((len(data), 5)), np.zeros((len(data), 5))
    lines = []
    for k, test in enumerate(folds):
        fit = np.setdiff1d(np.arange(len(data)), test)
        t0 = time.perf_counter()
        model = train_recipe(data.subset(fit), steps=args.steps)
        t_recipe = time.perf_counter() - t0
        base = train_afm(data.subset(fit), fusion="texture", use_metadata=False)
        p_recipe[test] = evaluate(model, data.subset(test)).probabilities
        p_base[test] = evaluate(base, data.subset(test)).probabilities
        sel = model.config.selection
        table = ", ".join(f"{c['name']} {c['macro_f1']:.2f}" for c in sel["candidates"])
        f_r = classification_report(labels[test], p_recipe[test], n_classes=5).macro_f1
        f_b = classification_report(labels[test], p_base[test], n_classes=5).macro_f1
        lines.append(
            f"- fold {k}: chose **{sel['chosen']}** (inner CV: {table}); held-out macro F1 "
            f"recipe {f_r:.3f}, texture {f_b:.3f}; recipe train time {t_recipe:.0f} s"
        )
        print(lines[-1], flush=True)
    text = _report(args, data, labels, groups, p_recipe, p_base, lines)
    out = args.out or Path(__file__).parent / "results" / f"afm_recipe_{args.generator}.md"
    out.write_text(text + "\n")
    print(text)


def _report(args, data, labels, groups, p_recipe, p_base, lines) -> str:
    from napari_sciseg.classify.afm.dataset import CLASSES
    from napari_sciseg.evaluate.classification import classification_report, grouped_bootstrap

    r = classification_report(labels, p_recipe, n_classes=5)
    b = classification_report(labels, p_base, n_classes=5)
    boot = grouped_bootstrap(labels, groups, [p_recipe, p_base], n=500, n_classes=5)
    lo, hi = np.percentile(boot[:, 0] - boot[:, 1], [5, 95])
    counts = np.bincount(labels, minlength=5).tolist()
    text = "\n".join(
        [
            f"# AFM recipe vs texture + boosting: generator `{args.generator}`",
            "",
            f"`python benchmarks/bench_afm_recipe.py --generator {args.generator} --scans "
            f"{args.scans} --samples {args.samples} --outer-folds {args.outer_folds} --shape "
            f"{args.shape} --steps {args.steps}`: "
            f"{len(data)} scans from {args.samples} samples (class counts {counts}, "
            f"{', '.join(CLASSES)}), {args.outer_folds} outer folds of whole samples; "
            f"{args.threads} thread(s), load at the end "
            f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores.",
            "",
            "| | macro F1 | accuracy | ROC AUC |",
            "|---|---|---|---|",
            f"| recipe | **{r.macro_f1:.3f}** | {r.accuracy:.3f} | {r.roc_auc:.3f} |",
            f"| texture + boosting | **{b.macro_f1:.3f}** | {b.accuracy:.3f} | {b.roc_auc:.3f} |",
            "",
            f"Paired difference recipe - texture: {r.macro_f1 - b.macro_f1:+.3f} "
            f"(90 % bootstrap interval over samples {lo:+.3f} to {hi:+.3f}).",
            "",
            *lines,
            "",
            "Recipe confusion (rows true, columns predicted):",
            "",
            "```",
            *[" ".join(f"{v:3d}" for v in row) for row in r.confusion],
            "```",
        ]
    )
    return text


if __name__ == "__main__":
    main()
