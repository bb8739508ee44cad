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
import csv
import json
from pathlib import Path

from ._common import collect_inputs

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
    t.add_argument("--fusion", choices=FUSION_CHOICES, default="early")
    t.add_argument(
        "--metadata",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="use the metadata columns (default: yes)",
    )
    t.add_argument("--split-column", default="sample", help="grouping column of the split")
    t.add_argument("--test-fraction", type=float, default=0.25)
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--tile", type=int, default=128, help="tile size in pixels at --pixel-size")
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
    lv = asub.add_parser("level", help="level AFM scans (rows, plane, scars) to TIFF")
    lv.add_argument("inputs", type=Path, nargs="+")
    lv.add_argument("-o", "--output", type=Path, required=True)
    lv.add_argument("--order", type=int, default=1, help="polynomial background degree")
    lv.add_argument("--scars", action=argparse.BooleanOptionalAction, default=True)
    return p


#: core parameter wording -> the flags of this command (errors are raised by the core)
_FLAGS = {
    "Pass use_metadata=False.": "Use --no-metadata.",
    "use a model trained with use_metadata=False": "use a model trained with --no-metadata",
    "pass a smaller tile (or tile=None to choose it from the scans)": "use a smaller --tile",
    "fusion 'single'": "--fusion single",
}


def _in_flags(exc: Exception) -> Exception:
    """The core's error, in the words of this command's flags."""
    text = str(exc)
    for param, flag in _FLAGS.items():
        text = text.replace(param, flag)
    return type(exc)(text) if text != str(exc) else exc


def run(args) -> int:
    try:
        return {"train": _train, "predict": _predict, "level": _level}[args.afm_command](args)
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


def _train(args) -> int:
    import numpy as np

    from ..classify.afm.dataset import read_dataset
    from ..dl.afm import evaluate, iter_train_afm, save_afm_model
    from ..evaluate.classification import grouped_split

    data = read_dataset(args.dataset, group_column=args.split_column)
    if args.no_test:
        train_idx, test_idx = np.arange(len(data)), np.array([], int)
    else:
        train_idx, test_idx = grouped_split(
            data.groups, data.labels, test_fraction=args.test_fraction, seed=args.seed
        )
    train, test = data.subset(train_idx), data.subset(test_idx)
    print(
        f"training {args.fusion} (metadata: {args.metadata}) on {len(train)} scans, "
        f"testing on {len(test)} scans of other samples"
    )
    gen = iter_train_afm(
        train,
        fusion=args.fusion,
        use_metadata=args.metadata,
        tile=args.tile,
        steps=args.steps,
        seed=args.seed,
        target_spacing=args.pixel_size,
    )
    model = _run_training(gen, args.steps)
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


def _scan_inputs(inputs):
    return collect_inputs(inputs, numbered=True, what="scan")


def _predict(args) -> int:
    from ..classify.afm.dataset import CLASSES, read_dataset
    from ..classify.afm.scans import load_scan
    from ..dl.afm import load_afm_model, predict_scan

    model = load_afm_model(args.model)
    cfg = model.config
    if len(args.inputs) == 1 and args.inputs[0].suffix.lower() == ".csv":
        data = read_dataset(args.inputs[0], require_labels=False)
        items = list(zip(data.files, data.metadata, data.spacing))
    else:
        if model.needs_metadata:
            raise ValueError(
                f"This model uses metadata columns {list(model.encoder.columns)}; give a data-set "
                "CSV with those columns instead of scan files, or use a model trained with "
                "--no-metadata."
            )
        items = [(f, None, None) for f in _scan_inputs(args.inputs)]
    args.output.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, meta, spacing in items:
        if cfg.channels:
            data_, spacing = load_scan(path, channels=cfg.channels, spacing=spacing)
        else:
            data_, spacing = None, None
        pred = predict_scan(model, data_, spacing=spacing, metadata=meta)
        rows.append(
            {
                "file": str(path),
                "class": pred.label,
                **{f"p_{c}": f"{p:.4f}" for c, p in zip(CLASSES, pred.probabilities)},
            }
        )
        print(f"{Path(path).name}: {pred.label} ({pred.probabilities.max():.2f})")
    out = args.output / "predictions.csv"
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.output / "model.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    print(f"wrote {out}")
    return 0


def _level(args) -> int:
    from ..classify.afm.level import level_scan
    from ..io import read_image
    from ..io.tiff import write_tiff

    args.output.mkdir(parents=True, exist_ok=True)
    for path in _scan_inputs(args.inputs):
        img = read_image(path)
        data = img.data if img.data.ndim == 3 else img.data[None]
        names = img.channel_names or tuple(f"channel {i}" for i in range(len(data)))
        levelled = level_scan(data, channel_names=names, order=args.order, scars=args.scars)
        out = args.output / (path.stem + "_levelled.tif")
        write_tiff(
            out, levelled, spacing=img.spacing, unit=img.unit, axes="CYX", channel_names=names
        )
        print(f"{path.name} -> {out}")
    return 0


def demo(outdir: Path) -> str:
    """Headless demo: a small synthetic data set -> VLAD model -> predictions + a levelled scan."""
    from ..data.afm import afm_dataset

    outdir = Path(outdir)
    csv_path = afm_dataset(outdir / "dataset", n_scans=16, n_samples=4, seed=0, shape=(128, 128))
    ns = argparse.Namespace
    _train(
        ns(
            dataset=csv_path,
            output=outdir / "afm_vlad.sciseg",
            fusion="vlad",
            metadata=False,
            split_column="sample",
            test_fraction=0.25,
            steps=1,
            tile=64,
            pixel_size=None,
            seed=0,
            no_test=False,
        )
    )
    _predict(ns(model=outdir / "afm_vlad.sciseg", inputs=[csv_path], output=outdir / "predictions"))
    _level(
        ns(
            inputs=[outdir / "dataset" / "scan_000.tif"],
            output=outdir / "levelled",
            order=1,
            scars=True,
        )
    )
    return "trained a VLAD crystal-class model on 12 synthetic scans, predicted 16, levelled 1"
