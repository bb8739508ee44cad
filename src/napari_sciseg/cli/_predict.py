"""``sciseg predict``: run a trained ensemble on files and folders, in parallel.

For each input image it writes ``<stem>_probability.tif`` (classes first),
``<stem>_std.tif`` and ``<stem>_segmentation.tif`` (uint8, 0 = unsure), keeping
the input's calibration; with ``--zarr`` one ``<stem>.zarr`` group per image
instead (arrays ``mean``, ``std``, ``segmentation``, ``uncertainty`` written
tile by tile, so images larger than memory work). Files run in parallel on
local threads, or on an existing Dask cluster with ``--scheduler ADDRESS``.
A file that fails is reported and skipped; the others finish.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import (
    add_overwrite,
    add_resume,
    add_threads,
    collect_inputs,
    existing_path,
    non_negative_float,
    positive_int,
)
from ._predict_file import _load, output_paths, predict_file

__all__ = ["add_parser", "output_paths", "predict_file", "run"]

_ENGINES = ("auto", "torch", "onnx")  # = dl.export.ENGINES (not imported: no torch at parse)

def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "predict",
        help="predict probability, std and confident segmentation for images or folders",
        description="Run a trained ensemble (.sciseg) on images or folders of images. Writes "
        "<stem>_probability.tif, <stem>_std.tif and <stem>_segmentation.tif (uint8, 0 = unsure: "
        "no class with mean - k*std > 0.5), or one <stem>.zarr group each with --zarr, and "
        "run.json (inputs, model hash, options, finished files) last.",
    )
    p.add_argument("model", type=existing_path,
                   help="trained model: .sciseg file or folder, .onnx from 'sciseg export', or "
                   "a bioimage.io package (folder, rdf.yaml or .zip)")
    p.add_argument("inputs", type=existing_path, nargs="+", metavar="INPUT",
                   help="image files or folders")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--tile", type=positive_int, default=None,
                   help="tile edge in pixels, halo included")  # fmt: skip
    p.add_argument("--k", type=non_negative_float, default=1.0,
                   help="std subtracted before 0.5 (default 1)")  # fmt: skip
    p.add_argument("--zarr", action="store_true", help="write one zarr group per image")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask distributed scheduler address (default: local threads)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="files predicted at once locally")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    add_threads(p)
    p.add_argument("--engine", choices=_ENGINES, default="auto",
                   help="auto (default): on the CPU, ONNX Runtime from an export of the model "
                   "cached by its hash (exported once), torch where onnxruntime is missing or "
                   "the export fails; torch; onnx (refuse rather than fall back)")
    p.add_argument("--channel-axis", type=int, default=None, help="axis of the input channels")
    p.add_argument("--slice-axis", type=int, default=None,
                   help="2D model on volumes: the axis to predict slice by slice")
    p.add_argument("--mask", type=existing_path, default=None, metavar="MASK",
                   help="inpainting models: image of the pixels to fill (non-zero = missing, "
                   "e.g. the detector's gap mask), the same for every input")
    add_overwrite(p)
    add_resume(p)
    return p


def _run_local(calls, workers: int, progress, record):
    """Files on local threads; the main thread polls so Ctrl-C is handled at once."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    def one(call):
        result = predict_file(*call)
        record(call[1], result)  # in run.json before the thread takes the next file
        return result

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="predict")
    results, pending = [], {pool.submit(one, c) for c in calls}
    try:
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                results.append(fut.result())
                progress.update(1)
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
    return results


def _run_distributed(address: str, calls, progress, record):
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = {client.submit(predict_file, *c, pure=False): c for c in calls}
        results = []
        for fut in as_completed(futures):
            results.append(fut.result())
            record(futures[fut][1], results[-1])
            progress.update(1)
    return results


def _check_task(args) -> str:
    """The model's task, and the flags that fit it (a bad model file fails here)."""
    model = _load(str(args.model), args.engine, args.device)  # the one the run predicts with
    task = getattr(model.config, "task", "segment")
    if task == "inpaint" and args.mask is None:
        raise ValueError(f"{args.model} is an inpainting model: pass --mask (an image of the "
                         "pixels to fill, non-zero = missing).")
    if task != "inpaint" and args.mask is not None:
        raise ValueError(f"--mask is for inpainting models; {args.model} is a {task} model.")
    if task != "segment" and args.zarr:
        raise ValueError(f"--zarr is for segmentation models; {args.model} ({task}) writes "
                         "TIFFs.")
    return task


def run(args) -> int:
    from tqdm import tqdm

    from ..dl.threads import configure_threads
    from . import in_flag_words
    from ._runs import output_run

    files = collect_inputs(args.inputs, zarr=True)
    configure_threads(args.threads)
    outdir = Path(args.output)
    task = _check_task(args)
    planned = {f: output_paths(f, outdir, args.zarr, task) for f in files}
    options = {"tile": args.tile, "k": args.k, "zarr": args.zarr,
               "channel_axis": args.channel_axis, "slice_axis": args.slice_axis,
               "mask": None if args.mask is None else str(args.mask)}
    with output_run(outdir, "predict", planned, args, options=options, model=args.model) as batch:
        # a bad model file fails here, before any work is scheduled
        _load(str(args.model), args.engine, args.device)

        def record(source, result):
            if result[1]:
                batch.failed(source, result[1])
            else:
                batch.done(source, planned[source])

        calls = [(str(args.model), f, outdir,
                  {**options, "device": args.device, "engine": args.engine})
                 for f in batch.todo]  # fmt: skip
        with tqdm(total=len(calls), unit="file", desc="predict", file=sys.stderr) as bar:
            if not calls:
                results = []
            elif args.scheduler:
                results = _run_distributed(args.scheduler, calls, bar, record)
            else:
                results = _run_local(calls, args.workers, bar, record)
    failed = [(name, msg) for name, msg in results if msg]
    for name, msg in failed:
        print(f"sciseg predict: {name} failed: {in_flag_words(msg, args)}", file=sys.stderr)
    skipped = f", {len(batch.skipped)} already complete" if batch.skipped else ""
    print(f"predicted {len(results) - len(failed)} of {len(results)} file(s){skipped} -> {outdir}")
    return 1 if failed else 0
