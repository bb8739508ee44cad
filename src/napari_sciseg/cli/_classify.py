"""``sciseg classify``: classify whole images into your own classes.

- ``sciseg classify train DATA -o MODEL.sciseg`` trains on DATA (a folder of class
  folders, or a CSV ``file,class[,group][,metadata...]``).
- ``sciseg classify predict MODEL DATA -o OUT`` writes ``OUT/predictions.csv``
  (file, class, one probability column per class).
- ``sciseg classify cv DATA -o OUT`` cross-validates (grouped k-fold) and writes
  the per-class report, the confusion matrix and a t-SNE plot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPRESENTATIONS = ("texture", "vlad", "hypercolumn", "cnn", "pretrained")
#: core parameter names -> this command's flags
PARAMETER_FLAGS = {"weights": "--weights", "representation": "--representation",
                   "n_folds": "--folds"}


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="folder of class folders, or a CSV file,class[,group]")
    p.add_argument("--representation", choices=REPRESENTATIONS, default="vlad",
                   help="vlad (default): multi-scale filter bank + visual words + VLAD + "
                   "boosting; texture: filter statistics + boosting; hypercolumn: a VGG16/ResNet18 "
                   "weight file's hypercolumns + VLAD + boosting (--weights); cnn: a CNN from "
                   "scratch; pretrained: the CNN after autoencoder pretraining on the images")
    p.add_argument("--balance", action=argparse.BooleanOptionalAction, default=True,
                   help="weigh (or sample) every class equally (default: yes)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="add rotated/flipped copies of the rarer classes (default: yes)")
    p.add_argument("--weights", type=Path, default=None,
                   help="torchvision-layout VGG16/ResNet18 state_dict (.safetensors), or an "
                   ".onnx file whose tensors --layers names")
    p.add_argument("--arch", choices=("vgg16", "resnet18"), default="vgg16")
    p.add_argument("--layers", default=None,
                   help="comma-separated hypercolumn layers (default: the ReLUs before each "
                   "pooling of VGG16, or relu,layer1..layer4 of ResNet18)")
    p.add_argument("--words", type=int, default=16, help="VLAD dictionary size (default 16)")
    p.add_argument("--estimators", type=int, default=100, help="boosting stages (default 100)")
    p.add_argument("--epochs", type=int, default=30, help="network epochs (default 30)")
    p.add_argument("--seed", type=int, default=0)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("classify", help="classify whole images into your own classes",
                       description=__doc__.split("\n\n")[0])
    csub = p.add_subparsers(dest="classify_command", metavar="ACTION", required=True)
    t = csub.add_parser("train", help="train a classifier on a data set")
    _add_options(t)
    t.add_argument("-o", "--output", type=Path, required=True, help="model file (.sciseg)")
    t.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                   help="calibrate probabilities on inner cross-validation (default: yes)")
    c = csub.add_parser("cv", help="cross-validate on a data set (report, confusion matrix)")
    _add_options(c)
    c.add_argument("-o", "--output", type=Path, default=None,
                   help="output folder (default: ./classify-cv-<data name>)")
    c.add_argument("--folds", type=int, default=5, help="folds (default 5; groups never split)")
    pr = csub.add_parser("predict", help="classify the images of a folder or CSV")
    pr.add_argument("model", type=Path, help="a classifier (.sciseg)")
    pr.add_argument("data", type=Path, help="a folder of images (or class folders) or a CSV")
    pr.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    return p


def _options(args) -> dict:
    if args.representation == "hypercolumn" and args.weights is None:
        raise ValueError("--representation hypercolumn needs --weights FILE.safetensors.")
    if args.weights is not None and not args.weights.is_file():
        raise FileNotFoundError(f"--weights: no such file: {args.weights}")
    return {"representation": args.representation, "balance": args.balance,
            "augment": args.augment, "k": args.words, "n_estimators": args.estimators,
            "epochs": args.epochs, "seed": args.seed, "arch": args.arch,
            "weights": None if args.weights is None else str(args.weights),
            "layers": None if not args.layers else tuple(s.strip() for s in
                                                          args.layers.split(","))}


def _drain(gen):
    """Run a workflow generator with a progress line on a terminal; return its result."""
    tty = sys.stderr.isatty()
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if tty:
            print(f"\r{p.stage} {p.done}/{p.total} {p.message}   ", end="", file=sys.stderr)


def run(args) -> int:
    if not args.data.exists():
        raise FileNotFoundError(f"DATA: no such folder or CSV: {args.data}")
    return {"train": _train, "cv": _cv, "predict": _predict}[args.classify_command](args)


def _report_skipped(loaded) -> None:
    for s in loaded.skipped:
        print(f"skipped unreadable image: {s}", file=sys.stderr)


def _train(args) -> int:
    from ..dl.classify.io import save_classifier
    from ..dl.classify.workflow import train_dataset

    options = _options(args)
    model, loaded = _drain(train_dataset(args.data, calibrate=args.calibrate, **options))
    _report_skipped(loaded)
    save_classifier(model, args.output)
    counts = ", ".join(f"{k} {v}" for k, v in loaded.dataset.counts().items())
    print(f"trained {model.config.representation} on {len(loaded.images)} images ({counts}); "
          f"pixel size {model.config.target_spacing} nm, tile {model.config.tile}, "
          f"temperature {model.config.temperature:.2f}")
    print(f"wrote {args.output}")
    return 0


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    from ..io.outputs import atomic_open

    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _predict(args) -> int:
    from ..dl.classify.io import load_classifier
    from ..dl.classify.workflow import predict_dataset
    from ..io.outputs import lock_folder

    model = load_classifier(args.model)
    result = _drain(predict_dataset(model, args.data))
    for s in result.skipped:
        print(f"skipped unreadable image: {s}", file=sys.stderr)
    args.output.mkdir(parents=True, exist_ok=True)
    with lock_folder(args.output, command="sciseg classify predict"):
        _write_csv(args.output / "predictions.csv", result.rows())
    known = result.true_labels >= 0
    if known.any():
        acc = (result.proba.argmax(1)[known] == result.true_labels[known]).mean()
        print(f"accuracy on the {known.sum()} labelled images: {acc:.3f}")
    print(f"wrote {args.output / 'predictions.csv'} ({len(result.files)} images)")
    return 0


def _cv(args) -> int:
    import json

    from ..dl.classify.workflow import cross_validate_dataset
    from ..io.outputs import lock_folder, write_text
    from ..plot.classify import confusion_figure, embed_2d, embedding_figure

    out = args.output or Path(f"classify-cv-{args.data.stem}")
    cv, loaded = _drain(cross_validate_dataset(args.data, n_folds=args.folds, embed=True,
                                               **_options(args)))
    _report_skipped(loaded)
    out.mkdir(parents=True, exist_ok=True)
    summary = cv.summary()
    with lock_folder(out, command="sciseg classify cv"):
        write_text(out / "cv_report.json", json.dumps(
            {**summary, "confusion": cv.report.confusion.tolist(),
             "class_names": list(cv.class_names), "options": _options(args)}, indent=1))
        confusion_figure(cv.report.confusion, cv.class_names).savefig(out / "confusion.png",
                                                                      dpi=120)
        embedding_figure(embed_2d(cv.embedding), cv.labels, cv.class_names).savefig(
            out / "embedding.png", dpi=120)
        rows = [{"file": str(f), "true": cv.class_names[t],
                 "class": cv.class_names[int(p.argmax())],
                 **{f"p_{c}": round(float(v), 6) for c, v in zip(cv.class_names, p)}}
                for f, t, p in zip(loaded.dataset.files, cv.labels, cv.proba)]
        _write_csv(out / "cv_predictions.csv", rows)
    print(f"{args.folds}-fold CV ({args.representation}): accuracy {summary['accuracy']:.3f}, "
          f"balanced accuracy {summary['balanced_accuracy']:.3f}, macro F1 "
          f"{summary['macro_f1']:.3f}")
    for name in cv.class_names:
        print(f"  {name:>12}: recall {summary['recall'][name]:.3f}  precision "
              f"{summary['precision'][name]:.3f}  F1 {summary['f1'][name]:.3f}")
    print(f"wrote {out}/cv_report.json, confusion.png, embedding.png, cv_predictions.csv")
    return 0
