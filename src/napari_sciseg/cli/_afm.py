"""``sciseg afm``: train and apply AFM crystal-class models; level AFM scans.

- ``sciseg afm train DATASET.csv -o MODEL.sciseg [--fusion ...] [--no-metadata]``
  trains on the samples of a grouped split, reports the held-out metrics and
  saves the model (metrics included).
- ``sciseg afm predict MODEL (DATASET.csv | SCAN_OR_FOLDER...) -o OUTDIR`` writes
  ``predictions.csv`` (file, class, p_<class> for the five classes).
- ``sciseg afm level SCAN... -o OUTDIR`` writes levelled multi-channel TIFFs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_overwrite

FUSION_CHOICES = ("early", "late", "hybrid", "single", "metadata", "maddi", "vlad", "texture")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "afm",
        help="AFM crystal classes: train, predict, level",
        description=__doc__.split("\n\n")[0],
    )
    asub = p.add_subparsers(dest="afm_command", metavar="ACTION", required=True)
    t = asub.add_parser("train", help="train a crystal-class model on a data-set CSV")
    t.add_argument("dataset", type=Path, help="CSV with file, class or counts, sample, metadata")
    t.add_argument("-o", "--output", type=Path, required=True, help="model file (.sciseg)")
    t.add_argument(
        "--fusion",
        choices=("auto", *FUSION_CHOICES),
        default="auto",
        help="auto (default): choose among texture + boosting and a few networks by grouped "
        "cross-validation over the samples of the training scans",
    )
    t.add_argument(
        "--metadata",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="use the metadata columns (default: yes)",
    )
    t.add_argument("--split-column", default="sample", help="grouping column of the split")
    t.add_argument("--test-fraction", type=float, default=0.25)
    t.add_argument(
        "--steps", type=int, default=None, help="network training steps (default: 200 auto, 300)"
    )
    t.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in pixels at --pixel-size (default: 128, or the smallest scan's side)",
    )
    t.add_argument("--folds", type=int, default=3, help="inner cross-validation folds (auto)")
    t.add_argument(
        "--pixel-size",
        "--nm-per-px",
        dest="pixel_size",
        type=float,
        default=None,
        metavar="NM",
        help="resample scans to this pixel size in nm (default: the data set's median)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-test", action="store_true", help="train on all scans (no held-out set)")
    pr = asub.add_parser("predict", help="classify scans with a trained model")
    pr.add_argument("model", type=Path)
    pr.add_argument("inputs", type=Path, nargs="+", help="a data-set CSV, scans or folders")
    pr.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_overwrite(pr, help="replace predictions.csv and model.json in the output folder")
    lv = asub.add_parser("level", help="level AFM scans (rows, plane, scars) to TIFF")
    lv.add_argument("inputs", type=Path, nargs="+")
    lv.add_argument("-o", "--output", type=Path, required=True)
    lv.add_argument("--order", type=int, default=1, help="polynomial background degree")
    lv.add_argument("--scars", action=argparse.BooleanOptionalAction, default=True)
    add_overwrite(lv, help="replace levelled TIFFs in the output folder")
    return p


#: core parameter wording -> the flags of this command (errors are raised by the core)
_FLAGS = {
    "Pass use_metadata=False.": "Use --no-metadata.",
    "use a model trained with use_metadata=False": "use a model trained with --no-metadata",
    "pass a smaller tile (or tile=None to choose it from the scans)": "use a smaller --tile "
    "(or leave it out to choose it from the scans)",
    "pass a finer target_spacing": "pass a finer --pixel-size",
    "fusion 'single'": "--fusion single",
    "or choose a fusion explicitly": "or choose a --fusion explicitly",
}


def _in_flags(exc: Exception) -> Exception:
    """The core's error, in the words of this command's flags."""
    text = str(exc)
    for param, flag in _FLAGS.items():
        text = text.replace(param, flag)
    return type(exc)(text) if text != str(exc) else exc


def run(args) -> int:
    try:
        if args.afm_command == "train":
            return _train(args)
        from . import _afm_apply

        return {"predict": _afm_apply.predict, "level": _afm_apply.level}[args.afm_command](args)
    except ValueError as exc:
        raise _in_flags(exc) from exc


def _run_training(gen, total: int):
    """Drain a training generator with a progress bar; returns the model."""
    import sys

    from tqdm import tqdm

    with tqdm(total=total, disable=not sys.stderr.isatty()) as bar:
        while True:
            try:
                progress = next(gen)
            except StopIteration as stop:
                return stop.value
            bar.n = progress.step
            bar.set_postfix(loss=f"{progress.loss:.3f}")
            bar.refresh()


def _print_metadata_term(model) -> None:
    if "metadata_ridge" in (model.config.recipe or {}):
        ridge = model.config.recipe["metadata_ridge"]
        print(
            "metadata term: off (the fields did not predict held-out training samples)"
            if ridge is None
            else f"metadata term: on (ridge {ridge:g}, chosen by grouped cross-validation)"
        )


def _split(args, data):
    """Training and held-out test indices (no test set with --no-test or < 4 samples)."""
    import numpy as np

    from ..evaluate.classification import grouped_split

    n_samples = len(set(data.groups))
    if not args.no_test and n_samples < 4:
        print(f"only {n_samples} samples: no held-out test set; training on all scans")
    if args.no_test or n_samples < 4:
        return np.arange(len(data)), np.array([], int)
    return grouped_split(data.groups, data.labels, test_fraction=args.test_fraction, seed=args.seed)


def _train_model(args, train):
    from ..dl.afm import iter_train_afm, iter_train_recipe

    if args.fusion == "auto":
        steps = args.steps or 200
        gen = iter_train_recipe(
            train,
            n_folds=args.folds,
            steps=steps,
            tile=args.tile,
            target_spacing=args.pixel_size,
            use_metadata=None if args.metadata else False,
            seed=args.seed,
        )
        return _run_training(gen, 6)
    steps = args.steps or 300
    gen = iter_train_afm(
        train,
        fusion=args.fusion,
        use_metadata=args.metadata,
        tile=args.tile,
        steps=steps,
        seed=args.seed,
        target_spacing=args.pixel_size,
    )
    return _run_training(gen, steps)


def _train(args) -> int:
    from ..classify.afm.dataset import read_dataset
    from ..dl.afm import evaluate, save_afm_model, selection_report

    data = read_dataset(args.dataset, group_column=args.split_column)
    train_idx, test_idx = _split(args, data)
    train, test = data.subset(train_idx), data.subset(test_idx)
    print(
        f"training {args.fusion} (metadata: {args.metadata}) on {len(train)} scans of "
        f"{len(set(train.groups))} samples, testing on {len(test)} scans of other samples"
    )
    model = _train_model(args, train)
    if model.config.selection:
        print(selection_report(model.config.selection))
    _print_metadata_term(model)
    metrics = {}
    if len(test):
        report = evaluate(model, test).report
        metrics = report.to_dict()
        print(
            f"held-out: accuracy {report.accuracy:.3f}, macro F1 {report.macro_f1:.3f}, "
            f"ROC AUC {report.roc_auc:.3f}"
        )
    model.config = model.config.replace(metrics=metrics)
    save_afm_model(model, args.output)
    print(f"saved {args.output}")
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sciseg")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["afm", *map(str, argv)])
