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
import re
import sys

from .. import __version__

__all__ = ["main", "build_parser"]

#: subcommand modules, in the order ``sciseg --help`` lists them.
SUBCOMMANDS = (
    "afm",
    "classify",
    "demo",
    "embed",
    "evaluate",
    "export",
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
        sp.set_defaults(_module=module, _parser=sp)
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
    except (ValueError, OSError, TypeError, ImportError) as exc:  # ImportError: a missing extra
        print(f"sciseg {args.command}: error: {in_flag_words(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if type(exc).__name__ != "InterruptReported":
            print(f"sciseg {args.command}: interrupted", file=sys.stderr)
        return 130


def in_flag_words(exc: BaseException | str, args) -> str:
    """The message of a core error with parameter names replaced by this command's flags.

    Core functions name their parameters (``slice_axis=``, ``spacing``); the
    user of ``sciseg`` typed flags. A subcommand module may add names its
    flags do not spell alike in ``PARAMETER_FLAGS`` (``{"spacing": "--pixel-size"}``).
    """
    from ._common import parameter_flags, to_flag_words

    message = str(exc)
    if isinstance(exc, OSError) and exc.strerror and exc.filename and message.startswith("["):
        message = f"{exc.strerror}: {exc.filename}"  # "[Errno 13] ..." -> plain words
    parser = getattr(args, "_parser", None)
    if parser is not None:
        extra = getattr(getattr(args, "_module", None), "PARAMETER_FLAGS", None)
        message = to_flag_words(message, parameter_flags(parser, extra))
    if "unexpected keyword argument" in message and "model_kwargs" in vars(args):
        message = f"--model-kwargs: {message}"  # a name the architecture does not take
    if not re.search(r"(?<![\w-])-o\b", message):
        message = message.replace("another output folder", "another output folder (-o)")
    return message
