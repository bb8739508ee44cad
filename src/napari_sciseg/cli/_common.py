"""What the subcommands share: argument types, the input collector, ``--overwrite``, flag words.

Everything here is cheap to import (argparse, pathlib): argument and file
checks run at parse time, before a subcommand imports torch or napari.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

# ---------------------------------------------------------------- argument types


def existing_path(text: str) -> Path:
    """argparse type: a file or folder that exists (checked at parse time)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text}")
    return path


def _number(kind: type, low: float, inclusive: bool, words: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if value < low or (value == low and not inclusive) or value != value:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text}")
        return value

    parse.__name__ = words  # argparse shows the name in "invalid <name> value"
    return parse


positive_int = _number(int, 1, True, "a positive integer (1, 2, ...)")
non_negative_int = _number(int, 0, True, "a non-negative integer (0, 1, ...)")
positive_float = _number(float, 0.0, False, "a positive number")
non_negative_float = _number(float, 0.0, True, "a non-negative number")


def json_object(text: str) -> dict:
    """argparse type: a JSON object such as ``'{"depth": 5}'``."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object such as '{{\"depth\": 5}}', got {text!r} ({exc})"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a JSON object such as '{{\"depth\": 5}}', got {text!r}"
        )
    return value


class _DeprecatedAlias(argparse.Action):
    """A hidden old spelling of a flag: sets the new one and says so on stderr."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: {option_string} is deprecated and will be removed; use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, True)


def add_overwrite(parser: argparse.ArgumentParser, help: str = "replace existing outputs") -> None:
    """``--overwrite`` (the one spelling in every command) plus the hidden old ``--force``."""
    parser.add_argument("--overwrite", action="store_true", help=help)
    parser.add_argument(
        "--force", dest="overwrite", action=_DeprecatedAlias, new="--overwrite",
        help=argparse.SUPPRESS,
    )  # fmt: skip


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch CPU threads; default chosen from the free cores and the load."""
    parser.add_argument(
        "--threads", type=positive_int, default=None, metavar="N",
        help="CPU threads for the network (default: the cores this process may use, less "
        "those other jobs keep busy by the load average; at least 1)",
    )  # fmt: skip

def add_resume(parser: argparse.ArgumentParser) -> None:
    """``--resume``: skip the inputs whose outputs an earlier (interrupted) run completed."""
    parser.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run into the same -o: inputs whose outputs are complete "
        "are skipped (same model and options required)",
    )  # fmt: skip


# ---------------------------------------------------------------- inputs


def collect_inputs(
    inputs: Iterable[str | Path],
    *,
    suffixes: Iterable[str] | None = None,
    zarr: bool = False,
    numbered: bool = False,
    what: str = "image",
) -> list[Path]:
    """Files named directly, plus the readable files (not recursive) of named folders.

    Parameters
    ----------
    inputs : paths
        Files and folders, in the order given; files inside a folder are sorted
        and hidden ones (partial outputs, macOS ``._`` files) left out.
    suffixes : iterable of str, optional
        File endings taken from folders (default: every format the reader handles).
    zarr : bool
        Also take ``.zarr`` stores, given or inside folders (a store is never entered).
    numbered : bool
        Also take files whose suffix is a number (Bruker ``.001``, ``.002`` ...).
    what : str
        The word for one input in messages ("image", "scan").

    Raises
    ------
    FileNotFoundError
        A path does not exist, or a folder holds no file of the expected kinds.
    """
    if suffixes is None:
        from ..io import supported_suffixes

        suffixes = supported_suffixes()
    ends = tuple(s.lower() for s in suffixes)

    def wanted(p: Path) -> bool:
        if p.name.startswith("."):  # hidden: partial outputs, macOS "._" files
            return False
        if zarr and p.suffix.lower() == ".zarr" and p.is_dir():
            return True
        if not p.is_file():
            return False
        return p.name.lower().endswith(ends) or (numbered and p.suffix[1:].isdigit())

    files: list[Path] = []
    for item in map(Path, inputs):
        if not item.exists():
            raise FileNotFoundError(f"No such {what} file or folder: {item}")
        if item.is_dir() and not (zarr and item.suffix.lower() == ".zarr"):
            found = sorted(p for p in item.iterdir() if wanted(p))
            if not found:
                kinds = ", ".join(ends) + (", .zarr" if zarr else "")
                raise FileNotFoundError(f"Folder {item} holds no {what} file ({kinds}).")
            files += found
        else:
            files.append(item)
    return files


# ---------------------------------------------------------------- messages in flag words


def parameter_flags(parser: argparse.ArgumentParser, extra: dict | None = None) -> dict[str, str]:
    """{parameter name: flag} for every option of ``parser``, plus ``extra``."""
    flags: dict[str, str] = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.help != argparse.SUPPRESS and action.dest not in flags:
            flags[action.dest] = longs[0]
    flags.update(extra or {})
    return flags


def _value_words(value: str) -> str:
    """A Python literal as it is typed on the command line (dicts as JSON)."""
    if value in ("True", "False", "None"):
        return ""
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(literal, dict):
        return "'" + json.dumps(literal) + "'"
    if isinstance(literal, (tuple, list)):
        return " ".join(str(v) for v in literal)
    return str(literal)


_LITERAL = r"(\{[^{}]*\}|\([^()]*\)|\[[^\[\]]*\]|'[^']*'|\"[^\"]*\"|[^\s,;)]+)"


def to_flag_words(message: str, flags: dict[str, str]) -> str:
    """Rewrite the parameter names of a core error message as the command's flags.

    ``slice_axis=3`` becomes ``--slice-axis 3``, ``model_kwargs={'depth': 5}``
    becomes ``--model-kwargs '{"depth": 5}'``, ``overwrite=True`` becomes
    ``--overwrite``, and a bare or quoted name with an underscore
    (``channel_axis``, ```spacing```) becomes its flag. Plain words stay.

    Examples
    --------
    >>> to_flag_words("pass slice_axis=3 or model_kwargs={'depth': 5}",
    ...               {"slice_axis": "--slice-axis", "model_kwargs": "--model-kwargs"})
    'pass --slice-axis 3 or --model-kwargs \\'{"depth": 5}\\''
    >>> to_flag_words("spacing has 2 values; pass spacing=(1, 2)", {"spacing": "--pixel-size"})
    'spacing has 2 values; pass --pixel-size 1 2'
    >>> to_flag_words("pass slice_axis= (e.g. slice_axis=0)", {"slice_axis": "--slice-axis"})
    'pass --slice-axis (e.g. --slice-axis 0)'
    """
    if not flags:
        return message
    names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))

    def assignment(m: re.Match) -> str:
        flag, value = flags[m.group(1)], m.group(2)
        if value == "False":
            return f"no {flag}"
        words = _value_words(value)
        return f"{flag} {words}" if words else flag

    message = re.sub(rf"(?<![\w-])({names})=(?=\s|$)", lambda m: flags[m.group(1)], message)
    message = re.sub(rf"(?<![\w-])({names})={_LITERAL}", assignment, message)
    message = re.sub(rf"``({names})``|`({names})`", lambda m: flags[m.group(1) or m.group(2)],
                     message)  # fmt: skip
    underscored = [n for n in flags if "_" in n]
    if underscored:
        pattern = "|".join(sorted(map(re.escape, underscored), key=len, reverse=True))
        message = re.sub(rf"(?<![\w-])({pattern})(?![\w(])", lambda m: flags[m.group(1)], message)
    return message
