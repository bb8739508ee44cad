"""``sciseg export``: a trained model as ONNX or as a bioimage.io model package.

``--format onnx`` writes one ``.onnx`` file (the whole ensemble; outputs mean
and std) that ``sciseg predict`` and any ONNX runtime run without PyTorch.
``--format bioimageio`` writes a BioImage Model Zoo package (spec 0.5; a
folder, or a ``.zip`` when ``-o`` ends in ``.zip``), validated with
``bioimageio.spec`` and, unless ``--no-test``, tested with ``bioimageio.core``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_overwrite, existing_path

_FORMATS = ("onnx", "bioimageio")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="export a trained model as ONNX or a bioimage.io model package",
        description="Export a trained ensemble (.sciseg) as one ONNX file (--format onnx) or "
        "as a bioimage.io model package (--format bioimageio: a folder, or a .zip when -o ends "
        "in .zip) that ilastik, deepImageJ, QuPath, Fiji and bioimage.io's tools run.",
    )
    p.add_argument("model", type=existing_path, help="trained model (.sciseg file or folder)")
    p.add_argument("--format", choices=_FORMATS, required=True, help="onnx or bioimageio")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output file/folder (default: next to the model, MODEL.onnx or "
                   "MODEL.bioimageio.zip)")
    p.add_argument("--weights", default="torchscript,onnx",
                   help="bioimageio: weight formats, comma-separated, from torchscript, onnx "
                   "(default both)")
    p.add_argument("--test-image", type=existing_path, default=None,
                   help="bioimageio: image for the test tensors (default: the model's own "
                   "training image when stored, else a deterministic synthetic one)")
    p.add_argument("--test-size", type=int, default=None,
                   help="bioimageio: edge of the test tensor crop in pixels (default 256 in 2D, "
                   "64 in 3D)")
    p.add_argument("--author", default=None, help="bioimageio: author name (default: unknown)")
    p.add_argument("--no-test", action="store_true",
                   help="bioimageio: skip bioimageio.core's test of the written package")
    add_overwrite(p, help="replace an existing output")
    return p


def _default_output(model: Path, fmt: str) -> Path:
    stem = model.name[: -len(model.suffix)] if model.suffix else model.name
    return model.parent / (f"{stem}.onnx" if fmt == "onnx" else f"{stem}.bioimageio.zip")


def run(args) -> int:
    out = args.output or _default_output(args.model, args.format)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it or choose another -o.")
    from ..dl.serialization import load_model

    trained = load_model(args.model)
    if args.format == "onnx":
        from ..dl.export.onnx import export_onnx

        path = export_onnx(trained, out, overwrite=args.overwrite)
        print(f"wrote {path} (ONNX, opset checked against torch within 1e-4)")
        return 0
    from ..dl.export.bioimageio import export_bioimageio

    weights = tuple(w.strip() for w in args.weights.split(",") if w.strip())
    test_image = None
    if args.test_image is not None:
        from ..io import read_image

        test_image = read_image(args.test_image).data
    result = export_bioimageio(trained, out, weights=weights, test_image=test_image,
                               test_size=args.test_size, authors=args.author,
                               test=not args.no_test, overwrite=args.overwrite)
    print(f"wrote {result.path} (bioimage.io model, spec {result.format_version}; weights "
          f"{', '.join(result.weights)}; test input: {result.test_input_source})")
    if result.test_summary is not None:
        print(f"bioimageio.core test: {result.test_summary}")
    return 0
