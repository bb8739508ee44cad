"""``sciseg demo``: open napari with the sample data and every widget, or run headless.

``--headless -o OUTDIR`` runs each workflow that exists on the sample data and
writes its outputs, one subfolder per workflow. The steps live in
``cli/_demo_steps.py`` and are listed in ``HEADLESS_STEPS`` below as
``(name, "module:function")``; each function takes the output folder and
returns a short summary line.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from ._common import add_overwrite

#: (name, "module:function(outdir) -> str") for every headless workflow.
HEADLESS_STEPS: tuple[tuple[str, str], ...] = (
    ("samples", "napari_sciseg.cli._demo_steps:samples"),
    ("particles", "napari_sciseg.cli._demo_steps:particles"),
    ("afm", "napari_sciseg.cli._demo_steps:afm"),
    ("predict", "napari_sciseg.cli._demo_steps:predict"),
    ("fibers", "napari_sciseg.cli._demo_steps:fibers"),
    ("embed", "napari_sciseg.cli._demo_steps:embed"),
    ("restore", "napari_sciseg.cli._demo_steps:restore"),
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="open napari with sample data and widgets (or --headless: run every workflow)",
        description="Open napari with the plugin's sample data and widgets docked, or with "
        "--headless run every workflow on the sample data and write the outputs.",
    )
    p.add_argument("--headless", action="store_true", help="no GUI: run workflows, write outputs")
    p.add_argument("-o", "--output", type=Path, help="output folder for --headless")
    add_overwrite(p, help="--headless: write into a non-empty output folder")
    p.add_argument(
        "--only", nargs="+", metavar="STEP", help="run only these headless steps"
    )
    p.add_argument(
        "--sample",
        nargs="+",
        default=["scribbles_2d"],
        metavar="KEY",
        help="samples to open in napari (default scribbles_2d; 'all' for every one: tem_bf, "
        "stem_haadf, scribbles_2d, fiber_volume, afm_scan)",
    )
    return p


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run(args) -> int:
    if not args.headless:
        from .._napari._demo import open_demo

        open_demo(samples=None if "all" in args.sample else tuple(args.sample))
        return 0
    if args.output is None:
        raise ValueError("--headless needs an output folder: sciseg demo --headless -o OUTDIR")
    out = Path(args.output)
    steps = [s for s in HEADLESS_STEPS if not args.only or s[0] in args.only]
    if args.only:
        unknown = set(args.only) - {s[0] for s in HEADLESS_STEPS}
        if unknown:
            valid = ", ".join(s[0] for s in HEADLESS_STEPS)
            raise ValueError(f"Unknown demo step(s) {sorted(unknown)}; valid: {valid}.")
    held = _held(out)
    if held and not args.overwrite:
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise FileExistsError(
            f"Output folder {out} is not empty ({shown}); pass --overwrite to write the demo "
            "into it (files of the same name are replaced), or choose another -o."
        )
    from ..io.outputs import lock_folder

    with lock_folder(out, command="sciseg demo --headless"):
        _run_steps(steps, out)
    return 0


def _held(out: Path) -> list[str]:
    """Names in ``out`` (none when it does not exist), the lock file aside."""
    from ..io.outputs import LOCK_NAME

    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)


def _run_steps(steps, out: Path) -> None:
    for name, target in steps:
        t0 = time.perf_counter()
        folder = out / name
        folder.mkdir(exist_ok=True)
        summary = _resolve(target)(folder)
        print(f"[{name}] {summary} ({time.perf_counter() - t0:.1f} s) -> {folder}")
