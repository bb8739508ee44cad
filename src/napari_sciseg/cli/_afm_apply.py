"""``sciseg afm predict`` and ``sciseg afm level`` (the parser is in :mod:`._afm`).

Both write through :mod:`napari_sciseg.io.outputs` like ``predict`` and
``particles``: the output folder is locked for the run, existing outputs need
``--overwrite``, every file is renamed into place when whole and ``run.json``
comes last.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


def _scan_inputs(inputs):
    from ._common import collect_inputs

    return collect_inputs(inputs, numbered=True, what="scan")


def predict(args) -> int:
    from ..classify.afm.dataset import read_dataset
    from ..dl.afm import load_afm_model

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
    from ..io.outputs import atomic_open, write_text
    from ._runs import output_run

    out = args.output / "predictions.csv"
    planned = {Path(path): [] for path, _, _ in items}  # one table for all: shared outputs
    with output_run(args.output, "afm predict", planned, args, options={}, model=args.model,
                    shared=(out, args.output / "model.json")) as batch:
        rows = _predict_rows(model, items, batch)
        with atomic_open(out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        write_text(args.output / "model.json", json.dumps(cfg.to_dict(), indent=1))
    print(f"wrote {out}")
    return 0


def _predict_rows(model, items, batch) -> list[dict]:
    """One row (file, class, probabilities) per scan; each scan marked done in run.json."""
    from ..classify.afm.dataset import CLASSES
    from ..classify.afm.scans import load_scan
    from ..dl.afm import predict_scan

    cfg = model.config
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
        batch.done(Path(path), [])
    return rows


def level(args) -> int:
    from ._runs import output_run

    scans = _scan_inputs(args.inputs)
    planned = {p: [args.output / (p.stem + "_levelled.tif")] for p in scans}
    options = {"order": args.order, "scars": args.scars}
    with output_run(args.output, "afm level", planned, args, options=options) as batch:
        for path in batch.todo:
            _level_one(path, planned[path][0], order=args.order, scars=args.scars)
            batch.done(path, planned[path])
    return 0


def _level_one(path: Path, out: Path, *, order: int, scars: bool) -> None:
    """Level one scan and write it (atomically) to ``out``."""
    from ..classify.afm.level import level_scan
    from ..io import read_image
    from ..io.tiff import write_tiff

    img = read_image(path)
    data = img.data if img.data.ndim == 3 else img.data[None]
    names = img.channel_names or tuple(f"channel {i}" for i in range(len(data)))
    levelled = level_scan(data, channel_names=names, order=order, scars=scars)
    write_tiff(out, levelled, spacing=img.spacing, unit=img.unit, axes="CYX", channel_names=names)
    print(f"{path.name} -> {out}")
