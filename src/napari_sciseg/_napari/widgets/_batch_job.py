"""The Batch dock's job: files -> the CLI's own per-file workflow -> one merged table.

Each file goes through exactly what ``sciseg particles`` / ``sciseg predict`` run
for it (:func:`napari_sciseg.cli._particles.process_image`,
:func:`napari_sciseg.cli._predict.predict_file`), into an output folder locked and
recorded (``run.json``) as the CLI does. A file that fails is skipped and named;
the others go on. Cancel is checked between files.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .._workers import JobStep

__all__ = ["TASKS", "BatchResult", "planned_outputs", "batch_job", "find_images",
           "layer_stems"]

TASKS = ("particle sizing", "saved model")


@dataclass
class BatchResult:
    """What a batch run did: one row per file, the merged table, what failed."""

    task: str
    outdir: Path
    rows: list = field(default_factory=list)  # per file: file, status, numbers
    merged: dict = field(default_factory=dict)  # {column: list}: all objects of all files
    failed: dict = field(default_factory=dict)  # {file name: why}
    cancelled: bool = False

    @property
    def n_ok(self) -> int:
        return sum(1 for r in self.rows if r["status"] == "ok")


def find_images(folder) -> list[Path]:
    """The readable images of ``folder`` (not recursive), as the CLI collects them."""
    from ...cli._common import collect_inputs

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"'input folder' {folder} is not a folder; choose a folder.")
    try:
        return collect_inputs([folder])
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"'input folder' {folder} holds no image the plugin reads ({exc}). Choose the "
            "folder with your images.") from None


def layer_stems(names) -> list[str]:
    """File stems for layer names: safe characters only, and unique (case-insensitively).

    Examples
    --------
    >>> layer_stems(["tem 1.tif", "tem 1.tif", "a/b", "", "TEM_1_tif"])
    ['tem_1_tif', 'tem_1_tif_2', 'a_b', 'layer', 'TEM_1_tif_3']
    """
    stems: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_") or "layer"
        stem, k = base, 1
        while stem.lower() in seen:
            k += 1
            stem = f"{base}_{k}"
        seen.add(stem.lower())
        stems.append(stem)
    return stems


def planned_outputs(task: str, files, outdir) -> dict:
    """{file: [its output paths]} as the CLI names them, plus ``None``: the merged files."""
    outdir = Path(outdir)
    if task == "particle sizing":
        from ...cli._particles import _outputs

        planned = {f: _outputs(f, outdir) for f in files}
        shared = [outdir / n for n in ("summary.csv", "all_particles.csv", "psd_all.png")]
    else:
        from ...cli._predict import output_paths

        planned = {f: output_paths(f, outdir, False) for f in files}
        shared = [outdir / "summary.csv"]
    return {**planned, None: shared}


def _particles_one(path: Path, outdir: Path, options: dict, merged: dict, source=None) -> dict:
    from ...cli._particles import _safe

    name, image = source or (path.name, None)
    row = _safe(path, outdir, {**options, "image": image} if image is not None else options)
    if row["status"] == "ok":  # the per-particle CSV the CLI wrote, into the merged table
        with open(outdir / (path.name.split(".")[0] + "_particles.csv"), newline="") as fh:
            for rec in csv.DictReader(fh):
                merged.setdefault("file", []).append(name)
                for key, value in rec.items():
                    merged.setdefault(key, []).append(value)
    return row


def _model_one(path: Path, outdir: Path, options: dict, merged: dict, source=None) -> dict:
    from ...cli._predict import output_paths, predict_file
    from ...io import read_image

    image = source[1] if source else None
    _, error = predict_file(options["model"], path, outdir,
                            {**options, "image": image} if image is not None else options)
    if error:
        return {"file": str(path), "status": f"error: {error}"}
    seg = np.asarray(read_image(output_paths(path, outdir, False)[2]).data)
    counts = np.bincount(seg.ravel(), minlength=int(seg.max(initial=0)) + 1) / max(seg.size, 1)
    row = {"file": str(path), "status": "ok", "unsure_fraction": float(counts[0])}
    row.update({f"class_{k}_fraction": float(c) for k, c in enumerate(counts[1:], start=1)})
    return row


def batch_job(task: str, files, outdir, options: dict, *, overwrite: bool, cancel=None,
              sources: dict | None = None):
    """Generator for a worker: yields a :class:`JobStep` per file, returns a BatchResult.

    ``sources`` ({path: (name, CalibratedImage)}) gives open layers instead of files:
    each ``path`` (``<stem>.tif``, not read) only names the outputs, and ``name`` (the
    layer's) stands for it in the tables and the list of failures.
    """
    from ...cli._runs import InterruptReported, output_run
    from ...io.outputs import atomic_open
    from ...io.tables import write_table

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    planned = planned_outputs(task, files, outdir)
    shared = tuple(planned.pop(None))
    one = _particles_one if task == "particle sizing" else _model_one
    result = BatchResult(task, outdir)
    args = SimpleNamespace(overwrite=overwrite, resume=False)
    command = "particles" if task == "particle sizing" else "predict"
    try:
        with output_run(outdir, command, planned, args, options=options,
                        model=options.get("model"), shared=shared) as run:
            for i, path in enumerate(files):
                if cancel is not None and cancel.is_set():
                    result.cancelled = True
                    raise KeyboardInterrupt  # the run is recorded as interrupted
                source = (sources or {}).get(path)
                name = source[0] if source else path.name
                yield JobStep(i, len(files), name)
                row = one(path, outdir, options, result.merged, source)
                if source:
                    row["file"] = name
                result.rows.append(row)
                if row["status"] == "ok":
                    run.done(path, planned[path])
                else:
                    why = row["status"].removeprefix("error: ")
                    result.failed[name if name not in result.failed else path.name] = why
                    run.failed(path, why)
            yield JobStep(len(files), len(files), "writing the merged table")
            _write_summary(outdir / "summary.csv", result.rows, atomic_open)
            if task == "particle sizing" and result.merged:
                write_table(outdir / "all_particles.csv", result.merged)
                _merged_psd(result)
    except InterruptReported:
        pass
    return result


def _write_summary(path: Path, rows: list, atomic_open) -> None:
    names: list = []
    for row in rows:
        names += [k for k in row if k not in names]
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v
                             for k, v in row.items()})


def _merged_psd(result: BatchResult) -> None:
    """``psd_all.png``: the size distribution of the isolated particles of all images."""
    from matplotlib.figure import Figure

    from ...io.outputs import atomic_path
    from ...measure.psd import psd_summary
    from ...plot.particles import draw_psd

    merged = result.merged
    key = next((k for k in merged if k.startswith("diameter")), None)
    if key is None:
        return
    iso = np.asarray(merged.get("isolated", ["1"] * len(merged[key]))) == "1"
    diameters = np.asarray(merged[key], dtype=float)[iso]
    if diameters.size == 0:
        return
    unit = key.removeprefix("diameter_")
    figure = Figure(figsize=(5.0, 3.6))
    draw_psd(figure.add_subplot(), diameters, psd_summary(diameters, unit=unit),
             title=f"isolated particles of {result.n_ok} image(s)")
    with atomic_path(result.outdir / "psd_all.png") as tmp:
        figure.savefig(tmp, dpi=110, format="png")
