"""Column tables (``{name: sequence}``, no pandas needed) to CSV files.

The workflows' results (particles, fibres, AFM tiles) are dicts of equal-length
columns; :func:`write_table` writes any such table, whole or for some rows.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .outputs import atomic_open

__all__ = ["write_table", "table_rows"]


def _cell(value):
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{float(value):.6g}"
    if isinstance(value, (int, np.integer)):
        return int(value)
    return str(value)


def table_rows(table: Mapping[str, Sequence]) -> int:
    """The number of rows of ``table``; every column must have it.

    >>> table_rows({"a": [1, 2], "b": ["x", "y"]})
    2
    """
    lengths = {name: len(col) for name, col in table.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"table columns differ in length: {lengths}; expected one length.")
    return next(iter(lengths.values()), 0)


def write_table(path: str | Path, table: Mapping[str, Sequence], *,
                rows: Sequence[int] | None = None) -> Path:
    """Write ``table`` (or its ``rows``, in that order) to ``path`` as CSV.

    Floats keep 6 significant digits, NaN becomes an empty cell, booleans 0/1.
    The file appears whole or not at all (written under a temporary name first).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_table(path, {"label": [1, 2], "diameter": [3.14159265, float("nan")]})
    >>> path.read_text().splitlines()
    ['label,diameter', '1,3.14159', '2,']
    """
    path = Path(path)
    names = list(table)
    order = range(table_rows(table)) if rows is None else rows
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows([_cell(table[c][i]) for c in names] for i in order)
    return path
