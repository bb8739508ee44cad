"""The ``sciseg`` command line.

Arguments are parsed before anything heavy (torch, napari) is imported: each
subcommand lives in its own module ``cli/_<name>.py`` exposing
``add_parser(subparsers)`` (cheap, argparse only) and ``run(args) -> int``,
which does its own heavy imports. The CLI owns console output; library code
only logs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__

__all__ = ["main", "build_parser"]

#: subcommand modules, in the order ``sciseg --help`` lists them.
SUBCOMMANDS = (
    "afm",
    "demo",
    "fibers",
    "particles",
    "predict",
    "train",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="sciseg",
        description="Microscope images to publishable numbers: sparse-label segmentation, "
        "particle sizing, fiber and AFM analysis.",
    )
    parser.add_argument("--version", action="version", version=f"napari-sciseg {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}._{name}")
        sp = module.add_parser(sub)
        sp.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sciseg`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, TypeError) as exc:
        print(f"sciseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sciseg {args.command}: interrupted", file=sys.stderr)
        return 130


