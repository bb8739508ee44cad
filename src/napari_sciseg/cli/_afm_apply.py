"""``sciseg afm predict`` and ``sciseg afm level`` (the parser is in :mod:`._afm`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def _scan_inputs(inputs):
    from ._common import collect_inputs

    return collect_inputs(inputs, numbered=True, what="scan")


def predict(args) -> int:
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


def level(args) -> int:
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
